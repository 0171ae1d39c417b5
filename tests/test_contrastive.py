"""Contrastive pretraining (models/contrastive.py): the NT-Xent loss on known answers, the two views,
the blur augmentation it relies on, and a classifier started from the pretrained body."""
from types import SimpleNamespace

import torch
import torch.nn.functional as F

import metrics
import models
import train
from data import Split, augment
from models.contrastive import nt_xent
from tasks.classification import contrastive_batch
from tests.conftest import tiny_model

STILL = dict(rotate=0.0, scale=(1.0, 1.0), shift=0.0, contrast=0.0, gamma=0.0)  # no geometry, no intensity change


def test_nt_xent_is_low_when_each_view_finds_its_twin_and_high_when_it_cannot():
    images = torch.eye(8)[:4]  # four orthogonal unit vectors, each seen twice
    loss, accuracy = nt_xent(torch.cat([images, images]), temperature=0.1)
    assert float(accuracy) == 1.0 and float(loss) < 0.01
    same = F.normalize(torch.ones(8, 8), dim=1)  # every view alike: its twin is one of 7 equals
    loss, _ = nt_xent(same, temperature=0.1)
    torch.testing.assert_close(loss, torch.log(torch.tensor(7.0)))


def test_training_pulls_twin_views_together():
    """Smooth random images, each seen twice under fresh noise: after a few steps each view picks its twin."""
    torch.manual_seed(0)
    model = tiny_model("contrastive").train()
    (optimizer,) = model.configure_optimizers(3e-3)
    images = F.interpolate(torch.rand(16, 1, 4, 4), size=32, mode="bilinear")
    generator = torch.Generator().manual_seed(0)

    def step():
        views = [augment(images, generator, noise=0.1, **STILL) for _ in range(2)]
        return model.training_step(views, [optimizer])

    first = step()
    last = [step() for _ in range(30)][-1]
    assert first["twin_accuracy"] < 0.5 and last["twin_accuracy"] > 0.9 and last["loss"] < 0.5 * first["loss"]


def test_the_two_views_differ_and_follow_the_seed():
    images = torch.rand(6, 1, 32, 32)
    split = Split(images=(images * 255).to(torch.uint8), labels=torch.zeros(6, dtype=torch.long),
                  class_names=["a", "b"], files=[], description="")
    args = SimpleNamespace(augment="contrastive")
    index = torch.arange(6)
    first, second = contrastive_batch(split, index, torch.Generator().manual_seed(0), args)
    again = contrastive_batch(split, index, torch.Generator().manual_seed(0), args)
    assert first.shape == second.shape == (6, 1, 32, 32) and not torch.allclose(first, second)
    assert torch.equal(first, again[0]) and torch.equal(second, again[1])


def test_blur_softens_each_image_by_its_own_amount():
    images = (torch.rand(32, 1, 48, 48) > 0.5).float()  # sharp black and white noise
    out = augment(images, torch.Generator().manual_seed(0), blur=2.0, **STILL)
    before, after = metrics.sharpness(images), metrics.sharpness(out)
    assert (after <= before + 1e-4).all() and after.mean() < 0.7 * before.mean()
    assert after.std() > 0.1 * after.mean()  # a sigma per image, not one for the batch
    torch.testing.assert_close(out.mean((1, 2, 3)), images.mean((1, 2, 3)), atol=0.02, rtol=0)  # brightness kept


def test_a_classifier_starts_from_the_pretrained_body(data_root, tmp_path, caplog):
    tiny = ["--image-size", "32", "--widths", "8", "16", "--depths", "1", "1", "--batch-size", "8", "--threads", "1"]
    common = ["--dataset", "chest_xray", "--data-root", str(data_root), "--epochs", "1", *tiny]
    pretrained = train.main(["contrastive", *common, "--augment", "contrastive", "--out", str(tmp_path / "ssl"),
                             "--run-dir", str(tmp_path / "run-ssl")])
    card = (pretrained / "README.md").read_text()
    assert "labels unused" in card and "twin accuracy" in card and "--init-from" in card
    caplog.set_level("INFO", logger="train")
    classifier = models.load(train.main(["classifier", *common, "--out", str(tmp_path / "clf"), "--run-dir",
                                         str(tmp_path / "run-clf"), "--init-from", str(pretrained), "--lr", "0"]))
    body = models.load(pretrained)
    assert "tensors copied" in caplog.text
    own = dict(classifier.named_parameters())
    body_parameters = [(name, p) for name, p in body.named_parameters() if name.startswith(("stem.", "stages."))]
    assert len(body_parameters) == len([name for name in own if not name.startswith("head.")])
    for name, parameter in body_parameters:  # lr 0: the weights as they came (batch norm's statistics do move)
        torch.testing.assert_close(own[name], parameter, msg=name)
