"""Domain adaptation: labelled source images and unlabelled target images in, a classifier of the target
out (PixelDA: MNIST to MNIST-M; with --dataset mnist, its source-only baseline).

An epoch pairs shuffled source digits with target images drawn at random; validation is the labelled
*source* val split's accuracy (no target label is read in training), which picks the source-only
baseline's weights; the adapted model keeps its last epoch.
"""
from dataclasses import dataclass
from pathlib import Path

import torch

from data import load_split
from tasks.base import Task
from tasks.classification import classifier_score


# -- PixelDA: labelled MNIST (source) and unlabelled MNIST-M-style images (target) -------------------


@dataclass
class DomainPair:
    """The labelled source split and, when adapting, the unlabelled target images (no labels kept)."""

    source: object  # data.Split of MNIST digits with their labels
    target: torch.Tensor | None  # (N, 3, S, S) uint8 MNIST-M-style images, or None for the source-only model
    description: str
    epoch_size: int | None = None  # source images per epoch; None: all of them

    def __len__(self) -> int:
        return min(self.epoch_size or len(self.source), len(self.source))

    @property
    def class_names(self) -> list[str]:
        return self.source.class_names


def adaptation_load(args, root: Path, split: str):
    """--dataset mnist: the source only (the baseline); --dataset mnist_m: source plus the target images.
    Validation is always the labelled *source* val split: no target label is ever read in training."""
    source = load_split("mnist", root, split, size=args.image_size, channels=3)
    if split == "val":
        return source
    if args.dataset == "mnist":
        return DomainPair(source, None, source.description)
    target = load_split("mnist_m", root, "train", size=args.image_size, channels=3)
    return DomainPair(source, target.images, f"{source.description}; target (labels dropped): {target.description}",
                      epoch_size=ADAPTATION_EPOCH)


ADAPTATION_EPOCH = 8000  # source images in a PixelDA "epoch" (250 steps of 32): a checkpoint every few minutes on a CPU


def adaptation_order(pair: DomainPair, generator: torch.Generator) -> torch.Tensor:
    """A shuffle of the source; a PixelDA epoch takes the first `epoch_size` of it."""
    return torch.randperm(len(pair.source), generator=generator)[:len(pair)]


def adaptation_batch(pair: DomainPair, index: torch.Tensor, generator: torch.Generator, args):
    """(source images, their labels, as many target images drawn at random, the generator for the noise)."""
    images, labels = pair.source.batch(index)
    target = None
    if pair.target is not None:
        target = pair.target[torch.randint(len(pair.target), (len(index),), generator=generator)].float() / 255
    return images, labels, target, generator


def adaptation_config(args, pair) -> dict:
    """--widths W: the generator's channels (the discriminator's: W, 2W, 4W, 8W); --depths N: its residual blocks."""
    width = args.widths[0] if args.widths else None
    return {"class_names": pair.class_names, "image_size": args.image_size, "adapt": args.dataset == "mnist_m",
            "generator_width": width, "generator_blocks": args.depths[0] if args.depths else None,
            "discriminator_widths": [width * 2 ** i for i in range(4)] if width else None}


def adaptation_card(args, pair, config) -> dict:
    what = ("(source: labelled MNIST digits; target: unlabelled MNIST-M-style images), "
            f"{config.image_size} px colour input; generator {config.generator_blocks} residual blocks of "
            f"{config.generator_width} channels, discriminator {config.discriminator_widths} channels (the paper: 6 "
            "blocks of 64, discriminator 64 to 512; narrower here to train on one CPU thread)") if config.adapt else \
        f"(labelled MNIST digits only: the source-only baseline), {config.image_size} px, gray repeated over RGB"
    return {"data": what, "augmentation": "none"}


TASKS = {
    "pixelda": Task(classifier_score, load=adaptation_load, order=adaptation_order, batch=adaptation_batch,
                    config=adaptation_config, card=adaptation_card, keep_last=lambda args: args.dataset == "mnist_m",
                    flags=("image_size", "widths", "depths")),  # the digits are always RGB
}

SETTINGS = {  # what the model card says about the training recipe
    "pixelda": {"optimiser": "Adam (beta1 0.5): one for the generator and task classifier, one for the "
                             "discriminator; cosine schedule with warm-up",
                "loss": "source-only: cross-entropy on labelled MNIST. PixelDA: 0.013 x adversarial (non-saturating "
                        "GAN loss) + 0.011 x (cross-entropy on source images + on their translations), the "
                        "paper's weights; the discriminator: 0.013 x (real target vs translated source)",
                "model selection": "source-only: best accuracy on the labelled MNIST val digits; PixelDA: none, a "
                                   "fixed schedule keeps the last epoch's weights (no target label is read in training)"},
}
