"""How a picture becomes small: the x4 degradations super-resolution is evaluated under (evaluate.py's
protocol, the page's "downscale then restore"), and the random mix a network can be trained on.

A network trained on one degradation learns that one: SRResNet trained only on LR made by antialiased
bicubic (MATLAB's imresize, the benchmark's own LR) came out 3.4 dB *worse* than plain bicubic on LR
made without antialiasing. Real-ESRGAN (Wang et al., 2021) and BSRGAN (Zhang et al., 2021) train on
random blur kernels, resize modes, noise and JPEG instead; `random_degradation` is a small version.

    small = Degradation("bilinear", jpeg=75)(images)   # (B, 3, H, W) -> (B, 3, H/4, W/4)

Every degradation takes high-resolution images (B, 3, H, W) in [0, 1], H and W multiples of the
scale, and returns (B, 3, H/s, W/s) in [0, 1], rounded to 8 bits as a saved image is. The order is
a camera's: resize, then sensor noise, then JPEG.
"""
import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

RESIZES = {  # kind -> what it is, in words
    "bicubic-aa": "bicubic with antialiasing (PIL, MATLAB's imresize: the benchmark's own LR)",
    "bicubic": "bicubic without antialiasing (OpenCV's INTER_CUBIC, many tools' default)",
    "bilinear": "bilinear without antialiasing (OpenCV's INTER_LINEAR)",
    "area": "area averaging (OpenCV's INTER_AREA): the mean of each block",
    "gaussian": "Gaussian blur, then one pixel per block",
}
SIGMA = 1.6  # the Gaussian blur of the protocol, in high-resolution pixels (a camera-like blur at x4)


def resize(images: torch.Tensor, kind: str, scale: int = 4, sigma: float = SIGMA) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H/scale, W/scale), not rounded. Sampling points are the centres of the
    scale x scale blocks in every kind, so no kind shifts the image against the others."""
    if kind == "bicubic-aa":
        return F.interpolate(images, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    if kind in ("bicubic", "bilinear"):
        return F.interpolate(images, scale_factor=1 / scale, mode=kind, antialias=False, align_corners=False)
    if kind == "area":
        return F.avg_pool2d(images, scale)
    if kind == "gaussian":  # blur, then the block centre (bilinear between the two middle pixels)
        return F.interpolate(gaussian_blur(images, sigma), scale_factor=1 / scale, mode="bilinear",
                             antialias=False, align_corners=False)
    raise ValueError(f"unknown resize {kind!r}: one of {', '.join(RESIZES)}")


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders; the kernel reaches 3 sigma."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def to_8_bits(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255).round() / 255


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Each image saved as a JPEG at `quality` (PIL, 4:2:0 chroma as most encoders) and read back."""
    out = []
    for image in images:
        pixels = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
        read = np.asarray(Image.open(buffer).convert("RGB"))
        out.append(torch.from_numpy(read.copy()).permute(2, 0, 1))
    return torch.stack(out).float() / 255


@dataclass(frozen=True)
class Degradation:
    """resize (a RESIZES kind, with `sigma` for "gaussian"), then Gaussian noise of standard deviation
    `noise` in 8-bit levels (0: none), then JPEG at quality `jpeg` (None: none)."""
    resize: str = "bicubic-aa"
    jpeg: int | None = None
    noise: float = 0.0
    sigma: float = SIGMA

    def __post_init__(self):
        if self.resize not in RESIZES:
            raise ValueError(f"unknown resize {self.resize!r}: one of {', '.join(RESIZES)}")
        if self.jpeg is not None and not 1 <= self.jpeg <= 100:
            raise ValueError(f"JPEG quality must be 1..100; got {self.jpeg}")
        if not (math.isfinite(self.noise) and self.noise >= 0 and math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"noise must be >= 0 and sigma > 0; got {self.noise}, {self.sigma}")

    @property
    def name(self) -> str:
        """A short name: "bilinear+jpeg75", "bicubic-aa+noise5"."""
        return self.resize + (f"+noise{self.noise:g}" if self.noise else "") + (f"+jpeg{self.jpeg}" if self.jpeg else "")

    def describe(self) -> str:
        said = RESIZES[self.resize] + (f" (sigma {self.sigma:g} px)" if self.resize == "gaussian" else "")
        if self.noise:
            said += f", then Gaussian noise of sigma {self.noise:g}/255"
        if self.jpeg:
            said += f", then JPEG at quality {self.jpeg}"
        return said

    def __call__(self, images: torch.Tensor, *, scale: int = 4, seed: int = 0) -> torch.Tensor:
        small = to_8_bits(resize(images, self.resize, scale, self.sigma))
        if self.noise:
            generator = torch.Generator().manual_seed(seed)
            small = to_8_bits(small + torch.randn(small.shape, generator=generator) * (self.noise / 255))
        return jpeg(small, self.jpeg) if self.jpeg else small


# evaluate.py's protocol: each resize alone and followed by JPEG at quality 75, and light noise
PROTOCOL = ([Degradation(kind) for kind in RESIZES] + [Degradation(kind, jpeg=75) for kind in RESIZES]
            + [Degradation("bicubic-aa", noise=5)])
BY_NAME = {d.name: d for d in PROTOCOL}


def random_degradation(generator: torch.Generator) -> Degradation:
    """One draw of the training mix: a third of the draws are the benchmark's own degradation
    (antialiased bicubic, nothing else), so the benchmark figure is kept; the rest take a random
    resize (Gaussian sigma 0.8-2.4 px), noise of sigma 1-8 levels half of the time and JPEG at
    quality 50-95 half of the time."""
    def uniform(low, high):
        return low + (high - low) * float(torch.rand((), generator=generator))

    if float(torch.rand((), generator=generator)) < 1 / 3:
        return Degradation()
    kinds = list(RESIZES)
    kind = kinds[int(torch.randint(len(kinds), (), generator=generator))]
    noise = uniform(1, 8) if float(torch.rand((), generator=generator)) < 0.5 else 0.0
    quality = int(uniform(50, 96)) if float(torch.rand((), generator=generator)) < 0.5 else None
    return Degradation(kind, jpeg=quality, noise=round(noise, 2), sigma=round(uniform(0.8, 2.4), 2))
