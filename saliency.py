"""Grad-CAM (Selvaraju et al., 2017): which parts of the image pushed the classifier to its answer.

The class score's gradient with respect to the last convolutional feature map, averaged over
space, weights that map's channels; the positive part of the weighted sum, upsampled to the input,
is the heat map. It shows where the network looked, not why a clinician would decide.
"""
import numpy as np
import torch
import torch.nn.functional as F

from models.ensemble import Ensemble

# "inferno"-like colour ramp, dark to bright: keeps the X-ray readable under a translucent overlay.
_RAMP = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], float) / 255


def grad_cam(model, images: torch.Tensor, target: int | torch.Tensor | None = None,
             size: tuple[int, int] | None = None) -> torch.Tensor:
    """Heat maps (B, H, W) in [0, 1] at the input's size, or at `size` (H, W), for `target` (default: the
    predicted class). A map is drawn for the eye: at a full 40 megapixels it would be 160 MB, at images.view_size
    a few.

    `model` is a CalibratedClassifier (`prepare`, `features`, `head`, `window_margins`); images (B, C, H, W) in [0, 1].
    An ensemble's map is the mean of its members' maps for the ensemble's class.
    """
    model.eval()
    size = size or tuple(images.shape[-2:])
    if isinstance(model, Ensemble):
        if target is None:
            target = model.predict(images).argmax(1)
        cam = sum(grad_cam(member, images, target, size) for member in model.members) / len(model.members)
        return cam / cam.flatten(1).max(1).values.clamp_min(1e-8).view(-1, 1, 1)
    with torch.enable_grad():
        features = model.features(model.prepare(images))  # (B, c, h, w)
        if not features.requires_grad:  # fixed filters (the k-means network): the map itself is what we differentiate
            features.requires_grad_()
        logits = model.head(features)  # (B, K)
        if target is None:
            target = logits.argmax(1)
        target = torch.as_tensor(target).expand(len(images))
        score = logits.gather(1, target.view(-1, 1)).sum()
        (gradients,) = torch.autograd.grad(score, features)
    weights = gradients.mean(dim=(2, 3), keepdim=True)  # (B, c, 1, 1)
    cam = F.relu((weights * features).sum(1, keepdim=True)).detach()  # (B, 1, h, w)
    before, after = model.window_margins  # a map of windows (the k-means network) is padded to their centres
    cam = F.pad(cam, (before, after, before, after))
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).max(1).values.clamp_min(1e-8).view(-1, 1, 1)
    return cam.div_(peak)


def _colours(levels: np.ndarray) -> np.ndarray:
    position = levels * (len(_RAMP) - 1)
    low = np.floor(position).astype(int).clip(0, len(_RAMP) - 2)
    t = (position - low)[..., None]
    return ((_RAMP[low] * (1 - t) + _RAMP[low + 1] * t) * 255).round().astype(np.uint8)


_LEVELS = _colours(np.linspace(0, 1, 256))  # (256, 3) uint8: the ramp at each 8-bit level


def heat_levels(heat: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W) uint8 levels 0-255 (a uint8 map is already levels)."""
    if heat.dtype == np.uint8:
        return heat
    return np.round(np.clip(heat, 0, 1) * 255).astype(np.uint8)


def colorize(heat: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1], or uint8 levels -> (H, W, 3) uint8 through the colour ramp, looked up per 8-bit level
    (3 bytes a pixel; computing the ramp per pixel in float64 took 24 bytes a pixel, several times over)."""
    return _LEVELS[heat_levels(heat)]


def overlay(image: np.ndarray, heat: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """Blend the coloured heat map over an image of the same height and width ((H, W) or (H, W, 3), in [0, 1]
    or uint8) -> (H, W, 3) uint8, blended in float32 (tests/test_memory.py counts the bytes a pixel)."""
    base = image.astype(np.float32) * np.float32(1 if image.dtype == np.uint8 else 255)  # 0-255
    blended = base[..., None] if base.ndim == 2 else base  # (H, W, 1) broadcasts over the colours
    blended = blended * np.float32(1 - opacity) + colorize(heat) * np.float32(opacity)
    return np.clip(blended, 0, 255, out=blended).round(out=blended).astype(np.uint8)
