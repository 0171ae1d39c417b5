"""Is each stored temperature still the best one? For a shipped classifier and every calibrated
classifier inside it (ensemble members, theirs), the stored temperature and the one
`metrics.fit_temperature` fits now, with the validation NLL at both.

    python scripts/temperatures.py cxr-pneumonia covid-ct modality --data-root ../shared/data

The validation split is loaded as the model's own train command loads it (its card's `train_command`,
or for an ensemble its first member's command, whose split every member shares). Written after a fault
in `fit_temperature` (a fixed L-BFGS step, now a line search) left one ensemble at T = 0.135 where
0.334 was best: a large NLL gap here means the model's probabilities should be refitted.
"""
import argparse
import re
import shlex
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
import cards  # noqa: E402
import tasks  # noqa: E402
import train  # noqa: E402
import weights_dir  # noqa: E402
from data import data_root  # noqa: E402
from evaluate import classifier_logits  # noqa: E402
from metrics import fit_temperature  # noqa: E402
from models.classifier import CalibratedClassifier  # noqa: E402


def validation_command(meta: dict) -> str:
    """The train command whose validation split the model was calibrated on."""
    if meta["family"] != "ensemble":
        return meta["train_command"]
    for text in meta.get("settings", {}).values():
        found = re.search(r"(python train\.py .*)$", str(text))
        if found and "train.py ensemble" not in found.group(1):
            return found.group(1)
    raise SystemExit("no member train command in the ensemble's card")


def calibrated(model, name: str = ""):
    """(name, classifier) for the model and every calibrated classifier inside it, depth first."""
    yield name or "whole", model
    for i, member in enumerate(getattr(model, "members", [])):
        yield from calibrated(member, f"{name} member {i + 1}".strip())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="classifier names in weights/ or folders")
    p.add_argument("--data-root")
    args = p.parse_args()
    torch.set_num_threads(1)
    print("| model | part | val n | stored T | NLL | refitted T | NLL |\n|---|---|---|---|---|---|---|")
    for name in args.models:
        model = weights_dir.load(name).eval()
        meta = cards.read_meta(model.folder)
        command = train.parse_args(shlex.split(validation_command(meta))[2:])
        split = tasks.task_of(command.family).load(command, data_root(args.data_root), "val")
        for part, classifier in calibrated(model):
            if not isinstance(classifier, CalibratedClassifier):
                continue
            with torch.no_grad():
                logits = classifier_logits(classifier, split).double()
            stored, refitted = float(classifier.temperature), fit_temperature(logits, split.labels)
            nll = {t: float(F.cross_entropy(logits / t, split.labels)) for t in (stored, refitted)}
            print(f"| {name} | {part} | {len(split)} | {stored:.3f} | {nll[stored]:.4f} | {refitted:.3f} | "
                  f"{nll[refitted]:.4f} |", flush=True)


if __name__ == "__main__":
    main()
