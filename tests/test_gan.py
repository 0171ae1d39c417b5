"""The GAN families (dcgan, cgan, acgan): seeded sampling, every loss, the ACGAN class head, DiffAugment."""
import pytest
import torch

import models
from models.gan import DIFF_AUGMENT, diff_augment
from models.gan_losses import LOSSES
from tests.conftest import tiny_model

FAMILIES = ("dcgan", "cgan", "acgan")


def request(model, n: int = 4):
    """What `sample` takes: labels for the conditional families, a count for DCGAN."""
    return torch.tensor([0, 1] * (n // 2)) if model.conditional else n


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_images(family):
    model = tiny_model(family).eval()
    first = model.sample(request(model), torch.Generator().manual_seed(7))
    again = model.sample(request(model), torch.Generator().manual_seed(7))
    other = model.sample(request(model), torch.Generator().manual_seed(8))
    assert first.shape == (4, 1, 16, 16) and first.min() >= 0 and first.max() <= 1
    torch.testing.assert_close(first, again, atol=0, rtol=0)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("family", FAMILIES)
def test_an_image_depends_on_its_own_latent_only(family):
    """In eval mode an image is a function of (z, label): the rest of the batch does not change it."""
    model = tiny_model(family).eval()
    z = model.noise(4, torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 1, 0]) if model.conditional else None
    batch = model.decode(z, labels)
    single = model.decode(z[2:3], labels[2:3] if labels is not None else None)
    torch.testing.assert_close(batch[2:3], single, atol=1e-6, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_generator_samples_the_same_images(family, tmp_path):
    model = tiny_model(family).eval()
    model.save_pretrained(tmp_path / "g")
    loaded = models.load(tmp_path / "g", family=family)
    torch.testing.assert_close(loaded.sample(request(model), torch.Generator().manual_seed(1)),
                               model.sample(request(model), torch.Generator().manual_seed(1)), atol=5e-3, rtol=0)


def test_noise_is_drawn_on_the_cpu_from_the_generator_and_truncation_holds():
    model = tiny_model("cgan")
    z = model.noise(500, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z, torch.randn(500, 8, generator=torch.Generator().manual_seed(0)))
    truncated = model.noise(500, torch.Generator().manual_seed(0), truncation=0.5)
    assert truncated.abs().max() <= 0.5 and truncated.std() > 0.2  # resampled, not clipped to the edge
    with pytest.raises(ValueError, match="positive"):
        model.noise(2, truncation=0)


def test_labels_by_name_and_clear_errors():
    model = tiny_model("acgan").eval()
    by_name = model.sample(["b", "a"], torch.Generator().manual_seed(3))
    by_index = model.sample(torch.tensor([1, 0]), torch.Generator().manual_seed(3))
    torch.testing.assert_close(by_name, by_index)
    with pytest.raises(ValueError, match="unknown class 'c'; this model knows a, b"):
        model.sample(["c"])
    with pytest.raises(ValueError, match="unknown class 5"):
        model.sample(torch.tensor([5]))
    with pytest.raises(ValueError, match="not a count"):
        model.sample(3)
    with pytest.raises(ValueError, match="unconditional"):
        tiny_model("dcgan").sample(torch.tensor([0]))


def test_config_is_checked():
    cls = models.get("cgan")
    with pytest.raises(ValueError, match="4 \\* 2\\^len\\(widths\\)"):
        cls(cls.Config(image_size=32, widths=[8, 4]))
    with pytest.raises(ValueError, match="unknown GAN loss"):
        cls(cls.Config(image_size=16, widths=[8, 4], loss="minimax"))
    with pytest.raises(ValueError, match="use discriminator_norm 'spectral'"):
        cls(cls.Config(image_size=16, widths=[8, 4], loss="wgan-gp", discriminator_norm="batch"))
    with pytest.raises(ValueError, match="DiffAugment"):
        cls(cls.Config(image_size=16, widths=[8, 4], diff_augment=["rotate"]))


def two_class_batch(n: int = 16, seed: int = 0):
    """Class 0 dark images, class 1 bright ones: a class any discriminator head can learn in a few steps."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = (0.2 + 0.6 * labels.view(n, 1, 1, 1) + 0.05 * torch.randn(n, 1, 16, 16, generator=g)).clamp(0, 1)
    return images, labels


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_loss_trains_every_family(family, loss):
    torch.manual_seed(0)
    model = tiny_model(family, loss=loss, diff_augment=list(DIFF_AUGMENT))
    optimizers = model.configure_optimizers(2e-4)
    assert [o.defaults["betas"] for o in optimizers] == [(0.5, 0.999)] * 2
    before = [p.detach().clone() for p in (model.generator.project[0].weight, next(model.discriminator.parameters()))]
    rng = torch.Generator().manual_seed(0)
    for step in range(3):
        logs = model.training_step((*two_class_batch(seed=step), rng), optimizers)
        assert logs and all(torch.isfinite(torch.tensor(v)) for v in logs.values()), logs
    after = [model.generator.project[0].weight, next(model.discriminator.parameters())]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))  # both players were updated
    assert ("gradient_penalty" in logs) == (loss == "wgan-gp")


def test_acgan_discriminator_learns_the_classes():
    torch.manual_seed(0)
    model = tiny_model("acgan")
    assert model.predict(torch.rand(3, 1, 16, 16)).shape == (3, 1 + 2)  # score, then class logits
    assert tiny_model("cgan").predict(torch.rand(3, 1, 16, 16)).shape == (3, 1)
    optimizers = model.configure_optimizers(2e-3)
    rng = torch.Generator().manual_seed(0)
    for step in range(40):
        logs = model.training_step((*two_class_batch(seed=step), rng), optimizers)
    assert logs["d_real_accuracy"] == 1.0
    images, labels = two_class_batch(seed=99)
    assert (model.eval().predict(images)[:, 1:].argmax(1) == labels).all()


def test_the_twin_classifier_learns_generated_classes_and_only_acgan_has_one():
    torch.manual_seed(0)
    model = tiny_model("acgan", twin_weight=1.0)
    assert tiny_model("acgan").discriminator.twin is None
    before = model.discriminator.twin.parametrizations.weight.original.detach().clone()
    optimizers = model.configure_optimizers(2e-3)
    rng = torch.Generator().manual_seed(0)
    losses = [model.training_step((*two_class_batch(seed=step), rng), optimizers)["d_twin_loss"] for step in range(30)]
    assert not torch.equal(before, model.discriminator.twin.parametrizations.weight.original)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[0] > 0
    with pytest.raises(ValueError, match="twin_weight and class_weight are ACGAN's"):
        tiny_model("cgan", twin_weight=0.5)
    with pytest.raises(ValueError, match="twin_weight and class_weight are ACGAN's"):
        tiny_model("dcgan", class_weight=2.0)


def test_diff_augment_keeps_shapes_and_gradients_and_follows_the_seed():
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    for policies in ([], ["color"], ["translation"], ["cutout"], list(DIFF_AUGMENT)):
        out = diff_augment(x, policies, torch.Generator().manual_seed(0))
        assert out.shape == x.shape
        torch.testing.assert_close(out, diff_augment(x, policies, torch.Generator().manual_seed(0)))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G learns through the augmentation
    ones = torch.ones(50, 1, 16, 16)
    cut = diff_augment(ones, ["cutout"], torch.Generator().manual_seed(0))
    assert ((cut == 0).flatten(1).float().mean(1) > 0).all()  # every image lost a square
    shifted = diff_augment(ones, ["translation"], torch.Generator().manual_seed(0))
    assert set(shifted.unique().tolist()) <= {0.0, 1.0}  # moved whole pixels, zero-padded


def test_minibatch_std_sees_a_collapsed_batch():
    from models.gan import minibatch_std

    varied, same = torch.randn(8, 3, 4, 4), torch.randn(1, 3, 4, 4).repeat(8, 1, 1, 1)
    assert minibatch_std(varied).shape == (8, 4, 4, 4)
    assert minibatch_std(same)[:, 3].max() < 1e-3 < minibatch_std(varied)[:, 3].min()


def test_train_then_evaluate_a_generator(data_root, tmp_path, monkeypatch):
    """train.py trains an ACGAN on the miniature chest X-rays; evaluate.py judges it with a tiny judge and
    writes GAN-test, Fréchet distances with their floors and diversity into eval.json and the card."""
    import json

    import evaluate
    import evaluators
    import tasks.generation
    import train

    weights = tmp_path / "weights"
    tiny_model("classifier", class_names=["NORMAL", "PNEUMONIA"]).save_pretrained(weights / "judge")
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(weights))
    monkeypatch.setitem(evaluators.EVALUATORS, "chest_xray", "judge")
    monkeypatch.setattr(tasks.generation, "gan_score", lambda model, split: ("none (no judge)", 0.0))
    out = train.main(["acgan", "--dataset", "chest_xray", "--data-root", str(data_root), "--out", str(weights / "g"),
                      "--run-dir", str(tmp_path / "run"), "--image-size", "16", "--widths", "8", "4", "--latent-dim", "8",
                      "--epochs", "2", "--epoch-size", "16", "--batch-size", "8", "--loss", "least-squares",
                      "--diff-augment", "color,translation", "--twin-weight", "0.5", "--class-weight", "2",
                      "--threads", "1"])
    config = json.loads((out / "config.json").read_text())
    assert config["loss"] == "least-squares" and config["diff_augment"] == ["color", "translation"]
    assert config["class_weight"] == 2 and config["twin_weight"] == 0.5
    card = (out / "README.md").read_text()
    assert "twin classifier: TAC-GAN" in card and "class weight: 2.0 x the class cross-entropy" in card
    monkeypatch.setattr(evaluate, "CAS_RECIPE", dict(widths=[4, 8], depths=[1, 1], epochs=1, per_class=8, batch=8, lr=1e-3))
    result = evaluate.main(["g", "--data-root", str(data_root), "--per-class", "6", "--cas", "--threads", "1"])
    assert result["cas"]["n_train"] == 16 and result["cas"]["n_test"] == 12
    assert 0 <= result["cas"]["accuracy"] <= 1 and 0 <= result["cas"]["real_accuracy"] <= 1
    assert set(result["gan_test"]["per_class"]) == {"NORMAL", "PNEUMONIA"}
    assert 0 <= result["judge"]["accuracy_on_real"] <= 1
    for name in ("NORMAL", "PNEUMONIA"):
        fid = result["frechet"][name]
        assert fid["generated_vs_real"] >= 0 and fid["floor_real_vs_real"] >= 0 and fid["n_each"] == 3
        assert 0 < result["diversity"][name]["real"] <= 2
    saved = json.loads((out / "eval.json").read_text())
    assert saved["gan_test"] == result["gan_test"]
    card = (out / "README.md").read_text()
    assert "GAN-test" in card and "last epoch" in card and "(CAS)" in card
    # Each split reads its own generated images: a generator chosen on val never saw test's. The
    # miniature's val split is too small for a Fréchet distance, and says so; train takes the same path.
    with pytest.raises(SystemExit, match="too few for a Fréchet distance"):
        evaluate.main(["g", "--data-root", str(data_root), "--per-class", "6", "--split", "val", "--no-write"])
    assert len(set(evaluators.GENERATOR_SEEDS.values())) == 3 and result["seed"] == evaluators.GENERATOR_SEEDS["test"]
    other = evaluate.main(["g", "--data-root", str(data_root), "--per-class", "6", "--split", "train", "--no-write",
                           "--threads", "1"])
    assert other["seed"] == 2 and "seed 2" in other["protocol"]
