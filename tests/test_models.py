"""Every registered family: builds from a tiny config, predicts in shape, saves and loads strictly."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import models
from models import WeightsError
from models.registry import register
from tests.conftest import TINY, tiny_model


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
