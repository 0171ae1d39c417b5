"""PixelDA (MNIST -> MNIST-M): the MNIST-M recipe, the family, a tiny training run, evaluate, predict, the page.

Everything runs on a miniature digits tree (conftest.make_digits_tree), never on ../shared.
"""
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import cards
import data
import evaluate
import inference
import predict
import train
from conftest import make_digits_tree, tiny_model

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory) -> Path:
    return make_digits_tree(tmp_path_factory.mktemp("digits"))


# -- the MNIST-M recipe ---------------------------------------------------------------------------


def test_synthesis_is_the_absolute_difference_of_crop_and_binarised_digit():
    rng = np.random.default_rng(0)
    digits = np.zeros((3, 28, 28), np.uint8)
    digits[:, 8:24, 14:18] = 200  # a bar
    digits[2, 0, 0] = 1  # any ink at all is a stroke (binarised)
    crops = rng.integers(0, 256, (3, 28, 28, 3)).astype(np.uint8)
    out = data.synthesise_mnist_m(digits, crops)
    assert out.shape == (3, 28, 28, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 0, 5], crops[:, 0, 5])  # background: the photo as it is
    np.testing.assert_array_equal(out[:, 12, 15], 255 - crops[:, 12, 15])  # stroke: the photo inverted
    assert out[2, 0, 0].tolist() == (255 - crops[2, 0, 0]).tolist()


def test_synthesis_needs_one_crop_of_the_digits_size_per_digit():
    with pytest.raises(ValueError, match="one crop of the digits' size per digit"):
        data.synthesise_mnist_m(np.zeros((2, 28, 28), np.uint8), np.zeros((3, 28, 28, 3), np.uint8))
    with pytest.raises(ValueError, match="one crop of the digits' size per digit"):
        data.synthesise_mnist_m(np.zeros((2, 28, 28), np.uint8), np.zeros((2, 32, 32, 3), np.uint8))


def test_synthetic_target_keeps_labels_shapes_and_range(digits_root):
    images, labels = data.read_mnist(digits_root, "train")
    target = data.load_split("mnist_m", digits_root, "train", size=32, channels=3)
    part = data.mnist_parts(len(labels))["target"]
    assert target.images.shape == (len(part), 3, 32, 32) and target.images.dtype == torch.uint8
    assert target.labels.tolist() == labels[part.start:part.stop].tolist()  # each image keeps its digit's label
    x, _ = target.batch(slice(0, 8))
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    # The stroke (a bright bar at a height set by the digit) shows as inverted photo: the image differs
    # from a plain crop exactly where the digit is, so the label is still readable from the image.
    assert target.images.float().std() > 20


def test_source_and_target_never_share_a_digit_image():
    parts = data.mnist_parts(60000)
    assert parts["source"] == range(0, 27000) and parts["target"] == range(30000, 57000)
    sets = [set(p) for p in parts.values()]
    assert sum(len(s) for s in sets) == 60000 == len(set().union(*sets))


def test_real_mnist_m_test_split_is_read_as_is(digits_root):
    split = data.load_split("mnist_m", digits_root, "test", size=32, channels=3)
    arrays = np.load(digits_root / "mnist_m/mnist_m_test.npz")
    assert split.labels.tolist() == arrays["labels"].tolist()
    assert torch.equal(split.images, torch.from_numpy(arrays["images"]).permute(0, 3, 1, 2))


# -- the family ------------------------------------------------------------------------------------


def test_classifier_returns_logits_and_translation_is_seeded():
    model = tiny_model("pixelda").eval()
    digits = torch.rand(2, 1, 28, 28)  # gray MNIST digits at their own size
    logits = model.predict(digits)
    assert logits.shape == (2, 10)
    assert not torch.allclose(logits.softmax(1).sum(1), logits.sum(1))  # logits, not probabilities
    first = model.translate(digits, generator=torch.Generator().manual_seed(3))
    again = model.translate(digits, generator=torch.Generator().manual_seed(3))
    other = model.translate(digits, generator=torch.Generator().manual_seed(4))
    assert first.shape == (2, 3, 32, 32) and 0 <= float(first.min()) and float(first.max()) <= 1
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert model.features(digits).shape == (2, 100)


def test_source_only_model_has_no_generator():
    model = tiny_model("pixelda", adapt=False)
    assert not hasattr(model, "generator") and not hasattr(model, "discriminator")
    with pytest.raises(ValueError, match="source-only"):
        model.translate(torch.rand(1, 3, 32, 32))


def test_one_training_step_updates_generator_discriminator_and_classifier():
    torch.manual_seed(0)
    model = tiny_model("pixelda").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = (torch.rand(4, 3, 32, 32), torch.arange(4), torch.rand(4, 3, 32, 32), torch.Generator().manual_seed(0))
    logs = model.training_step(batch, model.configure_optimizers(1e-3))
    assert {"d_loss", "g_adversarial", "task_loss"} <= set(logs) and all(np.isfinite(v) for v in logs.values())
    for part in ("generator.out.weight", "discriminator.head.weight", "classifier.head.weight"):
        assert not torch.equal(before[part], model.state_dict()[part]), part


# -- a tiny training run, evaluated and used ----------------------------------------------------------


def train_tiny(root: Path, out: Path, dataset: str, *extra: str) -> Path:
    return train.main(["pixelda", "--dataset", dataset, "--data-root", str(root), "--out", str(out),
                       "--run-dir", str(out.parent / f"run-{out.name}"), "--epochs", "2", "--batch-size", "16",
                       "--lr", "2e-3", "--image-size", "32", "--widths", "4", "--depths", "1", "--threads", "1",
                       *extra])


@pytest.fixture(scope="module")
def trained(digits_root, tmp_path_factory) -> Path:
    """weights/ with a source-only and a PixelDA model trained (briefly) on the miniature, evaluated."""
    folder = tmp_path_factory.mktemp("weights")
    train_tiny(digits_root, folder / "mnist-source-only", "mnist", "--epochs", "3")
    train_tiny(digits_root, folder / "mnist-m-pixelda", "mnist_m", "--init-from", str(folder / "mnist-source-only"))
    for name in ("mnist-source-only", "mnist-m-pixelda"):
        evaluate.main([str(folder / name), "--data-root", str(digits_root), "--split", "test"])
    return folder


def test_tiny_training_writes_both_models_with_cards(trained):
    source_only = inference.models.load(trained / "mnist-source-only")
    adapted = inference.models.load(trained / "mnist-m-pixelda")
    assert not source_only.config.adapt and adapted.config.adapt
    assert adapted.config.generator_width == 4 and adapted.config.discriminator_widths == [4, 8, 16, 32]
    meta = cards.read_meta(trained / "mnist-m-pixelda")
    assert "fixed schedule" in meta["settings"]["model selection"]
    assert "last validation accuracy" in meta["settings"]
    assert "labels dropped" in meta["splits"][0]
    assert json.loads((trained / "mnist-m-pixelda/config.json").read_text())["family"] == "pixelda"


def test_source_only_learns_the_miniature(trained):
    evaluation = json.loads((trained / "mnist-source-only/eval.json").read_text())
    assert evaluation["source"]["n"] == 40 and evaluation["n"] == 40  # MNIST test and MNIST-M test
    assert evaluation["source"]["accuracy"] > 0.5  # ten bar heights: chance is 0.1


def test_evaluation_reports_both_domains(trained):
    evaluation = json.loads((trained / "mnist-m-pixelda/eval.json").read_text())
    assert evaluation["dataset"] == "mnist_m" and evaluation["source"]["dataset"] == "mnist"
    assert 0 <= evaluation["accuracy"] <= 1 and len(evaluation["confusion_matrix"]) == 10
    assert "real MNIST-M test split" in evaluation["protocol"]
    card = (trained / "mnist-m-pixelda/README.md").read_text()
    assert "On the source domain, `mnist`" in card


def test_predict_adapt_writes_translations_and_reports_bad_files(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(trained))
    inference.load_model.cache_clear()
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    predict.main(["adapt", str(tmp_path / "one.png"), str(tmp_path / "bad.png"), "--seed", "7",
                  "--out", str(tmp_path / "out"), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["seed"] == 7 and lines[0]["adapted_reads"] in [str(d) for d in range(10)]
    written = Image.open(lines[0]["translated"])
    assert written.size == (32, 32) and written.mode == "RGB"
    assert lines[1]["file"].endswith("bad.png") and "error" in lines[1]
    inference.load_model.cache_clear()


# -- the page ------------------------------------------------------------------------------------------


@pytest.fixture
def page_setup(trained, digits_root, monkeypatch):
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(trained))
    monkeypatch.setenv("MEDLAB_DATA", str(digits_root))
    inference.load_model.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    inference.load_model.cache_clear()


def run_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app_pages/adapt.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_page_shows_table_translations_and_projection(page_setup, digits_root):
    at = run_page()
    table = at.dataframe[0].value
    assert list(table.columns) == ["classifier", "MNIST test", "MNIST-M test"] and len(table) == 2
    at.number_input[0].set_value(3).run()
    assert not at.exception, at.exception
    captions = [image.captions[0] for image in at.image]
    assert captions[0] == "input (label " + str(data.read_mnist(digits_root, "t10k")[1][3]) + ")"
    assert [c for c in captions if c.startswith("translated, seed")] == [f"translated, seed {s}" for s in range(5)]
    assert captions[-1] == "the real MNIST-M image of this digit"
    shown = "\n".join(str(m.value) for m in at.markdown)
    assert "PixelDA:" in shown and "source only:" in shown
    assert all(re.search(r"\)  \nPixelDA: \*\*", str(m.value)) for m in at.markdown if "source only:" in str(m.value)
               and "%" in str(m.value))  # two readings, two lines: Markdown breaks a line after two spaces
    assert at.get("plotly_chart") and "PCA" in "\n".join(str(c.value) for c in at.caption)


def test_page_uploads_a_digit_and_refuses_a_bad_file(page_setup):
    at = run_page()
    at.radio[0].set_value("Upload").run()
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    at.file_uploader[0].set_value([("digit.png", buffer.getvalue(), "image/png")]).run()
    assert not at.exception, at.exception
    assert [image.captions[0] for image in at.image][:2] == ["input", "translated, seed 0"]
    at.file_uploader[0].set_value([("bad.png", b"<html>nope</html>", "image/png")]).run()
    assert not at.exception and at.error


def test_evaluate_page_shows_both_domains(page_setup):
    at = AppTest.from_file(str(ROOT / "app_pages/evaluate.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    at.selectbox[0].set_value("mnist-m-pixelda").run()
    assert not at.exception, at.exception
    assert any("on the source domain (`mnist`, 40 images)" in str(m.value) for m in at.markdown)


def test_page_drawing_never_crashes(page_setup):
    at = run_page()
    if "Draw" not in at.radio[0].options:
        pytest.skip("streamlit-drawable-canvas is not installed")
    at.radio[0].set_value("Draw").run()
    assert not at.exception, at.exception  # bare AppTest has no component registry: the page says so instead
    assert "Pick, upload or draw a digit" in "\n".join(str(i.value) for i in at.info)
