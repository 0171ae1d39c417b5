"""The ensemble family: the mean of its members' calibrated probabilities, built by train.py from
trained member folders, saved in one folder, explained by the mean of its members' Grad-CAMs."""
import pytest
import torch

import evaluate
import models
import saliency
import train
from tests.conftest import TINY, tiny_model


def test_an_ensemble_gives_the_mean_of_its_members_calibrated_probabilities():
    ensemble = tiny_model("ensemble").eval()
    for member, temperature in zip(ensemble.members, (2.0, 0.5)):
        member.temperature.fill_(temperature)
    images = torch.rand(3, 1, 40, 40)
    expected = torch.stack([m.predict(images) for m in ensemble.members]).mean(0)
    torch.testing.assert_close(ensemble.predict(images), expected)
    ensemble.temperature.fill_(3.0)  # its own temperature softens the mean, keeping the order
    softer = ensemble.predict(images)
    assert torch.equal(softer[:, 1].argsort(), expected[:, 1].argsort())
    assert float((softer - 0.5).abs().max()) < float((expected - 0.5).abs().max())


def test_predict_with_members_gives_predict_and_each_members_answer():
    ensemble = tiny_model("ensemble").eval()
    ensemble.temperature.fill_(1.7)
    images = torch.rand(3, 1, 40, 40)
    probabilities, members = ensemble.predict_with_members(images)
    torch.testing.assert_close(probabilities, ensemble.predict(images))
    torch.testing.assert_close(members, torch.stack([m.predict(images) for m in ensemble.members]))
    one = ensemble.members[0]  # a single network answers the same question: its answer, and no members
    alone, none = one.predict_with_members(images)
    assert none is None and torch.equal(alone, one.predict(images))


def test_an_ensemble_refuses_members_of_other_classes_or_families():
    members = [dict(m) for m in TINY["ensemble"]["members"]]
    members[1]["class_names"] = ["CT_NonCOVID", "CT_COVID"]
    with pytest.raises(ValueError, match="ensemble's classes"):
        tiny_model("ensemble", members=members)
    with pytest.raises(ValueError, match="not one"):
        tiny_model("ensemble", members=[dict(family="unet", image_size=32, widths=[4, 8, 16])])
    with pytest.raises(ValueError, match="at least one member"):
        tiny_model("ensemble", members=[])


def test_grad_cam_of_an_ensemble_is_the_mean_of_its_members_maps():
    ensemble = tiny_model("ensemble").eval()
    images = torch.rand(2, 1, 40, 40)
    heat = saliency.grad_cam(ensemble, images, target=1)
    maps = torch.stack([saliency.grad_cam(m, images, target=1) for m in ensemble.members]).mean(0)
    assert heat.shape == (2, 40, 40) and float(heat.max()) == pytest.approx(1.0)
    torch.testing.assert_close(heat, maps / maps.flatten(1).max(1).values.view(-1, 1, 1))


def test_train_builds_an_ensemble_from_trained_members(data_root, tmp_path):
    common = ["--dataset", "chest_xray", "--data-root", str(data_root), "--threads", "1", "--batch-size", "8"]
    cnn = train.main(["classifier", *common, "--out", str(tmp_path / "cnn"), "--run-dir", str(tmp_path / "r1"),
                      "--epochs", "1", "--image-size", "32", "--widths", "8", "16", "--depths", "1", "1"])
    kmeans = train.main(["kmeans", *common, "--out", str(tmp_path / "km"), "--run-dir", str(tmp_path / "r2"),
                         "--epochs", "1", "--image-size", "24"])
    out = train.main(["ensemble", *common, "--members", str(cnn), str(kmeans), "--out", str(tmp_path / "ens"),
                      "--run-dir", str(tmp_path / "r3")])
    ensemble = models.load(out)
    assert ensemble.config.image_size == 32 and [m.family for m in ensemble.members] == ["classifier", "kmeans"]
    for member, folder in zip(ensemble.members, (cnn, kmeans)):  # the members' own weights, untouched
        for name, tensor in models.load(folder).state_dict().items():
            torch.testing.assert_close(member.state_dict()[name], tensor)
    card = (out / "README.md").read_text()
    assert "epochs run: 0" in card and "learning rate" not in card  # nothing was trained here
    assert "train.py classifier" in card and "train.py kmeans" in card  # how to retrain each member
    assert "Youden" in card  # its own threshold, fitted on val

    report = evaluate.main([str(out), "--data-root", str(data_root), "--split", "test", "--no-write"])
    assert 0 <= report["roc_auc"] <= 1


def test_train_needs_two_members_and_no_init_from(data_root, tmp_path, capsys):
    common = ["ensemble", "--dataset", "chest_xray", "--data-root", str(data_root), "--out", str(tmp_path / "e")]
    with pytest.raises(SystemExit, match="two or more"):
        train.main([*common, "--members", str(tmp_path / "only-one")])
    with pytest.raises(SystemExit):
        train.main([*common, "--members", "a", "b", "--init-from", "a"])
    assert "--init-from is for a family that trains" in capsys.readouterr().err


def test_init_from_an_ensemble_starts_from_its_first_member_of_the_family(tmp_path):
    """The CT classifier starts from the chest X-ray model, which may be an ensemble: its first ResNet."""
    tiny_model("ensemble").save_pretrained(tmp_path / "ens")
    ensemble = models.load(tmp_path / "ens")
    resnet = tiny_model("classifier", class_names=["CT_NonCOVID", "CT_COVID"])
    assert train.initialise_from(resnet, str(tmp_path / "ens")).endswith("tensors copied")
    for name, tensor in ensemble.members[0].state_dict().items():
        if not name.startswith("head") and name not in ("temperature", "threshold"):
            torch.testing.assert_close(resnet.state_dict()[name], tensor)
    with pytest.raises(SystemExit, match="holds a 'ensemble' model"):
        train.initialise_from(tiny_model("unet"), str(tmp_path / "ens"))
