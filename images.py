"""Read one uploaded image file (PNG, JPEG, BMP, TIFF, WebP, GIF, PGM or DICOM) into [0, 1] floats.

This is the only place that opens user files: the Streamlit pages and the command lines both call
`read_image`, so every odd file (16-bit PNG, CMYK JPEG, MONOCHROME1 DICOM, truncated download,
a PDF renamed .png) is handled, or refused with a message naming the file, in one place.

    image = read_image("chest.dcm", window=WINDOW_PRESETS["lung"])
    x = to_tensor(image, channels=1, size=224)   # (1, 1, 224, 224) in [0, 1]

Every problem with the file itself raises `ImageReadError` (a `ValueError`), whose text can be shown
to the user as is. Mistakes by the caller (a wrong argument type) raise the usual exceptions.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import threading
import warnings
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

from limits import (FRAMES_COUNTED, LARGE_IMAGE_PIXELS, MAX_CONCURRENT_LARGE_READS, MAX_PIXELS,  # noqa: F401
                    MAX_UPLOAD_BYTES, MIN_SIDE, VIEW_SIDE, WORK_PIXELS)

WINDOW_PRESETS: dict[str, tuple[float, float]] = {  # (center, width) in Hounsfield units
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
}

# PIL may only try these decoders. The rest of what PIL can open adds risk and nothing for us
# (EPS, for one, runs Ghostscript). JPEG includes MPO (camera JPEGs with extra views); PPM covers
# PGM, the format of some mammography sets (mini-MIAS).
_PIL_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF", "PPM", "JPEG2000")
_SUPPORTED = "PNG, JPEG, BMP, TIFF, WebP, GIF, PGM or DICOM"

# Largest per-pixel spread between R, G and B (in 8-bit levels) still called grey: JPEG rounding
# leaves a level or two of colour in a grey X-ray saved as RGB.
_GRAY_TOLERANCE_LEVELS = 3

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, the weights PIL uses for RGB -> L (models.blocks.LUMA too)


class ImageReadError(ValueError):
    """A file that could not be read as an image; str() is a readable message naming the file and what was wrong."""


@dataclass
class LoadedImage:
    pixels: np.ndarray  # float32, (H, W) for grayscale content or (H, W, 3) for colour, values in [0, 1]
    name: str  # the file name as given (for messages and outputs)
    format: str  # "PNG", "JPEG", "BMP", "TIFF", "DICOM", ...
    grayscale: bool  # True if the content is single-channel (incl. RGB files whose channels are equal)
    bit_depth: int  # bits per sample of the source (8, 16, ...)
    info: dict = field(default_factory=dict)  # extra facts: DICOM window, dropped alpha, EXIF rotation, ...

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def read_image(source, *, name: str | None = None, window: tuple[float, float] | None = None) -> LoadedImage:
    """Read a PNG, JPEG, BMP, TIFF, WebP, GIF, PGM or DICOM file into a `LoadedImage`.

    source: a path (str or Path), bytes, or a binary file-like object (Streamlit's UploadedFile).
    name:   what to call the file in messages; defaults to the path or the object's .name.
    window: DICOM only, (center, width) in the file's output units (HU for CT) overriding the
            file's own window, e.g. WINDOW_PRESETS["lung"]. Ignored (and said so in info) otherwise.
    """
    if window is not None:
        center, width = (float(v) for v in window)
        if not (np.isfinite(center) and np.isfinite(width) and width > 0):
            raise ValueError(f"window must be a finite (center, width) with width > 0; got {window}")
        window = (center, width)

    data, name = _read_bytes(source, name)
    if len(data) == 0:
        raise ImageReadError(f"{name} is empty (0 bytes); the upload or download did not complete, try again")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageReadError(
            f"{name} is {_too_big(len(data))}. Upload a smaller export of the image (e.g. PNG or JPEG)"
        )

    if _is_dicom(data, name):
        return _read_dicom(data, name, window)
    image = _read_pil(data, name)
    if window is not None:
        image.info["window"] = "ignored (windowing applies to DICOM files only)"
    return image


def to_tensor(image: LoadedImage, *, channels: int, size: int | None = None) -> torch.Tensor:
    """(1, channels, H, W) float32 tensor in [0, 1], the input the models expect.

    channels: 1 (luminance; colour images are converted with BT.601 weights) or 3 (grey replicated).
    size:     if given, resize to size x size (bilinear, antialiased); the aspect ratio is not kept.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels}")
    if size is not None and size < 1:
        raise ValueError(f"size must be a positive number of pixels; got {size}")

    x = torch.from_numpy(np.ascontiguousarray(image.pixels, dtype=np.float32))
    if x.ndim == 2:
        x = x[None]  # (1, H, W)
    else:
        x = x.permute(2, 0, 1)  # (3, H, W)
    if channels == 1 and x.shape[0] == 3:
        x = (torch.tensor(LUMA).view(3, 1, 1) * x).sum(dim=0, keepdim=True)  # (1, H, W)
    elif channels == 3 and x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    x = x[None]  # (1, C, H, W)

    if size is not None:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0.0, 1.0).contiguous()


def to_pil(image: LoadedImage, *, view: bool = False) -> Image.Image:
    """8-bit PIL image for display: mode L for grayscale content, RGB for colour. `view`: at `view_size`, what
    a page shows and draws on (maps, overlays), whatever the image's own size."""
    pixels = np.clip(image.pixels, 0.0, 1.0)  # one float copy; the rest in place
    pixels *= 255.0
    shown = Image.fromarray(np.round(pixels, out=pixels).astype(np.uint8))
    del pixels
    height, width = view_size(image.height, image.width) if view else (image.height, image.width)
    return shown if (height, width) == (image.height, image.width) else \
        shown.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)


def view_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) with no side over limits.VIEW_SIDE, the aspect ratio kept: the size maps and overlays are
    drawn at (a page is never wider than ~1460 px)."""
    scale = min(1.0, VIEW_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


# ---------------------------------------------------------------------------------------------
# Getting the bytes
# ---------------------------------------------------------------------------------------------


def _read_bytes(source, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or str(source)
        try:
            if path.is_dir():
                raise ImageReadError(f"{name} is a folder, not an image file; give the path of one image")
            size = path.stat().st_size
            if size > MAX_UPLOAD_BYTES:  # refuse before reading it all into memory
                raise ImageReadError(
                    f"{name} is {_too_big(size)}. Use a smaller export of the image (e.g. PNG or JPEG)"
                )
            return path.read_bytes(), name
        except FileNotFoundError:
            raise ImageReadError(f"{name}: no such file; check the path") from None
        except PermissionError:
            raise ImageReadError(f"{name}: permission denied; check that the file is readable") from None

    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "uploaded file"

    if hasattr(source, "getvalue") or hasattr(source, "read"):
        name = name or getattr(source, "name", None) or "uploaded file"
        # getvalue() returns the whole upload wherever the read position is (Streamlit's UploadedFile);
        # read() is capped one byte past the limit so a huge stream is never read whole.
        data = source.getvalue() if hasattr(source, "getvalue") else source.read(MAX_UPLOAD_BYTES + 1)
        if isinstance(data, str):
            raise TypeError(f"{name} was opened in text mode; open it with open(path, 'rb')")
        return bytes(data), str(name)

    raise TypeError(f"read_image expects a path, bytes or a binary file object; got {type(source).__name__}")


def _megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def _too_big(size: int) -> str:
    # Bytes too: a file just past the limit would otherwise read "32.0 MB; the limit is 32.0 MB".
    return f"{_megabytes(size)} ({size:,} bytes); the limit is {_megabytes(MAX_UPLOAD_BYTES)} ({MAX_UPLOAD_BYTES:,} bytes)"


# ---------------------------------------------------------------------------------------------
# Ordinary image files, through PIL
# ---------------------------------------------------------------------------------------------


# Decoding a 40-megapixel photo takes ~1.5 GB for a few seconds: a class uploading such photos at once
# would take all the server's memory. Large images wait for one of a few slots; small ones never wait.
_LARGE_READS = threading.BoundedSemaphore(MAX_CONCURRENT_LARGE_READS)


def _read_pil(data: bytes, name: str) -> LoadedImage:
    with ExitStack() as held:  # a large image holds its slot until its pixels are floats in [0, 1]
        return _read_pil_holding(data, name, held)


def _read_pil_holding(data: bytes, name: str, held: ExitStack) -> LoadedImage:
    info: dict = {}
    with warnings.catch_warnings():
        # PIL only warns between its own limit and twice that; make it an error like the rest.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
        except Image.UnidentifiedImageError:
            raise ImageReadError(_not_an_image_message(data, name)) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageReadError(_too_many_pixels_message(name, data, str(e))) from None
        except Exception as e:
            raise ImageReadError(_decode_failure_message(name, "image", e)) from e

        fmt = "JPEG" if im.format == "MPO" else im.format  # MPO: a camera JPEG with extra views
        width, height = im.size  # from the header; nothing is decoded yet
        _check_size(name, width, height)
        held.enter_context(_LARGE_READS if width * height > LARGE_IMAGE_PIXELS else nullcontext())
        try:
            frames = _count_frames(im)
        except Exception as e:  # found by the fuzz test: a damaged TIFF tag raised TypeError here
            raise ImageReadError(_decode_failure_message(name, f"{fmt} image", e)) from e
        if frames > 1 and im.format == "MPO":
            info["frames"] = f"first of {frames} images in the MPO JPEG used"
        elif frames > 1:
            kind = "a multi-page TIFF" if fmt == "TIFF" else f"an animated {fmt}"
            unit = "pages" if fmt == "TIFF" else "frames"
            count = f"more than {FRAMES_COUNTED}" if frames > FRAMES_COUNTED else frames
            raise ImageReadError(f"{name} is {kind} with {count} {unit}; upload a single still image")

        try:
            if width * height > WORK_PIXELS and fmt == "JPEG":  # libjpeg decodes at 1/2, 1/4 or 1/8 for free
                im.draft(im.mode, _work_size(width, height))
            im.load()  # decode now, so a truncated file fails here and not later in a model
            orientation = im.getexif().get(0x0112, 1)  # EXIF Orientation; 1 is upright
            tiff_bits = _tiff_bits_per_sample(im) if fmt == "TIFF" else None
            im = _reduce(im)
            if _TRANSPOSES.get(orientation):
                im = im.transpose(_TRANSPOSES[orientation])
        except Exception as e:
            raise ImageReadError(_decode_failure_message(name, f"{fmt} image", e)) from e

    if orientation not in (1, None):
        info["exif_orientation"] = f"{orientation} (rotated/flipped upright)"
    if im.width * im.height < width * height:
        info["reduced"] = f"read at {im.width} x {im.height} of {width} x {height} (the lab works on at most " \
                          f"{WORK_PIXELS:,} pixels)"
    pixels, bit_depth = _pil_to_array(im, name, fmt, info, tiff_bits)
    return _finish(pixels, name=name, fmt=fmt, bit_depth=bit_depth, info=info)


# EXIF Orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose, which copies the
# image even when it has nothing to do).
_TRANSPOSES = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
               5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_90}


def _work_factor(width: int, height: int) -> int:
    """The smallest whole factor that brings width x height within WORK_PIXELS (1: it is within already)."""
    factor = 1
    while (width // factor) * (height // factor) > WORK_PIXELS:
        factor += 1
    return factor


def _work_size(width: int, height: int) -> tuple[int, int]:
    factor = _work_factor(width, height)
    return width // factor, height // factor


def _reduce(im: Image.Image) -> Image.Image:
    """The image within WORK_PIXELS: each output pixel the mean of a factor x factor block (Pillow's reduce)."""
    factor = _work_factor(*im.size)
    if factor == 1:
        return im
    if im.mode == "1":
        im = im.convert("L")
    elif im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode.startswith("I;16"):
        return im.convert("I").reduce(factor).convert("I;16")
    return im.reduce(factor)


def _reduce_array(raw: np.ndarray) -> np.ndarray:
    """DICOM pixels (H, W) or (H, W, 3) within WORK_PIXELS, as `_reduce`: block means, in the array's own type."""
    factor = _work_factor(raw.shape[1], raw.shape[0])
    if factor == 1:
        return raw
    h, w = raw.shape[0] // factor, raw.shape[1] // factor
    blocks = raw[:h * factor, :w * factor].reshape(h, factor, w, factor, *raw.shape[2:])
    mean = blocks.mean(axis=(1, 3))
    return np.rint(mean).astype(raw.dtype) if raw.dtype.kind in "iu" else mean.astype(raw.dtype)


def _count_frames(im: Image.Image) -> int:
    """The file's frames (pages), counted no further than FRAMES_COUNTED + 1. Pillow's own n_frames walks every
    page of a TIFF or GIF, a TIFF's in time quadratic in their number (300k pages in a 29 MB file: minutes)."""
    if im.format not in ("TIFF", "GIF"):  # WebP and MPO state their count in the header
        return getattr(im, "n_frames", 1)
    count = 1
    try:
        while count <= FRAMES_COUNTED:
            im.seek(count)
            count += 1
    except EOFError:
        pass
    im.seek(0)
    return count


def _scaled(im: Image.Image, white: float) -> np.ndarray:
    """The image as float32 divided by `white`, in place: one array of floats, not two."""
    pixels = np.asarray(im, dtype=np.float32)
    pixels /= white
    return pixels


def _pil_to_array(im: Image.Image, name: str, fmt: str, info: dict, tiff_bits: int | None) -> tuple[np.ndarray, int]:
    """Float32 array in [0, 1], (H, W) or (H, W, 3), and the source's bits per sample (`tiff_bits`: a TIFF's own)."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=np.float32), 1
    if mode == "L":
        return _scaled(im, 255.0), 8
    if mode.startswith("I;16"):
        # 16-bit grey: scale by the file's real range (65535, or 4095 for a 12-bit TIFF), never clip at 255.
        bits = tiff_bits if fmt == "TIFF" else 16
        bits = bits if bits and bits <= 16 else 16
        values = np.asarray(im).astype(np.float32)
        return np.clip(values / (2**bits - 1), 0.0, 1.0), bits
    if mode == "I":  # 32-bit integer; older Pillow also opens 16-bit PNGs this way
        bits = 16 if fmt == "PNG" else tiff_bits
        values = np.asarray(im)
        if bits and bits <= 16 and values.min() >= 0 and values.max() <= 2**bits - 1:
            return values.astype(np.float32) / (2**bits - 1), bits
        return _scale_wide_values(values, name, info), bits or 32
    if mode == "F":
        return _scale_wide_values(np.asarray(im), name, info), 32
    if mode in ("LA", "La", "PA", "P", "RGBA", "RGBa"):
        has_alpha = mode != "P" or "transparency" in im.info
        if not has_alpha:
            return _scaled(im.convert("RGB"), 255.0), 8
        rgba = _scaled(im.convert("LA" if mode in ("LA", "La") else "RGBA"), 255.0)
        colour, alpha = rgba[..., :-1], rgba[..., -1:]
        # Composite onto black: what the model sees matches what a viewer shows on a dark background.
        if alpha.min() == 1.0:
            info["alpha"] = "dropped (fully opaque)"
        else:
            info["alpha"] = "dropped (composited on black)"
        composite = colour * alpha
        return (composite[..., 0] if composite.shape[-1] == 1 else composite), 8
    if mode in ("RGB", "CMYK", "YCbCr", "LAB", "HSV"):
        if mode != "RGB":
            info["converted"] = f"{mode} to RGB"
        return _scaled(im if mode == "RGB" else im.convert("RGB"), 255.0), 8
    raise ImageReadError(
        f"{name} is a {fmt} with pixel mode {mode}, which this lab does not read; "
        "save it as an 8-bit or 16-bit PNG"
    )


def _tiff_bits_per_sample(im: Image.Image) -> int | None:
    bits = getattr(im, "tag_v2", {}).get(258)  # TIFF tag BitsPerSample
    if isinstance(bits, tuple):
        bits = bits[0]
    return int(bits) if bits else None


def _scale_wide_values(values: np.ndarray, name: str, info: dict) -> np.ndarray:
    """32-bit integer or float pixels (TIFF modes I and F) have no fixed white: use their range."""
    is_float = values.dtype.kind == "f"
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ImageReadError(f"{name} contains NaN or infinite pixel values; save the image without them")
    low, high = float(values.min()), float(values.max())
    if is_float and 0.0 <= low and high <= 1.0:
        info["scaling"] = "none (float values already in [0, 1])"
        return values.astype(np.float32)
    info["scaling"] = f"min-max (values {low:g} to {high:g} mapped to 0..1)"
    return _min_max(values)


def _decode_failure_message(name: str, kind: str, error: Exception) -> str:
    if "truncated" in str(error).lower():
        return f"{name} is truncated (the {kind} file ends before its data does); upload the complete file"
    return f"{name} is a damaged {kind} file ({_reason(error)}); export or download it again"


_SIGNATURES = {  # first bytes of the formats we read, to tell "damaged PNG" from "not an image"
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def _not_an_image_message(data: bytes, name: str) -> str:
    for signature, fmt in _SIGNATURES.items():
        if data.startswith(signature):
            return f"{name} starts like a {fmt} file but its header is damaged; export or download it again"
    looks_like = _sniff(data)
    what = f"looks like {looks_like}" if looks_like else "is not an image this lab can read"
    return f"{name} {what}; upload a {_SUPPORTED} image"


def _sniff(data: bytes) -> str | None:
    """A few common things people upload by mistake, so the message can say what the file is."""
    head = data[:1024]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (or an Office document); unpack it and upload one image"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file; decompress it first"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "a HEIC photo (iPhone); export it as JPEG"
    if data[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "a NIfTI volume; export one 2D slice as PNG"
    if b"<svg" in text:
        return "an SVG drawing (vector graphics, not pixels); export it as PNG"
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text:
        return "an HTML page (perhaps a web page saved instead of the image)"
    if text.startswith(b"<?xml"):
        return "an XML file"
    if text.startswith((b"{", b"[")):
        return "a JSON or text file"
    try:
        decoded = codecs.getincrementaldecoder("utf-8")().decode(head)  # tolerates a character cut at 1024
    except UnicodeDecodeError:
        return None
    return "a text file" if "\x00" not in decoded else None


def _too_many_pixels_message(name: str, data: bytes, pil_message: str) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:  # IHDR width and height
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return _size_message(name, width, height)
    match = re.search(r"\((\d+) pixels\)", pil_message)
    pixels = f"{int(match.group(1)):,} pixels" if match else "more pixels than PIL's own limit"
    return f"{name} declares {pixels} in its header; the limit is {MAX_PIXELS:,} pixels. Upload a smaller image"


def _size_message(name: str, width: int, height: int) -> str:
    return (
        f"{name} is {width} x {height} = {width * height:,} pixels; the limit is {MAX_PIXELS:,} pixels. "
        "Upload a downscaled copy"
    )


def _check_size(name: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageReadError(f"{name} has zero size ({width} x {height} pixels); it contains no image")
    if width * height > MAX_PIXELS:
        raise ImageReadError(_size_message(name, width, height))
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageReadError(
            f"{name} is only {width} x {height} pixels, too small to judge; "
            f"upload an image at least {MIN_SIDE} x {MIN_SIDE} pixels"
        )


def _reason(error: Exception) -> str:
    text = str(error).strip() or "no details"
    return f"{type(error).__name__}: {text[:200]}"


# ---------------------------------------------------------------------------------------------
# DICOM, through pydicom
# ---------------------------------------------------------------------------------------------


def _is_dicom(data: bytes, name: str) -> bool:
    if data[128:132] == b"DICM":
        return True
    # A name ending .dcm is trusted too, unless the bytes are plainly a PNG, JPEG, ... renamed.
    named_dicom = name.lower().endswith((".dcm", ".dicom"))
    return named_dicom and not any(data.startswith(signature) for signature in _SIGNATURES)


def _read_dicom(data: bytes, name: str, window: tuple[float, float] | None) -> LoadedImage:
    has_magic = data[128:132] == b"DICM"
    try:
        # force: files named .dcm without the 128-byte preamble and 'DICM' marker are still common.
        ds = pydicom.dcmread(io.BytesIO(data), force=not has_magic)
        # pydicom converts element values lazily, on first access: convert them all now, so that a
        # damaged element fails here as a DICOM problem rather than at some ds.get() further down.
        for _ in ds.iterall():
            pass
        for _ in getattr(ds, "file_meta", None) or ():
            pass
    except Exception as e:
        raise ImageReadError(
            f"{name} is not a readable DICOM file ({_reason(e)}); export it again from the viewer or PACS"
        ) from e

    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        kind = ds.get("Modality") or getattr(ds.get("SOPClassUID"), "name", None)
        what = f" (its modality or class is {kind})" if kind else ""
        raise ImageReadError(
            f"{name} is a DICOM file without pixel data (PixelData element missing){what}; "
            "upload an image file from the series (e.g. CT, MR, CR or DX)"
        )

    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames") or 1)
        bits_stored = int(ds.get("BitsStored") or 16)
        photometric = str(ds.get("PhotometricInterpretation") or "MONOCHROME2").strip().upper()
        info: dict = {"modality": str(ds.get("Modality") or "unknown"), "photometric_interpretation": photometric}
        slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
        if slope is not None or intercept is not None:
            info["rescale"] = (float(1 if slope is None else slope), float(0 if intercept is None else intercept))
    except Exception as e:
        raise ImageReadError(f"{name} is a DICOM file with a damaged image header ({_reason(e)})") from e
    _check_size(name, columns, rows)

    try:
        if frames > 1:
            # A volume or cine loop: show its middle frame, the one most likely to contain the anatomy.
            index = frames // 2
            ds.pixel_array_options(index=index)
            info["frame"] = f"middle frame {index + 1} of {frames}"
        raw = ds.pixel_array  # YBR colour comes back as RGB
        if photometric == "PALETTE COLOR":
            raw = apply_color_lut(raw, ds)
    except Exception as e:
        raise ImageReadError(_dicom_decode_failure_message(name, ds, e)) from e
    if raw.ndim in (2, 3) and raw.shape[0] * raw.shape[1] > WORK_PIXELS:
        raw = _reduce_array(raw)
        info["reduced"] = f"read at {raw.shape[1]} x {raw.shape[0]} of {columns} x {rows} (the lab works on at most " \
                          f"{WORK_PIXELS:,} pixels)"

    if raw.ndim == 3 and raw.shape[-1] == 3:
        if photometric == "PALETTE COLOR":
            bits = 16 if raw.dtype == np.uint16 else 8  # the colour table's output, not the index width
        else:
            bits = bits_stored if 1 <= bits_stored <= raw.dtype.itemsize * 8 else raw.dtype.itemsize * 8
        pixels = np.clip(raw.astype(np.float32) / (2**bits - 1), 0.0, 1.0)
        if window is not None:
            info["window"] = "ignored (colour image)"
        return _finish(pixels, name=name, fmt="DICOM", bit_depth=bits, info=info)
    if raw.ndim != 2:
        raise ImageReadError(f"{name} has pixel data of shape {raw.shape}, not a 2D image; upload a single image")

    try:
        values = apply_modality_lut(raw, ds).astype(np.float64)  # stored values -> HU for CT (slope, intercept)
    except Exception as e:
        raise ImageReadError(f"{name} is a DICOM file whose rescale or modality LUT is damaged ({_reason(e)})") from e
    pixels = _dicom_window(values, ds, window, info, name)
    if photometric == "MONOCHROME1":  # 0 means white in MONOCHROME1; flip so higher = brighter
        pixels = 1.0 - pixels
        info["inverted"] = "MONOCHROME1 inverted so that higher = brighter"
    return _finish(pixels, name=name, fmt="DICOM", bit_depth=bits_stored, info=info)


def _dicom_window(values: np.ndarray, ds, window, info: dict, name: str) -> np.ndarray:
    """Map modality values to [0, 1]: the caller's window, else the file's, else its VOI LUT, else min-max."""
    source = "argument"
    if window is None:
        window = _file_window(ds)
        source = "file"
    if window is not None:
        center, width = window
        info["window"] = (center, width)
        info["window_source"] = source
        # Linear window as viewers show it: [center - width/2, center + width/2] -> [0, 1].
        return np.clip((values - (center - width / 2)) / width, 0.0, 1.0).astype(np.float32)
    if "VOILUTSequence" in ds:
        info["window"] = "VOI LUT from the file, then min-max"
        info["window_source"] = "file"
        try:
            indices = np.rint(values).astype(np.int64)  # a LUT is indexed by whole numbers
            return _min_max(apply_voi_lut(indices, ds).astype(np.float64))
        except Exception as e:
            raise ImageReadError(f"{name} is a DICOM file whose VOI LUT is damaged ({_reason(e)})") from e
    has_window = "WindowCenter" in ds or "WindowWidth" in ds
    info["window"] = "min-max (the file's window is incomplete or invalid)" if has_window else "min-max (the file has no window)"
    info["window_source"] = "min-max"
    return _min_max(values)


def _file_window(ds) -> tuple[float, float] | None:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    def first(value) -> float:
        # Multi-valued windows list alternatives (e.g. soft tissue, bone): the first is the default view.
        return float(value[0] if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else value)

    try:
        center, width = first(center), first(width)
    except (TypeError, ValueError, IndexError):
        return None
    return (center, width) if np.isfinite(center) and np.isfinite(width) and width > 0 else None


def _dicom_decode_failure_message(name: str, ds, error: Exception) -> str:
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    text = str(error)
    if "missing dependencies" in text or "plugin" in text.lower():
        return (
            f"{name} is compressed as '{syntax.name if syntax else 'unknown'}', which needs a decoder that "
            "is not installed (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg), "
            "or export it uncompressed"
        )
    if "less than expected" in text or "truncat" in text.lower():
        return f"{name} is a truncated DICOM file (less pixel data than its header declares); upload the complete file"
    return f"{name} is a DICOM file whose pixel data could not be decoded ({_reason(error)})"


# ---------------------------------------------------------------------------------------------
# Shared
# ---------------------------------------------------------------------------------------------


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high == low:  # a flat image: show it black rather than divide by zero
        return np.zeros(values.shape, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def _finish(pixels: np.ndarray, *, name: str, fmt: str, bit_depth: int, info: dict) -> LoadedImage:
    """Collapse RGB whose channels agree to (H, W) grey, and wrap the result."""
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    if not np.isfinite(pixels).all():  # e.g. NaN in float pixel data: no window can show that
        raise ImageReadError(f"{name} contains NaN or infinite pixel values; export the image again without them")
    if pixels.ndim == 3:
        r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]  # pairwise, as reducing over axis 2 is slow
        tolerance = _GRAY_TOLERANCE_LEVELS / 255.0 + 1e-6
        if all(float(np.abs(x - y).max()) <= tolerance for x, y in ((r, g), (g, b), (r, b))):
            pixels = (r + g + b) / np.float32(3.0)
            info["channels"] = "RGB with equal channels, read as grayscale"
    return LoadedImage(
        pixels=pixels, name=name, format=fmt, grayscale=pixels.ndim == 2, bit_depth=bit_depth, info=info
    )
