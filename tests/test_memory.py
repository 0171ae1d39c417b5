"""Issue 25: one 40-megapixel upload took the server from 703 MiB to 5.6 GB, and left ~280 MiB behind.

The memory of a request is bounded where the work happens (limits.py): an image is reduced to WORK_PIXELS as
it is decoded, Grad-CAM maps and overlays are drawn at no side over VIEW_SIDE in 8-bit colour, and the cache
keeps 8-bit maps. Small stand-ins prove each bound (the limits lowered, or bytes a pixel counted with
tracemalloc, which sees numpy's allocations); scripts/large_image_memory.py measures the full 40 megapixels
page by page (RELIABILITY.md).
"""
import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

import images
import inference
from images import read_image, to_pil
from saliency import overlay
from tests.test_app import ct_dicom_bytes, write_tiny_weights


def encoded(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size[1], size[0], 3 if mode == "RGB" else 1), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.squeeze()).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt, mode", [("JPEG", "RGB"), ("PNG", "RGB"), ("PNG", "I;16"), ("GIF", "P"), ("TIFF", "L")])
def test_an_image_over_work_pixels_is_reduced_as_it_is_decoded(monkeypatch, fmt, mode):
    monkeypatch.setattr(images, "WORK_PIXELS", 64 * 64, raising=False)
    data = encoded((300, 200), fmt, mode)
    image = read_image(data, name=f"large.{fmt.lower()}")
    assert image.height * image.width <= 64 * 64 and image.width > image.height  # the aspect ratio kept
    assert image.info["reduced"].startswith(f"read at {image.width} x {image.height} of 300 x 200")
    assert read_image(encoded((60, 50), fmt, mode), name="small").pixels.shape[:2] == (50, 60)  # within: as it is


def test_a_dicom_over_work_pixels_is_reduced_to_block_means_before_windowing(monkeypatch):
    whole = read_image(ct_dicom_bytes(96), name="ct.dcm")
    monkeypatch.setattr(images, "WORK_PIXELS", 48 * 48, raising=False)
    reduced = read_image(ct_dicom_bytes(96), name="ct.dcm")
    assert reduced.pixels.shape == (48, 48) and "reduced" in reduced.info
    assert np.abs(reduced.pixels - whole.pixels.reshape(48, 2, 48, 2).mean((1, 3))).max() < 0.01


def test_grad_cam_maps_and_the_page_view_have_no_side_over_view_side(monkeypatch, tmp_path):
    """At 40 megapixels, a full-size map was 160 MB (an ensemble's, four times that), cached 32 times."""
    monkeypatch.setattr(images, "VIEW_SIDE", 64, raising=False)
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(write_tiny_weights(tmp_path / "weights", evaluated=False)))
    inference.load_model.cache_clear()
    try:
        image = read_image(encoded((300, 200), "PNG", "L"), name="chest.png")
        heat = inference.explain(image, "cxr-pneumonia")
    finally:
        inference.load_model.cache_clear()
    view = to_pil(image, view=True)
    assert heat.shape == (43, 64) and view.size == (64, 43)
    assert overlay(np.asarray(view), heat).shape == (43, 64, 3)


def bytes_a_pixel(work, *arrays) -> float:
    tracemalloc.start()
    try:
        work(*arrays)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / arrays[0].shape[0] / arrays[0].shape[1]


@pytest.mark.parametrize("colour", [False, True])
def test_an_overlay_is_blended_in_float32_a_few_bytes_a_pixel(colour):
    """The float64 colour ramp took well over 100 bytes a pixel, several GB at 40 megapixels."""
    rng = np.random.default_rng(0)
    image = rng.random((400, 500, 3) if colour else (400, 500), dtype=np.float32)
    heat = rng.random((400, 500), dtype=np.float32)
    assert bytes_a_pixel(overlay, image, heat) < 48
    assert bytes_a_pixel(lambda i: to_pil(images.LoadedImage(i, "x", "PNG", not colour, 8)), image) < 24
