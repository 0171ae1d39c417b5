"""Segmentation: an image in, a mask out (the U-Net on Kvasir-SEG's polyps).

Images and masks come from the labelled-image default of tasks/base.py (masks warped with their
images); validation scores mean per-image Dice, and after training the mask threshold with the best
validation Dice is fitted.
"""
import numpy as np
import torch

from evaluate import segmenter_probabilities
from models.unet import dice
from tasks.base import TRANSFER, Task


def dice_by_threshold(probabilities: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """(candidate thresholds, mean per-image Dice at each): what segmenter_finish picks the threshold from."""
    candidates = torch.arange(0.2, 0.81, 0.05)
    return candidates, [float(dice(probabilities >= t, masks).mean()) for t in candidates]


def segmenter_score(model, split) -> tuple[str, float]:
    """Mean per-image Dice at the network's size and at the threshold segmenter_finish would fit now.

    Scoring at the refitted threshold (not the current one: a model started --init-from another has
    the default 0.5) makes every epoch's figure the one the shipped model gets on validation, so the
    epoch kept and a refit-only run (--epochs 0) are judged alike.
    """
    _, scores = dice_by_threshold(segmenter_probabilities(model, split), split.labels)
    return "Dice", max(scores)


def segmenter_finish(model, split) -> dict:
    """The probability threshold with the best mean Dice on validation."""
    candidates, scores = dice_by_threshold(segmenter_probabilities(model, split), split.labels)
    model.threshold.fill_(float(candidates[int(np.argmax(scores))]))
    return {"mask threshold (best val Dice)": round(float(model.threshold), 2)}


TASKS = {
    "unet": Task(segmenter_score, segmenter_finish,
                 flags=("image_size", "channels", "augment", "widths", "encoder", "flip_average", *TRANSFER)),
}

SETTINGS = {  # what the model card says about the training recipe
    "unet": {"optimiser": "AdamW, weight decay 1e-4, cosine schedule with warm-up",
             "loss": "binary cross-entropy + soft Dice (per image)"},
}
