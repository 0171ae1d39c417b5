"""The command lines end to end on tiny generated data: train, resume, evaluate, predict, torchrun."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import evaluate
import models
import predict
import train
from tests.conftest import make_router

ROOT = Path(__file__).resolve().parent.parent
TINY_ARGS = ["--image-size", "32", "--widths", "8", "16", "--depths", "1", "1", "--batch-size", "8", "--threads", "1"]


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory) -> Path:
    """One epoch of train.py on the miniature chest_xray tree."""
    work = tmp_path_factory.mktemp("train")
    out = train.main(["classifier", "--dataset", "chest_xray", "--data-root", str(data_root), "--out",
                      str(work / "weights/cxr-pneumonia"), "--run-dir", str(work / "run"), "--epochs", "1", *TINY_ARGS])
    return out


def test_train_writes_a_complete_weights_folder(trained):
    assert {p.name for p in trained.iterdir()} == {"config.json", "model.safetensors", "README.md", "history.json"}
    card = (trained / "README.md").read_text()
    assert "chest_xray train" in card and "patients held out" in card
    assert "temperature" in card and "Not a medical device" in card


def test_the_tiny_pipeline_learns(data_root, tmp_path):
    """Eight epochs on the miniature tree: the training loss falls well below chance, ln 2 = 0.69 (a network that
    says 50/50 to everything). The 12 test images cannot show learning: an untrained network scores ROC-AUC 0.8 to
    1.0 on them for some seeds (a bright patch brightens the whole image). The last three epochs' mean loss, for
    --seed 0 to 9: 0.43-0.54 (0.75 of the first epoch's at most); with --lr 0, 0.67-0.79 (0.9 at least)."""
    train.main(["classifier", "--dataset", "chest_xray", "--data-root", str(data_root), "--out", str(tmp_path / "w"),
                "--run-dir", str(tmp_path / "run"), "--epochs", "8", *TINY_ARGS])
    losses = [row["loss"] for row in json.loads((tmp_path / "run/history.json").read_text())]
    late = sum(losses[-3:]) / 3
    assert len(losses) == 8 and late < 0.6 and late < 0.85 * losses[0], losses


def test_train_writes_its_history_beside_the_weights(data_root, tmp_path):
    """A row per epoch beside the weights (the Evaluate page draws it, hub.py uploads it), the same as in the run
    folder: the training step's figures, the validation score, the learning rate as scheduled, the seconds."""
    common = ["classifier", "--dataset", "chest_xray", "--data-root", str(data_root), *TINY_ARGS]
    out = train.main([*common, "--out", str(tmp_path / "w"), "--run-dir", str(tmp_path / "run"), "--epochs", "3",
                      "--lr", "1e-3"])
    rows = json.loads((out / "history.json").read_text())
    assert rows == json.loads((tmp_path / "run/history.json").read_text())
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert all(set(row) == {"epoch", "loss", "accuracy", "val_ROC-AUC", "lr", "seconds"} for row in rows), rows
    assert 1e-3 >= rows[0]["lr"] > rows[1]["lr"] > rows[2]["lr"] > 0  # warm-up, then the cosine decay
    assert (out / "history.json").stat().st_size < 2048  # a row a line
    # Weights no epoch made (refitted with --epochs 0) do not keep the history of the ones they replace.
    train.main([*common, "--out", str(out), "--init-from", str(out), "--run-dir", str(tmp_path / "refit"),
                "--epochs", "0"])
    assert not (out / "history.json").exists()


def test_training_resumes_from_its_checkpoint(trained, data_root, caplog):
    run_dir = trained.parent.parent / "run"
    assert (run_dir / "last.pt").exists()
    caplog.set_level("INFO", logger="train")
    train.main(["classifier", "--dataset", "chest_xray", "--data-root", str(data_root), "--out", str(trained),
                "--run-dir", str(run_dir), "--epochs", "2", *TINY_ARGS])
    assert "resumed from" in caplog.text and "after epoch 1" in caplog.text
    assert "epoch 2:" in caplog.text and "epoch 1:" not in caplog.text


def test_a_corrupt_checkpoint_is_refused(tmp_path, data_root):
    (tmp_path / "run").mkdir()
    (tmp_path / "run/last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="corrupt"):
        train.main(["classifier", "--dataset", "chest_xray", "--data-root", str(data_root), "--out",
                    str(tmp_path / "w"), "--run-dir", str(tmp_path / "run"), "--epochs", "1", *TINY_ARGS])


def test_evaluate_reports_every_metric_and_writes_eval_json(trained, data_root, capsys):
    result = evaluate.main([str(trained), "--data-root", str(data_root), "--split", "test", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((trained / "eval.json").read_text()) == json.loads(json.dumps(result))
    assert result["n"] == 12 and result["class_counts"] == [6, 6]
    for at in ("at_0.5", "at_threshold"):
        assert set(result[at]) >= {"accuracy", "sensitivity", "specificity", "precision", "f1", "confusion_matrix"}
        assert sum(map(sum, result[at]["confusion_matrix"])) == 12
    assert 0 <= result["roc_auc"] <= 1 and 0 <= result["ece"] <= 1
    assert result["roc"]["fpr"][0] == 0 and result["roc"]["tpr"][-1] == 1
    assert "## Results" in (trained / "README.md").read_text() and "test (12 images)" in (trained / "README.md").read_text()


def test_predict_prints_one_json_line_per_file(trained, data_root, tmp_path, monkeypatch, capsys):
    import inference

    shutil.copytree(trained, tmp_path / "cxr-pneumonia")
    make_router("chest_xray").save_pretrained(tmp_path / "modality")
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(tmp_path))
    inference.load_model.cache_clear()
    good = sorted((data_root / "chest_xray/test/PNEUMONIA").glob("*.jpeg"))[:2]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    files = [str(good[0]), str(broken), str(good[1])]
    predict.main(["classify", *files, "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == files
    assert "error" in lines[1] and "broken.png" in lines[1]["error"]
    for line in (lines[0], lines[2]):
        assert line["model"] == "cxr-pneumonia" and line["modality"] == "chest_xray"
        assert line["label"] in ("NORMAL", "PNEUMONIA")
        assert abs(sum(line["probabilities"].values()) - 1) < 1e-3
    inference.load_model.cache_clear()


def test_predict_refuses_what_the_recognizer_does_not_route(weights_dir, data_root, capsys):
    make_router("other").save_pretrained(weights_dir / "modality")
    image = next((data_root / "chest_xray/test/NORMAL").glob("*.jpeg"))
    predict.main(["classify", str(image), "--json"])
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["modality"] == "other" and "probabilities" not in line and "label" not in line
    assert "does not look like a medical image" in line["error"]


def test_train_runs_data_parallel_under_torchrun(data_root, tmp_path):
    """Two CPU processes (gloo) for one epoch: both join, rank 0 writes the weights."""
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(torchrun), "--nproc-per-node", "2", "--master-port", "29531", "train.py", "classifier", "--dataset",
         "chest_xray", "--data-root", str(data_root), "--out", str(tmp_path / "w"), "--run-dir", str(tmp_path / "run"),
         "--epochs", "1", *TINY_ARGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    log = (tmp_path / "run/train.log").read_text()
    assert "rank 0 of 2" in log and "processes: 2" in (tmp_path / "w/README.md").read_text()


def test_medmnist_npz_splits_load(tmp_path):
    from data import load_split

    rng = np.random.default_rng(0)
    arrays = {f"{split}_{kind}": (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if kind == "images"
                                  else rng.integers(0, 2, (n, 1)))
              for split, n in [("train", 7), ("val", 3), ("test", 5)] for kind in ("images", "labels")}
    (tmp_path / "pneumoniamnist").mkdir()
    np.savez(tmp_path / "pneumoniamnist/pneumoniamnist_28.npz", **arrays)
    split = load_split("pneumoniamnist", tmp_path, "val", size=32)
    assert split.images.shape == (3, 1, 32, 32) and split.images.dtype == torch.uint8
    assert split.labels.tolist() == arrays["val_labels"].reshape(-1).tolist()
    assert split.class_names == ["NORMAL", "PNEUMONIA"]


def test_chest_xray_validation_never_shares_a_patient_with_training(data_root):
    from data import SPLITS

    train_files = SPLITS["chest_xray"](data_root, "train")[0]
    val_files = SPLITS["chest_xray"](data_root, "val")[0]
    patient = lambda f: Path(f).name.rsplit("-", 1)[0]  # noqa: E731  (fake file names are <patient>-<i>.jpeg)
    assert val_files and not {patient(f) for f in train_files} & {patient(f) for f in val_files}
    assert {Path(f).parent.name for f in val_files} == {"NORMAL", "PNEUMONIA"}


def test_reframed_validation_holds_each_image_whole_and_cropped(data_root):
    from data import Split, load_split, reframed

    val = load_split("chest_xray", data_root, "val", size=32)
    pooled = reframed(val, [1, 0.5])
    assert pooled.images.shape == (2 * len(val), *val.images.shape[1:]) and pooled.images.dtype == torch.uint8
    assert torch.equal(pooled.images[:len(val)], val.images)  # the whole image is unchanged
    assert torch.equal(pooled.labels, val.labels.repeat(2)) and pooled.files == val.files * 2
    assert "centre crops of 100%, 50% of its side" in pooled.description
    # A 50% centre crop of a left-to-right ramp spans the ramp's middle half, blown up to the full side.
    ramp = torch.linspace(0, 255, 64).round().to(torch.uint8).expand(1, 1, 64, 64)
    crop = reframed(Split(ramp, torch.tensor([0]), ["a"], ["f"], "ramp"), [0.5]).images[0, 0, 32].float()
    assert abs(crop[0] - 64) < 4 and abs(crop[-1] - 191) < 4 and (crop.diff() >= 0).all()


def test_val_crops_reach_model_selection_and_the_card(data_root, tmp_path):
    out = train.main(["classifier", "--dataset", "chest_xray", "--data-root", str(data_root), "--out",
                      str(tmp_path / "w"), "--run-dir", str(tmp_path / "run"), "--epochs", "1",
                      "--augment", "framing", "--val-crops", "1", "0.7", *TINY_ARGS])
    card = (out / "README.md").read_text()
    assert "centre crops of 100%, 70% of its side, pooled" in card and "random zoom (62-111%" in card


def test_framing_script_prints_a_row_per_crop_and_the_pooled_auc(trained, data_root, monkeypatch, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("framing", ROOT / "scripts/framing.py")
    framing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(framing)
    monkeypatch.setattr(sys, "argv", ["framing.py", str(trained), "--data-root", str(data_root), "--crops", "1", "0.6"])
    framing.main()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("|")[0].strip() for line in lines[2:4]] == ["100%", "60%"]
    pooled = lines[-1].split()
    assert lines[-1].startswith("pooled over these crops: ROC-AUC ") and 0 <= float(pooled[-3].rstrip(",")) <= 1
    assert pooled[-2] == "log-loss" and float(pooled[-1]) > 0


def test_segmenter_trains_evaluates_and_writes_masks(data_root, tmp_path, monkeypatch, capsys):
    import inference

    out = train.main(["unet", "--dataset", "kvasir_seg", "--data-root", str(data_root), "--out",
                      str(tmp_path / "weights/polyp-unet"), "--run-dir", str(tmp_path / "run"), "--epochs", "1",
                      "--image-size", "32", "--widths", "4", "8", "--channels", "3", "--batch-size", "8", "--threads", "1"])
    card = (out / "README.md").read_text()
    assert "mask threshold (best val Dice)" in card
    assert "trained from scratch" in card and "fine-tuning" not in card  # a residual encoder starts from nothing
    result = evaluate.main([str(out), "--data-root", str(data_root), "--split", "test", "--json"])
    capsys.readouterr()
    assert result["n"] == 4 and len(result["per_image_dice"]) == 4 and 0 <= result["dice"] <= 1
    assert 0 <= result["iou"] <= result["dice"] + 1e-9  # IoU never exceeds Dice

    make_router("endoscopy").save_pretrained(tmp_path / "weights/modality")
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(tmp_path / "weights"))
    inference.load_model.cache_clear()
    frame = data_root / "kvasir_seg/images/frame021.jpg"
    predict.main(["segment", str(frame), "--json", "--masks", str(tmp_path / "masks")])
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["file"] == str(frame) and isinstance(line["polyp_found"], bool)
    from PIL import Image
    assert Image.open(line["mask"]).size == Image.open(frame).size  # the mask has the frame's own size

    make_router("chest_xray").save_pretrained(tmp_path / "weights/modality")
    inference.load_model.cache_clear()
    predict.main(["segment", str(frame), "--json", "--masks", str(tmp_path / "masks")])
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert "looks like a chest X-ray" in line["error"] and "classify it instead" in line["error"]
    inference.load_model.cache_clear()


def test_epochs_0_keeps_the_weights_and_refits_the_flip_averaged_threshold(data_root, tmp_path):
    import models

    common = ["unet", "--dataset", "kvasir_seg", "--data-root", str(data_root), "--image-size", "32",
              "--widths", "4", "8", "--channels", "3", "--batch-size", "8", "--threads", "1"]
    first = train.main([*common, "--out", str(tmp_path / "first"), "--run-dir", str(tmp_path / "run1"), "--epochs", "1"])
    refit = train.main([*common, "--out", str(tmp_path / "refit"), "--run-dir", str(tmp_path / "run2"), "--epochs", "0",
                        "--init-from", str(first), "--flip-average"])
    before, after = models.load(first), models.load(refit)
    assert after.config.flip_average and not before.config.flip_average
    trained = {k: v for k, v in before.state_dict().items() if k != "threshold"}
    assert all(torch.equal(v, after.state_dict()[k]) for k, v in trained.items())  # no training step was taken
    assert "epochs run: 0" in (refit / "README.md").read_text()


def test_flip_average_is_the_mean_of_the_four_mirrored_views():
    from tests.conftest import tiny_model

    unet = tiny_model("unet", image_size=32, flip_average=True).eval()
    frame = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        logits = [unet(frame.flip(d)).flip(d) for d in [(), (-1,), (-2,), (-2, -1)]]
    assert torch.allclose(unet.predict(frame), torch.sigmoid(sum(logits) / 4), atol=1e-6)
    mirrored = unet.predict(frame.flip(-1)).flip(-1)
    assert torch.allclose(unet.predict(frame), mirrored, atol=1e-5)  # a mirrored frame gets the mirrored mask


def test_augment_moves_masks_with_their_images():
    from data import augment

    g = torch.Generator().manual_seed(0)
    images = torch.zeros(4, 3, 32, 32)
    images[:, :, 8:16, 8:20] = 1.0
    masks = images[:, :1].clone()
    warped, warped_masks = augment(images, g, masks=masks, flip=True, contrast=0, gamma=0)
    assert set(warped_masks.unique().tolist()) <= {0.0, 1.0}
    bright = warped[:, :1] > 0.5
    agreement = (bright == warped_masks.bool()).float().mean()
    assert agreement > 0.97


def test_init_from_copies_every_matching_tensor(trained, data_root, tmp_path, caplog):
    """With --epochs 0 no step is taken: what is saved is what was copied. The new network's second stage has a
    block more than the source's, which starts afresh; every other tensor must be the source's, bit for bit."""
    deeper = list(TINY_ARGS)
    deeper[TINY_ARGS.index("--depths") + 2] = "2"  # --depths 1 2: a second block in the second stage
    caplog.set_level("INFO", logger="train")
    out = train.main(["classifier", "--dataset", "chest_xray", "--data-root", str(data_root), "--out",
                      str(tmp_path / "w"), "--run-dir", str(tmp_path / "run"), "--epochs", "0",
                      "--init-from", str(trained), *deeper])
    source, started = models.load(trained).state_dict(), models.load(out).state_dict()
    fitted = {"temperature", "threshold"}  # refitted on validation, never copied
    shared = [name for name in started if name in source and name not in fitted]
    fresh = [name for name in started if name not in source]
    assert fresh and all(name.startswith("stages.1.1.") for name in fresh)  # the extra block only
    for name in shared:  # batch norm's statistics too: they are what the weights were trained with
        assert torch.equal(started[name], source[name]), name
    assert f"{len(shared)} of {len(started)} tensors copied" in caplog.text
    assert f"from {trained}" in (out / "README.md").read_text()


def test_ema_validates_and_saves_the_average_not_the_live_weights(data_root, tmp_path):
    """With decay 1 the average never leaves the starting weights: what is saved is then exactly the
    untrained network that `--epochs 0` writes, though an epoch of training ran."""
    common = ["classifier", "--dataset", "chest_xray", "--data-root", str(data_root), *TINY_ARGS]
    averaged = models.load(train.main([*common, "--out", str(tmp_path / "a"), "--run-dir", str(tmp_path / "ra"),
                                       "--epochs", "1", "--ema", "1.0"]))
    untrained = models.load(train.main([*common, "--out", str(tmp_path / "b"), "--run-dir", str(tmp_path / "rb"),
                                        "--epochs", "0"]))
    live = train.load_checkpoint(tmp_path / "ra/last.pt")["model"]  # where training went on from
    weights = "stem.0.weight"
    torch.testing.assert_close(averaged.state_dict()[weights], untrained.state_dict()[weights])
    assert not torch.allclose(live[weights], untrained.state_dict()[weights])
    assert "exponential moving average of the weights, decay 1.0" in (tmp_path / "a/README.md").read_text()
