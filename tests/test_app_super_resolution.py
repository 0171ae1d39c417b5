"""The Super-resolution page, run headless with AppTest against tiny SRResNet and SRGAN weights."""
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cards
import superres
from conftest import tiny_model
from degradations import PROTOCOL
from test_app import run, text, upload

PAGE = "app_pages/super_resolution.py"


@pytest.fixture(scope="module")
def sr_weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sr")
    torch.manual_seed(0)
    for family, name in (("srresnet", "srresnet-x4-real"), ("srresnet", "srresnet-x4"), ("srgan", "srgan-x4")):
        tiny_model(family).save_pretrained(folder / name)
        cards.write(folder / name, {"name": name, "family": family, "title": f"Tiny test {family}"})
    return folder


def photo(width: int, height: int, mode: str = "RGB") -> bytes:
    yy, xx = np.mgrid[:height, :width]
    pixels = np.stack([128 + 100 * np.sin(xx / 3), 128 + 100 * np.cos(yy / 4), 60 + 0 * xx], -1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def restored(mode: str = "RGB"):
    """The page in "downscale then restore" mode after a 64x64 photo was uploaded."""
    at = run(PAGE)
    at.radio[0].set_value("restore").run()
    return upload(at, ("big.png", photo(64, 64, mode)))


def test_upscale_shows_every_result_with_downloads(sr_weights, use_weights):
    use_weights(sr_weights)
    at = upload(run(PAGE), ("photo.png", photo(40, 30)))
    assert "40x30 -> 160x120 pixels" in text(at)
    # scripts/loadtest.py knows the answer has come by this caption: the load run must see it too
    import importlib.util
    spec = importlib.util.spec_from_file_location("loadtest", Path(__file__).resolve().parent.parent / "scripts/loadtest.py")
    loadtest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loadtest)
    assert any(re.search(loadtest.ACTIONS["upscale"].answer, caption.value) for caption in at.caption)
    assert len(at.get("download_button")) == 4  # bicubic and the three networks
    at.slider[0].set_value(10).run()  # move the zoom window: no recomputation, no error
    assert not at.exception


def test_restore_measures_against_the_original(sr_weights, use_weights):
    use_weights(sr_weights)
    at = restored("L")
    shown = text(at)
    assert "grayscale: replicated to RGB" in shown and "16x16 -> 64x64 pixels" in shown
    table = at.dataframe[0].value
    assert list(table["method"]) == ["Bicubic", "SRResNet (real)", "SRResNet", "SRGAN", "Original"]
    assert float(table["psnr_y"].iloc[0]) > 10


def test_the_originals_row_has_a_dash_where_it_has_no_score(sr_weights, use_weights):
    """The original against itself has no PSNR or SSIM: a dash, where Streamlit would write "None"."""
    use_weights(sr_weights)
    table = restored().dataframe[0].value.set_index("method")
    assert list(table.loc["Original"]) == ["–", "–", "–", "–", table.loc["Original", "sharpness"]]
    assert float(table.loc["Original", "sharpness"]) > 0
    assert not table.isna().any().any() and "None" not in table.to_string()


def test_restore_lets_the_student_pick_how_the_image_is_made_small(sr_weights, use_weights):
    use_weights(sr_weights)
    at = restored()
    plain = at.dataframe[0].value.set_index("method")
    assert at.selectbox[0].value.name == "bicubic-aa"  # the benchmark's own way by default
    at.selectbox[0].select_index([way.name for way in PROTOCOL].index("bilinear+jpeg75")).run()
    assert at.selectbox[0].value.name == "bilinear+jpeg75" and not at.exception
    other = at.dataframe[0].value.set_index("method")
    assert other.loc["Bicubic", "psnr_y"] != plain.loc["Bicubic", "psnr_y"]  # as shown, to 2 decimals
    caption = text(at)  # says what this table shows about SRGAN, not what SRGAN "usually" does
    srgan, srresnet = other.loc["SRGAN"], other.loc["SRResNet"]
    assert f"{'lower' if float(srgan['ssim_y']) < float(srresnet['ssim_y']) else 'higher'} SSIM-Y than SRResNet" in caption


def test_the_bundled_photo_is_upscaled_without_an_upload(sr_weights, use_weights):
    use_weights(sr_weights)
    at = run(PAGE)
    at.radio[0].set_value("restore").run()  # 512x600 made small first: quick with the tiny test networks
    at.selectbox(key="sr-upload-example").set_value("photo-grace-hopper.jpg").run()
    assert not at.exception and "128x150 -> 512x600 pixels" in text(at) and len(at.get("download_button")) == 4


def test_self_ensemble_toggle_recomputes_with_eight_passes(sr_weights, use_weights):
    use_weights(sr_weights)
    at = restored()
    one_pass = at.dataframe[0].value.set_index("method")
    assert "SRResNet (real) in 1 pass, SRResNet in 1 pass, SRGAN in 1 pass" in text(at)  # the tiny models' default
    at.toggle(key="sr-self-ensemble").set_value(True).run()
    averaged = at.dataframe[0].value.set_index("method")
    assert not at.exception and "each network averaged 8 passes" in text(at)
    assert averaged.loc["Bicubic", "psnr_y"] == pytest.approx(one_pass.loc["Bicubic", "psnr_y"])
    assert averaged.loc["SRResNet", "psnr_y"] != pytest.approx(one_pass.loc["SRResNet", "psnr_y"], abs=1e-6)


def test_too_large_is_refused_with_the_limit(sr_weights, use_weights, monkeypatch):
    use_weights(sr_weights)
    monkeypatch.setattr(superres, "MAX_INPUT_PIXELS", 500)
    at = upload(run(PAGE), ("photo.png", photo(40, 30)))
    assert "at most 500 pixels" in "\n".join(e.value for e in at.error)


def test_missing_models_say_what_to_do(tmp_path, use_weights):
    use_weights(tmp_path)
    at = run(PAGE)
    assert "srresnet-x4" in text(at) and "train.py" in text(at)
