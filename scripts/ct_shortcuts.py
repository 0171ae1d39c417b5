"""What in COVID-CT's images could tell the classes apart without looking at the lungs, per split, and how far
plain linear baselines get on validation: the figures behind the `covid-ct` paragraph of the README.

    python scripts/ct_shortcuts.py --data-root ../shared/data

Per split and class: mean grey level and sharpness (the spread of a Laplacian filter's response) of the
slices at 224 px, and how many slices are smaller than 96 px on their shorter side. Then, fitted on train and
scored on val (ROC-AUC): a logistic regression on the 32x32 pixels and on a 32-bin grey-level histogram.
"""
import argparse
import csv
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
from data import data_root, load_split  # noqa: E402
from metrics import roc_auc  # noqa: E402

LAPLACIAN = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)


def logistic_regression_auc(train_x, train_y, val_x, val_y, weight_decay: float = 0.01) -> float:
    """Standardised features, L2-penalised logistic regression by L-BFGS; ROC-AUC on val."""
    mean, spread = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mean) / spread, (val_x - mean) / spread
    w, c = torch.zeros(a.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, c], max_iter=300)

    def loss():
        optimiser.zero_grad()
        value = F.binary_cross_entropy_with_logits(a @ w + c, train_y.float()) + weight_decay * (w ** 2).sum()
        value.backward()
        return value

    optimiser.step(loss)
    with torch.no_grad():
        return roc_auc((b @ w + c).numpy(), val_y.numpy())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root")
    args = p.parse_args()
    torch.set_num_threads(1)
    root = data_root(args.data_root)
    splits = {name: load_split("covid_ct", root, name, size=224) for name in ("train", "val", "test")}
    with open(root / "covid_ct" / "index.csv") as f:
        small = [row for row in csv.DictReader(f) if min(int(row["width"]), int(row["height"])) < 96]
    print(f"slices under 96 px on their shorter side: {len(small)} of "
          f"{sum(len(s) for s in splits.values())}")
    print("split | class | n | mean grey | sharpness (Laplacian spread)")
    for name, split in splits.items():
        x = split.images.float() / 255
        sharpness = F.conv2d(x, LAPLACIAN).flatten(1).std(1)
        for k, cls in enumerate(split.class_names):
            chosen = split.labels == k
            print(f"{name} | {cls} | {int(chosen.sum())} | {x[chosen].mean():.3f} | {sharpness[chosen].median():.4f}")
    train, val = splits["train"], splits["val"]
    pixels = lambda s: F.interpolate(s.images.float() / 255, size=(32, 32), mode="area").flatten(1)  # noqa: E731
    histogram = lambda s: torch.stack([torch.histc(i.float() / 255, bins=32, min=0, max=1) for i in s.images])  # noqa: E731
    for what, features in [("32x32 pixels", pixels), ("32-bin grey histogram", histogram)]:
        auc = logistic_regression_auc(features(train), train.labels, features(val), val.labels)
        print(f"logistic regression on {what}, fitted on train: val ROC-AUC {auc:.3f}")


if __name__ == "__main__":
    main()
