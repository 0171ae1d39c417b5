"""The VAE family and latent.py: shapes, exact interpolation end points, seeded determinism, every
likelihood, the KL warm-up, GIFs, projections, and train.py + evaluate.py end to end on tiny data."""
import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import evaluate
import latent
import models
import train
from models.vae import RECONSTRUCTIONS, VAE, VAEConfig
from tests.conftest import tiny_model

VARIANTS = {
    "endovae": {},
    "residual": dict(architecture="residual", blocks=[0, 1]),
    "conditional": dict(conditional=True, class_names=["a", "b", "c"]),
}


def labels_for(model, n):
    return torch.arange(n) % len(model.class_names) if model.config.conditional else None


@pytest.mark.parametrize("variant", VARIANTS)
def test_encode_and_decode_shapes(variant):
    model = tiny_model("vae", **VARIANTS[variant]).eval()
    images = torch.rand(5, 3, 40, 24)  # any size: resized to the model's
    labels = labels_for(model, 5)
    mu, logvar = model.encode(images, labels)
    assert mu.shape == logvar.shape == (5, 2)
    decoded = model.decode(mu, labels)
    assert decoded.shape == (5, 3, 16, 16) and decoded.min() >= 0 and decoded.max() <= 1
    assert model.noise(7).shape == (7, 2)
    assert model.sample(4).shape == (4, 3, 16, 16)


def test_the_endovae_architecture_is_the_courseworks():
    """Encoder convolutions 16-32-32-64-128-256, a 256-unit dense layer, mu and log-variance of 6."""
    model = VAE(VAEConfig())
    convs = [m for m in model.encoder.convs.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 32, 64, 128, 256]
    assert model.encoder.dense[0].out_features == 256
    assert model.encoder.mu.out_features == model.encoder.logvar.out_features == 6
    assert model.decode(torch.zeros(1, 6)).shape == (1, 3, 96, 96)


def test_a_conditional_vae_needs_labels_and_says_so():
    model = tiny_model("vae", **VARIANTS["conditional"]).eval()
    with pytest.raises(ValueError, match="conditional VAE: pass labels"):
        model.decode(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="class indices 0 to 2"):
        model.decode(torch.zeros(2, 2), torch.tensor([0, 3]))
    # an int n cycles through the classes; a list draws the classes asked for
    assert model.sample([2, 2, 0]).shape == (3, 3, 16, 16)


def test_the_class_changes_what_a_conditional_vae_decodes():
    torch.manual_seed(0)  # not whatever state the tests before left: some random decoders saturate alike
    model = tiny_model("vae", **VARIANTS["conditional"]).eval()
    z = torch.zeros(1, 2)
    assert not torch.allclose(model.decode(z, [0]), model.decode(z, [1]))


@pytest.mark.parametrize("variant", VARIANTS)
def test_sampling_with_a_seed_is_deterministic(variant):
    model = tiny_model("vae", **VARIANTS[variant]).eval()
    first = model.sample(6, generator=torch.Generator().manual_seed(3))
    again = model.sample(6, generator=torch.Generator().manual_seed(3))
    other = model.sample(6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(first, again) and not torch.allclose(first, other)
    assert torch.equal(latent.seed_code(model, 3), latent.seed_code(model, 3))


def test_predict_is_deterministic_reconstruction():
    model = tiny_model("vae").eval()
    images = torch.rand(2, 3, 16, 16)
    assert torch.equal(model.predict(images), model.predict(images))


@pytest.mark.parametrize("method", latent.METHODS)
@pytest.mark.parametrize("frames", [2, 3, 9])
def test_interpolation_ends_exactly_at_the_inputs_codes(method, frames):
    a, b = torch.randn(6, generator=torch.Generator().manual_seed(0)), torch.randn(6, generator=torch.Generator().manual_seed(1))
    codes = latent.interpolate(a, b, frames, method)
    assert codes.shape == (frames, 6)
    assert torch.equal(codes[0], a) and torch.equal(codes[-1], b)


def test_interpolation_through_the_encoder_starts_and_ends_at_the_images_codes():
    model = tiny_model("vae").eval()
    images = torch.rand(2, 3, 16, 16)
    mu, _ = model.encode(images)
    frames = latent.walk(model, mu[0], mu[1], 5, "linear")
    torch.testing.assert_close(frames[0], model.decode(mu[:1])[0])
    torch.testing.assert_close(frames[-1], model.decode(mu[1:])[0])


def test_linear_is_a_straight_line_and_spherical_keeps_the_radius():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    torch.testing.assert_close(latent.interpolate(a, b, 3, "linear")[1], torch.tensor([1.5, 1.5]))
    middle = latent.interpolate(a, b, 3, "spherical")[1]
    torch.testing.assert_close(middle, torch.tensor([3 / math.sqrt(2), 3 / math.sqrt(2)]))
    # parallel codes: the arc is the line
    torch.testing.assert_close(latent.interpolate(a, 2 * a, 3, "spherical")[1], torch.tensor([4.5, 0.0]))


def test_interpolation_refuses_bad_requests():
    a = torch.zeros(4)
    with pytest.raises(ValueError, match="at least 2 frames"):
        latent.interpolate(a, a, 1)
    with pytest.raises(ValueError, match="method must be one of"):
        latent.interpolate(a, a, 5, "cubic")
    with pytest.raises(ValueError, match="differ in size"):
        latent.interpolate(a, torch.zeros(3), 5)


@pytest.mark.parametrize("reconstruction", RECONSTRUCTIONS)
def test_every_likelihood_prefers_the_right_image_and_trains(reconstruction):
    torch.manual_seed(0)
    model = tiny_model("vae", reconstruction=reconstruction)
    x = torch.rand(4, 3, 16, 16).round()  # binary, so a Bernoulli can be near-perfect too
    right, wrong = torch.logit(x.clamp(0.02, 0.98)), torch.logit((1 - x).clamp(0.02, 0.98))
    assert (model.nll(right, x) < model.nll(wrong, x)).all()
    optimizers = model.configure_optimizers(3e-3)
    generator = torch.Generator().manual_seed(0)
    first = model.training_step((x, None, generator), optimizers)["loss"]
    for _ in range(30):
        last = model.training_step((x, None, generator), optimizers)["loss"]
    assert math.isfinite(last) and last < first


def test_mse_is_the_summed_squared_error_plus_a_constant():
    model = tiny_model("vae", reconstruction="mse")
    x, logits = torch.rand(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    pixels = 3 * 16 * 16
    expected = 0.5 * ((x - torch.sigmoid(logits)) ** 2).flatten(1).sum(1) + pixels * 0.5 * math.log(2 * math.pi)
    torch.testing.assert_close(model.nll(logits, x), expected)


def test_the_gaussian_likelihood_fits_its_scale_in_training():
    model = tiny_model("vae", reconstruction="gaussian")
    optimizers = model.configure_optimizers(1e-3)
    x = torch.rand(8, 3, 16, 16)
    for _ in range(20):
        model.training_step((x, None, None), optimizers)
    assert (model.log_scale < -0.5).all()  # from sigma 1 towards the reconstruction error (~0.3 here)


def test_ssim_weight_adds_to_the_loss():
    x = torch.rand(2, 3, 16, 16)
    plain, with_ssim = tiny_model("vae"), tiny_model("vae", ssim_weight=1.0)
    with_ssim.load_state_dict(plain.state_dict())
    a = plain.training_step((x, None, torch.Generator().manual_seed(0)), plain.configure_optimizers(0.0))
    b = with_ssim.training_step((x, None, torch.Generator().manual_seed(0)), with_ssim.configure_optimizers(0.0))
    assert b["loss"] > a["loss"] and b["nll"] == pytest.approx(a["nll"])


def test_the_kl_weight_warms_up_linearly_to_beta():
    model = tiny_model("vae", beta=2.0, kl_warmup_steps=4)
    optimizers = model.configure_optimizers(1e-3)
    weights = [model.training_step((torch.rand(2, 3, 16, 16), None, None), optimizers)["kl_weight"] for _ in range(6)]
    assert weights == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]


def test_kl_and_elbo_are_in_nats():
    assert float(VAE.kl(torch.zeros(1, 3), torch.zeros(1, 3))) == 0.0
    torch.testing.assert_close(VAE.kl(torch.ones(1, 2), torch.zeros(1, 2)), torch.tensor([1.0]))
    model = tiny_model("vae").eval()
    assert model.elbo(torch.rand(3, 3, 16, 16)).shape == (3,)


def test_gif_has_every_frame_and_loops():
    frames = torch.rand(4, 3, 8, 8)
    gif = Image.open(io.BytesIO(latent.gif_bytes(frames, scale=2)))
    assert gif.format == "GIF" and gif.n_frames == 6 and gif.size == (16, 16)  # 4 forth, 2 back
    assert gif.info.get("loop") == 0
    assert latent.strip(frames).shape == (8, 4 * 8 + 3 * 2, 3)
    assert latent.strip(torch.rand(3, 1, 8, 8)).shape == (8, 28)


def test_manifold_grid_of_a_2d_latent():
    model = tiny_model("vae").eval()
    assert latent.grid(model, steps=3).shape == (3, 48, 48)
    with pytest.raises(ValueError, match="2-D latent"):
        latent.grid(tiny_model("vae", latent_dim=3).eval())


def test_pca_orders_by_spread_and_leaves_2d_codes_alone():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(200, 5)) * np.array([5.0, 0.1, 2.0, 0.1, 0.1])
    projected, mean, components = latent.pca(codes)
    assert projected.shape == (200, 2) and components.shape == (2, 5)
    assert projected[:, 0].std() > projected[:, 1].std() > 1.0
    assert abs(components[0, 0]) > 0.99 and abs(components[1, 2]) > 0.99
    two = rng.normal(size=(10, 2))
    np.testing.assert_allclose(latent.pca(two)[0], two)


def test_latent_map_round_trip_never_pickles(tmp_path):
    latent.save_map(tmp_path, codes=np.ones((3, 2)), labels=np.array([0, 1, 1]), class_names=["x", "y"],
                    description="three", thumbnails=np.zeros((3, 4, 4), np.uint8))
    found = latent.load_map(tmp_path)
    assert found["class_names"] == ["x", "y"] and found["codes"].shape == (3, 2) and found["thumbnails"].shape == (3, 4, 4)
    assert latent.load_map(tmp_path / "nothing") is None


def test_train_and_evaluate_a_vae_end_to_end(data_root, tmp_path):
    out = train.main(["vae", "--dataset", "kvasir_seg", "--data-root", str(data_root), "--out", str(tmp_path / "w"),
                      "--run-dir", str(tmp_path / "run"), "--epochs", "2", "--image-size", "16", "--channels", "3",
                      "--widths", "4", "8", "--strides", "2", "2", "--dense", "16", "--latent-dim", "3",
                      "--kl-warmup", "1", "--batch-size", "8", "--threads", "1"])
    model = models.load(out)
    assert model.family == "vae" and model.config.latent_dim == 3 and int(model.steps) == 6  # 2 epochs of 3 steps
    assert model.config.kl_warmup_steps == 3
    result = evaluate.main([str(out), "--data-root", str(data_root), "--split", "test", "--json"])
    assert result["n"] == 4 and 0 < result["ssim"] <= 1 and result["psnr"] > 5 and result["elbo"] < 0
    assert json.loads((out / "eval.json").read_text())["psnr"] == result["psnr"]
    found = latent.load_map(out)
    assert found["codes"].shape == (4, 3) and "thumbnails" not in found  # Kvasir images are not ours to ship
    assert found["values"].shape == (4,)
    assert "PSNR" in (out / "README.md").read_text()


@pytest.fixture
def vae_folder(tmp_path):
    torch.manual_seed(0)
    folder = tmp_path / "tiny-vae"
    tiny_model("vae").save_pretrained(folder)
    for i in range(2):
        Image.fromarray((np.random.default_rng(i).random((20, 20, 3)) * 255).astype(np.uint8)).save(tmp_path / f"im{i}.png")
    return folder


def test_predict_encode_decode_interpolate(vae_folder, tmp_path, capsys):
    import predict

    files = [str(tmp_path / "im0.png"), str(tmp_path / "im1.png"), str(tmp_path / "missing.png")]
    predict.main(["encode", *files, "--model", str(vae_folder), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines[0]["mu"]) == 2 and len(lines[1]["logvar"]) == 2 and "error" in lines[2]

    predict.main(["decode", "--model", str(vae_folder), "--code", "0.5", "-1", "--out", str(tmp_path / "d"), "--json"])
    line = json.loads(capsys.readouterr().out)
    assert Image.open(line["output"]).size == (16, 16)
    with pytest.raises(SystemExit, match="needs 2 numbers"):
        predict.main(["decode", "--model", str(vae_folder), "--code", "1", "--out", str(tmp_path / "d")])

    predict.main(["interpolate", "--model", str(vae_folder), "--images", *files[:2], "--frames", "4", "--method",
                  "linear", "--format", "both", "--out", str(tmp_path / "i"), "--json"])
    line = json.loads(capsys.readouterr().out)
    assert line["start"] == lines[0]["mu"] and line["end"] == lines[1]["mu"]  # the ends are the images' codes
    assert len(line["written"]) == 5 and Image.open(line["written"][0]).format == "GIF"  # + 4 frames
    with pytest.raises(SystemExit, match="--seeds A B or as --images"):
        predict.main(["interpolate", "--model", str(vae_folder), "--out", str(tmp_path / "i")])
    with pytest.raises(SystemExit, match="cannot|not an image|no such|does not exist|missing"):
        predict.main(["interpolate", "--model", str(vae_folder), "--images", files[0], files[2], "--out", str(tmp_path / "i")])
    with pytest.raises(SystemExit, match="not conditional"):
        predict.main(["decode", "--model", str(vae_folder), "--label", "1", "--out", str(tmp_path / "d")])


def test_the_float32_ssim_of_the_loss_is_metrics_ssim():
    from metrics import ssim
    from models.vae import ssim_loss_term

    a, b = torch.rand(2, 3, 24, 24), torch.rand(2, 3, 24, 24)
    torch.testing.assert_close(ssim_loss_term(a, b), ssim(a, b).float(), atol=1e-5, rtol=0)


def test_a_conditional_vae_is_judged_on_other_samples_for_val_than_for_test(data_root, tmp_path, monkeypatch):
    """evaluate.py's GAN-test of a conditional VAE draws its samples from a seed that depends on the split, as a
    generator's do: a VAE chosen on validation never saw the samples its test figure is read from."""
    import evaluators

    weights = tmp_path / "weights"
    tiny_model("classifier", class_names=["NORMAL", "PNEUMONIA"]).save_pretrained(weights / "judge")
    torch.manual_seed(0)
    tiny_model("vae", conditional=True, class_names=["NORMAL", "PNEUMONIA"], in_channels=1).save_pretrained(weights / "cvae")
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(weights))
    monkeypatch.setitem(evaluators.EVALUATORS, "chest_xray", "judge")
    drawn, sample = [], VAE.sample

    def recording_sample(self, labels, generator=None):
        drawn.append(generator.initial_seed())
        return sample(self, labels, generator)

    monkeypatch.setattr(VAE, "sample", recording_sample)
    reports = {split: evaluate.main([str(weights / "cvae"), "--data-root", str(data_root), "--dataset", "chest_xray",
                                     "--split", split, "--no-write", "--threads", "1"])
               for split in ("test", "val")}
    assert drawn == [0, 1, 1000, 1001]  # 500 samples per class, two classes: two seeds per split
    assert "seeds 0, 1, ..." in reports["test"]["protocol"] and "seeds 1000, 1001, ..." in reports["val"]["protocol"]
    assert set(reports["val"]["gan_test"]["per_class"]) == {"NORMAL", "PNEUMONIA"}
