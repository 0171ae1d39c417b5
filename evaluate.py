"""Measure a shipped model on a named split and write `weights/<name>/eval.json`.

    python evaluate.py cxr-pneumonia --data-root ../shared/data --split test --json

Reports, at 0.5 and at the threshold chosen on validation: accuracy, sensitivity, specificity,
precision, F1 and the confusion matrix; and ROC-AUC, average precision, ROC and PR curves and
expected calibration error with its reliability diagram. The figures are also added to the model
card. `<name>` is a folder under weights/, any weights folder, or a Hub repository id.
"""
import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

import cards
import models
from data import data_root, load_split
from metrics import average_precision, binary_report, pr_curve, reliability, roc_auc, roc_curve

WEIGHTS = Path(__file__).resolve().parent / "weights"


def weights_path(name: str) -> str:
    """A name under weights/ (e.g. cxr-pneumonia), a folder, or a Hub repository id, as given."""
    return str(WEIGHTS / name) if (WEIGHTS / name).is_dir() else name


@torch.no_grad()
def classifier_logits(model, split, batch_size: int = 128) -> torch.Tensor:
    """Raw logits (N, K) for a whole split; the model is left in eval mode."""
    model.eval()
    return torch.cat([model(split.batch(slice(i, i + batch_size))[0]) for i in range(0, len(split), batch_size)])


def _thin(*arrays, most: int = 200):
    """Keep a curve plottable: at most `most` points, always the first and the last."""
    n = len(arrays[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(int))
    return [np.asarray(a)[keep].tolist() for a in arrays]


def evaluate_classifier(model, split) -> dict:
    probabilities = torch.softmax(classifier_logits(model, split) / model.temperature, 1).numpy()
    labels = split.labels.numpy()
    result = {"n": len(labels), "class_counts": np.bincount(labels, minlength=len(split.class_names)).tolist(),
              "class_names": split.class_names}
    if probabilities.shape[1] == 2:
        scores = probabilities[:, 1]
        fpr, tpr, thr = roc_curve(scores, labels)
        precision, recall, pthr = pr_curve(scores, labels)
        thr = np.where(np.isinf(thr), 1.0, thr)
        result.update({
            "roc_auc": roc_auc(scores, labels), "average_precision": average_precision(scores, labels),
            "at_0.5": binary_report(scores, labels, 0.5),
            "at_threshold": binary_report(scores, labels, float(model.threshold)),
            "roc": dict(zip(["fpr", "tpr", "threshold"], _thin(fpr, tpr, thr))),
            "pr": dict(zip(["precision", "recall", "threshold"], _thin(precision, recall, pthr))),
        })
    else:
        predicted = probabilities.argmax(1)
        result["accuracy"] = float((predicted == labels).mean())
    calibration = reliability(probabilities, labels)
    result.update({"ece": calibration["ece"], "reliability": calibration["bins"]})
    return result


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="weights folder name under weights/, a path, or a Hub repository id")
    p.add_argument("--data-root", help="data root (default: $MEDLAB_DATA)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--dataset", help="default: the data set named in the model card")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-write", action="store_true", help="do not write eval.json or update the card")
    args = p.parse_args(argv)
    torch.set_num_threads(2)

    path = weights_path(args.name)
    model = models.load(path)
    meta = cards.read_meta(model.folder)
    dataset = args.dataset or meta.get("dataset")
    if not dataset:
        sys.exit(f"{path} has no model card naming its data set: pass --dataset")
    split = load_split(dataset, data_root(args.data_root), args.split, size=model.config.image_size,
                       channels=model.config.in_channels)
    if split.class_names != model.class_names:
        sys.exit(f"the split's classes {split.class_names} are not the model's {model.class_names}")
    command = "python evaluate.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    result = {"model": Path(path).name, "dataset": dataset, "split": args.split, "command": command,
              "protocol": f"{split.description}; images read by images.read_image, grayscale, resized to "
                          f"{model.config.image_size} px; probabilities calibrated with the temperature fitted on val",
              **evaluate_classifier(model, split)}
    if not args.no_write and Path(path).is_dir():
        (Path(path) / "eval.json").write_text(json.dumps(result, indent=1) + "\n")
        summary = {k: result[k] for k in ("split", "n", "command", "protocol", "roc_auc", "average_precision",
                                          "ece", "at_threshold", "at_0.5") if k in result}
        meta["results"] = [r for r in meta.get("results", []) if r["split"] != args.split] + [summary]
        cards.write(Path(path), meta)
    if args.json:
        print(json.dumps(result))
    else:
        headline = {k: round(result[k], 4) for k in ("roc_auc", "ece") if k in result}
        print(json.dumps({"split": args.split, "n": result["n"], **headline,
                          "at_threshold": result.get("at_threshold"), "at_0.5": result.get("at_0.5")}, indent=1))
    return result


if __name__ == "__main__":
    main()
