"""Super-resolution: every scale, tiled = untiled, the size limit, each kind of input, the metrics
against values worked out by hand, and train -> evaluate -> predict on a miniature data root."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import evaluate
import metrics
import models
import predict
import superres
import train
import weights_dir
from conftest import tiny_model
from degradations import PROTOCOL
from images import LoadedImage, read_image
from models.base import read_config
from models.srresnet import dihedral, reach


def loaded(pixels: np.ndarray, name: str = "test.png", bit_depth: int = 8, info=None) -> LoadedImage:
    return LoadedImage(pixels=pixels.astype(np.float32), name=name, format="PNG", grayscale=pixels.ndim == 2,
                       bit_depth=bit_depth, info=info or {})


# -- the networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["srresnet", "srgan"])
@pytest.mark.parametrize("scale", [2, 4])
def test_every_scale_gives_scale_times_the_size_in_range(family, scale):
    model = tiny_model(family, scale=scale).eval()
    out = model.predict(torch.rand(2, 3, 21, 34))  # odd sizes, not a multiple of the tile
    assert out.shape == (2, 3, 21 * scale, 34 * scale)
    assert 0 <= out.min() and out.max() <= 1


def test_unsupported_scale_is_refused():
    with pytest.raises(ValueError, match="scale must be one of"):
        tiny_model("srresnet", scale=3)


@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_equals_one_pass(scale):
    """Overlap at least the network's reach: tiles reproduce the untiled image exactly (no seams)."""
    torch.manual_seed(0)
    model = tiny_model("srresnet", scale=scale, tile=12, overlap=10).eval()
    images = torch.rand(1, 3, 30, 41)
    with torch.no_grad():
        whole = model.generator(images).clamp(0, 1)
    calls = []
    tiled = model.predict(images, progress=lambda done, total: calls.append((done, total)))
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)
    assert calls[-1] == (12, 12)  # 3 rows x 4 columns of 12-px tiles


def test_tiles_are_split_evenly():
    from models.srresnet import even_splits

    assert even_splits(330, 320) == [(0, 165), (165, 330)]  # not 320 + a 10-pixel sliver
    assert even_splits(320, 320) == [(0, 320)] and even_splits(7, 320) == [(0, 7)]
    spans = even_splits(1000, 320)
    assert spans[0][0] == 0 and spans[-1][1] == 1000 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert len(spans) == 4 and {stop - start for start, stop in spans} == {250}


def test_tiles_without_overlap_do_show_seams():
    """The check above can fail: with no context around each tile the borders differ."""
    torch.manual_seed(0)
    model = tiny_model("srresnet", tile=12, overlap=0).eval()
    images = torch.rand(1, 3, 30, 41)
    with torch.no_grad():
        whole = model.generator(images).clamp(0, 1)
    assert (model.predict(images) - whole).abs().max() > 1e-3


def measured_reach(model) -> int:
    """How far from an output pixel its inputs lie, in input pixels: where the gradient is not zero."""
    images = torch.rand(1, 3, 64, 64, requires_grad=True)
    scale = model.config.scale
    model.generator(images)[0, :, 32 * scale, 32 * scale].sum().backward()
    rows = torch.nonzero(images.grad.abs().sum((0, 1)).sum(1)).flatten()
    return max(32 - int(rows.min()), int(rows.max()) - 32)


@pytest.mark.parametrize("blocks", [1, 6, 10])
@pytest.mark.parametrize("scale", [2, 4])
def test_reach_is_the_measured_receptive_field(blocks, scale):
    """`reach` is what a config's overlap defaults to: exact, neither short (seams) nor long (wasted work)."""
    model = tiny_model("srresnet", blocks=blocks, scale=scale).eval()
    assert measured_reach(model) == reach(model.config)


@pytest.mark.parametrize("name", [name for name, family in weights_dir.families().items()
                                  if family in ("srresnet", "srgan")])
def test_every_shipped_network_tiles_without_seams(name):
    """A shipped network's overlap covers its reach, whatever depth it was trained to."""
    settings = read_config(weights_dir.root() / name)  # config.json: the family, then its Config's fields
    config = models.get(settings.pop("family")).Config(**settings)
    assert reach(config) <= config.overlap


def test_a_deeper_network_grown_from_a_shallower_one_starts_as_it(tmp_path):
    """train.py --init-from with --depths: the new residual blocks start as the identity, so the deeper
    network computes exactly what the shallower one did; its tiles get the context its depth needs."""
    torch.manual_seed(0)
    tiny_model("srresnet").save_pretrained(tmp_path / "shallow")
    shallow = models.load(tmp_path / "shallow")  # as saved (the weights are stored in half precision)
    deep = tiny_model("srresnet", blocks=10, overlap=None).eval()  # no overlap given: the network's reach
    assert deep.config.overlap == reach(deep.config) == 24
    assert "32 of 50 tensors copied" in train.initialise_from(deep, str(tmp_path / "shallow"))
    images = torch.rand(1, 3, 40, 37)
    torch.testing.assert_close(deep.predict(images), shallow.predict(images), atol=1e-6, rtol=0)


def test_a_shallower_network_cannot_start_from_a_deeper_one(tmp_path):
    """Without --depths, train.py builds the family's default depth: starting it from a deeper network
    is refused, rather than copying the blocks whose names happen to match."""
    tiny_model("srresnet", blocks=3).save_pretrained(tmp_path / "deep")
    with pytest.raises(SystemExit, match="3 residual blocks.*pass --depths 3"):
        train.initialise_from(tiny_model("srresnet", blocks=2), str(tmp_path / "deep"))


@pytest.mark.parametrize("t", range(8))
def test_each_dihedral_transform_is_undone_by_its_inverse(t):
    images = torch.rand(2, 3, 5, 7)  # not square: a quarter turn swaps the sides
    moved = dihedral(images, t)
    assert moved.shape[-2:] == ((5, 7) if t % 2 == 0 else (7, 5))
    torch.testing.assert_close(dihedral(moved, t, inverse=True), images, atol=0, rtol=0)


def test_the_eight_transforms_are_distinct():
    images = torch.rand(1, 1, 4, 4)
    seen = {tuple(dihedral(images, t).flatten().tolist()) for t in range(8)}
    assert len(seen) == 8


def test_self_ensemble_answer_turns_with_its_input():
    """Averaged over every rotation and mirror image, the answer for a turned input is the turned answer:
    the property a wrongly undone transform breaks. A single pass has no such property."""
    torch.manual_seed(0)
    model = tiny_model("srresnet", tile=12, overlap=10).eval()
    images = torch.rand(1, 3, 14, 19)
    calls = []
    answer = model.predict(images, self_ensemble=True, progress=lambda done, total: calls.append((done, total)))
    assert answer.shape == (1, 3, 56, 76) and calls[-1] == (32, 32)  # 8 passes of 2 x 2 tiles
    for t in (1, 4, 6):
        turned = model.predict(dihedral(images, t), self_ensemble=True)
        torch.testing.assert_close(turned, dihedral(answer, t), atol=1e-5, rtol=0)
    single = model.predict(images)
    assert (model.predict(dihedral(images, 1)) - dihedral(single, 1)).abs().max() > 1e-4
    assert (answer - single).abs().max() > 1e-4


def test_a_default_of_two_transforms_averages_those_two_passes():
    torch.manual_seed(0)
    model = tiny_model("srresnet", tile=12, overlap=10, transforms=[0, 5]).eval()
    images = torch.rand(1, 3, 14, 19)
    calls = []
    answer = model.predict(images, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (8, 8)  # 2 passes of 2 x 2 tiles
    with torch.no_grad():  # the two passes unclamped, untiled: the tiles reach past the receptive field
        first, second = model(images), dihedral(model(dihedral(images, 5)), 5, inverse=True)
    torch.testing.assert_close(answer, ((first + second) / 2).clamp(0, 1), atol=1e-5, rtol=0)
    assert (answer - model.predict(images, transforms=[0])).abs().max() > 1e-4
    for wrong in ([], [0, 0], [8]):
        with pytest.raises(ValueError, match="transforms must be distinct numbers in 0..7"):
            tiny_model("srresnet", transforms=wrong)
    # What every surface reports as the passes made: bicubic none, the default two, the self-ensemble all 8.
    assert [superres.passes(None), superres.passes(model), superres.passes(model, self_ensemble=True)] == [0, 2, 8]


@pytest.mark.parametrize("loss", ["l1", "l2"])
def test_srresnet_learns_on_one_batch(loss):
    torch.manual_seed(0)
    model = tiny_model("srresnet", loss=loss)
    optimizers = model.configure_optimizers(3e-3)
    high = torch.rand(4, 3, 32, 32)
    batch = (torch.nn.functional.avg_pool2d(high, 4), high)
    first = model.training_step(batch, optimizers)[loss]
    for _ in range(30):
        last = model.training_step(batch, optimizers)[loss]
    assert last < first


def test_an_unknown_pixel_loss_is_refused():
    with pytest.raises(ValueError, match="l1, l2"):
        tiny_model("srresnet", loss="l3")


def test_srgan_step_updates_generator_and_discriminator():
    torch.manual_seed(0)
    model = tiny_model("srgan")
    optimizers = model.configure_optimizers(1e-3)
    g, d = model.generator.tail.weight.clone(), model.discriminator.head.weight.clone()
    high = torch.rand(4, 3, 32, 32)
    logs = model.training_step((torch.nn.functional.avg_pool2d(high, 4), high), optimizers)
    assert set(logs) >= {"pixel_l1", "content", "adversarial", "d_loss"}
    assert not torch.equal(g, model.generator.tail.weight) and not torch.equal(d, model.discriminator.head.weight)
    assert all(p.requires_grad for p in model.discriminator.parameters())


# -- the metrics, against values worked out by hand -----------------------------------------------


def test_psnr_of_a_known_error():
    a = torch.zeros(1, 3, 8, 8)
    assert float(metrics.psnr(a, a + 0.1)) == pytest.approx(20.0)  # MSE 0.01 -> 10 log10(100)
    b = a.clone()
    b[..., 0, :] = 1.0  # an error only in the first row: removed with a 1-pixel border
    assert float(metrics.psnr(a, b)) == pytest.approx(10 * np.log10(8))
    assert float(metrics.psnr(a, b, border=1)) > 150


def test_y_channel_is_matlab_rgb2ycbcr():
    colours = torch.tensor([[0.0, 0, 0], [1, 1, 1], [1, 0, 0]]).view(3, 3, 1, 1)
    y = metrics.rgb_to_y(colours).flatten() * 255
    torch.testing.assert_close(y, torch.tensor([16.0, 235.0, 16 + 65.481]))


def test_ssim_known_values():
    a = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    assert float(metrics.ssim(a, a)) == pytest.approx(1.0)
    # Two flat images: variances and covariance are 0, so SSIM is the luminance term alone.
    x, y = torch.full((1, 1, 16, 16), 0.2), torch.full((1, 1, 16, 16), 0.6)
    c1 = 0.01 ** 2
    assert float(metrics.ssim(x, y)) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2 ** 2 + 0.6 ** 2 + c1))
    # An image and its negative around the same mean: contrast term -> (-2 var + C2) / (2 var + C2).
    z = torch.tensor([0.4, 0.6]).repeat(8).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    assert float(metrics.ssim(z, 1 - z)) < 0


def reference_ssim(a, b):
    """SSIM as this lab first computed it: a 2-D 11x11 Gaussian window in float64."""
    a, b = a.double(), b.double()
    c = a.shape[1]
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5 ** 2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(c, 1, 11, 11)

    def blur(x):
        return torch.nn.functional.conv2d(x, window, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return (((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))).flatten(1).mean(1)


def test_separable_float32_ssim_gives_the_2d_float64_figure():
    generator = torch.Generator().manual_seed(0)
    photo = torch.rand(2, 3, 1, 1, generator=generator) * torch.linspace(0.2, 1, 96).view(1, 1, 96, 1)
    photo = photo.expand(2, 3, 96, 96) + 0.05 * torch.rand(2, 3, 96, 96, generator=generator)  # gradient + texture
    for other in (photo + 0.01 * torch.randn(photo.shape, generator=generator), photo.flip(-1), photo * 0.9):
        torch.testing.assert_close(metrics.ssim(photo, other), reference_ssim(photo, other).float(), atol=1e-5, rtol=0)
    assert metrics.ssim(photo, photo).dtype == torch.float32
    other = photo.flip(-2)  # made in bands of rows, it is the same figure
    torch.testing.assert_close(metrics.ssim(photo, other, band=7), metrics.ssim(photo, other), atol=1e-6, rtol=0)


def test_sharpness_by_shifted_differences_is_the_sobel_convolution():
    x = torch.rand(2, 3, 40, 33, generator=torch.Generator().manual_seed(4))
    y = metrics.rgb_to_y(x)[..., 2:-2, 2:-2]
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
    gx = torch.nn.functional.conv2d(y, kx.view(1, 1, 3, 3))
    gy = torch.nn.functional.conv2d(y, kx.t().reshape(1, 1, 3, 3))
    expected = 100 * (gx ** 2 + gy ** 2).sqrt().flatten(1).mean(1)
    torch.testing.assert_close(metrics.sharpness(x, border=2), expected, atol=1e-5, rtol=0)


def test_sharpness_of_flat_and_edge():
    flat = torch.full((1, 1, 10, 10), 0.5)
    assert float(metrics.sharpness(flat)) == 0
    edge = torch.zeros(1, 1, 10, 10)
    edge[..., 5:] = 1.0  # a vertical step of 1: Sobel/8 gives 0.5 in the two columns beside it
    assert float(metrics.sharpness(edge)) == pytest.approx(100 * 0.5 * 2 / 8)


# -- one code path for page, command line and evaluation -----------------------------------------


def test_size_limit_is_enforced_with_the_limit_in_the_message():
    side = int(np.sqrt(superres.MAX_INPUT_PIXELS))
    superres.check_size(side, side)  # at the limit: accepted
    with pytest.raises(superres.TooLarge, match=f"{superres.MAX_INPUT_PIXELS:,} pixels"):
        superres.upscale(loaded(np.zeros((side + 1, side), np.float32)), None)


def test_bicubic_baseline_keeps_flat_images_flat():
    out = superres.upscale(loaded(np.full((5, 7, 3), 0.3)), None)
    assert out.shape == (20, 28, 3)
    np.testing.assert_allclose(out, 0.3, atol=1e-5)


def test_grayscale_stays_grayscale():
    model = tiny_model("srresnet").eval()
    image = loaded(np.random.default_rng(0).random((9, 11)))
    out = superres.upscale(image, model)
    assert out.shape == (36, 44) and out.dtype == np.float32
    assert superres.notes(image) == ["grayscale: replicated to RGB for the network, the result averaged back to gray"]


def png_file(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_rgba_alpha_is_dropped_and_said_so():
    rgba = np.zeros((12, 12, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128  # half-transparent red
    image = read_image(png_file(rgba, "RGBA"), name="rgba.png")
    assert superres.ALPHA_NOTE in superres.notes(image)
    assert superres.upscale(image, None).shape == (48, 48, 3)


def test_16_bit_grayscale_round_trips_at_16_bits():
    ramp = (np.arange(16 * 16).reshape(16, 16) * 250).astype(np.uint16)  # values past 255
    image = read_image(png_file(ramp), name="ramp16.png")
    assert image.bit_depth == 16 and image.pixels.max() > 0.9
    out = superres.upscale(image, None)
    saved = np.asarray(Image.open(io.BytesIO(superres.png_bytes(out, sixteen_bit=True))))
    assert saved.dtype == np.uint16 and saved.shape == (64, 64) and saved.max() > 255


def test_downscale_then_restore_measures_against_the_original():
    yy, xx = np.mgrid[:48, :50] / 48
    image = loaded(np.stack([0.5 + 0.3 * np.sin(6 * xx), 0.5 + 0.3 * np.cos(5 * yy), 0.5 + 0 * xx], -1))
    original, small = superres.shrink(image)
    assert original.shape == (48, 48, 3) and small.shape == (12, 12, 3)
    scores = superres.compare(superres.upscale(loaded(small), None), original)
    assert 25 < scores["psnr_y"] < 80 and 0.8 < scores["ssim_y"] <= 1
    with pytest.raises(ValueError, match="at least 32x32"):
        superres.shrink(loaded(np.zeros((20, 40))))


# -- train -> evaluate -> predict on a miniature data root ----------------------------------------


def test_train_evaluate_predict(data_root, tmp_path, monkeypatch, capsys):
    common = ["--dataset", "sr", "--data-root", str(data_root), "--epochs", "1", "--patches", "8",
              "--batch-size", "4", "--image-size", "32", "--widths", "8", "--depths", "1", "--threads", "1"]
    srresnet = train.main(["srresnet", *common, "--out", str(tmp_path / "srresnet-x4"),
                           "--run-dir", str(tmp_path / "run1"), "--loss", "l2"])
    assert models.load(srresnet).config.channels == 8 and models.load(srresnet).config.loss == "l2"
    assert "loss: L2 (mean squared error) on RGB" in (srresnet / "README.md").read_text()
    srgan = train.main(["srgan", *common, "--out", str(tmp_path / "srgan-x4"), "--run-dir", str(tmp_path / "run2"),
                        "--init-from", str(srresnet)])
    torch.testing.assert_close(models.load(srgan).generator.head.weight.float(),
                               models.load(srresnet).generator.head.weight.float(), atol=0.2, rtol=0)

    result = evaluate.main([str(srgan), "--data-root", str(data_root)])
    assert set(result["sets"]) == {"Set5", "Set14"} and result["sets"]["Set5"]["n"] == 2
    written = json.loads((srgan / "eval.json").read_text())
    assert written["sets"]["Set14"]["model"]["psnr_y"] == pytest.approx(result["sets"]["Set14"]["model"]["psnr_y"])
    assert written["sets"]["Set5"]["gain_psnr_y_self_ensemble"] == pytest.approx(
        written["sets"]["Set5"]["self_ensemble"]["psnr_y"] - written["sets"]["Set5"]["bicubic"]["psnr_y"])
    card = (srgan / "README.md").read_text()
    assert "| Set14 (2) | srgan-x4 |" in card and "Gain over bicubic on Y" in card
    table = result["degradations"]  # the same HR images made small in each way of the protocol
    assert [row["name"] for row in table["rows"]] == [way.name for way in PROTOCOL]
    assert set(table["rows"][0]["sets"]) == {"Set5", "Set14"} and set(table["summary"]) == {"Set5", "Set14"}
    worst = table["summary"]["Set5"]
    assert worst["least_gain_psnr_y"] == pytest.approx(min(r["sets"]["Set5"]["gain_psnr_y"] for r in table["rows"]))
    assert "Other degradations" in card and "| bilinear+jpeg75 | Set14 |" in card
    assert "| Set14 (2) | srgan-x4, x8 self-ensemble |" in card
    robust = train.main(["srresnet", *common, "--out", str(tmp_path / "robust"), "--run-dir", str(tmp_path / "run3"),
                         "--degradation", "random"])  # validated on the whole protocol
    assert "random degradation per patch" in (robust / "README.md").read_text()
    assert json.loads((tmp_path / "run3/history.json").read_text())[0]["val_PSNR-Y"] > 0
    with pytest.raises(SystemExit):
        train.main(["unet", *common, "--out", str(tmp_path / "no"), "--degradation", "random"])
    val = evaluate.main([str(srresnet), "--data-root", str(data_root), "--split", "val"])  # train.py's crops
    assert set(val["sets"]) == {"val"} and val["sets"]["val"]["model"]["psnr_y"] > 0
    assert (srresnet / "eval-val.json").is_file() and "the crops train.py validates on" in val["protocol"]
    assert "one_pass" not in val["sets"]["val"] and val["sets"]["val"]["passes"] == 1
    config = json.loads((srresnet / "config.json").read_text())
    (srresnet / "config.json").write_text(json.dumps({**config, "transforms": [0, 5]}))  # a default of two passes
    two = evaluate.main([str(srresnet), "--data-root", str(data_root)])["sets"]["Set5"]
    assert two["passes"] == 2 and two["gain_psnr_y_one_pass"] == pytest.approx(
        two["one_pass"]["psnr_y"] - two["bicubic"]["psnr_y"])
    assert two["model"]["psnr_y"] != pytest.approx(two["one_pass"]["psnr_y"], abs=1e-6)
    two_card = (srresnet / "README.md").read_text()
    assert "| Set5 (2) | srresnet-x4 (its default: 2 passes) |" in two_card
    assert "| Set5 (2) | srresnet-x4, one pass |" in two_card
    assert (f"Set5 {two['gain_psnr_y']:+.2f} dB (its default of 2 passes; one pass {two['gain_psnr_y_one_pass']:+.2f} "
            "dB") in two_card
    assert "discriminator-feature content loss" in card  # SRGAN's own loss text, not SRResNet's pixel loss

    picture = data_root / "sr/Set5/x4/img_001_SRF_4_LR.png"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    import inference
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(tmp_path))
    inference.load_model.cache_clear()
    capsys.readouterr()
    predict.main(["upscale", str(picture), str(broken), "--model", "srgan", "--out", str(tmp_path / "out"), "--json"])
    predict.main(["upscale", str(picture), "--model", "srgan", "--out", str(tmp_path / "x8"), "--self-ensemble"])
    inference.load_model.cache_clear()
    good, bad, x8 = capsys.readouterr().out.splitlines()
    good, bad = json.loads(good), json.loads(bad)
    assert good["output_size"] == [64, 64] and good["model"] == "srgan-x4" and not good["self_ensemble"]
    assert good["passes"] == 1
    assert "(srgan-x4, x8 self-ensemble)" in x8
    assert Image.open(tmp_path / "out/img_001_SRF_4_LR-srgan-x4.png").size == (64, 64)
    assert bad["file"] == str(broken) and "broken.png" in bad["error"]


def test_srgan_refuses_to_start_from_a_classifier(tmp_path):
    tiny_model("classifier").save_pretrained(tmp_path / "c")
    with pytest.raises(SystemExit, match="starts from 'srgan' or 'srresnet'"):
        train.initialise_from(tiny_model("srgan"), str(tmp_path / "c"))


def test_predict_refuses_a_too_large_file_and_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(superres, "MAX_INPUT_PIXELS", 100)
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    small.write_bytes(png_file(np.zeros((8, 10), np.uint8)))
    large.write_bytes(png_file(np.zeros((20, 20), np.uint8)))
    predict.main(["upscale", str(large), str(small), "--model", "bicubic", "--out", str(tmp_path / "out"), "--json"])
    refused, done = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert "at most 100 pixels" in refused["error"]
    assert done["output_size"] == [40, 32] and (tmp_path / "out/small-bicubic-x4.png").is_file()


def test_patches_from_an_image_smaller_than_the_patch_are_padded_by_reflection(tmp_path):
    """T91 has images of 76 px: a 192-px training patch of one is the image mirrored out to 192 (torch's
    reflection refuses a pad wider than the image). Mirrored, never zero-padded: every value is the image's."""
    from data import SRPatches

    pixels = np.random.default_rng(0).integers(100, 200, (50, 44, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "small.png")
    patches = SRPatches([tmp_path / "small.png"], patch=192, n=2, scale=4, description="one small image")
    low, high = patches.batch(2, torch.Generator().manual_seed(0))
    assert high.shape == (2, 3, 192, 192) and low.shape == (2, 3, 48, 48)
    assert 100 / 255 - 1e-6 <= float(high.min()) and float(high.max()) <= 199 / 255 + 1e-6


def test_choose_transforms_writes_the_best_pair_on_validation(data_root, tmp_path, capsys):
    import importlib.util
    script = Path(__file__).resolve().parent.parent / "scripts/choose_transforms.py"
    spec = importlib.util.spec_from_file_location("choose_transforms", script)
    choose = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(choose)
    torch.manual_seed(0)
    folder = tmp_path / "sr"
    tiny_model("srresnet").save_pretrained(folder)
    best = choose.main([str(folder), "--passes", "2", "--data-root", str(data_root), "--write"])
    table = capsys.readouterr().out
    assert len(best) == 2 and best[0] == 0 and f"| {best} |" in table.splitlines()[4]  # the first row is the best
    assert table.count("| [0, ") == 7 and "all 8 (the self-ensemble)" in table
    assert models.load(folder).config.transforms == best and read_config(folder)["family"] == "srresnet"
    with pytest.raises(SystemExit):
        choose.main([str(folder), "--passes", "9", "--data-root", str(data_root)])
    # scored across the degradation protocol: the same choice made on the mean gain over bicubic
    best = choose.main([str(folder), "--passes", "2", "--data-root", str(data_root), "--protocol"])
    rows = capsys.readouterr().out.splitlines()
    assert "across the protocol" in rows[0] and f"| {best} |" in rows[4] and "bicubic-aa" in rows[4]
    scores = [float(row.split("|")[2]) for row in rows[4:11]]
    assert scores == sorted(scores, reverse=True)
