"""Which passes should a super-resolution network average by default? Chosen on validation.

    python scripts/choose_transforms.py srresnet-x4 --passes 2 --data-root ../shared/data [--write]
    python scripts/choose_transforms.py srresnet-x4-real --protocol --data-root ../shared/data

Averaging the answers for several of an image's 8 rotations and mirror images (the geometric
self-ensemble) buys PSNR for time: each pass costs as much as the first. For a budget of `--passes`,
this scores every set of that many transforms that includes the image as it is, on the crops train.py
validates on (never Set5 or Set14), through `superres.upscale`, the page's and evaluate.py's own path.
It prints them best first, beside one pass and all eight. With `--protocol` the score is the mean gain
over bicubic across the degradation protocol (degradations.PROTOCOL, as evaluate.py's table), for a
model meant for real uploads; the least gain and the benchmark degradation's gain are printed beside it.
With `--write`, the best becomes the model's default: its config.json's `transforms`, which the page,
predict.py and evaluate.py then use.
"""
import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
import superres  # noqa: E402
import weights_dir  # noqa: E402
from data import data_root  # noqa: E402
from evaluate import degradation_table, sr_pairs  # noqa: E402
from models.base import CONFIG_FILE, read_config  # noqa: E402
from models.srresnet import SELF_ENSEMBLE  # noqa: E402


def val_psnr_y(model, pairs, transforms: list[int]) -> float:
    """Mean PSNR-Y over the validation crops of the model averaging `transforms`."""
    return float(np.mean([superres.compare(superres.upscale(low, model, transforms=transforms), high)["psnr_y"]
                          for _, low, high in pairs]))


def val_protocol(model, pairs, transforms: list[int]) -> tuple[float, str]:
    """(Mean gain in PSNR-Y over bicubic across the degradation protocol on the validation crops, a note
    with the least gain and the benchmark degradation's gain) of the model averaging `transforms`."""
    model.config.transforms = list(transforms)  # the table scores the model as it answers by default
    table = degradation_table(model, {"val": [high for _, _, high in pairs]})
    summary = table["summary"]["val"]
    benchmark = next(row["sets"]["val"]["gain_psnr_y"] for row in table["rows"] if row["name"] == "bicubic-aa")
    return summary["mean_gain_psnr_y"], (f"least {summary['least_gain_psnr_y']:+.3f} ({summary['least_gain_at']}), "
                                         f"bicubic-aa {benchmark:+.3f}")


def main(argv=None) -> list[int]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a super-resolution model: a name in weights/ or a folder")
    p.add_argument("--passes", type=int, default=2, help=f"how many transforms to average, 1 to {SELF_ENSEMBLE}")
    p.add_argument("--data-root")
    p.add_argument("--protocol", action="store_true",
                   help="score by the mean gain over bicubic across the degradation protocol, not PSNR-Y on the "
                        "benchmark's own degradation")
    p.add_argument("--write", action="store_true", help="make the best set the model's default (config.json)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if not 1 <= args.passes <= SELF_ENSEMBLE:
        p.error(f"--passes must be 1 to {SELF_ENSEMBLE}")
    torch.set_num_threads(args.threads)
    model = weights_dir.load(args.model, family=("srresnet", "srgan")).eval()
    folder = model.folder  # where --write writes
    described, sets = sr_pairs(data_root(args.data_root), "val")
    pairs = sets["val"]
    candidates = [[0, *rest] for rest in itertools.combinations(range(1, SELF_ENSEMBLE), args.passes - 1)]
    if args.protocol:
        score, column = (lambda t: val_protocol(model, pairs, t)), "mean gain over bicubic across the protocol"
    else:
        score, column = (lambda t: (val_psnr_y(model, pairs, t), "")), "PSNR-Y"
    scores = {tuple(t): score(t) for t in tqdm(candidates, desc="transform sets", leave=False)}
    one, every = score([0]), score(list(range(SELF_ENSEMBLE)))
    print(f"{folder.name} on {described}: {column} (dB), 4-px border removed\n")
    print("| transforms | score | vs one pass | |\n|---|---|---|---|")
    for transforms, (value, note) in sorted(scores.items(), key=lambda item: -item[1][0]):
        print(f"| {list(transforms)} | {value:.3f} | {value - one[0]:+.3f} | {note} |")
    print(f"| one pass [0] | {one[0]:.3f} | | {one[1]} |\n"
          f"| all {SELF_ENSEMBLE} (the self-ensemble) | {every[0]:.3f} | {every[0] - one[0]:+.3f} | {every[1]} |")
    best = list(max(scores, key=lambda t: scores[t][0]))
    if args.write:
        config = read_config(folder) | {"transforms": best}
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        print(f"\nWrote transforms {best} into {folder / CONFIG_FILE}: rerun evaluate.py for its card.")
    return best


if __name__ == "__main__":
    main()
