"""Layers used by more than one model family."""
import torch
import torch.nn.functional as F
from torch import nn

# ITU-R BT.601, the weights PIL uses for RGB -> L. images.LUMA is the same (a test checks): models/ imports
# nothing of the project outside itself, so the upload layer and the networks each name it.
LUMA = (0.299, 0.587, 0.114)


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) colour -> (B, 1, H, W) gray, as PIL and images.to_tensor make it."""
    return (images * images.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)


def conv_bn_act(c_in: int, c_out: int, *, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """The basic block of He et al. 2016: two 3x3 convolutions and a shortcut (1x1 when shapes change)."""

    def __init__(self, c_in: int, c_out: int, *, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


def fit_input(images: torch.Tensor, *, channels: int, size: int) -> torch.Tensor:
    """(B, 1 or `channels`, H, W) in [0, 1], any size -> (B, channels, size, size): gray is repeated over the
    channels, and the image resized with antialiasing (bilinear) when it is not the network's size already."""
    if images.ndim != 4 or images.shape[1] not in (1, channels):
        raise ValueError(f"expected images (B, {channels}, H, W), got {tuple(images.shape)}")
    images = images.expand(-1, channels, -1, -1)
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return images
