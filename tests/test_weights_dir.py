"""The weights folder: one root (MEDLAB_WEIGHTS, else weights/) that every reader honours, one listing, one loader."""
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

import evaluate
import models
import results
import tasks.generation
import weights_dir
from conftest import tiny_model
from test_layering import project_modules_loaded_by

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """MEDLAB_WEIGHTS at a folder outside the repository holding one tiny classifier, `tiny-cxr`, a name the
    repository's weights/ does not have."""
    folder = tmp_path / "elsewhere"
    tiny_model("classifier").save_pretrained(folder / "tiny-cxr")
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(folder))
    return folder


def test_the_root_is_medlab_weights_else_the_repositorys_weights(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDLAB_WEIGHTS", raising=False)
    assert weights_dir.root() == ROOT / "weights"
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(tmp_path))  # read at every call, not once at import
    assert weights_dir.root() == tmp_path


def test_the_weights_folder_is_read_without_the_app():
    # train.py and results.py use it: no serving code, no data sets; only the model library it loads from.
    assert project_modules_loaded_by("import weights_dir") == {"weights_dir", "models"}


def test_evaluate_and_results_read_and_write_the_folder_medlab_weights_names(elsewhere, data_root, capsys):
    evaluate.main(["tiny-cxr", "--data-root", str(data_root), "--dataset", "chest_xray", "--json"])
    written = json.loads((elsewhere / "tiny-cxr" / "eval.json").read_text())  # beside the weights it measured
    assert written["model"] == "tiny-cxr" and written["split"] == "test"
    capsys.readouterr()
    results.main()
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split("|")[1].strip() for row in rows] == ["[`tiny-cxr`](weights/tiny-cxr/README.md)"]  # that folder's models only


def test_the_listing_names_each_folders_family_without_loading_its_weights(elsewhere):
    assert weights_dir.families() == {"tiny-cxr": "classifier"}
    # Listed from config.json alone: weights that would not load are still listed (the loader says why).
    tiny_model("unet").save_pretrained(elsewhere / "broken-weights")
    (elsewhere / "broken-weights" / "model.safetensors").write_bytes(b"not safetensors")
    (elsewhere / "no-config").mkdir()
    (elsewhere / "bad-config").mkdir()
    (elsewhere / "bad-config" / "config.json").write_text("{")
    (elsewhere / "a-file.txt").write_text("not a folder")
    assert weights_dir.families() == {"broken-weights": "unet", "tiny-cxr": "classifier"}  # by name
    with pytest.raises(models.WeightsError, match="not a valid safetensors file"):
        weights_dir.load("broken-weights")


def test_the_listing_follows_changes_without_being_told(elsewhere):
    """Cached, but never stale: a new folder, a config.json written into an existing folder (as train.py writes
    it after creating the folder) or rewritten in place are seen at once."""
    assert weights_dir.families() == {"tiny-cxr": "classifier"}
    (elsewhere / "later").mkdir()
    assert weights_dir.families() == {"tiny-cxr": "classifier"}
    tiny_model("vae").save_pretrained(elsewhere / "later")
    assert weights_dir.families() == {"later": "vae", "tiny-cxr": "classifier"}
    config = elsewhere / "tiny-cxr" / "config.json"
    stamp = config.stat().st_mtime_ns
    config.write_text(json.dumps({**json.loads(config.read_text()), "family": "kmeans"}))
    os.utime(config, ns=(stamp + 10**9, stamp + 10**9))  # a coarse file system clock still sees a change
    assert weights_dir.families()["tiny-cxr"] == "kmeans"
    weights_dir.families.cache_clear()
    assert weights_dir.families() == {"later": "vae", "tiny-cxr": "kmeans"}


def test_a_missing_root_lists_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(tmp_path / "not-there"))
    assert weights_dir.families() == {}


def test_a_name_is_a_folder_under_the_root_anything_else_is_loaded_as_given(elsewhere, tmp_path):
    assert weights_dir.shipped("tiny-cxr") == weights_dir.locate("tiny-cxr") == elsewhere / "tiny-cxr"
    for other in ("me/cxr", "../elsewhere/tiny-cxr", str(elsewhere / "tiny-cxr"), "", "..", "missing"):
        assert weights_dir.shipped(other) is None
    assert weights_dir.locate("me/cxr") == "me/cxr"  # a Hub repository id passes through
    assert weights_dir.load("tiny-cxr").folder == elsewhere / "tiny-cxr"
    assert weights_dir.load(elsewhere / "tiny-cxr", family="classifier").family == "classifier"  # a path, as given
    with pytest.raises(models.WeightsError, match="not a 'unet' model"):
        weights_dir.load("tiny-cxr", family="unet")


def test_training_looks_for_its_gan_judge_in_the_same_folder(tmp_path, monkeypatch):
    # The repository ships the chest X-ray judge; with MEDLAB_WEIGHTS at an empty folder there is none.
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(tmp_path))
    assert tasks.generation.gan_score(None, SimpleNamespace(dataset_name="chest_xray")) == ("none (no judge)", 0.0)
