"""eval.json has one schema (eval_schema.py): every shipped file fits it, a break is said in words, and
evaluate.py refuses to write a result that breaks it."""
import copy
import json
from pathlib import Path

import pytest

import eval_schema
import evaluate
from conftest import tiny_model
from test_layering import project_modules_loaded_by

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "weights").glob("*/eval*.json"))


def shipped(name: str) -> dict:
    return json.loads((ROOT / "weights" / name).read_text())


def test_the_weights_folder_ships_results_of_every_kind():
    kinds = {kind.name for path in SHIPPED for kind in eval_schema.KINDS if kind.marker in json.loads(path.read_text())}
    assert kinds == {kind.name for kind in eval_schema.KINDS}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_eval_json_fits_the_schema(path):
    assert eval_schema.check(json.loads(path.read_text())) == []


def test_a_missing_key_a_wrong_type_and_an_undeclared_key_are_said_in_words():
    result = shipped("polyp-unet/eval.json")
    del result["iou"]
    result["n"] = "120"
    result["dice"] = True  # a bool is not a number, though Python counts it as an int
    result["hausdorff"] = 3.0
    problems = eval_schema.check(result)
    assert "missing 'iou' (segmenter: mean IoU per image (0 to 1))" in problems
    assert "'n' should be of type int, got str" in problems
    assert "'dice' should be of type number, got bool" in problems
    assert any(p.startswith("'hausdorff' is not in the schema of a segmenter") for p in problems)
    assert len(problems) == 4


def test_a_result_of_no_kind_or_of_two_is_refused():
    assert eval_schema.check({**shipped("modality/eval.json"), "dice": 0.5})[0].startswith(
        "cannot tell the kind of model")
    common = {key: shipped("modality/eval.json")[key] for key in eval_schema.COMMON}
    assert "found none" in eval_schema.check(common)[0]


def test_a_generator_needs_its_gan_test_or_its_class_shares_and_a_split_is_named():
    result = shipped("dcgan-mnist/eval.json")
    del result["class_shares"]
    assert eval_schema.check(result) == ["a generator needs one of 'gan_test', 'class_shares'"]
    assert eval_schema.check({**shipped("dcgan-mnist/eval.json"), "split": "holdout"}) == [
        "'split' should be one of train, val, test, got 'holdout'"]


def test_the_schema_is_read_without_torch_or_the_app():
    assert project_modules_loaded_by("import eval_schema") == {"eval_schema"}


@pytest.fixture
def tiny_folder(tmp_path, monkeypatch) -> Path:
    tiny_model("classifier").save_pretrained(tmp_path / "tiny-cxr")
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(tmp_path))
    return tmp_path / "tiny-cxr"


def test_evaluate_refuses_to_write_a_result_that_breaks_the_schema(tiny_folder, data_root, monkeypatch):
    measure = evaluate.evaluate_classifier

    def without_ece(*args, **kwargs) -> dict:
        body = measure(*args, **kwargs)
        del body["ece"]
        return body

    monkeypatch.setattr(evaluate, "evaluate_classifier", without_ece)
    before = {p.name: p.read_bytes() for p in tiny_folder.iterdir()}
    with pytest.raises(ValueError, match=r"break eval.json's schema .*missing 'ece'"):
        evaluate.main(["tiny-cxr", "--data-root", str(data_root), "--dataset", "chest_xray"])
    assert {p.name: p.read_bytes() for p in tiny_folder.iterdir()} == before  # no eval.json, the card untouched


def test_evaluate_writes_a_result_that_fits(tiny_folder, data_root):
    result = evaluate.main(["tiny-cxr", "--data-root", str(data_root), "--dataset", "chest_xray", "--split", "val"])
    assert json.loads((tiny_folder / "eval-val.json").read_text()) == result
    assert eval_schema.check(result) == []


def test_the_writer_checks_what_it_is_given(tmp_path):
    result = copy.deepcopy(shipped("srgan-x4/eval.json"))
    assert evaluate.write_eval(tmp_path, result) == tmp_path / "eval.json"
    result["sets"] = []
    with pytest.raises(ValueError, match="'sets' should be of type dict, got list"):
        evaluate.write_eval(tmp_path, {**result, "split": "val"})
    assert not (tmp_path / "eval-val.json").exists()
