"""Walking a latent space: interpolation, projections to 2-D, and animated GIFs.

Used by the Latent page and by `predict.py interpolate`, for any model with the latent interface
(VAEs and GANs alike): `noise(n, generator)`, `decode(z, labels)`, and for VAEs `encode(images, labels)`.
The calls that run a network (encode, decode, walk, grid) each hold one of the server's compute slots
(inference.computing), so the page makes none outside one.

Why spherical interpolation: a Gaussian code of d dimensions lies near the sphere of radius sqrt(d);
the straight line between two such codes passes closer to the origin, where codes are rare, so its
middle frames can look washed out. slerp (Shoemake, 1985; White, 2016, "Sampling generative
networks") follows the arc instead.
"""
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import inference

METHODS = ("linear", "spherical")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Codes a, b (D,) and fractions t (N,) -> (N, D) on the straight line."""
    t = t.view(-1, 1).to(a.dtype)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Codes a, b (D,) and fractions t (N,) -> (N, D) on the arc between them (norms interpolated
    linearly); falls back to the straight line when a and b point the same way (the arc is a line)."""
    t = t.view(-1, 1).to(a.dtype)
    norm_a, norm_b = a.norm(), b.norm()
    if norm_a < 1e-8 or norm_b < 1e-8:
        return lerp(a, b, t)
    cos = torch.clamp(torch.dot(a / norm_a, b / norm_b), -1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:
        return lerp(a, b, t)
    direction = (torch.sin((1 - t) * omega) * (a / norm_a) + torch.sin(t * omega) * (b / norm_b)) / torch.sin(omega)
    return direction * ((1 - t) * norm_a + t * norm_b)


def interpolate(a: torch.Tensor, b: torch.Tensor, frames: int, method: str = "spherical") -> torch.Tensor:
    """`frames` codes (frames, D) from a to b; the first is exactly a and the last exactly b."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames (its two ends), got {frames}")
    a, b = torch.as_tensor(a, dtype=torch.float32).flatten(), torch.as_tensor(b, dtype=torch.float32).flatten()
    if a.shape != b.shape:
        raise ValueError(f"the two codes differ in size: {a.numel()} and {b.numel()}")
    t = torch.linspace(0, 1, frames)
    codes = (lerp if method == "linear" else slerp)(a, b, t)
    codes[0], codes[-1] = a, b  # exactly the inputs' codes, whatever the rounding on the way
    return codes


def latent_size(model) -> int:
    """D of a model's codes, through the shared interface (VAEs and GANs alike)."""
    return int(model.noise(1, generator=torch.Generator().manual_seed(0)).shape[1])


def seed_code(model, seed: int) -> torch.Tensor:
    """The code (D,) a seed draws: the same seed, the same code, on every machine."""
    return model.noise(1, generator=torch.Generator().manual_seed(int(seed)))[0]


def encode(model, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The codes (N, D) of images (N, C, H, W) in [0, 1]: the encoder's mean (a VAE's); `labels` (N,) for
    conditional models, else None."""
    with inference.computing():
        return model.encode(images, labels)[0]


def decode(model, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] from codes (N, D); `labels` (N,) for conditional models, else None."""
    with inference.computing():
        return model.decode(codes, labels)


def walk(model, a: torch.Tensor, b: torch.Tensor, frames: int, method: str = "spherical", labels=None) -> torch.Tensor:
    """Decoded frames (frames, C, H, W) in [0, 1] from code a to code b; `labels` one class index for all
    frames (conditional models) or None."""
    codes = interpolate(a, b, frames, method)
    if labels is not None:
        labels = torch.full((frames,), int(labels), dtype=torch.long)
    return decode(model, codes, labels)  # one model call: every frame in one batch


def pca(codes: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components of codes (N, D): (projection (N, dims), mean (D,), components (dims, D));
    a code c is projected as (c - mean) @ components.T. With D <= dims, the codes as they are."""
    codes = np.asarray(codes, dtype=np.float64)
    d = codes.shape[1]
    if d <= dims:
        return codes[:, :dims].copy(), np.zeros(d), np.eye(d)[:dims]
    mean = codes.mean(0)
    _, _, vt = np.linalg.svd(codes - mean, full_matrices=False)
    components = vt[:dims]
    signs = np.sign(components[np.arange(dims), np.abs(components).argmax(1)])  # deterministic orientation
    components = components * signs[:, None]
    return (codes - mean) @ components.T, mean, components


def to_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """(N, C, H, W) in [0, 1] -> N arrays (H, W) or (H, W, 3) uint8."""
    arrays = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [a[..., 0] if a.shape[-1] == 1 else a for a in arrays]


def strip(images: torch.Tensor, gap: int = 2) -> np.ndarray:
    """Frames (N, C, H, W) side by side, white gaps between them: one (H, N*W + gaps, C) uint8 image."""
    frames = [a if a.ndim == 3 else a[..., None] for a in to_uint8(images)]
    h, c = frames[0].shape[0], frames[0].shape[2]
    spacer = np.full((h, gap, c), 255, np.uint8)
    row = np.concatenate([x for f in frames for x in (f, spacer)][:-1], axis=1)
    return row[..., 0] if c == 1 else row


def gif_bytes(images: torch.Tensor, *, scale: int = 1, duration_ms: int = 120, bounce: bool = True) -> bytes:
    """An animated GIF of the frames (N, C, H, W), looping; `bounce` plays it forth and back."""
    frames = [Image.fromarray(a) for a in to_uint8(images)]
    if scale > 1:
        frames = [f.resize((f.width * scale, f.height * scale), Image.NEAREST) for f in frames]
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
    return buffer.getvalue()


def grid(model, *, steps: int = 15, span: float = 2.5, labels=None) -> torch.Tensor:
    """The decoded manifold of a 2-D latent: a steps x steps grid of codes over [-span, span]^2 (in
    standard deviations of the prior), decoded into one image (C, steps*H, steps*W); y grows upwards."""
    if latent_size(model) != 2:
        raise ValueError(f"a manifold grid needs a 2-D latent; this model's is {latent_size(model)}-D")
    axis = torch.linspace(-span, span, steps)
    zy, zx = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    codes = torch.stack([zx.flatten(), zy.flatten()], 1)  # (steps^2, 2), row by row from the top
    if labels is not None:
        labels = torch.full((len(codes),), int(labels), dtype=torch.long)
    images = decode(model, codes, labels)  # (steps^2, C, H, W)
    c, h, w = images.shape[1:]
    return images.view(steps, steps, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, steps * h, steps * w)


# -- the latent map: a test set's codes, precomputed by evaluate.py and shipped beside the weights ------

MAP_FILE = "latent_map.npz"


def save_map(folder, *, codes: np.ndarray, labels: np.ndarray, class_names: list[str], description: str,
             thumbnails: np.ndarray | None = None, values: np.ndarray | None = None, value_name: str = "") -> None:
    """codes (N, D) (the encoder's mu), labels (N,), optional thumbnails (N, H, W) uint8 (only where the
    images may be shipped) and a per-image value to colour by (e.g. polyp area); numpy arrays, no pickles."""
    arrays = {"codes": np.asarray(codes, np.float16), "labels": np.asarray(labels, np.int16),
              "class_names": np.array(class_names), "description": np.array(description),
              "value_name": np.array(value_name)}
    if thumbnails is not None:
        arrays["thumbnails"] = np.asarray(thumbnails, np.uint8)
    if values is not None:
        arrays["values"] = np.asarray(values, np.float32)
    np.savez_compressed(Path(folder) / MAP_FILE, **arrays)


def load_map(folder) -> dict | None:
    """The shipped latent map of a weights folder as a dict of arrays, or None if it has none."""
    path = Path(folder) / MAP_FILE
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as arrays:  # never unpickle
        found = {k: arrays[k] for k in arrays.files}
    found["codes"] = found["codes"].astype(np.float32)
    found["class_names"] = [str(c) for c in found["class_names"]]
    found["description"] = str(found["description"])
    found["value_name"] = str(found["value_name"])
    return found


def latent_models() -> list[str]:
    """Weights folders in the weights folder whose family has the latent interface (noise and decode): the VAEs
    and the GANs. Read from each config.json, without loading any weights."""
    import models
    import weights_dir

    return [name for name, family in weights_dir.families().items()
            if family in models.names() and hasattr(models.get(family), "noise") and hasattr(models.get(family), "decode")]
