"""Super-resolution x4: SRResNet (Ledig et al., 2017, "Photo-Realistic Single Image Super-Resolution
Using a Generative Adversarial Network"), sized for a CPU.

A low-resolution image goes through residual blocks at its own resolution, then sub-pixel convolution
(a convolution to 4x the channels, then `PixelShuffle(2)`, Shi et al. 2016) doubles the resolution,
once per factor of 2. Differences from the paper, each for speed on one CPU thread:

- 6 residual blocks of 64 channels by default (paper: 16), no batch norm (as EDSR, Lim et al. 2017,
  found better for super-resolution), ReLU (paper: PReLU), 3x3 first and last convolutions (paper: 9x9).
  A trained network can be made deeper and trained on: `weights_from` adds blocks that start as the
  identity (train.py --init-from with --depths).
- The network predicts the difference from the bicubic upscale (global residual learning, as VDSR,
  Kim et al. 2016): the easy part of the answer is given, and training converges in minutes.

`predict` takes images (B, 3, H, W) in [0, 1] of any size and returns (B, 3, sH, sW) in [0, 1]; images
larger than a tile are processed tile by tile with overlap (see `upscale_tiled`), so memory stays
bounded and no seam shows. `predict(..., self_ensemble=True)` averages the answers for the image's
eight rotations and mirror images (the geometric self-ensemble of EDSR+, Lim et al. 2017, and Timofte
et al. 2016): eight times the work for 0.05 to 0.21 dB more PSNR here (see the model cards). A config
may make a smaller such average its default (`transforms`): two passes cost twice one. Training
(`training_step`) minimises the L1 or L2 distance to the true image (`loss`).
"""
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .base import MedLabModel
from .registry import register

SCALES = (2, 4)  # powers of two: one x2 sub-pixel stage per factor of 2
PIXEL_LOSSES = {"l1": F.l1_loss, "l2": F.mse_loss}


@dataclass
class SRResNetConfig:
    scale: int = 4  # output is scale x the input's height and width
    in_channels: int = 3  # RGB; grayscale images are replicated to RGB by the caller
    channels: int = 64  # features at low resolution
    blocks: int = 6  # residual blocks at low resolution (paper: 16)
    upsample_channels: int = 32  # features in the sub-pixel stages, which run at 2x and 4x: kept narrow for speed
    tile: int = 320  # low-resolution tile side for `predict` on large images: peak memory ~0.7 GB at x4
    overlap: int | None = None  # context pixels around each tile; None: `reach(config)`, which makes tiling exact
    # Training loss on RGB: "l1" (sharper than L2 at the same PSNR, Zhao et al., 2017) or "l2", which is
    # PSNR's own measure (mean squared error): a short last stage on it trades a little sharpness for PSNR.
    loss: str = "l1"
    # The dihedral transforms (see `dihedral`) whose answers `predict` averages by default: [0] is one
    # pass of the image as it is. Each more is one more pass for a little more PSNR; the model card says
    # which were chosen, on validation, and what they cost.
    transforms: list[int] = field(default_factory=lambda: [0])

    def __post_init__(self):
        if self.overlap is None:  # a deeper network reaches further, so its tiles need more context
            self.overlap = reach(self)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv plus the input; no batch norm (EDSR)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x):
        return self.body(x).add_(x)  # in place: one large feature map fewer to allocate


class Generator(nn.Module):
    """The SRResNet network: (B, 3, H, W) -> (B, 3, sH, sW), a correction added to the bicubic upscale."""

    def __init__(self, config: SRResNetConfig):
        super().__init__()
        c, u = config.channels, config.upsample_channels
        self.scale = config.scale
        self.head = nn.Conv2d(config.in_channels, c, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(c) for _ in range(config.blocks)], nn.Conv2d(c, c, 3, padding=1))
        stages, width = [], c
        for _ in range(int(math.log2(config.scale))):  # each stage: (B, width, h, w) -> (B, u, 2h, 2w)
            stages += [nn.Conv2d(width, 4 * u, 3, padding=1), nn.PixelShuffle(2), nn.ReLU(inplace=True)]
            width = u
        self.upsample = nn.Sequential(*stages)
        self.tail = nn.Conv2d(u, config.in_channels, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images - 0.5  # centre the input
        features = self.head(x)  # (B, c, H, W)
        features = features + self.body(features)  # the long skip of SRResNet
        residual = self.tail(self.upsample(features))  # (B, 3, sH, sW)
        return bicubic(images, self.scale) + residual


def reach(config: SRResNetConfig) -> int:
    """How far, in low-resolution pixels, an output pixel's inputs lie from it: the `overlap` tiles need.
    Each 3x3 convolution sees one pixel further at its own resolution (a pixel at 2x is half a
    low-resolution one); the bicubic upscale the network's answer is added to sees two."""
    stages = int(math.log2(config.scale))
    convolutions = 1 + 2 * config.blocks + 1  # head, two per residual block, the body's last
    convolutions += sum(1 / 2 ** k for k in range(stages)) + 1 / 2 ** stages  # the sub-pixel stages and the tail
    return math.ceil(max(convolutions, 2))  # the farther of the two paths


def bicubic(images: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upscale (torch's, a = -0.75), not clamped: the baseline the network corrects."""
    return F.interpolate(images, scale_factor=scale, mode="bicubic", align_corners=False)


def upscale_tiled(network, images: torch.Tensor, *, scale: int, tile: int, overlap: int,
                  progress=None) -> torch.Tensor:
    """Run `network` over (B, C, H, W) tile by tile; (B, C, sH, sW), identical to one pass up to rounding.

    Each tile is cut with `overlap` extra pixels of real context on every side (the image's own
    border where there is none) and only its centre is kept, so every output pixel is computed
    with as much context as the network's receptive field reaches: no seams. Memory is bounded
    by one tile, whatever the image's size. `progress(done, total)` is called after each tile.
    """
    b, c, h, w = images.shape
    out = torch.empty(b, c, h * scale, w * scale, dtype=images.dtype, memory_format=torch.channels_last)  # a picture's HWC layout
    rows, cols = even_splits(h, tile), even_splits(w, tile)
    total, done = len(rows) * len(cols), 0
    for top, bottom in rows:
        for left, right in cols:
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)  # the tile plus its context
            t1, l1 = min(bottom + overlap, h), min(right + overlap, w)
            result = network(images[:, :, t0:t1, l0:l1])  # (B, C, s(t1 - t0), s(l1 - l0))
            out[:, :, top * scale:bottom * scale, left * scale:right * scale] = result[
                :, :, (top - t0) * scale:(bottom - t0) * scale, (left - l0) * scale:(right - l0) * scale]
            done += 1
            if progress is not None:
                progress(done, total)
    return out


def even_splits(length: int, tile: int) -> list[tuple[int, int]]:
    """[start, stop) spans of at most `tile` covering range(length), as few as can be and of equal size
    (to one pixel): 330 by 320 is 165 + 165, not 320 + a 10-pixel sliver that costs a pass of its own."""
    n = -(-length // tile)
    bounds = [round(k * length / n) for k in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def dihedral(images: torch.Tensor, t: int, *, inverse: bool = False) -> torch.Tensor:
    """Transform t in 0..7 of the square's symmetry group: t % 4 quarter turns, mirrored when t >= 4.
    With inverse=True, undoes it. (B, C, H, W) -> (B, C, H, W) or (B, C, W, H)."""
    turns, mirror = t % 4, t >= 4
    if inverse:
        images = torch.rot90(images, -turns, (-2, -1))
        return images.flip(-1) if mirror else images
    images = images.flip(-1) if mirror else images
    return torch.rot90(images, turns, (-2, -1))


SELF_ENSEMBLE = 8  # transforms averaged by predict(self_ensemble=True)


@register("srresnet")
class SRResNet(MedLabModel):
    Config = SRResNetConfig
    usage = "upscaled = model.predict(images)  # (B, 3, H, W) in [0, 1] -> (B, 3, sH, sW), s: model.config.scale"

    def __init__(self, config: SRResNetConfig):
        super().__init__(config)
        if config.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}; got {config.scale}")
        if config.loss not in PIXEL_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(PIXEL_LOSSES)}; got {config.loss!r}")
        if not config.transforms or any(t not in range(SELF_ENSEMBLE) for t in config.transforms) or \
                len(set(config.transforms)) < len(config.transforms):
            raise ValueError(f"transforms must be distinct numbers in 0..{SELF_ENSEMBLE - 1}; got {config.transforms}")
        self.generator = Generator(config)

    def weights_from(self, source: "SRResNet") -> dict[str, torch.Tensor]:
        """`source`'s tensors named as in this network, which may be deeper (train.py --init-from): the
        extra residual blocks go after source's, before the body's last convolution, with their own last
        convolution zeroed, so each starts as the identity and the deeper network computes exactly what
        `source` computed (Goyal et al. 2017's zero-initialised residual branches)."""
        theirs, mine = source.state_dict(), self.state_dict()
        have, want = source.config.blocks, self.config.blocks
        if want < have:  # the body's last convolution would meet a trained block in its place
            raise ValueError(f"the network to start from has {have} residual blocks: a {want}-block network cannot "
                             f"start from it (train.py: pass --depths {have})")
        if want == have:
            return theirs
        renamed = {key.replace(f"generator.body.{have}.", f"generator.body.{want}.", 1): value
                   for key, value in theirs.items()}  # the body's last convolution moves to the end
        for block in range(have, want):
            for part in ("weight", "bias"):
                key = f"generator.body.{block}.body.2.{part}"
                renamed[key] = torch.zeros_like(mine[key])
        return renamed

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Unclamped super-resolved images (B, 3, sH, sW): what the losses see."""
        return self.generator(images)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, *, progress=None, self_ensemble: bool = False,
                transforms: list[int] | None = None) -> torch.Tensor:
        """Super-resolved images (B, 3, sH, sW) in [0, 1] for images (B, 3, H, W) in [0, 1] of any size:
        the mean of the answers for the image's dihedral `transforms` (each transformed back); by default
        the config's, with self_ensemble all SELF_ENSEMBLE of them. `progress(done, total)` counts passes
        over tiles, after each tile. Memory: the output, and one tile's passes at a time (BENCHMARKS.md)."""
        if images.ndim != 4 or images.shape[1] != self.config.in_channels:
            raise ValueError(f"expected images (B, {self.config.in_channels}, H, W), got {tuple(images.shape)}")
        c = self.config
        transforms = list(range(SELF_ENSEMBLE)) if self_ensemble else (transforms or c.transforms)

        def answer(tile: torch.Tensor) -> torch.Tensor:
            """The mean of the network's answers for the tile's transforms, each turned back. Averaging tile
            by tile is averaging whole images (tiles are exact), and memory holds one output, not one per pass."""
            total = None
            for t in transforms:
                # Channels-last tensors: oneDNN's convolutions run about 1.4x faster on them on a CPU, with
                # the same answers up to float rounding (benchmark.py --sr).
                turned = dihedral(tile, t).contiguous(memory_format=torch.channels_last)
                back = dihedral(self.generator(turned), t, inverse=True)
                total = back if total is None else total.add_(back)
            return total.div_(len(transforms))

        n = len(transforms)
        counted = None if progress is None else lambda done, tiles: progress(done * n, tiles * n)  # in passes
        return upscale_tiled(answer, images, scale=c.scale, tile=c.tile, overlap=c.overlap, progress=counted).clamp_(0, 1)

    # -- training ----------------------------------------------------------------------------------

    def configure_optimizers(self, lr: float):
        return [torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.9, 0.99))]

    def training_step(self, batch, optimizers) -> dict[str, float]:
        low, high = batch  # (B, 3, h, w) and (B, 3, sh, sw) in [0, 1]
        (optimizer,) = optimizers
        loss = PIXEL_LOSSES[self.config.loss](self(low), high)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {self.config.loss: loss.item()}
