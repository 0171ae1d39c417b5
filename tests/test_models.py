"""Every registered family: builds from a tiny config, predicts in shape, saves and loads strictly."""
import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import models
from models import WeightsError, base
from models.registry import register
from tests.conftest import TINY, tiny_model

ROOT = Path(__file__).resolve().parent.parent


def test_every_family_has_a_tiny_config():
    assert sorted(TINY) == models.names()


@pytest.mark.parametrize("family", models.names())
def test_round_trip_gives_the_same_outputs(family, tmp_path):
    model = tiny_model(family).eval()
    images = torch.rand(2, model.config.in_channels, 40, 40)
    before = model.predict(images)
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((tmp_path / "m/config.json").read_text())["family"] == family
    loaded = models.load(tmp_path / "m")
    assert type(loaded) is type(model) and not loaded.training
    torch.testing.assert_close(loaded.predict(images), before, atol=2e-3, rtol=0)  # parameters stored as float16


@pytest.mark.parametrize("family", models.names())
def test_hub_mixin_from_pretrained_is_strict(family, tmp_path):
    tiny_model(family).save_pretrained(tmp_path / "m")
    state = load_file(tmp_path / "m/model.safetensors")
    state.pop(next(iter(state)))
    save_file(state, tmp_path / "m/model.safetensors")
    with pytest.raises(WeightsError, match="do not fit"):
        models.get(family).from_pretrained(str(tmp_path / "m"))


def test_classifier_predicts_calibrated_probabilities():
    model = tiny_model("classifier").eval()
    p = model.predict(torch.rand(3, 3, 50, 70))  # any size, colour converted to the model's gray input
    assert p.shape == (3, 2)
    torch.testing.assert_close(p.sum(1), torch.ones(3))
    model.threshold.fill_(0.0)
    assert model.decide(p).tolist() == [1, 1, 1]


def test_per_image_norm_ignores_exposure():
    """A brighter, flatter copy of an X-ray gets the same answer: exposure carries no signal."""
    torch.manual_seed(0)
    images = torch.rand(2, 1, 32, 32) * 0.6 + 0.2
    exposed = images * 0.5 + 0.3
    normed = tiny_model("classifier", per_image_norm=True).eval()
    torch.testing.assert_close(normed.predict(exposed), normed.predict(images), atol=1e-4, rtol=0)
    plain = tiny_model("classifier").eval()
    assert not torch.allclose(plain.predict(exposed), plain.predict(images), atol=1e-4)


@pytest.fixture
def saved(tmp_path):
    tiny_model("classifier").save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def test_missing_key_is_refused(saved):
    state = load_file(saved / "model.safetensors")
    del state["head.3.weight"]
    save_file(state, saved / "model.safetensors")
    with pytest.raises(WeightsError, match="head.3.weight"):
        models.load(saved)


def test_extra_key_is_refused(saved):
    state = load_file(saved / "model.safetensors")
    state["backdoor.weight"] = torch.zeros(1)
    save_file(state, saved / "model.safetensors")
    with pytest.raises(WeightsError, match="backdoor.weight"):
        models.load(saved)


def test_wrong_shape_is_refused(saved):
    state = load_file(saved / "model.safetensors")
    state["head.3.weight"] = torch.zeros(5, 16)
    save_file(state, saved / "model.safetensors")
    with pytest.raises(WeightsError, match="size mismatch"):
        models.load(saved)


def test_a_pickle_renamed_safetensors_is_refused_without_unpickling(saved, tmp_path):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle
    (saved / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        models.load(saved)
    assert not marker.exists()


def test_config_of_another_family_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**config, "family": "no-such-family"}))
    with pytest.raises(WeightsError, match="unknown model family .no-such-family.; known families: .*classifier"):
        models.load(saved)
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="holds a 'classifier' model, not a 'vae' model"):
        models.load(saved, family="vae")


def test_unknown_config_setting_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**config, "layers": 50}))
    with pytest.raises(WeightsError, match="does not know: layers"):
        models.load(saved)


def test_not_a_folder_nor_a_repo_id(tmp_path):
    with pytest.raises(WeightsError, match="neither a weights folder nor a Hub repository id"):
        models.load(tmp_path / "nothing" / "here")


def test_registry_is_strict():
    with pytest.raises(ValueError, match="registered twice"):
        register("classifier")(type("Another", (), {}))
    with pytest.raises(KeyError, match="known families: .*classifier"):
        models.get("resnet-9000")


# -- an untrusted config.json is checked before anything is built ------------------------------------


def edit_config(folder, **settings):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **settings}))


@pytest.mark.parametrize("key, value", [
    ("widths", "abc"), ("widths", [8, 16.5]), ("image_size", -5), ("image_size", 32.0), ("in_channels", True),
    ("per_image_norm", 1), ("dropout", "0.2"), ("mean", float("nan")), ("class_names", ["NORMAL", 1]),
])
def test_a_setting_of_the_wrong_type_is_refused_naming_it(saved, key, value):
    edit_config(saved, **{key: value})
    with pytest.raises(WeightsError, match=f"'{key}' must be") as refused:
        models.load(saved)
    assert "\n" not in str(refused.value)


def test_an_int_where_a_float_is_expected_is_fine(saved):
    edit_config(saved, dropout=0)
    assert models.load(saved).config.dropout == 0


def test_a_config_too_big_is_refused_without_building_it(saved, monkeypatch):
    """A second stage 2,400 wide makes a ResNet of 52M parameters: counted on the meta device, never allocated."""
    built_on = []
    cls = models.get("classifier")
    original = cls.__init__

    def spy(self, config):
        built_on.append(torch.empty(0).device.type)  # the device tensors are made on inside the constructor
        original(self, config)

    monkeypatch.setattr(cls, "__init__", spy)
    edit_config(saved, widths=[8, 2400])
    with pytest.raises(WeightsError, match=r"of 52,\d{3},\d{3} parameters; MedLab loads at most 50,000,000"):
        models.load(saved)
    assert built_on == ["meta"]


@pytest.mark.parametrize("settings, message", [
    ({"depths": [1, 1000]}, "'depths' must be from 0 to 16, got 1000"),  # a meta build of one module per block: slow
    ({"image_size": 100_000}, "'image_size' must be from 8 to 1024, got 100000"),  # every image resized to it
    ({"widths": [8] * 17, "depths": [1] * 17}, "'widths' has 17 items; MedLab loads at most 16"),
    ({"class_names": [str(i) for i in range(1001)]}, "'class_names' has 1,001 items; MedLab loads at most 1000"),
], ids=["deep", "image size", "many stages", "many classes"])
def test_a_setting_out_of_range_is_refused_before_anything_is_built(saved, monkeypatch, settings, message):
    """Issue 25: the parameter count bounded the widths, not a build slowed by its number of blocks, nor image_size."""
    cls = models.get("classifier")
    monkeypatch.setattr(cls, "__init__", lambda *_: pytest.fail("built"))
    edit_config(saved, **settings)
    with pytest.raises(WeightsError, match=re.escape(message)) as refused:
        models.load(saved)
    assert "\n" not in str(refused.value)


def test_an_ensemble_of_too_many_models_is_refused(tmp_path):
    tiny_model("ensemble").save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m/config.json").read_text())
    config["members"] = [{**config, "members": config["members"] * 4}] * 2  # 2 ensembles of 8: 19 models
    (tmp_path / "m/config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=f"holds more than {base.MAX_MODELS} models, members' members included"):
        models.load(tmp_path / "m")


def test_a_config_its_family_cannot_build_is_refused_in_one_line(tmp_path):
    tiny_model("dcgan").save_pretrained(tmp_path / "m")
    edit_config(tmp_path / "m", image_size=17)  # a DCGAN's side is 4 * 2^len(widths)
    with pytest.raises(WeightsError, match=r"does not describe a 'dcgan' model that can be built \(ValueError: "
                                           r"image_size 17 must be") as refused:
        models.load(tmp_path / "m")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("edit, message", [
    (lambda m: {**m, "family": "resnet-9000"}, r"members\[1\]: unknown model family 'resnet-9000'"),
    (lambda m: {**m, "family": ["kmeans"]}, r"members\[1\]: \"family\" must be a family's name"),
    (lambda m: {k: v for k, v in m.items() if k != "family"}, r"can be built \(KeyError: 'family'\)"),
    (lambda m: {**m, "patch": "abc"}, r"members\[1\]: 'patch' must be int"),
    (lambda m: {**m, "layers": 3}, r"members\[1\] has settings a 'kmeans' model does not know: layers"),
    (lambda m: {**m, "class_names": ["a", "b"]}, r"can be built \(ValueError: every member must have"),
], ids=["unknown family", "family not a name", "no family", "wrong type", "unknown setting", "other classes"])
def test_a_bad_ensemble_member_is_refused_in_one_line(tmp_path, edit, message):
    tiny_model("ensemble").save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m/config.json").read_text())
    config["members"][1] = edit(config["members"][1])  # the k-means member
    (tmp_path / "m/config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=message) as refused:
        models.load(tmp_path / "m")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in (ROOT / "weights").glob("*/config.json")))
def test_every_shipped_config_passes_the_checks(folder):
    config = base.read_config(ROOT / "weights" / folder)
    cls = base.family_class(config.pop("family"), folder)
    base.check_settings(cls, config, folder)
    assert base.build(cls, config, folder).num_parameters < base.MAX_PARAMETERS / 8


SHIPPED = sorted(p.parent.name for p in (ROOT / "weights").glob("*/config.json"))


@pytest.mark.parametrize("folder", SHIPPED)
def test_every_shipped_model_loads_strictly_and_answers(folder):
    """What the app serves, loaded by the strict loader with every check (each tensor by name and shape, finite),
    in eval mode, then one small call of its family's kind: a renamed layer, a new setting whose default changes
    the network or a broken output range fails here, not in front of a class. Small inputs: all of them in about
    6 s on one thread."""
    model = models.load(ROOT / "weights" / folder)
    assert model.eval() is model and not any(module.training for module in model.modules())
    config, family, generator = model.config, model.family, torch.Generator().manual_seed(0)
    in_range = lambda x: bool(torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1)  # noqa: E731
    with torch.no_grad():
        if family in ("classifier", "efficientnet", "kmeans", "ensemble"):
            probabilities = model.predict(torch.rand(2, config.in_channels, 48, 40, generator=generator))
            assert probabilities.shape == (2, len(model.class_names)) and in_range(probabilities)
            torch.testing.assert_close(probabilities.sum(1), torch.ones(2))
        elif family == "unet":
            mask = model.predict(torch.rand(1, 3, 40, 48, generator=generator))
            assert mask.shape == (1, 1, 40, 48) and in_range(mask)
        elif family in ("srresnet", "srgan"):
            low = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=generator), size=(12, 12),
                                                  mode="bilinear")  # smooth: nothing for a network to invent
            high = model.predict(low)
            bicubic = torch.nn.functional.interpolate(low, scale_factor=config.scale, mode="bicubic").clamp(0, 1)
            # A restorer keeps a smooth image nearly as bicubic has it (mean error 0.012-0.023 here; with its colours
            # swapped, far more). Not a proof of training: an untrained network's small residual stays under 0.05.
            assert high.shape == (1, 3, 48, 48) and in_range(high) and (high - bicubic).abs().mean() < 0.05
        elif family == "vae":
            labels = [0, 1] if config.conditional else None
            images = model.sample(labels or 2, generator)
            assert images.shape == (2, config.in_channels, config.image_size, config.image_size) and in_range(images)
            # A VAE reconstructs what it generates (0.009-0.022 here): its encoder and decoder belong together.
            assert (model.predict(images, labels) - images).abs().mean() < 0.05
        elif family in ("dcgan", "cgan", "acgan"):
            images = model.sample(2 if family == "dcgan" else [0, 1], generator)
            assert images.shape == (2, config.in_channels, config.image_size, config.image_size) and in_range(images)
            assert images.std() > 0.1  # an image, not a flat field (0.23-0.32 here)
            assert model.predict(images).shape == (2, 1 + (len(model.class_names) if family == "acgan" else 0))
        elif family == "pixelda":
            assert model.predict(torch.rand(2, 3, 32, 32, generator=generator)).shape == (2, len(model.class_names))
            if config.adapt:
                translated = model.translate(torch.rand(2, 3, 32, 32, generator=generator), generator)
                assert translated.shape == (2, 3, config.image_size, config.image_size) and in_range(translated)
        else:
            pytest.fail(f"weights/{folder} is a {family!r} model, which this test has no call for: add one")


# -- weights --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_weights_with_nan_or_inf_are_refused_naming_the_tensor(saved, bad):
    state = load_file(saved / "model.safetensors")
    state["head.3.weight"][0, 0] = bad
    save_file(state, saved / "model.safetensors")
    with pytest.raises(WeightsError, match="NaN or infinite values in 'head.3.weight'"):
        models.load(saved)
