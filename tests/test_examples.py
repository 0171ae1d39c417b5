"""The bundled examples: a visitor with no files and no data root (a hosted Space) can use every page that takes
an upload, on the shipped weights. Each file is small, readable and has its source and licence stated."""
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import inference
import ui
from images import read_image

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "weights"


def test_every_example_is_small_readable_and_has_its_source_and_licence_stated():
    readme = (ui.EXAMPLES / "README.md").read_text()
    files = sorted(p.name for p in ui.EXAMPLES.iterdir() if p.name != "README.md")
    assert sum((ui.EXAMPLES / name).stat().st_size for name in files) < 2 * 2**20
    assert set(ui.EXAMPLE_IMAGES) | {"mnist-digits.npz"} == set(files)
    for name in files:
        (row,) = [line for line in readme.splitlines() if line.startswith("|") and f"`{name}`" in line]
        source, licence = row.strip("|").split("|")[-2:]
        assert source.strip() and licence.strip(), name
    for name in ui.EXAMPLE_IMAGES:
        assert read_image(ui.Example(name)).width >= 28


@pytest.fixture
def no_data_root(monkeypatch, tmp_path):
    """The shipped weights, and no data root at all."""
    monkeypatch.setenv("MEDLAB_DATA", str(tmp_path / "no-data-root"))
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(SHIPPED))
    inference.load_model.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()
    assert ui.data_root() is None
    yield
    inference.load_model.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()


def page(path: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> str:
    kinds = ("subheader", "markdown", "caption", "info", "warning", "error")
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))


EXPECTED = {"chest-xray-normal.jpeg": "chest X-ray", "chest-xray-pneumonia.jpeg": "chest X-ray",
            "ct-covid.png": "CT slice", "ct-covid-uncertain.png": "CT slice", "ct-small.dcm": "none of these",
            "colonoscopy-polyp.jpg": "endoscopy frame", "photo-grace-hopper.jpg": "none of these"}


def test_classify_routes_every_example(no_data_root):
    at = page("app_pages/classify.py")
    (examples,) = at.multiselect
    assert examples.options[0] == "Chest X-ray, normal"  # what a visitor picks by: each file's description
    examples.set_value(list(EXPECTED)).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("file")
    assert dict(table["modality"]) == EXPECTED
    labels = table["label"]
    assert (labels["chest-xray-normal.jpeg"], labels["chest-xray-pneumonia.jpeg"]) == ("NORMAL", "PNEUMONIA")
    assert (labels["ct-covid.png"], labels["colonoscopy-polyp.jpg"]) == ("CT_COVID", "polyp found")


def test_an_upload_takes_the_place_of_the_examples(no_data_root):
    at = page("app_pages/classify.py")
    at.multiselect[0].set_value(["chest-xray-normal.jpeg"]).run()
    at.file_uploader[0].set_value([("mine.png", ui.Example("ct-covid.png").getvalue(), "image/png")]).run()
    assert not at.exception, at.exception
    assert at.multiselect[0].disabled and "mine\\.png" in shown(at) and "chest\\-xray" not in shown(at)


def test_domain_adaptation_translates_a_bundled_test_digit_and_an_example_upload(no_data_root):
    at = page("app_pages/adapt.py")
    assert "the 2,000 MNIST test digits bundled in examples/" in at.number_input[0].help
    assert [image.captions[0] for image in at.image][:2] == ["input (label 7)", "translated, seed 0"]
    assert "needs the MNIST-M test images" in shown(at)  # not redistributable: said, not crashed
    at.radio[0].set_value("Upload").run()
    at.selectbox[0].set_value("mnist-digit-2.png").run()
    assert not at.exception, at.exception
    assert [image.captions[0] for image in at.image][:2] == ["input", "translated, seed 0"]


def test_latent_space_reconstructs_and_interpolates_examples(no_data_root):
    at = page("app_pages/latent_space.py")
    at.radio[0].set_value("Reconstruct").run()
    at.selectbox(key="reconstruct-example").set_value("colonoscopy-polyp.jpg").run()
    assert not at.exception, at.exception
    assert "PSNR" in shown(at) and "decoded from its code" in at.image[0].captions[0]
    at.radio[0].set_value("Interpolate").run()
    at.radio[1].set_value("two images").run()
    at.selectbox(key="first-example").set_value("colonoscopy-polyp.jpg").run()
    at.selectbox(key="second-example").set_value("chest-xray-normal.jpeg").run()
    assert not at.exception, at.exception
    assert "interpolation, 10 frames" in at.image[0].captions[0]


def test_a_dicom_is_refused_on_its_headers_word_and_the_refusal_says_what_the_header_says(no_data_root):
    """pydicom's MR_small (an MR slice) and the CT example without lungs at its own window: the recognizer sees
    neither as a medical image the lab knows, but the header knows better, and the visitor should hear it."""
    from pydicom.data import get_testdata_file

    mr = read_image(get_testdata_file("MR_small.dcm"), name="MR_small.dcm")
    with pytest.raises(inference.Refusal, match=r"^MR_small.dcm: its DICOM header says Modality MR \(magnetic "
                                                 r"resonance imaging\), and no model here takes that"):
        inference.route(mr, inference.recognize(mr))
    ct = read_image(ui.Example("ct-small.dcm"))
    with pytest.raises(inference.Refusal, match=r"its DICOM header says Modality CT \(computed tomography\), but the "
                                                 r"modality recognizer does not see a CT slice like those .* try the "
                                                 r"lung preset"):
        inference.route(ct, inference.recognize(ct))
    assert inference.route(mr, inference.recognize(mr), modality="chest_xray") == "chest_xray"  # an override still runs


def test_classify_shows_the_dicom_header_beside_the_recognizer(no_data_root):
    at = page("app_pages/classify.py")
    at.multiselect[0].set_value(["ct-small.dcm"]).run()
    assert not at.exception, at.exception
    assert "**DICOM header:** CT (computed tomography)" in shown(at)
    assert "its DICOM header says Modality CT" in "\n".join(str(w.value) for w in at.warning)


def test_the_uncertain_bands_are_chosen_on_validation_and_stated_in_the_readme(no_data_root):
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    import uncertain_band

    readme = (ROOT / "README.md").read_text()
    assert "`covid-ct` ±0.38, `cxr-pneumonia` none" in readme
    covid, cxr = uncertain_band.band("covid-ct"), uncertain_band.band("cxr-pneumonia")
    assert (covid["margin"], cxr["margin"]) == (0.38, 0.0)
    assert covid["accuracy_outside"] >= inference.UNCERTAIN_TARGET > covid["accuracy_inside"]


def test_an_answer_near_the_threshold_is_shown_as_uncertain_not_as_a_verdict(no_data_root):
    at = page("app_pages/classify.py")
    at.multiselect[0].set_value(["ct-covid-uncertain.png", "ct-covid.png"]).run()  # P(CT_COVID) 0.79 and 0.95 (threshold 0.51, band ±0.38)
    assert not at.exception, at.exception
    headings = [str(m.value) for m in at.markdown if str(m.value).startswith("### ")]
    assert headings == ["### Uncertain (leaning CT_COVID)", "### CT_COVID"]
    assert "fewer than 90% of `covid-ct`'s answers this close were right" in "\n".join(str(w.value) for w in at.warning)
