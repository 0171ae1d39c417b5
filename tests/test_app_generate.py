"""The Generate page and `predict.py sample`, against tiny generators and a tiny judge (CPU, offline)."""
import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

import cards
import evaluate
import generators
import inference
import predict
from conftest import tiny_model
from test_app import run, text

PAGE = "app_pages/generate.py"
CLASSES = ["NORMAL", "PNEUMONIA"]


@pytest.fixture(scope="module")
def gan_weights(tmp_path_factory, data_root) -> Path:
    """A tiny chest X-ray ACGAN measured by evaluate.py against the miniature chest X-rays with a tiny judge
    (cxr-pneumonia), and a tiny unconditional DCGAN without measurements."""
    folder = tmp_path_factory.mktemp("gan")
    torch.manual_seed(0)
    tiny_model("classifier").save_pretrained(folder / "cxr-pneumonia")
    for family, name in (("acgan", "acgan-cxr"), ("dcgan", "dcgan-cxr")):
        tiny_model(family, class_names=CLASSES).save_pretrained(folder / name)
        cards.write(folder / name, {"name": name, "family": family, "dataset": "chest_xray", "title": f"Tiny {family}",
                                    "summary": f"A tiny untrained {family}.", "train_command": "python train.py ...",
                                    "settings": {"epochs run": 0, "model selection": "none: the last epoch"}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDLAB_WEIGHTS", str(folder))
        evaluate.main(["acgan-cxr", "--data-root", str(data_root), "--per-class", "4"])
    return folder


def test_generate_shows_images_with_verdicts_downloads_and_measured_figures(gan_weights, use_weights):
    use_weights(gan_weights)
    at = run(PAGE)
    shown = text(at)
    assert sum(type(element).__name__ == "Image" for element in at.main) == 16  # the default count
    assert "under each image" in shown.lower() and "cxr-pneumonia" in shown
    assert len(at.get("download_button")) == 2
    table = at.dataframe[0].value
    assert list(table["class"]) == CLASSES and table["GAN-test"].between(0, 1).all()
    assert "python evaluate.py acgan-cxr" in shown and "GAN-test" in shown


def test_generate_an_unconditional_model_asks_for_no_class(gan_weights, use_weights):
    use_weights(gan_weights)
    at = run(PAGE)
    at.selectbox[0].set_value("dcgan-cxr").run()
    assert not at.exception
    shown = text(at)
    assert "Unconditional (DCGAN)" in shown and "Not measured yet: run `python evaluate.py dcgan-cxr`" in shown


def test_generate_without_generators_says_how_to_train_one(tmp_path, use_weights):
    use_weights(tmp_path)
    assert "No generator is shipped yet" in text(run(PAGE))


def test_sample_is_seeded_and_checks_the_request(gan_weights, monkeypatch):
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(gan_weights))
    inference.load_model.cache_clear()
    model, judge = inference.load_model("acgan-cxr"), inference.load_model("cxr-pneumonia")
    first = generators.sample(model, "PNEUMONIA", 5, seed=3, judge=judge)
    again = generators.sample(model, "PNEUMONIA", 5, seed=3, judge=judge)
    torch.testing.assert_close(first.images, again.images, atol=0, rtol=0)
    assert len(first.verdicts) == 5 and all(seen in CLASSES and 0 <= p <= 1 for seen, p in first.verdicts)
    truncated = generators.sample(model, "NORMAL", 4, seed=3, truncation=0.5)
    assert truncated.verdicts == [] and truncated.images.shape == (4, 1, 16, 16)
    with pytest.raises(ValueError, match="unknown class 'COVID': this generator makes NORMAL, PNEUMONIA"):
        generators.sample(model, "COVID", 2, seed=0)
    with pytest.raises(ValueError, match="1 to 64"):
        generators.sample(model, "NORMAL", 65, seed=0)
    with pytest.raises(ValueError, match="unconditional"):
        generators.sample(inference.load_model("dcgan-cxr"), "NORMAL", 2, seed=0)
    archive = zipfile.ZipFile(io.BytesIO(generators.zip_of_pngs(first.images, "x")))
    assert archive.namelist() == [f"x-{i:02d}.png" for i in range(5)]
    assert Image.open(io.BytesIO(generators.png(generators.grid(first.images)))).size == (5 * 18 + 2, 18 + 2)
    inference.load_model.cache_clear()


def test_sampling_waits_for_a_model_call_slot(gan_weights, monkeypatch):
    """The Generate page's model call takes a slot like every other, so many visitors cannot crowd out the rest."""
    import threading

    monkeypatch.setenv("MEDLAB_WEIGHTS", str(gan_weights))
    inference.load_model.cache_clear()
    model = inference.load_model("acgan-cxr")
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(inference, "_COMPUTE", slots)
    done = threading.Event()
    slots.acquire()  # another visitor's call holds the only slot
    worker = threading.Thread(target=lambda: (generators.sample(model, "NORMAL", 2, seed=0), done.set()))
    worker.start()
    assert not done.wait(0.5)  # waits its turn
    slots.release()
    assert done.wait(30)
    worker.join()
    inference.load_model.cache_clear()


def test_predict_sample_writes_pngs_and_refuses_an_unknown_label(gan_weights, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(gan_weights))
    inference.load_model.cache_clear()
    predict.main(["sample", "acgan-cxr", "--label", "NORMAL", "--n", "3", "--seed", "1", "--out", str(tmp_path), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(line["file"]).name for line in lines] == [f"acgan-cxr-NORMAL-seed1-{i:02d}.png" for i in range(3)]
    assert all(line["judged_as"] in CLASSES and line["judge"] == "cxr-pneumonia" for line in lines)
    assert Image.open(lines[0]["file"]).size == (16, 16)
    # A generator given as a folder (a candidate, not shipped) writes into --out too, named by the folder.
    predict.main(["sample", str(gan_weights / "acgan-cxr"), "--label", "NORMAL", "--n", "1", "--out", str(tmp_path / "o")])
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["acgan-cxr-NORMAL-seed0-00.png"]
    with pytest.raises(SystemExit, match="unknown class '7': this generator makes NORMAL, PNEUMONIA"):
        predict.main(["sample", "acgan-cxr", "--label", "7", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown generator 'nope'; shipped: acgan-cxr, dcgan-cxr"):
        predict.main(["sample", "nope", "--label", "7", "--out", str(tmp_path)])
    inference.load_model.cache_clear()


def test_evaluate_page_shows_a_generators_figures(gan_weights, use_weights):
    use_weights(gan_weights)
    at = run("app_pages/evaluate.py")
    at.selectbox[0].set_value("acgan-cxr").run()
    assert not at.exception
    assert list(at.dataframe[0].value["class"]) == CLASSES and "GAN-test" in text(at)
    columns = json.loads(at.dataframe[0].proto.columns)  # shares as percentages, as the Generate page shows them
    assert columns["GAN-test"]["type_config"]["format"] == columns["judge on real images"]["type_config"]["format"] == "percent"


def test_home_gives_a_generators_headline(gan_weights, use_weights):
    use_weights(gan_weights)
    shown = text(run("app.py"))  # the router shows its default page, home
    assert "generated images: GAN-test" in shown and "Not evaluated yet: run `python evaluate.py dcgan-cxr" in shown


def test_results_row_of_a_generator(gan_weights):
    import results

    row = results.describe(json.loads((gan_weights / "acgan-cxr" / "eval.json").read_text()))
    assert row.startswith("GAN-test ") and "NORMAL" in row and "floor" in row and "judge `cxr-pneumonia`" in row


def test_the_page_opens_on_the_generator_shown_first(gan_weights, monkeypatch):
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(gan_weights))
    assert generators.shipped() == ["acgan-cxr", "dcgan-cxr"]  # alphabetical when SHOWN_FIRST is not shipped
    monkeypatch.setattr(generators, "SHOWN_FIRST", "dcgan-cxr")
    assert generators.shipped() == ["dcgan-cxr", "acgan-cxr"]
