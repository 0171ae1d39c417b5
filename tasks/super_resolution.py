"""Super-resolution: a low-resolution image in, a x4 larger one out (SRResNet, SRGAN).

Training draws random high-resolution patches and degrades them (one resize kind, or a random mix of
degradations.py's); validation scores held-out centre crops: PSNR for SRResNet, a sharpness match for
SRGAN. Nothing is fitted after training.
"""
from pathlib import Path

import numpy as np
import torch

from data import load_sr
from degradations import PROTOCOL, Degradation
from metrics import psnr, sharpness
from tasks.base import Task

SR_ARCHITECTURE = ("SRResNet generator, smaller than the paper's for a CPU: residual blocks without batch norm "
                   "(paper: 16 blocks with batch norm), ReLU (paper: PReLU), 3x3 first and last convolutions (paper: "
                   "9x9), two x2 sub-pixel stages, and a global bicubic skip (the network predicts the difference "
                   "from bicubic, as VDSR); large images run in overlapping tiles, identical to one pass")


# -- super-resolution: random patches, scored by PSNR on held-out crops -----------------------------


def sr_load(args, root: Path, split: str):
    """--image-size is the high-resolution patch side; an epoch is --patches random patches. Validation
    pairs: one centre crop per image, degraded as training is (with --degradation random: once by each
    degradation of evaluate.py's protocol)."""
    patches = load_sr(root, split, patch=args.image_size, n=args.patches, degradation=args.degradation)
    if split == "val":
        ways = PROTOCOL if args.degradation == "random" else [Degradation(args.degradation)]
        patches.val_pairs = [pair for way in ways for pair in patches.fixed(degradation=way)]
    return patches


def sr_order(split, generator: torch.Generator) -> torch.Tensor:
    return torch.arange(len(split))  # every patch is drawn at random in sr_batch


def sr_batch(split, index: torch.Tensor, generator: torch.Generator, args):
    return split.batch(len(index), generator)  # (low, high)


def sr_score(model, split) -> tuple[str, float]:
    """Mean PSNR on the Y channel, 4-pixel border removed (the literature's protocol), on held-out crops
    (each degradation of the protocol counting alike, with --degradation random)."""
    model.eval()
    values = [float(psnr(model.predict(low), high, y=True, border=4)) for low, high in split.val_pairs]
    return "PSNR-Y", float(np.mean(values))


def srgan_score(model, split) -> tuple[str, float]:
    """For SRGAN, PSNR would pick the least adversarial epoch: instead, how closely the output's edge and
    texture energy matches the true image's, -|log(sharpness(SR) / sharpness(HR))| averaged over the
    held-out crops (0 is a perfect match; SRResNet's blur scores below 0)."""
    model.eval()
    gaps = [abs(float(torch.log(sharpness(model.predict(low), border=4) / sharpness(high, border=4))))
            for low, high in split.val_pairs]
    return "sharpness match", -float(np.mean(gaps))


def sr_config(args, split) -> dict:
    return {"scale": split.scale, "channels": args.widths[0] if args.widths else None,
            "blocks": args.depths[0] if args.depths else None, "loss": args.loss}


def sr_card(args, split, config) -> dict:
    return {"data": f"(x{config.scale}: {args.image_size} px RGB high-resolution patches, {args.image_size // config.scale} "
                    "px low-resolution inputs)",
            "augmentation": "random crops, horizontal flips and 90-degree rotations"}


def srresnet_card(args, split, config) -> dict:
    """SR's card, and SRResNet's one pixel loss (SRGAN's generator loss is described in SETTINGS)."""
    loss = "L2 (mean squared error) on RGB" if config.loss == "l2" else "L1 on RGB"
    return {**sr_card(args, split, config), "settings": {"loss": loss}}


SR_FLAGS = ("image_size", "patches", "degradation", "widths", "depths", "loss")  # sr_load, sr_config; always RGB
SR_TASK = Task(sr_score, load=sr_load, order=sr_order, batch=sr_batch, config=sr_config, card=srresnet_card,
               flags=SR_FLAGS)
TASKS = {
    "srresnet": SR_TASK,
    "srgan": Task(srgan_score, load=sr_load, order=sr_order, batch=sr_batch, config=sr_config, card=sr_card,
                  flags=SR_FLAGS),
}

SETTINGS = {  # what the model card says about each family's training recipe
    "srresnet": {"architecture": SR_ARCHITECTURE, "optimiser": "Adam (betas 0.9, 0.99), cosine schedule with warm-up"},
    "srgan": {"architecture": SR_ARCHITECTURE + "; discriminator: three stages of two 3x3 convolutions (the second "
                              "strided), LeakyReLU, global average pool, one logit (paper: 8 convolutions to 512 channels, "
                              "batch norm, two dense layers); shipped with the weights, unused by predict",
              "optimiser": "Adam (betas 0.9, 0.99) for generator and discriminator (4x the learning rate), "
                           "cosine schedule with warm-up",
              "loss": "generator: 1.0 L1 + 1.0 discriminator-feature content loss (relative squared error of the "
                      "discriminator's first two stages, our stand-in for the paper's VGG loss) + 0.005 adversarial "
                      "(binary cross-entropy); discriminator: binary cross-entropy, real vs super-resolved"},
}
