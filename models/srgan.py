"""Super-resolution x4: SRGAN (Ledig et al., 2017), the SRResNet generator fine-tuned against a discriminator.

The generator is exactly `SRResNet`'s (and is initialised from the trained SRResNet weights: `train.py
srgan --init-from weights/srresnet-x4`). A discriminator learns to tell true high-resolution patches
from super-resolved ones; the generator learns to fool it, which trades a little PSNR for sharper,
more photo-like texture. Generator loss = content loss + adversarial loss, as in the paper, but:

- The paper's content loss compares VGG19 features (pretrained on ImageNet). No pretrained VGG can be
  downloaded here, so our content loss compares the features of the discriminator's own first two
  stages (feature matching, Salimans et al. 2016), as relative squared error, plus the L1 pixel loss
  SRResNet was trained with (weight 1), which keeps colours and low frequencies in place. These features are learnt during fine-tuning, not fixed
  ImageNet features: a weaker perceptual signal than VGG's.
- A small discriminator (three stages of two 3x3 convolutions, the second strided; LeakyReLU, no batch
  norm, global average pool);
  the paper's has 8 convolutions up to 512 channels and two dense layers.

The discriminator is saved with the weights (so training can resume); `predict` uses only the generator.
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register
from .srresnet import PIXEL_LOSSES, SRResNet, SRResNetConfig

PIXEL_WEIGHT = 1.0  # pixel term (config.loss: L1 by default); at 0.1, 40 fine-tuning steps already fell 1.2 dB (val PSNR) to bicubic's level
FEATURE_WEIGHT = 1.0  # discriminator-feature content loss (our stand-in for the paper's VGG loss)
DISCRIMINATOR_LR_FACTOR = 4  # the discriminator starts from scratch; the generator from trained weights
ADVERSARIAL_WEIGHT = 5e-3  # as ESRGAN (Wang et al., 2018); the paper's 1e-3 moves little in a short fine-tune


@dataclass
class SRGANConfig(SRResNetConfig):
    discriminator_widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # each width: two convs, the second strided


class Discriminator(nn.Module):
    """(B, 3, H, W) high-resolution patch -> one logit (real) per image, and its early features."""

    def __init__(self, widths: list[int]):
        super().__init__()
        stages, c_in = [], 3
        for width in widths:  # each stage: (B, c_in, h, w) -> (B, width, h/2, w/2)
            stages.append(nn.Sequential(nn.Conv2d(c_in, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Conv2d(width, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)))
            c_in = width
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(c_in, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, features = images - 0.5, []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return self.head(x.mean((2, 3))).squeeze(1), features[:2]  # logits (B,), content-loss features


def feature_loss(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    """Relative squared error of each feature map, averaged: blind to the features' overall scale."""
    return sum(((f - r) ** 2).mean() / (r ** 2).mean().clamp_min(1e-8) for f, r in zip(fake, real)) / len(fake)


@register("srgan")
class SRGAN(SRResNet):
    Config = SRGANConfig
    initialises_from = ("srresnet",)  # train.py --init-from: the generator's tensors have the same names

    def __init__(self, config: SRGANConfig):
        super().__init__(config)
        self.discriminator = Discriminator(config.discriminator_widths)

    def configure_optimizers(self, lr: float):
        # Generator first, discriminator second. The discriminator learns 4x faster (the two time-scale
        # rule, Heusel et al. 2017): it starts from scratch, the generator from trained SRResNet weights.
        return [torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.9, 0.99)),
                torch.optim.Adam(self.discriminator.parameters(), lr=DISCRIMINATOR_LR_FACTOR * lr, betas=(0.9, 0.99))]

    def training_step(self, batch, optimizers) -> dict[str, float]:
        low, high = batch  # (B, 3, h, w) and (B, 3, sh, sw) in [0, 1]
        optimizer_g, optimizer_d = optimizers
        real = torch.ones(len(low))
        fake = torch.zeros(len(low))

        # -----------------
        #  Train Generator
        # -----------------
        self.discriminator.requires_grad_(False)  # the generator's loss must not move the discriminator
        sr = self(low)  # (B, 3, sh, sw)
        logits_sr, features_sr = self.discriminator(sr)
        with torch.no_grad():
            _, features_hr = self.discriminator(high)
        pixel = PIXEL_LOSSES[self.config.loss](sr, high)
        content = feature_loss(features_sr, features_hr)
        adversarial = F.binary_cross_entropy_with_logits(logits_sr, real)
        loss_g = PIXEL_WEIGHT * pixel + FEATURE_WEIGHT * content + ADVERSARIAL_WEIGHT * adversarial
        optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        optimizer_g.step()
        self.discriminator.requires_grad_(True)

        # ---------------------
        #  Train Discriminator
        # ---------------------
        logits_real, _ = self.discriminator(high)
        logits_fake, _ = self.discriminator(sr.detach())
        loss_d = (F.binary_cross_entropy_with_logits(logits_real, real)
                  + F.binary_cross_entropy_with_logits(logits_fake, fake)) / 2
        optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        optimizer_d.step()

        return {"pixel_l1": pixel.item(), "content": content.item(), "adversarial": adversarial.item(),
                "d_loss": loss_d.item(), "d_real": torch.sigmoid(logits_real).mean().item(),
                "d_fake": torch.sigmoid(logits_fake).mean().item()}
