"""The Streamlit pages, each run headless with AppTest against tiny models made here (CPU, offline).

`write_tiny_weights` builds a weights folder like the shipped one (modality recognizer, chest X-ray
classifier with eval.json and model card) in a second; the browser test and scripts/screenshots.py
reuse it.
"""
import io
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import cards
import inference
from conftest import make_router, tiny_model
from data import Split
from evaluate import evaluate_classifier

torch.set_num_threads(1)  # a training run may share the machine
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30  # seconds per AppTest run; generous because the CPU may be busy


def write_tiny_weights(folder: Path, *, router_says: str = "chest_xray", evaluated: bool = True) -> Path:
    """A weights folder with tiny untrained models and their model cards: a modality recognizer that
    always answers `router_says`, and a chest X-ray classifier. If `evaluated`, each gets an
    eval.json made by evaluate.py's own code on 48 random images."""
    folder = Path(folder)
    torch.manual_seed(0)
    router = make_router(router_says)
    router.save_pretrained(folder / "modality")
    cards.write(folder / "modality", {"name": "modality", "title": "Tiny test modality recognizer"})

    cxr = tiny_model("classifier")
    cxr.threshold.fill_(0.45)
    cxr.save_pretrained(folder / "cxr-pneumonia")
    meta = {"name": "cxr-pneumonia", "family": "classifier", "dataset": "chest_xray",
            "title": "Tiny test classifier (NORMAL / PNEUMONIA)", "summary": "An untrained model for tests.",
            "limitations": ["Untrained: its answers mean nothing."]}
    if evaluated:
        write_eval(folder / "modality", router, "modality")
        evaluation = write_eval(folder / "cxr-pneumonia", cxr, "chest_xray")
        meta["results"] = [{k: evaluation[k] for k in ("split", "n", "command", "protocol", "roc_auc",
                                                        "average_precision", "ece", "at_threshold", "at_0.5")}]
    cards.write(folder / "cxr-pneumonia", meta)
    return folder


def write_eval(folder: Path, model, dataset: str) -> dict:
    """eval.json as `evaluate.py` writes it, measured on 48 random images."""
    generator = torch.Generator().manual_seed(0)
    k, channels = len(model.class_names), model.config.in_channels
    split = Split(images=torch.randint(0, 256, (48, channels, 32, 32), dtype=torch.uint8, generator=generator),
                  labels=torch.arange(48) % k, class_names=model.class_names, files=[],
                  description=f"{dataset} test: 48 random images")
    evaluation = {"model": folder.name, "dataset": dataset, "split": "test",
                  "command": f"python evaluate.py {folder.name} --split test", "protocol": split.description,
                  **evaluate_classifier(model, split)}
    (folder / "eval.json").write_text(json.dumps(evaluation))
    return evaluation


def png_bytes(size: int = 48) -> bytes:
    ramp = np.linspace(0, 255, size * size).reshape(size, size).astype(np.uint8)  # a grey gradient
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def chest_weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("chest"), router_says="chest_xray")


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("other"), router_says="other", evaluated=False)


@pytest.fixture
def use_weights(monkeypatch):
    """Point the app at a weights folder; models loaded for another folder are forgotten."""
    def use(folder: Path) -> None:
        monkeypatch.setattr(inference, "WEIGHTS", Path(folder))
        inference.load_model.cache_clear()
        st.cache_resource.clear()
        st.cache_data.clear()
    return use


def run(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data in files])
    at.run()
    assert not at.exception, at.exception
    return at


def text(at: AppTest) -> str:
    """Every piece of text the page shows, joined, to search in."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success")
    return "\n".join(str(element.value) for kind in kinds for element in getattr(at, kind))


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


# -- home and router -----------------------------------------------------------------------------


def test_home_lists_the_models_with_their_measured_figures(chest_weights, use_weights):
    use_weights(chest_weights)
    at = run("app.py")  # the router shows its default page, home
    shown = text(at)
    assert "not a medical device" in shown
    assert "Tiny test classifier" in shown
    evaluation = json.loads((chest_weights / "cxr-pneumonia" / "eval.json").read_text())
    assert f"ROC-AUC {evaluation['roc_auc']:.3f}" in shown  # read from eval.json, not typed in
    assert "Tiny test modality recognizer" in shown and "accuracy 25.0%" in shown  # always "chest_xray": 1 in 4


def test_home_says_how_to_evaluate_a_model_that_is_not(other_weights, use_weights):
    use_weights(other_weights)
    assert "Not evaluated yet: run `python evaluate.py cxr-pneumonia --split test`" in text(run("app.py"))


def test_home_without_weights_says_so(tmp_path, use_weights):
    use_weights(tmp_path)
    assert "No trained weights" in text(run("app.py"))


# -- classify ------------------------------------------------------------------------------------


def test_classify_asks_for_an_upload(chest_weights, use_weights):
    use_weights(chest_weights)
    at = run("app_pages/classify.py")
    assert "Upload one or more images" in at.info[0].value
    assert at.file_uploader[0].accept_multiple_files
    assert at.file_uploader[0].allowed_type == []  # files without an extension (DICOM from a PACS) too


def test_classify_without_weights_says_what_is_missing(tmp_path, use_weights):
    use_weights(tmp_path)
    at = run("app_pages/classify.py")
    assert "`modality`" in at.info[0].value and "`cxr-pneumonia`" in at.info[0].value
    assert not at.file_uploader  # stopped before the uploader


def test_classify_chest_xray_gives_label_probability_and_grad_cam(chest_weights, use_weights):
    use_weights(chest_weights)
    at = upload(run("app_pages/classify.py"), ("chest.png", png_bytes()))
    shown = text(at)
    assert "Modality recognizer:** chest X-ray (" in shown
    assert "### NORMAL" in shown or "### PNEUMONIA" in shown  # the label
    assert "P(PNEUMONIA) = **" in shown and "threshold 0.45" in shown
    assert len(charts(at)) == 1  # the probability bar
    assert at.toggle[0].value and at.slider[0].value == 0.45  # Grad-CAM on by default
    assert [b.label for b in at.get("download_button")] == ["Overlay (PNG)", "Result (JSON)"]
    assert not at.dataframe  # one file: no summary table


def test_classify_refuses_what_is_not_a_chest_xray_without_any_probability(other_weights, use_weights):
    use_weights(other_weights)
    at = upload(run("app_pages/classify.py"), ("holiday.png", png_bytes()))
    assert "does not look like a medical image" in at.warning[0].value
    shown = text(at)
    assert "P(PNEUMONIA)" not in shown and "NORMAL" not in shown and "PNEUMONIA" not in shown
    assert not charts(at) and not at.toggle and not at.get("download_button")


def test_overriding_the_recognizer_classifies_with_a_warning(other_weights, use_weights):
    use_weights(other_weights)
    at = upload(run("app_pages/classify.py"), ("holiday.png", png_bytes()))
    at.selectbox[0].set_value("chest_xray").run()
    assert not at.exception, at.exception
    assert "You overrode the recognizer" in at.warning[0].value
    assert "P(PNEUMONIA) = **" in text(at)


def test_a_corrupt_file_shows_its_error_and_the_others_are_still_classified(chest_weights, use_weights):
    use_weights(chest_weights)
    at = upload(run("app_pages/classify.py"), ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40),
                ("notes.txt", b"just some text"), ("chest.png", png_bytes()))
    errors = [e.value for e in at.error]
    assert len(errors) == 2 and "broken.png" in errors[0] and "notes.txt looks like a text file" in errors[1]
    assert "P(PNEUMONIA) = **" in text(at)
    table = at.dataframe[0].value
    assert list(table["file"]) == ["broken.png", "notes.txt", "chest.png"]
    assert table["error"].notna().tolist() == [True, True, False]
    assert table["P(pneumonia)"].notna().tolist() == [False, False, True]
    assert "Summary (CSV)" in [b.label for b in at.get("download_button")]


# -- evaluate ------------------------------------------------------------------------------------


def test_evaluate_shows_metrics_charts_and_model_card(chest_weights, use_weights):
    use_weights(chest_weights)
    at = run("app_pages/evaluate.py")
    evaluation = json.loads((chest_weights / "cxr-pneumonia" / "eval.json").read_text())
    assert at.selectbox[0].options == ["Tiny test classifier (NORMAL / PNEUMONIA)", "Tiny test modality recognizer"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["ROC-AUC"] == f"{evaluation['roc_auc']:.3f}"
    assert len(at.metric) == 3 + 2 * 5  # threshold-free, then five at each threshold
    assert len(charts(at)) == 5  # two confusion matrices, ROC, PR, reliability
    assert "python evaluate.py cxr-pneumonia --split test" in at.code[0].value
    assert "Untrained: its answers mean nothing." in at.expander[0].markdown[0].value
    assert not at.expander[0].markdown[0].value.startswith("---")  # front matter removed


def test_evaluate_a_multiclass_model_shows_accuracy_and_calibration(chest_weights, use_weights):
    use_weights(chest_weights)
    at = run("app_pages/evaluate.py")
    at.selectbox[0].select_index(1).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == "25.0%" and metrics["chest_xray"] == "100.0%" and metrics["ct"] == "0.0%"
    assert metrics["Routed to the right model"] == "33.3%" and metrics["Others, refused"] == "0.0%"
    assert len(charts(at)) == 2  # confusion matrix and reliability; ROC and PR need two classes


def test_evaluate_a_segmenter_shows_dice(tmp_path, use_weights):
    (tmp_path / "polyp-unet").mkdir()
    (tmp_path / "polyp-unet" / "config.json").write_text('{"family": "segmenter"}')
    (tmp_path / "polyp-unet" / "eval.json").write_text(json.dumps({
        "dataset": "kvasir_seg", "split": "test", "n": 3, "dice": 0.5, "iou": 0.4, "dice_median": 0.6,
        "per_image_dice": [0.1, 0.6, 0.8], "found": {"area_threshold": 0.005, "share_found": 2 / 3}}))
    use_weights(tmp_path)
    at = run("app_pages/evaluate.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean Dice"] == "0.500" and metrics["Images with a polyp found"] == "66.7%"
    assert len(charts(at)) == 1  # the per-image Dice histogram
    assert "mean Dice 0.500, mean IoU 0.400" in text(run("app.py"))  # and the home page's headline


def test_read_upload_shows_the_reason_and_returns_none():
    def page():  # AppTest runs the function's source as a script: it imports what it needs
        import io

        import streamlit as st

        import ui

        class Upload(io.BytesIO):
            name = "scan.pdf"

        st.session_state.image = ui.read_upload(Upload(b"%PDF-1.7 not an image"))

    at = AppTest.from_function(page).run()
    assert at.session_state.image is None
    assert at.error[0].value.startswith("scan.pdf looks like a PDF document")


def test_evaluate_without_eval_json_says_which_command_to_run(other_weights, use_weights):
    use_weights(other_weights)
    at = run("app_pages/evaluate.py")
    assert "python evaluate.py cxr-pneumonia" in at.info[0].value
    assert not at.selectbox
