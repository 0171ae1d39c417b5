"""images.py: every kind of file a user may upload is read into [0, 1] floats or refused clearly.

All files are made here at test time (PIL, pydicom) or come bundled with pydicom; nothing is downloaded.
"""

import io
import os
import time
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, features
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

import images
from images import WINDOW_PRESETS, ImageReadError, LoadedImage, read_image, to_pil, to_tensor
from tests.hostile import encode, noise, with_png_size


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def save(tmp_path: Path, filename: str, im: Image.Image, **kwargs) -> Path:
    path = tmp_path / filename
    im.save(path, **kwargs)
    return path


def gray_ramp(height: int = 32, width: int = 48) -> np.ndarray:
    return np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))


def assert_valid(image: LoadedImage) -> None:
    assert isinstance(image, LoadedImage)
    assert image.pixels.dtype == np.float32
    assert image.pixels.ndim == (2 if image.grayscale else 3)
    if not image.grayscale:
        assert image.pixels.shape[2] == 3
    assert np.isfinite(image.pixels).all()
    assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0


def read_error(source, **kwargs) -> str:
    with pytest.raises(ImageReadError) as caught:
        read_image(source, **kwargs)
    return str(caught.value)


def bundled_dicom(filename: str) -> str:
    path = get_testdata_file(filename, download=False)  # some pydicom test files are fetched on demand: not here
    if path is None:
        pytest.skip(f"{filename} is not bundled with this pydicom (it is downloaded on demand, and we are offline)")
    return path


# ---------------------------------------------------------------------------------------------
# Ordinary formats
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "fmt", "kwargs"),
    [
        ("colour.png", "PNG", {}),
        ("colour.jpg", "JPEG", {"quality": 95}),
        ("colour.bmp", "BMP", {}),
        ("colour.tif", "TIFF", {}),
        ("colour.webp", "WEBP", {"lossless": True}),
    ],
)
def test_colour_files_read_as_rgb(tmp_path, filename, fmt, kwargs):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("this Pillow has no WebP support")
    source = noise(24, 40)
    image = read_image(save(tmp_path, filename, Image.fromarray(source), **kwargs))
    assert_valid(image)
    assert image.format == fmt
    assert image.pixels.shape == (24, 40, 3)
    assert not image.grayscale
    assert image.bit_depth == 8
    if fmt != "JPEG":  # lossless formats give back exactly what was written
        np.testing.assert_allclose(image.pixels, source / 255.0, atol=1e-6)


@pytest.mark.parametrize(
    ("filename", "fmt"),
    [("gray.png", "PNG"), ("gray.jpg", "JPEG"), ("gray.bmp", "BMP"), ("gray.tif", "TIFF"), ("gray.pgm", "PPM")],
)
def test_grayscale_files_read_as_2d(tmp_path, filename, fmt):
    image = read_image(save(tmp_path, filename, Image.fromarray(gray_ramp())))
    assert_valid(image)
    assert image.format == fmt
    assert image.grayscale and image.pixels.shape == (32, 48)
    assert image.pixels[:, 0].max() < 0.02 and image.pixels[:, -1].min() > 0.98


def test_xray_saved_as_rgb_jpeg_counts_as_grayscale(tmp_path):
    rgb = np.repeat(gray_ramp()[..., None], 3, axis=2)
    image = read_image(save(tmp_path, "xray.jpg", Image.fromarray(rgb), quality=90))
    assert image.grayscale
    assert image.pixels.shape == (32, 48)
    assert "grayscale" in image.info["channels"]


def test_gif_single_frame(tmp_path):
    image = read_image(save(tmp_path, "still.gif", Image.fromarray(gray_ramp())))
    assert_valid(image)
    assert image.format == "GIF" and image.grayscale  # a grey palette gives equal channels


def test_sixteen_bit_png_scales_by_full_range_not_255(tmp_path):
    values = np.zeros((16, 16), dtype=np.uint16)
    values[0, 0], values[0, 1], values[0, 2] = 65535, 32768, 255
    path = save(tmp_path, "ct16.png", Image.fromarray(values))
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    image = read_image(path)
    assert image.bit_depth == 16 and image.grayscale
    assert image.pixels[0, 0] == pytest.approx(1.0)
    assert image.pixels[0, 1] == pytest.approx(0.5, abs=1e-4)
    assert image.pixels[0, 2] == pytest.approx(255 / 65535)  # not clipped to white at 255


def test_sixteen_bit_tiff(tmp_path):
    values = np.full((16, 16), 65535, dtype=np.uint16)
    values[:8] = 0
    image = read_image(save(tmp_path, "scan16.tif", Image.fromarray(values)))
    assert image.format == "TIFF" and image.bit_depth == 16
    assert image.pixels[0, 0] == 0.0 and image.pixels[-1, -1] == pytest.approx(1.0)


def test_float_tiff_in_unit_range_is_kept_and_other_ranges_are_min_max_scaled(tmp_path):
    unit = np.linspace(0.2, 0.6, 16 * 16, dtype=np.float32).reshape(16, 16)
    image = read_image(save(tmp_path, "unit.tif", Image.fromarray(unit, mode="F")))
    np.testing.assert_allclose(image.pixels, unit, atol=1e-6)

    hounsfield = np.linspace(-1000, 3000, 16 * 16, dtype=np.float32).reshape(16, 16)
    image = read_image(save(tmp_path, "hu.tif", Image.fromarray(hounsfield, mode="F")))
    assert image.pixels.min() == 0.0 and image.pixels.max() == pytest.approx(1.0)
    assert "min-max" in image.info["scaling"]


def test_32_bit_integer_tiff_is_min_max_scaled(tmp_path):
    values = np.linspace(-1024, 3071, 16 * 16).astype(np.int32).reshape(16, 16)  # e.g. CT numbers
    path = save(tmp_path, "ct32.tif", Image.fromarray(values))
    assert Image.open(path).mode == "I"
    image = read_image(path)
    assert image.bit_depth == 32 and image.grayscale
    assert image.pixels[0, 0] == 0.0 and image.pixels[-1, -1] == pytest.approx(1.0)
    assert "min-max" in image.info["scaling"]


def test_float_tiff_with_nan_is_refused(tmp_path):
    values = np.zeros((16, 16), dtype=np.float32)
    values[3, 3] = np.nan
    message = read_error(save(tmp_path, "nan.tif", Image.fromarray(values, mode="F")))
    assert "nan.tif" in message and "NaN" in message


def test_one_bit_image(tmp_path):
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:12, 4:12] = True
    image = read_image(save(tmp_path, "mask.png", Image.fromarray(mask)))
    assert image.bit_depth == 1 and image.grayscale
    assert set(np.unique(image.pixels)) == {0.0, 1.0}
    assert image.pixels[8, 8] == 1.0


def test_paletted_png_becomes_rgb(tmp_path):
    im = Image.new("P", (16, 16))
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (0, 8, 16, 16))  # bottom half blue
    image = read_image(save(tmp_path, "palette.png", im))
    assert not image.grayscale
    np.testing.assert_allclose(image.pixels[0, 0], [1, 0, 0])
    np.testing.assert_allclose(image.pixels[-1, -1], [0, 0, 1])


def test_paletted_png_with_transparency_is_composited_on_black(tmp_path):
    im = Image.new("P", (16, 16))
    im.putpalette([255, 255, 255, 255, 0, 0] + [0] * 762)  # 0 white (transparent), 1 red
    im.paste(1, (0, 0, 16, 8))
    image = read_image(save(tmp_path, "palette_t.png", im, transparency=0))
    assert image.info["alpha"] == "dropped (composited on black)"
    np.testing.assert_allclose(image.pixels[0, 0], [1, 0, 0])
    np.testing.assert_allclose(image.pixels[-1, -1], [0, 0, 0])  # transparent white -> black


def test_rgba_alpha_is_composited_on_black_and_recorded(tmp_path):
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red
    rgba[..., 3] = 255
    rgba[:8, :, 3] = 0  # top half fully transparent
    rgba[8:, :8, 3] = 128  # bottom-left half transparent
    image = read_image(save(tmp_path, "rgba.png", Image.fromarray(rgba, mode="RGBA")))
    assert image.info["alpha"] == "dropped (composited on black)"
    assert image.pixels.shape == (16, 16, 3)
    np.testing.assert_allclose(image.pixels[0, 0], [0, 0, 0])
    np.testing.assert_allclose(image.pixels[12, 2], [128 / 255, 0, 0], atol=1e-6)
    np.testing.assert_allclose(image.pixels[12, 12], [1, 0, 0])


def test_opaque_rgba_and_la(tmp_path):
    rgba = np.dstack([noise(16, 16), np.full((16, 16), 255, np.uint8)])
    image = read_image(save(tmp_path, "opaque.png", Image.fromarray(rgba, mode="RGBA")))
    assert image.info["alpha"] == "dropped (fully opaque)"
    np.testing.assert_allclose(image.pixels, rgba[..., :3] / 255.0, atol=1e-6)

    la = Image.merge("LA", [Image.fromarray(gray_ramp(16, 16)), Image.new("L", (16, 16), 51)])  # alpha 0.2
    image = read_image(save(tmp_path, "la.png", la))
    assert image.grayscale and image.pixels.shape == (16, 16)
    assert image.pixels.max() == pytest.approx(0.2, abs=1e-6)


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    im = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    path = save(tmp_path, "print.jpg", im, quality=95)
    assert Image.open(path).mode == "CMYK"
    image = read_image(path)
    assert image.pixels.shape == (16, 16, 3) and not image.grayscale
    np.testing.assert_allclose(image.pixels[8, 8], [1, 0, 0], atol=0.05)
    assert image.info["converted"] == "CMYK to RGB"


def test_exif_orientation_rotates_the_image(tmp_path):
    pixels = np.zeros((10, 20), dtype=np.uint8)  # 20 wide, 10 high
    pixels[:5, :5] = 255  # bright block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image = read_image(save(tmp_path, "phone.jpg", Image.fromarray(pixels), exif=exif, quality=95))
    assert image.pixels.shape == (20, 10)  # now 10 wide, 20 high
    assert image.pixels[:5, -5:].mean() > 0.9  # top-left went to top-right, as a clockwise turn does
    assert image.pixels[:5, :5].mean() < 0.1
    assert image.info["exif_orientation"].startswith("6")


def test_smallest_accepted_size(tmp_path):
    image = read_image(save(tmp_path, "eight.png", Image.new("L", (8, 8), 200)))
    assert image.pixels.shape == (8, 8)


# ---------------------------------------------------------------------------------------------
# Sources and names
# ---------------------------------------------------------------------------------------------


class FakeUpload(io.BytesIO):
    """What Streamlit's UploadedFile looks like to us: a BytesIO with a .name."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name


def test_sources_path_str_bytes_and_uploads(tmp_path):
    png = encode(Image.fromarray(gray_ramp()), "PNG")
    path = tmp_path / "scan.png"
    path.write_bytes(png)

    assert read_image(path).name == str(path)
    assert read_image(str(path)).name == str(path)
    assert read_image(png).name == "uploaded file"
    assert read_image(png, name="mine.png").name == "mine.png"

    upload = FakeUpload(png, "chest.png")
    upload.read(10)  # a page may already have read part of it: getvalue() still gives all of it
    image = read_image(upload)
    assert image.name == "chest.png" and image.pixels.shape == (32, 48)

    with open(path, "rb") as f:
        assert read_image(f).pixels.shape == (32, 48)


def test_wrong_source_types_are_caller_errors():
    with pytest.raises(TypeError, match="binary"):
        read_image(12)
    with pytest.raises(TypeError, match="text mode"):
        read_image(io.StringIO("a text stream"))


def test_missing_path_and_folder(tmp_path):
    assert "no such file" in read_error(tmp_path / "nowhere.png")
    assert "folder" in read_error(tmp_path)


def test_window_is_ignored_for_non_dicom_and_said_so(tmp_path):
    image = read_image(encode(Image.new("L", (8, 8)), "PNG"), window=WINDOW_PRESETS["lung"])
    assert "ignored" in image.info["window"]


def test_window_width_must_be_positive():
    with pytest.raises(ValueError, match="width"):
        read_image(b"unused", window=(40.0, 0.0))


# ---------------------------------------------------------------------------------------------
# Files that are refused, and what the message says
# ---------------------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    message = read_error(path)
    assert str(path) in message and "empty (0 bytes)" in message


def test_file_over_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", 1000)
    png = encode(Image.fromarray(noise(64, 64)), "PNG")
    assert len(png) > 1000
    path = tmp_path / "big.png"
    path.write_bytes(png)
    for source in (path, png, FakeUpload(png, "big.png")):
        message = read_error(source, name="big.png")
        assert "big.png" in message and "the limit is 0.0 MB" in message


@pytest.mark.parametrize(
    ("width", "height", "route"),
    [
        (7_000, 7_000, "our header check (below PIL's own limit)"),
        (10_000, 10_000, "PIL's DecompressionBombWarning made an error"),
        (50_000, 50_000, "PIL's DecompressionBombError"),
    ],
)
def test_header_claiming_too_many_pixels_is_refused_before_decoding(width, height, route):
    png = with_png_size(encode(Image.new("L", (16, 16)), "PNG"), width, height)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape either
        message = read_error(png, name="bomb.png")
    assert "bomb.png" in message, route
    assert f"{width} x {height}" in message and f"{images.MAX_PIXELS:,}" in message, route


@pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 100), (100, 7)])
def test_tiny_images_are_too_small_to_judge(width, height):
    message = read_error(encode(Image.new("L", (width, height)), "PNG"), name="dot.png")
    assert "dot.png" in message and "too small to judge" in message and f"{width} x {height}" in message


def test_zero_size_header():
    png = with_png_size(encode(Image.new("L", (16, 16)), "PNG"), 0, 16)
    assert "zero.png" in read_error(png, name="zero.png")


@pytest.mark.parametrize(("fmt", "cut"), [("PNG", 0.5), ("PNG", 0.9), ("JPEG", 0.5), ("JPEG", 0.97)])
def test_truncated_files(fmt, cut):
    whole = encode(Image.fromarray(noise(64, 64)), fmt)
    name = f"half.{fmt.lower()}"
    message = read_error(whole[: int(len(whole) * cut)], name=name)
    assert name in message and "truncated" in message


def test_corrupt_png():
    png = encode(Image.fromarray(noise(64, 64)), "PNG")
    broken = png[:60] + bytes(200) + png[260:]  # zeros over the start of the compressed data
    message = read_error(broken, name="broken.png")
    assert "broken.png" in message and ("damaged" in message or "truncated" in message)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "SVG"),
        (b"<svg width='10' height='10'></svg>", "SVG"),
        (b"<!DOCTYPE html><html><body>Access denied</body></html>", "HTML"),
        (b"patient,label\n1,normal\n", "text file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
        (b"PK\x03\x04" + bytes(40), "zip"),
        (b"\x00\x01\x02\x03\xff\xfe" * 20, "not an image"),
        (bytes(300), "not an image"),  # zeros are valid UTF-8, but not text
    ],
)
def test_things_that_are_not_images_say_what_they_look_like(tmp_path, content, phrase):
    path = tmp_path / "xray.png"  # renamed to look like an image
    path.write_bytes(content)
    message = read_error(path)
    assert str(path) in message and phrase in message


def test_animated_gif_is_refused_with_frame_count(tmp_path):
    frames = [Image.new("L", (16, 16), value) for value in (0, 128, 255)]
    path = save(tmp_path, "beating.gif", frames[0], save_all=True, append_images=frames[1:], duration=100)
    message = read_error(path)
    assert str(path) in message
    assert "an animated GIF with 3 frames; upload a single still image" in message


def test_multipage_tiff_is_refused(tmp_path):
    pages = [Image.new("L", (16, 16), value) for value in (0, 255)]
    message = read_error(save(tmp_path, "stack.tif", pages[0], save_all=True, append_images=pages[1:]))
    assert "multi-page TIFF with 2 pages" in message


def many_page_tiff(pages: int) -> bytes:
    """A TIFF of `pages` 8 x 8 grey pages sharing one strip, written directly (Pillow would take minutes)."""
    entries = [(256, 3, 8), (257, 3, 8), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8), (278, 3, 8), (279, 4, 64)]
    data = bytearray(b"II*\x00" + (72).to_bytes(4, "little") + bytes(64))  # header, then the strip at offset 8
    for page in range(pages):
        after = len(data) + 2 + 12 * len(entries) + 4
        data += len(entries).to_bytes(2, "little")
        for tag, kind, value in entries:
            data += tag.to_bytes(2, "little") + kind.to_bytes(2, "little") + (1).to_bytes(4, "little")
            data += value.to_bytes(4, "little")
        data += (after if page < pages - 1 else 0).to_bytes(4, "little")
    return bytes(data)


def test_a_tiff_of_many_pages_is_refused_without_reading_them_all():
    """Issue 25: Pillow's page count is quadratic (20k pages took 4 s, 300k minutes); the lab counts a few."""
    started = time.perf_counter()
    message = read_error(many_page_tiff(20_000), name="stack.tif")
    assert f"a multi-page TIFF with more than {images.FRAMES_COUNTED} pages" in message
    assert time.perf_counter() - started < 1.0
    assert "with 3 pages" in read_error(many_page_tiff(3), name="three.tif")


def test_formats_we_do_not_read_are_refused(tmp_path):
    # PIL could open ICO, but the lab accepts only the formats it names.
    message = read_error(save(tmp_path, "favicon.ico", Image.new("RGB", (16, 16))))
    assert "favicon.ico" in message and "PNG, JPEG" in message


# ---------------------------------------------------------------------------------------------
# DICOM
# ---------------------------------------------------------------------------------------------


def make_dicom(
    stored: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    center=None,
    width=None,
    preamble: bool = True,
) -> bytes:
    """A minimal 16-bit unsigned single-frame DICOM image, written to bytes."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if center is not None:
        ds.WindowCenter, ds.WindowWidth = center, width
    ds.PixelData = stored.astype("<u2").tobytes()
    buffer = io.BytesIO()
    if preamble:
        ds.save_as(buffer, enforce_file_format=True)
    else:  # no 128-byte preamble and no 'DICM' marker, as some old exports are
        ds.save_as(buffer, implicit_vr=False, little_endian=True)
    return buffer.getvalue()


def windowing_phantom() -> np.ndarray:
    # Stored s -> value 2 s - 1000 (slope 2, intercept -1000): 400 -> -200, 450 -> -100, 500 -> 0, 600 -> 200.
    stored = np.full((8, 8), 500, dtype=np.uint16)
    stored[0, 0], stored[0, 1], stored[0, 2] = 400, 450, 600
    return stored


def test_dicom_monochrome1_is_inverted_after_rescale_and_window():
    data = make_dicom(
        windowing_phantom(), photometric="MONOCHROME1", slope=2.0, intercept=-1000.0, center=0.0, width=200.0
    )
    image = read_image(data, name="chest.dcm")
    assert image.format == "DICOM" and image.grayscale and image.bit_depth == 12
    assert image.info["window"] == (0.0, 200.0) and image.info["window_source"] == "file"
    assert image.info["rescale"] == (2.0, -1000.0)
    assert "inverted" in image.info["inverted"]
    # Window [-100, 100] -> [0, 1], then MONOCHROME1 flipped: low values bright.
    assert image.pixels[0, 0] == pytest.approx(1.0)  # -200: below the window -> black -> inverted white
    assert image.pixels[0, 1] == pytest.approx(1.0)  # -100: the window's bottom
    assert image.pixels[1, 1] == pytest.approx(0.5)  # 0: the centre
    assert image.pixels[0, 2] == pytest.approx(0.0)  # 200: above the window


def test_dicom_window_argument_overrides_the_file_window():
    data = make_dicom(windowing_phantom(), slope=2.0, intercept=-1000.0, center=0.0, width=200.0)
    image = read_image(data, name="ct.dcm", window=(-200.0, 800.0))  # window [-600, 200]
    assert image.info["window"] == (-200.0, 800.0) and image.info["window_source"] == "argument"
    assert image.pixels[0, 0] == pytest.approx(0.5)  # -200 is the new centre
    assert image.pixels[1, 1] == pytest.approx(0.75)  # 0
    assert image.pixels[0, 2] == pytest.approx(1.0)  # 200


def test_dicom_multi_valued_window_uses_the_first():
    data = make_dicom(windowing_phantom(), slope=2.0, intercept=-1000.0, center=[0.0, 40.0], width=[200.0, 400.0])
    assert read_image(data, name="ct.dcm").info["window"] == (0.0, 200.0)


def test_dicom_without_window_is_min_max_scaled():
    stored = windowing_phantom()
    image = read_image(make_dicom(stored), name="plain.dcm")
    assert image.info["window_source"] == "min-max"
    np.testing.assert_allclose(image.pixels, (stored - 400.0) / 200.0, atol=1e-6)


def test_dicom_voi_lut_is_used_when_there_is_no_window():
    stored = np.zeros((8, 8), dtype=np.uint16)
    stored[0, :4] = [0, 1, 2, 3]
    ds = pydicom.dcmread(io.BytesIO(make_dicom(stored)))
    lut = Dataset()
    lut.add_new(0x00283002, "US", [4, 0, 8])  # LUT Descriptor: 4 entries, first input value 0, 8-bit output
    lut.add_new(0x00283006, "US", [0, 10, 20, 255])  # LUT Data
    ds.VOILUTSequence = [lut]
    buffer = io.BytesIO()
    ds.save_as(buffer)
    image = read_image(buffer.getvalue(), name="lut.dcm")
    assert image.info["window"].startswith("VOI LUT")
    np.testing.assert_allclose(image.pixels[0, :4], [0, 10 / 255, 20 / 255, 1], atol=1e-6)


def test_dicom_found_by_magic_without_extension_and_by_extension_without_magic():
    stored = windowing_phantom()
    with_magic = make_dicom(stored)
    assert with_magic[128:132] == b"DICM"
    assert read_image(with_magic, name="image_0001").format == "DICOM"

    without_magic = make_dicom(stored, preamble=False)
    assert without_magic[128:132] != b"DICM"
    assert read_image(without_magic, name="IMG0001.DCM").format == "DICOM"


def test_bundled_ct_with_lung_and_mediastinum_presets():
    path = bundled_dicom("CT_small.dcm")
    default = read_image(path)
    assert_valid(default)
    assert default.pixels.shape == (128, 128) and default.grayscale and default.format == "DICOM"
    assert default.info["modality"] == "CT" and default.bit_depth == 16

    lung = read_image(path, window=WINDOW_PRESETS["lung"])
    mediastinum = read_image(path, window=WINDOW_PRESETS["mediastinum"])
    assert lung.info["window"] == (-600.0, 1500.0)
    assert mediastinum.info["window"] == (40.0, 400.0)
    # The narrow soft-tissue window saturates more pixels than the wide lung window.
    def saturated(image):
        return np.mean((image.pixels == 0) | (image.pixels == 1))

    assert saturated(mediastinum) > saturated(lung)


def test_bundled_mr_uses_the_file_window():
    image = read_image(bundled_dicom("MR_small.dcm"))
    assert_valid(image)
    assert image.info["window"] == (600.0, 1600.0) and image.info["window_source"] == "file"


def test_bundled_dicom_read_from_bytes_detected_by_magic():
    data = Path(bundled_dicom("MR_small.dcm")).read_bytes()
    assert read_image(data).format == "DICOM"


def test_bundled_rgb_dicom_stays_colour():
    image = read_image(bundled_dicom("SC_rgb_rle.dcm"))
    assert_valid(image)
    assert image.pixels.shape == (100, 100, 3) and not image.grayscale


def test_bundled_multiframe_dicom_uses_the_middle_frame():
    image = read_image(bundled_dicom("SC_rgb_rle_2frame.dcm"))
    assert_valid(image)
    assert image.info["frame"] == "middle frame 2 of 2"


def test_dicom_without_pixel_data():
    path = bundled_dicom("rtplan.dcm")
    message = read_error(path)
    assert path in message
    assert "is a DICOM file without pixel data (PixelData element missing)" in message


def test_truncated_dicom():
    path = bundled_dicom("MR_truncated.dcm")
    message = read_error(path)
    assert path in message and "truncated" in message


def test_compressed_dicom_without_a_decoder_says_what_to_install():
    path = bundled_dicom("JPEGLSNearLossless_08.dcm")
    try:
        image = read_image(path)
    except ImageReadError as error:
        assert path in str(error) and "pip install" in str(error)
    else:  # a JPEG-LS decoder happens to be installed
        assert_valid(image)


def test_png_named_dcm_is_read_as_png():
    image = read_image(encode(Image.fromarray(gray_ramp()), "PNG"), name="scan.dcm")
    assert image.format == "PNG"


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns while it force-reads the text
def test_text_file_named_dcm():
    message = read_error(b"not a dicom file at all\n" * 10, name="scan.dcm")
    assert "scan.dcm" in message


# ---------------------------------------------------------------------------------------------
# to_tensor and to_pil
# ---------------------------------------------------------------------------------------------


def gray_image() -> LoadedImage:
    return read_image(encode(Image.fromarray(gray_ramp()), "PNG"), name="g.png")


def red_image() -> LoadedImage:
    return read_image(encode(Image.new("RGB", (48, 32), (255, 0, 0)), "PNG"), name="r.png")


@pytest.mark.parametrize("make", [gray_image, red_image])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [None, 16, 64])
def test_to_tensor_shapes_and_range(make, channels, size):
    x = to_tensor(make(), channels=channels, size=size)
    height, width = (32, 48) if size is None else (size, size)
    assert x.shape == (1, channels, height, width) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1


def test_to_tensor_values():
    gray = gray_image()
    x = to_tensor(gray, channels=3)
    assert torch.equal(x[0, 0], x[0, 2]) and torch.allclose(x[0, 0], torch.from_numpy(gray.pixels))
    # Red to luminance with the BT.601 weights PIL also uses.
    assert to_tensor(red_image(), channels=1)[0, 0].mean().item() == pytest.approx(0.299, abs=1e-6)
    assert to_tensor(red_image(), channels=3, size=8)[0, :, 4, 4].tolist() == pytest.approx([1, 0, 0])


def test_to_tensor_rejects_other_channel_counts():
    with pytest.raises(ValueError, match="channels"):
        to_tensor(gray_image(), channels=2)


def test_to_pil_round_trips_8_bit():
    assert to_pil(red_image()).mode == "RGB"
    gray = to_pil(gray_image())
    assert gray.mode == "L" and gray.size == (48, 32)
    np.testing.assert_array_equal(np.asarray(gray), gray_ramp())


# ---------------------------------------------------------------------------------------------
# Fuzz: damaged files never escape as anything but ImageReadError
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def valid_file(kind: str) -> bytes:
    if kind == "DICOM":
        return make_dicom(windowing_phantom(), slope=2.0, intercept=-1000.0, center=0.0, width=200.0)
    return encode(Image.fromarray(noise(16, 16, seed=1)), kind)


# 200 mutated files per format in the fast suite; a longer run (RELIABILITY.md): MEDLAB_FUZZ_EXAMPLES=20000
FUZZ_EXAMPLES = int(os.environ.get("MEDLAB_FUZZ_EXAMPLES", "200"))


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "DICOM", "GIF", "TIFF", "BMP", "WEBP"])
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
    keep=st.none() | st.floats(0.05, 1.0),  # None: no truncation, so the edits themselves get tested
)
def test_mutated_files_give_an_image_or_image_read_error(kind, edits, keep):
    data = bytearray(valid_file(kind))
    for position, value in edits:
        data[int(position * len(data))] = value
    if keep is not None:
        data = data[: max(1, int(len(data) * keep))]
    name = f"fuzzed.{kind.lower()}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about odd elements; we judge only the outcome
        try:
            image = read_image(bytes(data), name=name)
        except ImageReadError as error:
            assert name in str(error)
        else:
            assert_valid(image)


def test_dicom_with_a_damaged_element_is_an_image_read_error():
    # Found by the fuzz test: pydicom decodes element values lazily, so a garbled VR used to
    # escape as NotImplementedError from a later ds.get("Modality").
    data = make_dicom(windowing_phantom())
    modality = data.index(b"\x08\x00\x60\x00CS")  # tag (0008,0060) Modality, VR CS
    damaged = data[: modality + 4] + b"\x43\xbb" + data[modality + 6 :]
    message = read_error(damaged, name="garbled.dcm")
    assert "garbled.dcm" in message and "not a readable DICOM file" in message


def test_damaged_png_header_says_so():
    png = encode(Image.new("L", (16, 16)), "PNG")
    damaged = png[:12] + b"XXXX" + png[16:]  # the IHDR chunk type overwritten
    message = read_error(damaged, name="scan.png")
    assert "scan.png starts like a PNG file but its header is damaged" in message


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # PIL's own note on the damaged tag
def test_tiff_with_a_damaged_tag_is_an_image_read_error():
    # Found by the fuzz test: PIL's n_frames re-reads TIFF tags and raised TypeError("Missing dimensions").
    data = bytearray(valid_file("TIFF"))
    data[int(0.009765625 * len(data))] = 7
    message = read_error(bytes(data), name="damaged.tif")
    assert "damaged.tif" in message and "TIFF" in message


def test_large_images_wait_for_a_decoding_slot_and_small_ones_do_not(monkeypatch):
    entered = []

    class Slot:
        def __enter__(self):
            entered.append(1)

        def __exit__(self, *_):
            return False

    monkeypatch.setattr(images, "_LARGE_READS", Slot())
    monkeypatch.setattr(images, "LARGE_IMAGE_PIXELS", 32 * 32)
    read_image(encode(Image.fromarray(noise(32, 32)), "PNG"), name="small.png")
    assert entered == []
    read_image(encode(Image.fromarray(noise(33, 32)), "PNG"), name="large.png")
    assert entered == [1]
