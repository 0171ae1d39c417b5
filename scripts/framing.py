"""Does a chest X-ray classifier read the framing instead of the lungs? Its answers on the validation
images as they are and as centre crops (zoomed in), per class.

    python scripts/framing.py cxr-pneumonia --data-root ../shared/data [--crops 1 0.85 0.7 0.6]

In `chest_xray`, NORMAL images tend to show neck and shoulders while PNEUMONIA images are framed on
the lungs. A network that learned that shortcut calls a tightly framed NORMAL image pneumonia: the
NORMAL row's P(PNEUMONIA) climbs as the crop tightens, while the lungs it shows stay normal. Only the
validation split is read (held-out training patients), never the test split.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
import weights_dir  # noqa: E402
from data import data_root, load_split, reframed  # noqa: E402
from inference import classifier_families  # noqa: E402
from metrics import log_loss, roc_auc  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a chest X-ray classifier or ensemble: a name in weights/ or a folder")
    p.add_argument("--data-root")
    p.add_argument("--crops", type=float, nargs="+", default=[1, 0.85, 0.7, 0.6], help="fractions of the side")
    args = p.parse_args()
    torch.set_num_threads(1)
    model = weights_dir.load(args.model, family=classifier_families()).eval()
    folder = model.folder
    if model.class_names != ["NORMAL", "PNEUMONIA"]:
        raise SystemExit(f"{folder} is not a chest X-ray classifier (NORMAL / PNEUMONIA)")
    # At the network's own size, as train.py holds the validation split (then cropped and resized back).
    val = load_split("chest_xray", data_root(args.data_root), "val", size=model.config.image_size)
    labels = val.labels.numpy()
    print(f"{folder.name} on chest_xray val ({len(val)} images); P(PNEUMONIA) quartiles 25/50/75% per class")
    print("crop  | ROC-AUC | NORMAL             | PNEUMONIA")
    pooled = []
    for crop in args.crops:
        view = reframed(val, [crop])  # the validation images as one centre crop each, resized back
        images = view.images.float() / 255
        scores = torch.cat([model.predict(images[i:i + 64])[:, 1] for i in range(0, len(images), 64)]).numpy()
        pooled.append(scores)
        quartiles = [" ".join(f"{q:.3f}" for q in np.quantile(scores[labels == k], [0.25, 0.5, 0.75])) for k in (0, 1)]
        print(f"{crop:4.0%}  | {roc_auc(scores, labels):.4f}  | {quartiles[0]} | {quartiles[1]}")
    # What `train.py --val-crops` selects models by: one ROC-AUC over all the crops' answers together; and
    # the log-loss of those calibrated probabilities, which still differs between models whose ROC-AUC is saturated.
    scores, truth = np.concatenate(pooled), np.tile(labels, len(pooled))
    print(f"pooled over these crops: ROC-AUC {roc_auc(scores, truth):.4f}, log-loss {log_loss(scores, truth):.4f}")


if __name__ == "__main__":
    main()
