"""The Streamlit pages, each run headless with AppTest against tiny models made here (CPU, offline).

`write_tiny_weights` builds a weights folder like the shipped one (modality recognizer, chest X-ray
and CT classifiers, polyp U-Net, each with eval.json and model card) in a second or two; the browser
test and scripts/screenshots.py reuse it.
"""
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from streamlit.testing.v1 import AppTest

import cards
import inference
import ui
from conftest import TINY, make_kvasir_tree, make_router, tiny_model
from data import Split
from evaluate import classifier_logits, evaluate_classifier, evaluate_segmenter
from images import read_image

torch.set_num_threads(1)  # a training run may share the machine
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30  # seconds per AppTest run; generous because the CPU may be busy
CARD = {"summary": "An untrained model for tests.", "limitations": ["Untrained: its answers mean nothing."]}


def write_tiny_weights(folder: Path, *, router_says: str = "chest_xray", evaluated: bool = True) -> Path:
    """A weights folder with tiny untrained models and their model cards: a modality recognizer that
    always answers `router_says`, a chest X-ray and a CT classifier, and a polyp U-Net that marks the
    whole frame. If `evaluated`, each gets an eval.json made by evaluate.py's own code: the classifiers
    on 48 random images, the U-Net on a miniature Kvasir-SEG (conftest.make_kvasir_tree's)."""
    folder = Path(folder)
    torch.manual_seed(0)
    router = make_router(router_says)
    router.save_pretrained(folder / "modality")
    cards.write(folder / "modality", {"name": "modality", "title": "Tiny test modality recognizer"})

    cxr = tiny_model("classifier")
    cxr.threshold.fill_(0.45)
    # As the lead's CT model: the first class is the one to find, but the threshold is on the second.
    ct_classes = ["CT_COVID", "CT_NonCOVID"]
    ct = tiny_model("ensemble", class_names=ct_classes,
                    members=[dict(member, class_names=ct_classes) for member in TINY["ensemble"]["members"]])
    ct.threshold.fill_(0.6)
    unet = tiny_model("unet")
    with torch.no_grad():  # polyp probability ~1 everywhere: a predictable "polyp found"
        unet.out.weight.zero_()
        unet.out.bias.fill_(8.0)
    shipped = (("cxr-pneumonia", cxr, "chest_xray", "Tiny test classifier (NORMAL / PNEUMONIA)"),
               ("covid-ct", ct, "covid_ct", "Tiny test CT classifier (CT_COVID / CT_NonCOVID)"),
               ("polyp-unet", unet, "kvasir_seg", "Tiny test polyp U-Net"))
    for name, model, dataset, title in shipped:
        model.save_pretrained(folder / name)
        meta = {"name": name, "family": model.family, "dataset": dataset, "title": title, **CARD}
        if evaluated:
            evaluation = write_eval(folder / name, model, dataset)
            meta["results"] = [{k: evaluation[k] for k in ("split", "n", "command", "protocol", "roc_auc",
                                                            "average_precision", "ece", "at_threshold", "at_0.5",
                                                            "dice", "iou", "found") if k in evaluation}]
        cards.write(folder / name, meta)
    if evaluated:
        write_eval(folder / "modality", router, "modality")
    return folder


def write_eval(folder: Path, model, dataset: str) -> dict:
    """eval.json as `evaluate.py` writes it: a classifier measured on 48 random images, a segmenter on
    the test split of a miniature Kvasir-SEG."""
    command = f"python evaluate.py {folder.name} --split test"
    if model.family == "unet":
        with tempfile.TemporaryDirectory() as data:
            protocol, body = evaluate_segmenter(model, make_kvasir_tree(Path(data)), "test")
        evaluation = {"model": folder.name, "dataset": dataset, "split": "test", "command": command,
                      "protocol": protocol, **body}
        (folder / "eval.json").write_text(json.dumps(evaluation))
        return evaluation
    generator = torch.Generator().manual_seed(0)
    k, channels = len(model.class_names), model.config.in_channels
    split = Split(images=torch.randint(0, 256, (48, channels, 32, 32), dtype=torch.uint8, generator=generator),
                  labels=torch.arange(48) % k, class_names=model.class_names, files=[],
                  description=f"{dataset} test: 48 random images")
    evaluation = {"model": folder.name, "dataset": dataset, "split": "test", "command": command,
                  "protocol": split.description,
                  **evaluate_classifier(model, torch.softmax(classifier_logits(model, split), 1).numpy(),
                                        split.labels.numpy(), model.class_names)}
    (folder / "eval.json").write_text(json.dumps(evaluation))
    return evaluation


def png_bytes(size: int = 48) -> bytes:
    ramp = np.linspace(0, 255, size * size).reshape(size, size).astype(np.uint8)  # a grey gradient
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    return buffer.getvalue()


def colour_png_bytes(size: int = 48) -> bytes:
    """A reddish frame, as a colonoscope sees the colon."""
    frame = np.zeros((size, size, 3), np.uint8)
    frame[..., 0], frame[..., 1] = 200, np.linspace(60, 120, size).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


def ct_dicom_bytes(size: int = 48) -> bytes:
    """A CT slice as a scanner writes it: 16-bit stored values, rescaled to HU (-1024), a soft-tissue window."""
    hu = np.linspace(-1000, 400, size * size).reshape(size, size)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = (hu + 1024).astype("<u2").tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def chest_weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("chest"), router_says="chest_xray")


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("other"), router_says="other", evaluated=False)


@pytest.fixture(scope="module")
def ct_weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("ct"), router_says="ct", evaluated=False)


@pytest.fixture(scope="module")
def endoscopy_weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("endoscopy"), router_says="endoscopy", evaluated=False)


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
    assert "Tiny test CT classifier" in shown and "sensitivity for CT_NonCOVID" in shown  # the second class
    polyp = json.loads((chest_weights / "polyp-unet" / "eval.json").read_text())
    assert f"mean Dice {polyp['dice']:.3f}" in shown and "polyp found (a mask covering at least 0.5%" in shown


def test_home_says_how_to_evaluate_a_model_that_is_not(other_weights, use_weights):
    use_weights(other_weights)
    assert "Not evaluated yet: run `python evaluate.py cxr-pneumonia --split test`" in text(run("app.py"))


def test_home_without_weights_says_so(tmp_path, use_weights):
    use_weights(tmp_path)
    assert "No trained weights" in text(run("app.py"))


def test_presenting_puts_a_pages_settings_in_the_sidebar_and_its_explanation_behind_a_button(chest_weights,
                                                                                             use_weights):
    """The sidebar's Presentation switch, for a projector: the result comes first (tests/test_browser_class.py
    measures that in a browser)."""
    use_weights(chest_weights)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("app_pages/classify.py").run()
    assert at.main.get("file_uploader") and not at.sidebar.get("file_uploader")
    at.sidebar.toggle(key="presentation").set_value(True).run()
    assert not at.exception and at.sidebar.get("file_uploader") and not at.main.get("file_uploader")
    assert at.sidebar.get("multiselect")  # the examples too
    about = at.main.get("popover")[0]
    assert about.proto.popover.label == "About this page" and "modality recognizer" in about.markdown[0].value
    at.switch_page("app_pages/home.py").run()
    assert at.sidebar.toggle(key="presentation").value  # it stays on from page to page


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
    assert "How often `cxr-pneumonia` is right: On the test split of `chest_xray`, 48 images: ROC-AUC" in shown
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
    errors = [e.value for e in at.error]  # Markdown: the names' punctuation escaped
    assert len(errors) == 2 and "broken\\.png" in errors[0] and "notes\\.txt looks like a text file" in errors[1]
    assert "P(PNEUMONIA) = **" in text(at)
    table = at.dataframe[0].value
    assert list(table["file"]) == ["broken.png", "notes.txt", "chest.png"]
    # The reason in view beside the label (issue 26), and blank where there is none, never "None"
    assert list(table.columns[:4]) == ["file", "modality", "label", "refused because"]
    assert [bool(r) for r in table["refused because"]] == [True, True, False]
    assert [v == "" for v in table["P(PNEUMONIA)"]] == [True, True, False]
    assert not table.isna().any().any() and "None" not in table.astype(str).to_numpy()
    assert "Summary (CSV)" in [b.label for b in at.get("download_button")]


EVIL = "[click](http://evil.example).png"
EVIL_SHOWN = r"\[click\]\(http\:\/\/evil\.example\)\.png"  # Markdown that shows the name as typed, no link


def test_a_file_name_is_shown_as_typed_not_as_markdown(chest_weights, other_weights, use_weights):
    use_weights(chest_weights)
    at = upload(run("app_pages/classify.py"), (EVIL, png_bytes()), ("**bold**.png", b"not an image"))
    assert [h.value for h in at.subheader] == [EVIL_SHOWN, r"\*\*bold\*\*\.png", "Summary"]
    assert at.error[0].value.startswith(r"\*\*bold\*\*\.png ")
    assert list(at.dataframe[0].value["file"]) == [EVIL, "**bold**.png"]  # the table shows text, not Markdown
    use_weights(other_weights)  # refused: the warning names the file
    at = upload(run("app_pages/classify.py"), (EVIL, png_bytes()))
    assert at.warning[0].value.startswith(EVIL_SHOWN + " does not look like a medical image")


def test_classify_a_ct_slice_with_the_ct_classifier(ct_weights, use_weights):
    use_weights(ct_weights)
    at = upload(run("app_pages/classify.py"), ("slice.png", png_bytes()))
    shown = text(at)
    assert "Modality recognizer:** CT slice (" in shown
    assert "### CT_COVID" in shown or "### CT_NonCOVID" in shown
    # Both probabilities, and the threshold said to be on the second class, which is not the one to find.
    assert "P(CT_COVID) = **" in shown and "P(CT_NonCOVID) = **" in shown
    assert "the model says CT_NonCOVID when P(CT_NonCOVID) reaches the decision threshold 0.60" in shown
    assert "PNEUMONIA" not in shown and len(charts(at)) == 1
    # An ensemble: what each of its networks said on its own.
    assert "`covid-ct` is an ensemble of 2 models. On their own they gave P(CT_NonCOVID) = " in shown
    assert "How often" not in shown  # this tiny model has no eval.json: nothing measured, nothing said
    assert not at.radio  # a PNG has no Hounsfield units: no window controls


def test_an_ensembles_answer_carries_each_networks_own(ct_weights, use_weights):
    """predict.py and the API print what inference.classify gives: for an ensemble, its members' answers too."""
    use_weights(ct_weights)
    answer = inference.classify(read_image(png_bytes(), name="slice.png")).to_json()
    model = inference.load_model("covid-ct")
    assert answer["model"] == "covid-ct" and len(answer["members"]) == len(model.members) == 2
    for member in answer["members"]:
        assert list(member) == list(answer["probabilities"]) and abs(sum(member.values()) - 1) < 1e-3


def test_a_ct_dicom_gets_window_controls_that_change_the_image(ct_weights, use_weights):
    use_weights(ct_weights)
    at = upload(run("app_pages/classify.py"), ("slice.dcm", ct_dicom_bytes()))
    assert "window: the file's own, center 40 HU, width 400 HU" in at.image[0].captions[0]
    assert at.radio[0].value == "file" and at.slider[0].disabled  # the file's window by default
    at.radio[0].set_value("lung").run()
    assert not at.exception, at.exception
    assert "window: lung preset, center -600 HU, width 1500 HU" in at.image[0].captions[0]
    assert "### CT_COVID" in text(at) or "### CT_NonCOVID" in text(at)  # classified in the new window
    at.radio[0].set_value("custom").run()  # the sliders take over where the preset left them
    assert not at.exception, at.exception
    center, width = at.slider[0], at.slider[1]
    assert (center.value, width.value) == (-600.0, 1500.0) and not center.disabled
    assert "window: custom, center -600 HU" not in at.image[0].captions[0]  # the lung preset's values: named so
    center.set_value(-500.0).run()
    assert "window: custom, center -500 HU, width 1500 HU" in at.image[0].captions[0]


def test_classify_colonoscopy_frames_gives_mask_verdict_and_polyp_share(endoscopy_weights, use_weights):
    use_weights(endoscopy_weights)
    at = upload(run("app_pages/classify.py"), ("frame1.png", colour_png_bytes()), ("frame2.png", colour_png_bytes()))
    shown = text(at)
    assert "Modality recognizer:** endoscopy frame (" in shown
    assert "### Polyp found" in shown and "The mask covers **100.00%** of the frame" in shown  # the U-Net marks all
    assert "found when the mask covers at least 0.5% of the frame; mask = polyp probability ≥ 0.50" in shown
    assert "P(" not in shown and "PNEUMONIA" not in shown and not charts(at)  # no classifier involved
    assert at.toggle[0].label == "Mask overlay" and at.slider[0].label == "Mask opacity"
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Mask (PNG)", "Overlay (PNG)", "Result (JSON)"] * 2 + ["Summary (CSV)"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["file", "modality", "label", "refused because", "polyp share"]
    assert list(table["label"]) == ["polyp found"] * 2 and list(table["polyp share"]) == ["100.0%", "100.0%"]


def test_mask_overlay_fills_and_outlines_the_mask_and_the_mask_png_is_0_or_255():
    mask = np.zeros((10, 12), bool)
    mask[2:7, 3:9] = True  # 5 x 6
    edge = ui.outline(mask)
    assert edge.sum() == 6 + 6 + 3 + 3 and not (edge & ~mask).any()
    drawn = ui.mask_overlay(np.zeros((10, 12), np.float32), mask, 0.5)
    assert drawn.shape == (10, 12, 3) and drawn.dtype == np.uint8
    assert (drawn[edge] == ui.MASK_EDGE).all() and (drawn[mask & ~edge] == [0, 128, 0]).all() and not drawn[~mask].any()
    saved = Image.open(io.BytesIO(ui.png(mask.astype(np.uint8) * 255)))
    assert saved.mode == "L" and saved.size == (12, 10) and set(np.unique(saved)) == {0, 255}


# -- evaluate ------------------------------------------------------------------------------------


def test_evaluate_shows_metrics_charts_and_model_card(chest_weights, use_weights):
    use_weights(chest_weights)
    at = run("app_pages/evaluate.py")
    evaluation = json.loads((chest_weights / "cxr-pneumonia" / "eval.json").read_text())
    # The routed models first, in the order of inference.CLASSIFIERS and SEGMENTERS, then the recognizer.
    assert at.selectbox[0].options == ["Tiny test classifier (NORMAL / PNEUMONIA)",
                                       "Tiny test CT classifier (CT_COVID / CT_NonCOVID)", "Tiny test polyp U-Net",
                                       "Tiny test modality recognizer"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["ROC-AUC"] == f"{evaluation['roc_auc']:.3f}"
    assert len(at.metric) == 3 + 2 * 5  # threshold-free, then five at each threshold
    assert len(charts(at)) == 5  # two confusion matrices, ROC, PR, reliability
    assert "python evaluate.py cxr-pneumonia --split test" in at.code[0].value
    assert "Untrained: its answers mean nothing." in at.expander[0].markdown[0].value
    assert not at.expander[0].markdown[0].value.startswith("---")  # front matter removed


def test_evaluate_shows_what_pretraining_buys_where_it_was_measured(chest_weights, use_weights, tmp_path):
    import shutil

    folder = shutil.copytree(chest_weights, tmp_path / "weights")
    evaluation = json.loads((folder / "cxr-pneumonia/eval.json").read_text())
    row = {"model": "cxr-pneumonia", "family": "classifier", "parameters": 1_500_000, "accuracy": 0.9, "f1": 0.91,
           "roc_auc": evaluation["roc_auc"], "threshold": 0.5, "epochs": 3, "roc": evaluation["roc"],
           "command": evaluation["command"], "protocol": evaluation["protocol"]}
    (folder / "cxr-pneumonia/transfer.json").write_text(json.dumps({"dataset": "chest_xray", "split": "test", "rows": [
        {**row, "label": "from scratch", "train_seconds": 600},
        {**row, "label": "fine-tuned from ImageNet", "train_seconds": None}]}))
    use_weights(folder)
    at = run("app_pages/evaluate.py")
    assert "What ImageNet pretraining buys" in text(at)
    table = at.dataframe[0].value
    assert list(table["label"]) == ["from scratch", "fine-tuned from ImageNet"]
    assert list(table["training"]) == ["10 min", "not recorded"]
    assert len(charts(at)) == 6  # the model's five, and the overlaid ROC curves


def test_evaluate_draws_the_training_history_where_there_is_one_and_nothing_where_there_is_none(chest_weights,
                                                                                                use_weights, tmp_path):
    import shutil

    folder = shutil.copytree(chest_weights, tmp_path / "weights")
    rows = [{"epoch": epoch, "loss": 0.7 / epoch, "accuracy": 0.5 + 0.1 * epoch, "val_ROC-AUC": auc, "lr": 2e-3 / epoch,
             "seconds": 12.5} for epoch, auc in ((1, 0.7), (2, 0.9), (3, 0.8))]  # as train.py writes them
    (folder / "cxr-pneumonia/history.json").write_text(json.dumps(rows))
    meta = cards.read_meta(folder / "cxr-pneumonia")
    cards.write(folder / "cxr-pneumonia", {**meta, "settings": {"epochs run": 3, "best validation ROC-AUC": 0.9}})
    use_weights(folder)

    at = run("app_pages/evaluate.py")
    assert "Training" in [h.value for h in at.subheader] and len(charts(at)) == 6  # the model's five, then its history
    assert ("Epoch 2 of 3 is ringed: the best validation ROC-AUC, whose weights these are; no later epoch beat it. "
            "Hover the right-hand curve for each epoch's learning rate and seconds.") in text(at)
    figure = json.loads(charts(at)[-1].proto.spec)
    assert [trace["name"] for trace in figure["data"]] == ["loss", "accuracy", "validation ROC-AUC", "kept: epoch 2"]
    assert "learning rate 0.001" in figure["data"][2]["text"][1]

    at.selectbox[0].set_value("covid-ct").run()  # weights trained before train.py wrote a history beside them
    assert not at.exception, at.exception
    assert "Training" not in [h.value for h in at.subheader] and len(charts(at)) == 5


def test_evaluate_a_multiclass_model_shows_accuracy_and_calibration(chest_weights, use_weights):
    use_weights(chest_weights)
    at = run("app_pages/evaluate.py")
    at.selectbox[0].set_value("modality").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == "25.0%" and metrics["chest_xray"] == "100.0%" and metrics["ct"] == "0.0%"
    assert metrics["Routed to the right model"] == "33.3%" and metrics["Others, refused"] == "0.0%"
    assert len(charts(at)) == 2  # confusion matrix and reliability; ROC and PR need two classes


def test_evaluate_a_segmenter_shows_dice_and_the_worst_images(tmp_path, use_weights):
    (tmp_path / "polyp-unet").mkdir()
    (tmp_path / "polyp-unet" / "config.json").write_text('{"family": "unet"}')
    (tmp_path / "polyp-unet" / "eval.json").write_text(json.dumps({  # every key evaluate_segmenter writes
        "model": "polyp-unet", "dataset": "kvasir_seg", "split": "test", "command": "python evaluate.py polyp-unet",
        "protocol": "kvasir_seg test", "n": 3, "dice": 0.5, "iou": 0.4, "dice_median": 0.6,
        "per_image_dice": [0.1, 0.6, 0.8], "ids": ["a", "b", "c"],
        "worst": [{"id": "a", "dice": 0.1, "iou": 0.05}, {"id": "b", "dice": 0.6, "iou": 0.43}],
        "found": {"area_threshold": 0.005, "share_found": 2 / 3}}))
    use_weights(tmp_path)
    at = run("app_pages/evaluate.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean Dice"] == "0.500" and metrics["Images with a polyp found"] == "66.7%"
    assert len(charts(at)) == 1  # the per-image Dice histogram
    assert list(at.dataframe[0].value["id"]) == ["a", "b"]  # the worst images
    assert "mean Dice 0.500, mean IoU 0.400" in text(run("app.py"))  # and the home page's headline


def test_evaluate_a_super_resolution_model_shows_where_it_helps_and_where_it_hurts(tmp_path, use_weights):
    shipped = json.loads((ROOT / "weights/srresnet-x4/eval.json").read_text())  # as evaluate.py writes it
    (tmp_path / "srresnet-x4").mkdir()
    (tmp_path / "srresnet-x4" / "config.json").write_text('{"family": "srresnet"}')
    (tmp_path / "srresnet-x4" / "eval.json").write_text(json.dumps(shipped))
    use_weights(tmp_path)
    at = run("app_pages/evaluate.py")
    assert "Which inputs it helps with" in text(at)
    table = at.dataframe[1].value  # gain over bicubic per degradation (rows) and test set (columns)
    assert list(table.columns) == ["how the small image was made", "Set5", "Set14"] and len(table) == 11
    assert table.loc["bicubic+jpeg75", "Set5"] == pytest.approx(-3.43, abs=0.01)  # it hurts there


def test_evaluate_shows_the_worst_polyp_images_when_the_data_is_at_hand(chest_weights, use_weights, data_root,
                                                                       monkeypatch):
    monkeypatch.setenv("MEDLAB_DATA", str(data_root))  # the miniature Kvasir-SEG the tiny U-Net was evaluated on
    use_weights(chest_weights)
    at = run("app_pages/evaluate.py")
    at.selectbox[0].set_value("polyp-unet").run()
    assert not at.exception, at.exception
    evaluation = json.loads((chest_weights / "polyp-unet" / "eval.json").read_text())
    assert list(at.dataframe[0].value["id"]) == [case["id"] for case in evaluation["worst"]]
    assert not at.image  # the images only on request
    at.toggle[0].set_value(True).run()
    assert not at.exception, at.exception
    shown = sorted(image.captions[0] for image in at.image)  # laid out in three columns: read column by column
    assert shown == sorted(f"{case['id']}: Dice {case['dice']:.3f} when evaluated" for case in evaluation["worst"])


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


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "app_pages").glob("*.py")))
def test_no_page_imports_a_module_named_like_a_page(page):
    """Run alone, a page's folder comes first on sys.path: a page app_pages/latent.py doing `import latent`
    would import itself instead of the module."""
    import ast

    names = {p.stem for p in (ROOT / "app_pages").glob("*.py")}
    tree = ast.parse((ROOT / "app_pages" / page).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & names
