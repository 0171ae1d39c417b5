"""The Gradio API served on 127.0.0.1 with tiny weights, called through gradio_client as a user would."""
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio loads
UPLOADS = os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="medlab-gradio-")  # not /tmp/gradio for good

from gradio_client import Client, handle_file  # noqa: E402

import gradio_app  # noqa: E402
import inference  # noqa: E402
import predict  # noqa: E402
from browser import free_port  # noqa: E402
from tests.test_app import colour_png_bytes, png_bytes, write_tiny_weights  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:::gradio.queueing")  # Gradio's own use of pandas 3


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Weights folders whose recognizer says chest X-ray, CT or endoscopy (each always answers one)."""
    root = tmp_path_factory.mktemp("gradio")
    return {m: write_tiny_weights(root / m, router_says=m, evaluated=False) for m in ("chest_xray", "ct", "endoscopy")}


@pytest.fixture(scope="module")
def client():
    demo = gradio_app.build()
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, share=False, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False, analytics_enabled=False, download_files=UPLOADS)
    finally:
        demo.close()
        shutil.rmtree(UPLOADS, ignore_errors=True)


@pytest.fixture
def use(monkeypatch):
    def use(folder):
        monkeypatch.setenv("MEDLAB_WEIGHTS", str(folder))
        inference.load_model.cache_clear()
    yield use
    inference.load_model.cache_clear()


def test_classify_answers_as_predict_py_does(client, weights, use, tmp_path, capsys):
    use(weights["chest_xray"])
    chest = tmp_path / "chest.png"
    chest.write_bytes(png_bytes(48))

    answer = client.predict(handle_file(str(chest)), api_name="/classify")

    predict.main(["classify", str(chest), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert answer == {**printed, "file": "chest.png"}
    assert answer["label"] in ("NORMAL", "PNEUMONIA") and answer["model"] == "cxr-pneumonia"


def test_a_dicom_without_an_extension_is_read_as_the_page_reads_it(client, weights, use, tmp_path):
    from tests.test_app import ct_dicom_bytes

    use(weights["ct"])  # a recognizer that agrees with the header (Modality CT)
    scan = tmp_path / "IM0001"  # as scanners and PACS exports name their files
    scan.write_bytes(ct_dicom_bytes())
    answer = client.predict(handle_file(str(scan)), api_name="/classify")
    assert "label" in answer, answer


def test_segment_returns_the_json_and_the_mask(client, weights, use, tmp_path):
    use(weights["endoscopy"])
    frame = tmp_path / "frame.png"
    frame.write_bytes(colour_png_bytes(40))

    answer, mask_file = client.predict(handle_file(str(frame)), api_name="/segment")

    assert answer["file"] == "frame.png" and answer["polyp_found"] is True  # the tiny U-Net marks the whole frame
    mask = np.asarray(Image.open(mask_file))
    assert mask.shape == (40, 40) and set(np.unique(mask)) == {255}


def test_an_image_routed_elsewhere_gets_the_reason_not_a_mask(client, weights, use, tmp_path):
    use(weights["chest_xray"])
    chest = tmp_path / "chest.png"
    chest.write_bytes(png_bytes(48))
    answer, mask = client.predict(handle_file(str(chest)), api_name="/segment")
    assert set(answer) == {"file", "error"} and "looks like a chest X-ray" in answer["error"] and mask is None


@pytest.mark.parametrize("name, data, reason", [
    ("broken.png", png_bytes(48)[:60], "broken.png"),
    ("page.png", b"<!DOCTYPE html><html><body>not an image</body></html>", "page.png"),
], ids=["truncated PNG", "HTML named .png"])
def test_a_file_that_is_not_an_image_is_a_clear_error_and_the_server_carries_on(client, weights, use, tmp_path,
                                                                                   name, data, reason):
    use(weights["chest_xray"])
    bad = tmp_path / name
    bad.write_bytes(data)
    for endpoint in ("/classify", "/segment"):
        with pytest.raises(Exception, match=reason) as error:
            client.predict(handle_file(str(bad)), api_name=endpoint)
        assert "Traceback" not in str(error.value)
    with pytest.raises(Exception, match="no image: upload one image file"):
        client.predict(None, api_name="/classify")
    good = tmp_path / "chest.png"
    good.write_bytes(png_bytes(48))
    assert "label" in client.predict(handle_file(str(good)), api_name="/classify")


def test_missing_weights_are_a_clear_error(client, use, tmp_path):
    use(tmp_path / "no-weights")
    chest = tmp_path / "chest.png"
    chest.write_bytes(png_bytes(48))
    with pytest.raises(Exception, match="the lab's models cannot be loaded: 'modality' is neither a weights folder"):
        client.predict(handle_file(str(chest)), api_name="/classify")


def photo_20x24(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(path)
    return path


def test_upscale_answers_with_the_x4_image(client, use, tmp_path):
    from tests.conftest import tiny_model

    tiny_model("srresnet").save_pretrained(tmp_path / "weights/srresnet-x4")
    use(tmp_path / "weights")
    photo = photo_20x24(tmp_path)

    for method in ("srresnet", "bicubic"):
        answer, image = client.predict(handle_file(str(photo)), method, api_name="/upscale")
        assert answer["model"] == {"srresnet": "srresnet-x4", "bicubic": "bicubic"}[method]
        assert answer["input_size"] == [20, 24] and answer["output_size"] == [80, 96]
        assert np.asarray(Image.open(image)).shape == (96, 80, 3)


def test_upscale_refuses_past_its_limit(client, tmp_path, monkeypatch):
    import superres

    monkeypatch.setattr(superres, "MAX_INPUT_PIXELS", 100)
    photo = photo_20x24(tmp_path)
    with pytest.raises(Exception, match="at most 100 pixels"):
        client.predict(handle_file(str(photo)), "bicubic", api_name="/upscale")


def test_uploads_and_results_leave_the_file_cache(weights, use, tmp_path, monkeypatch):
    """Issue 25: the cache grew by each call's upload and result (~38 MB per 1-megapixel upscale), never cleaned."""
    use(weights["chest_xray"])
    monkeypatch.setattr(gradio_app, "CACHE_SECONDS", 1, raising=False)
    demo = gradio_app.serve(port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        before = set(Path(UPLOADS).rglob("*.png"))
        photo = tmp_path / "photo.png"
        photo.write_bytes(colour_png_bytes(40))
        client = Client(demo.local_url, verbose=False, analytics_enabled=False, download_files=str(tmp_path))
        client.predict(handle_file(str(photo)), "bicubic", api_name="/upscale")
        cached = lambda: set(Path(UPLOADS).rglob("*.png")) - before  # noqa: E731
        assert {p.name for p in cached()} >= {"photo.png"}  # the upload, and the result beside it
        deadline = time.monotonic() + 15
        while cached() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not cached()
    finally:
        demo.close()
