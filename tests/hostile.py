"""A corpus of hostile and broken files, made here at test time: what a class of students finds and uploads.

Each `Case` is a file name (as uploaded), its bytes, and what the lab must answer: the phrase its error
message contains, or `accepted` for odd files that are still images (16-bit, CMYK). tests/test_reliability.py
sends every case through each surface (images.read_image, predict.py, the Classify page, the Gradio API);
scripts/loadtest.py uploads them among real images. RELIABILITY.md lists the cases and their outcomes.
"""
import io
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RTPlanStorage, generate_uid

import limits


@dataclass(frozen=True)
class Case:
    name: str  # the file name as uploaded (several claim to be .png whatever they are)
    data: bytes
    expect: str  # a phrase of the error message, or of what an accepted file is read as
    accepted: bool = False  # an odd file that is still an image: it must be judged, not refused
    what: str = ""  # what the file is, for RELIABILITY.md

    def __repr__(self) -> str:  # pytest ids and failure messages without megabytes of bytes
        return f"Case({self.name!r}, {len(self.data):,} bytes)"


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def with_png_size(png: bytes, width: int, height: int) -> bytes:
    """The same PNG with another width and height in its IHDR header (CRC fixed): a decompression bomb's header."""
    data = bytearray(png)
    data[16:20], data[20:24] = width.to_bytes(4, "big"), height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def dicom_without_pixels() -> bytes:
    """An RT plan: a valid DICOM file, but a treatment plan, with no image in it."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = RTPlanStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.RTPlanLabel = "RTPLAN", "plan"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def corpus() -> tuple[Case, ...]:
    png = encode(Image.fromarray(noise(64, 64)), "PNG")
    jpeg = encode(Image.fromarray(noise(64, 64)), "JPEG", quality=90)
    frames = [Image.new("L", (32, 32), v) for v in (0, 128, 255)]
    pages = [Image.new("L", (32, 32), v) for v in (0, 255)]
    wide = np.linspace(0, 65535, 48 * 48).reshape(48, 48).astype(np.uint16)
    nan = np.full((16, 16), np.nan, dtype=np.float32)
    too_big = png + bytes(limits.MAX_UPLOAD_BYTES + 1 - len(png))  # a real PNG, padded one byte past the limit
    mb = f"{limits.MAX_UPLOAD_BYTES / 2**20:.1f} MB ({limits.MAX_UPLOAD_BYTES:,} bytes)"
    return (
        Case("truncated.png", png[: len(png) // 2], "truncated", what="PNG cut in half"),
        Case("truncated.jpg", jpeg[: int(len(jpeg) * 0.6)], "truncated", what="JPEG cut at 60%"),
        Case("corrupt.png", png[:60] + bytes(200) + png[260:], "damaged PNG", what="PNG with zeros over its data"),
        Case("empty.png", b"", "empty (0 bytes)", what="zero bytes"),
        Case("dot.png", encode(Image.new("L", (1, 1)), "PNG"), "too small to judge", what="1 x 1 pixel"),
        Case("zero.png", with_png_size(encode(Image.new("L", (16, 16)), "PNG"), 0, 16), "header is damaged",
             what="header claiming 0 x 16"),
        Case("bomb.png", with_png_size(encode(Image.new("L", (16, 16)), "PNG"), 50_000, 50_000),
             f"50000 x 50000 = 2,500,000,000 pixels; the limit is {limits.MAX_PIXELS:,} pixels",
             what="header claiming 50,000 x 50,000 pixels"),
        Case("huge.png", too_big, f"the limit is {mb}", what="a PNG padded one byte past the upload limit"),
        Case("sixteen-bit.png", encode(Image.fromarray(wide), "PNG"), "16-bit", accepted=True,
             what="16-bit grey PNG"),
        Case("cmyk.jpg", encode(Image.new("CMYK", (48, 48), (0, 200, 200, 0)), "JPEG"), "CMYK", accepted=True,
             what="CMYK JPEG"),
        Case("beating.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100),
             "an animated GIF with 3 frames", what="animated GIF"),
        Case("stack.tif", encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]), "multi-page TIFF",
             what="2-page TIFF"),
        Case("drawing.png", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
             "SVG drawing", what="SVG renamed .png"),
        Case("page.png", b"<!DOCTYPE html><html><body>Access denied</body></html>", "HTML page",
             what="HTML renamed .png"),
        Case("report.jpg", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF document", what="PDF renamed .jpg"),
        Case("noise.png", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
             "not an image this lab can read", what="4 KB of random bytes"),
        Case("plan.dcm", dicom_without_pixels(), "DICOM file without pixel data", what="DICOM RT plan (no pixels)"),
        Case("nan.tif", encode(Image.fromarray(nan, mode="F"), "TIFF"), "NaN", what="float TIFF of NaN"),
    )


def refused() -> list[Case]:
    return [case for case in corpus() if not case.accepted]
