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


def grad_cam(model, images: torch.Tensor, target: int | torch.Tensor | None = None) -> torch.Tensor:
    """Heat maps (B, H, W) in [0, 1] at the input's size, for `target` (default: the predicted class).

    `model` is a CalibratedClassifier (`prepare`, `features`, `head`, `window_margins`); images (B, C, H, W) in [0, 1].
    An ensemble's map is the mean of its members' maps for the ensemble's class.
    """
    model.eval()
    if isinstance(model, Ensemble):
        if target is None:
            target = model.predict(images).argmax(1)
        cam = torch.stack([grad_cam(member, images, target) for member in model.members]).mean(0)
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
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).max(1).values.clamp_min(1e-8).view(-1, 1, 1)
    return cam / peak


def colorize(heat: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8 through the colour ramp."""
    position = np.clip(heat, 0, 1) * (len(_RAMP) - 1)
    low = np.floor(position).astype(int).clip(0, len(_RAMP) - 2)
    t = (position - low)[..., None]
    return ((_RAMP[low] * (1 - t) + _RAMP[low + 1] * t) * 255).round().astype(np.uint8)


def overlay(image: np.ndarray, heat: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """Blend the coloured heat map over an image ((H, W) or (H, W, 3) in [0, 1]) -> (H, W, 3) uint8."""
    base = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    blended = (1 - opacity) * base + opacity * colorize(heat) / 255
    return (np.clip(blended, 0, 1) * 255).round().astype(np.uint8)
