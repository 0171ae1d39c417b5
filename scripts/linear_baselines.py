"""Linear baselines for the Kvasir-SEG VAEs: how well the mean frame and PCA with k components redraw
the test frames, under exactly evaluate.py's protocol (96 px RGB, PSNR and SSIM per image, averaged).

    python scripts/linear_baselines.py --data-root ../shared/data [--k 6 20]

PCA is fitted on the training frames (the official train list less our val), never on the test frames;
a 6-component PCA is the linear model with EndoVAE's latent size: what a VAE at latent 6 must beat to
have learned anything a straight projection cannot.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
from data import data_root, load_split  # noqa: E402
from metrics import psnr, ssim  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root")
    p.add_argument("--k", type=int, nargs="+", default=[6, 20], help="numbers of principal components")
    p.add_argument("--size", type=int, default=96)
    args = p.parse_args()
    root = data_root(args.data_root)
    train = load_split("kvasir_seg", root, "train", size=args.size, channels=3)
    test = load_split("kvasir_seg", root, "test", size=args.size, channels=3)
    x = train.images.flatten(1).double().numpy() / 255  # (N, 3 * S * S)
    t = test.images.flatten(1).double().numpy() / 255
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    truth = torch.from_numpy(t).view(-1, 3, args.size, args.size)
    print(f"{test.description}; fitted on {train.description} ({len(train)} frames); {args.size} px RGB\n")
    print("| linear model | PSNR (dB) | SSIM |\n|---|---|---|")
    for k in [0, *args.k]:
        v = vt[:k]
        redrawn = torch.from_numpy((t - mean) @ v.T @ v + mean).clamp(0, 1).view_as(truth)
        name = "the mean training frame" if k == 0 else f"PCA, {k} components"
        print(f"| {name} | {float(psnr(redrawn, truth).mean()):.2f} | {float(ssim(redrawn, truth).mean()):.3f} |")


if __name__ == "__main__":
    main()
