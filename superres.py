"""Super-resolution x4 of one uploaded image: the one code path of the page, `predict.py upscale` and
`evaluate.py` (so the three agree), with the size limit, the bicubic baseline and the metrics.

    image = read_image("photo.png")
    big = upscale(image, load_model("srresnet-x4"))    # (4H, 4W) or (4H, 4W, 3) in [0, 1]
    baseline = upscale(image, None)                    # bicubic, the same way

What happens to each kind of input (said on the page and in `predict.py`'s output):
- colour: upscaled as RGB;
- grayscale (incl. 16-bit PNG/TIFF and DICOM, which `images.read_image` scales to [0, 1]): replicated
  to RGB for the network (it was trained on colour photographs), and the output's three channels
  averaged back to one;
- alpha: `images.read_image` composites transparent images on black and drops the alpha channel.
"""
import io

import numpy as np
import torch
from PIL import Image

import inference
from degradations import Degradation
from images import LoadedImage
from metrics import psnr, sharpness, ssim
from models.srresnet import SELF_ENSEMBLE

SCALE = 4
# --model choice -> folder under weights/. srresnet-real, the default, was trained on a random mix of degradations
# (blur, resize modes, noise, JPEG) and is at least as good as bicubic on every one evaluate.py tries; srresnet was
# trained on the benchmark's antialiased bicubic only: sharper there, worse than bicubic on images made otherwise.
MODELS = {"srresnet-real": "srresnet-x4-real", "srresnet": "srresnet-x4", "srgan": "srgan-x4"}
DEFAULT = "srresnet-real"
MAX_INPUT_PIXELS = 1024 * 1024  # the limit, here only: 1 megapixel in, 16 megapixels out (four times the 512x512 benchmark of BENCHMARKS.md)
BORDER = 4  # pixels removed at each edge before PSNR/SSIM on Y (the literature's protocol at x4)
ALPHA_NOTE = "transparency was dropped: the image was composited on black before upscaling"


class TooLarge(ValueError):
    """An input past MAX_INPUT_PIXELS; str() names the limit."""


def check_size(height: int, width: int, name: str = "the image") -> None:
    if height * width > MAX_INPUT_PIXELS:
        raise TooLarge(f"{name} is {width}x{height} = {height * width:,} pixels; super-resolution takes at most "
                       f"{MAX_INPUT_PIXELS:,} pixels (e.g. 1024x1024), whose x{SCALE} result is already "
                       f"{SCALE ** 2 * MAX_INPUT_PIXELS / 1e6:.0f} megapixels. Crop the region you want to see larger")


def to_rgb_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, 3) in [0, 1] -> (1, 3, H, W); grey is replicated."""
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    x = x[None].expand(3, -1, -1) if x.ndim == 2 else x.permute(2, 0, 1)
    return x[None].contiguous()


def to_pixels(x: torch.Tensor, grayscale: bool) -> np.ndarray:
    """(1, 3, H, W) float32 -> (H, W, 3), or (H, W) averaged over channels for grayscale content; float32
    in [0, 1]. Clamps x in place: one copy of a large result, not three."""
    x = x[0].clamp_(0, 1)
    return (x.mean(0) if grayscale else x.permute(1, 2, 0).contiguous()).numpy()


def bicubic(x: torch.Tensor) -> torch.Tensor:
    """The baseline: PIL's bicubic (a = -0.5, the kernel of MATLAB's imresize) on float pixels, x4.
    (1, 3, H, W) -> (1, 3, 4H, 4W) in [0, 1]."""
    h, w = x.shape[-2:]
    channels = [np.asarray(Image.fromarray(c.numpy(), mode="F").resize((w * SCALE, h * SCALE), Image.BICUBIC))
                for c in x[0]]
    return torch.from_numpy(np.stack(channels))[None].clamp(0, 1)


def passes(model, *, self_ensemble: bool = False) -> int:
    """How many passes `upscale` makes with `model`: 0 for bicubic (model None), all 8 rotations and
    mirror images with the self-ensemble, otherwise the model's default (its config's `transforms`)."""
    if model is None:
        return 0
    return SELF_ENSEMBLE if self_ensemble else len(model.config.transforms)


def upscale(image: LoadedImage, model, *, progress=None, self_ensemble: bool = False,
            transforms: list[int] | None = None) -> np.ndarray:
    """x4 of a read image by `model` (a super-resolution family), or bicubic when model is None.
    Refuses images past MAX_INPUT_PIXELS. `progress(done, total)` after each tile. By default the
    model's own number of passes (its config's `transforms`); `self_ensemble`: average the model's
    answers for the image's 8 rotations and mirror images (8x the time); `transforms`: those given."""
    check_size(image.height, image.width, image.name)
    x = to_rgb_tensor(image.pixels)  # (1, 3, H, W)
    if model is None:
        return to_pixels(bicubic(x), image.grayscale)
    with inference.computing("long"):  # one of the server's slots for long work (limits.py): classifying never waits
        y = model.predict(x, progress=progress, self_ensemble=self_ensemble, transforms=transforms)  # (1, 3, 4H, 4W)
    return to_pixels(y, image.grayscale)


def notes(image: LoadedImage) -> list[str]:
    """What was done to this input beyond upscaling, in words."""
    said = []
    if image.grayscale:
        said.append("grayscale: replicated to RGB for the network, the result averaged back to gray")
    if str(image.info.get("alpha", "")).startswith("dropped (composited"):
        said.append(ALPHA_NOTE)
    if image.bit_depth > 8:
        said.append(f"{image.bit_depth}-bit input read at full precision" +
                    ("; saved as 16-bit PNG" if image.grayscale else "; saved as 8-bit PNG (colour)"))
    return said


def shrink(image: LoadedImage, degradation: Degradation = Degradation()) -> tuple[np.ndarray, np.ndarray]:
    """"Downscale x4 then restore": (original cropped to a multiple of 4, its x4 downscale by `degradation`,
    by default antialiased bicubic rounded to 8 bits as the benchmark's LR images were made), as pixels
    in [0, 1]. A degradation's noise is seeded, so the same image is made small the same way every time."""
    h, w = image.height // SCALE * SCALE, image.width // SCALE * SCALE
    if h < 8 * SCALE or w < 8 * SCALE:
        raise ValueError(f"{image.name} is {image.width}x{image.height}; 'downscale then restore' needs at least "
                         f"{8 * SCALE}x{8 * SCALE} pixels so that the small version is 8x8")
    original = image.pixels[:h, :w]
    small = degradation(to_rgb_tensor(original), scale=SCALE)
    return original, to_pixels(small, image.grayscale)


def compare(restored: np.ndarray, original: np.ndarray, *, y_only: bool = False) -> dict[str, float]:
    """PSNR (dB) and SSIM of a restored image against the original: on Y with a 4-pixel border removed
    (the literature's protocol) and, unless y_only, on RGB (whole image) with the no-reference sharpness
    of the result."""
    a, b = to_rgb_tensor(restored), to_rgb_tensor(original)
    on_y = {"psnr_y": float(psnr(a, b, y=True, border=BORDER)), "ssim_y": float(ssim(a, b, y=True, border=BORDER))}
    if y_only:
        return on_y
    return {**on_y, "psnr_rgb": float(psnr(a, b)), "ssim_rgb": float(ssim(a, b)),
            "sharpness": float(sharpness(a, border=BORDER))}


def eight_bit(pixels: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] (float) -> uint8, a band of rows at a time: a 16-megapixel result needs no float
    copies on the way (uint8 input is returned as it is)."""
    if pixels.dtype == np.uint8:
        return pixels
    out = np.empty(pixels.shape, np.uint8)
    for top in range(0, len(pixels), 256):
        out[top:top + 256] = np.round(np.clip(pixels[top:top + 256], 0, 1) * 255)
    return out


def png_bytes(pixels: np.ndarray, *, sixteen_bit: bool = False) -> bytes:
    """(H, W) or (H, W, 3) in [0, 1], or uint8 -> PNG file bytes; grayscale floats may be written at 16 bits."""
    buffer = io.BytesIO()
    if sixteen_bit and pixels.ndim == 2 and pixels.dtype != np.uint8:
        Image.fromarray(np.round(np.clip(pixels, 0, 1) * 65535).astype(np.uint16)).save(buffer, format="PNG")
    else:
        Image.fromarray(eight_bit(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()
