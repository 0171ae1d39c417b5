"""The Latent space page, run headless with AppTest against tiny VAEs (one with a 2-D latent and a
shipped map with thumbnails, one conditional without a map)."""
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cards
import latent
from conftest import tiny_model
from test_app import run, text, upload

PAGE = "app_pages/latent_space.py"


@pytest.fixture(scope="module")
def latent_weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("latent")
    torch.manual_seed(0)
    two_d = tiny_model("vae", in_channels=1, class_names=["0", "1", "2"])
    two_d.save_pretrained(folder / "endovae-kvasir")
    cards.write(folder / "endovae-kvasir", {"name": "endovae-kvasir", "family": "vae", "title": "Tiny test VAE"})
    rng = np.random.default_rng(0)
    latent.save_map(folder / "endovae-kvasir", codes=rng.normal(size=(30, 2)), labels=rng.integers(0, 3, 30),
                    class_names=["0", "1", "2"], description="30 test images",
                    thumbnails=rng.integers(0, 255, (30, 28, 28)).astype(np.uint8))
    conditional = tiny_model("vae", latent_dim=20, conditional=True, class_names=["NORMAL", "PNEUMONIA"])
    conditional.save_pretrained(folder / "cvae")
    cards.write(folder / "cvae", {"name": "cvae", "family": "vae", "title": "Tiny conditional VAE"})
    tiny_model("classifier").save_pretrained(folder / "not-latent")  # listed nowhere on this page
    return folder


def photo(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((24, 20, 3)) * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_interpolate_between_seeds_with_a_gif(latent_weights, use_weights, monkeypatch):
    made = []  # every GIF the page makes, as it is shown and downloaded
    real = latent.gif_bytes
    monkeypatch.setattr(latent, "gif_bytes", lambda *args, **kwargs: made.append(real(*args, **kwargs)) or made[-1])
    use_weights(latent_weights)
    at = run(PAGE)
    assert at.selectbox[0].options == ["Tiny conditional VAE (cvae)", "Tiny test VAE (endovae-kvasir)"]
    assert "2-dimensional latent space" in text(at)
    at.slider[0].set_value(5).run()
    assert not at.exception
    names = [b.proto.label for b in at.get("download_button")]
    assert names == ["Download the animation (GIF)", "Download the strip (PNG)"]
    gif = Image.open(io.BytesIO(made[-1]))
    # The slider's 5 frames forth, then the 3 between the ends back (the ends are not shown twice in a row).
    assert gif.n_frames == 5 + 3 and gif.info.get("loop") == 0
    assert "5 frames" in at.image[0].captions[0]


def test_interpolate_between_two_uploads(latent_weights, use_weights):
    use_weights(latent_weights)
    at = run(PAGE)
    at.radio[1].set_value("two images").run()
    assert "Upload two images" in text(at)
    at.file_uploader[0].set_value([("a.png", photo(0), "image/png")])
    at.file_uploader[1].set_value([("b.png", b"not an image", "image/png")])
    at.run()
    assert not at.exception and at.error  # a clear error for the bad file, no crash
    at.file_uploader[1].set_value([("b.png", photo(1), "image/png")])
    at.run()
    assert not at.exception and len(at.get("download_button")) == 2


def test_map_shows_the_method_and_the_manifold(latent_weights, use_weights):
    use_weights(latent_weights)
    at = run(PAGE)
    at.radio[0].set_value("Map").run()
    assert not at.exception
    figure = at.get("plotly_chart")[0].proto.spec
    assert "the 2-D latent itself" in figure
    assert "The decoded manifold" in text(at) and "30 test images" in text(at)


def test_sliders_one_per_dimension_and_a_conditional_model(latent_weights, use_weights):
    use_weights(latent_weights)
    at = run(PAGE)
    at.radio[0].set_value("Sliders").run()
    assert [s.label for s in at.slider] == ["z1", "z2"]
    at.slider[1].set_value(2.5).run()
    assert not at.exception and "Decoded in" in text(at)
    at.selectbox[0].set_value("cvae").run()
    assert not at.exception
    assert len(at.slider) == 16 and "first 16 of 20 dimensions" in text(at)
    at.selectbox[1].set_value(1).run()  # the class to draw
    assert not at.exception
    at.radio[0].set_value("Map").run()
    assert "ships no latent map" in text(at) and "evaluate.py cvae" in text(at)


def test_reconstruct_an_upload(latent_weights, use_weights):
    use_weights(latent_weights)
    at = run(PAGE)
    at.radio[0].set_value("Reconstruct").run()
    at = upload(at, ("x.png", photo(2)))
    shown = text(at)
    assert "PSNR" in shown and "SSIM" in shown and "Code:" in shown and "only ever seen" in shown
    assert len(at.get("plotly_chart")) == 1  # where it sits on the map
    assert [b.proto.label for b in at.get("download_button")] == ["Download the reconstruction (PNG)"]


def test_no_latent_model_says_what_to_do(tmp_path, use_weights):
    use_weights(tmp_path)
    at = run(PAGE)
    assert "endovae-kvasir" in text(at) and "train.py" in text(at)


def test_evaluate_page_shows_a_vaes_figures(latent_weights, use_weights, tmp_path):
    import json
    import shutil

    folder = tmp_path / "w"
    shutil.copytree(latent_weights / "endovae-kvasir", folder / "endovae-kvasir")
    (folder / "endovae-kvasir/eval.json").write_text(json.dumps({
        "model": "endovae-kvasir", "dataset": "mnist", "split": "test", "n": 30, "command": "python evaluate.py x",
        "protocol": "p", "psnr": 20.5, "ssim": 0.61, "elbo": -80.0, "likelihood": "Bernoulli",
        "gan_test": {"overall": 0.97, "per_class": {"0": 0.97}, "judge": "j", "samples": 10, "judge_accuracy_on_real": 0.99}}))
    use_weights(folder)
    at = run("app_pages/evaluate.py")
    assert [m.value for m in at.metric] == ["20.50 dB", "0.610", "-80.0 nats", "97.0%"]
    at = run("app.py")  # home
    assert "reconstruction PSNR 20.50 dB" in text(at)


@pytest.fixture(scope="module")
def gan_weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("latent-gans")
    torch.manual_seed(0)
    for family in ("acgan", "dcgan"):
        tiny_model(family).save_pretrained(folder / f"{family}-tiny")
        cards.write(folder / f"{family}-tiny", {"name": f"{family}-tiny", "family": family, "title": f"Tiny {family}"})
    return folder


def test_a_gans_latent_space_walks_and_slides_but_has_no_map(gan_weights, use_weights):
    use_weights(gan_weights)
    at = run(PAGE)
    assert at.selectbox[0].options == ["Tiny acgan (acgan-tiny)", "Tiny dcgan (dcgan-tiny)"]
    at.selectbox[0].set_value("acgan-tiny").run()
    assert "8-dimensional latent space, conditional on the class (a, b)" in text(at)
    at.selectbox[1].set_value(1).run()  # the class every frame is drawn as
    assert at.radio[1].options == ["two seeds"]  # no encoder: no uploads to walk between
    assert "Download the animation (GIF)" in [b.proto.label for b in at.get("download_button")]
    at.radio[0].set_value("Sliders").run()
    assert len(at.slider) == 8 and "Decoded in" in text(at)
    at.radio[0].set_value("Map").run()
    assert "A GAN has no encoder" in text(at)
    at.radio[0].set_value("Reconstruct").run()
    assert "A GAN has no encoder" in text(at)
    at.selectbox[0].set_value("dcgan-tiny").run()
    assert not at.exception and "8-dimensional latent space." in text(at)


def test_the_map_reads_on_a_projector_legend_clear_of_the_colour_bar_and_classes_apart():
    import charts
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 2))
    shaded = charts.latent_map(points, np.zeros(50, int), ["polyp"], method="PCA", values=rng.random(50),
                               value_name="polyp area", highlight=np.zeros(2))
    assert shaded.layout.legend.orientation == "h" and shaded.layout.legend.y < 0  # below the plot, not at the right
    digits = charts.latent_map(points, np.arange(50) % 10, [str(d) for d in range(10)], method="the 2-D latent")
    colours = [trace.marker.color for trace in digits.data]
    assert None not in colours and len(set(colours)) == 10  # set here, not left to the theme's light/dark pairs
    assert digits.layout.dragmode is None  # a figure's own "select" keeps clicks from selecting (see the browser test)


# How each kind of colour blindness sees linear RGB: Machado, Oliveira & Fernandes (2009), severity 1.
COLOUR_BLIND = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def cielab(colour: str, seen_by=None) -> np.ndarray:
    """"#rrggbb" as CIELAB (D65), as it looks with normal vision or to `seen_by`, a matrix of COLOUR_BLIND."""
    srgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    if seen_by is not None:
        linear = np.clip(np.array(seen_by) @ linear, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    t = xyz / [0.95047, 1.0, 1.08883]
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("vision", [None, *COLOUR_BLIND])
def test_the_maps_ten_classes_stay_apart_to_colour_blind_eyes(vision):
    """Every two of the map's class colours at least 15 CIELAB units apart (a clear difference side by side), with
    normal vision and simulated for each kind of colour blindness. Tableau 10 (before) made digits 2 and 9 one
    colour (0.9 apart) to a deuteranope."""
    import itertools

    import charts
    digits = charts.latent_map(np.zeros((10, 2)), np.arange(10), [str(d) for d in range(10)], method="the 2-D latent")
    seen = [cielab(trace.marker.color, COLOUR_BLIND.get(vision)) for trace in digits.data]
    closest = min((float(np.linalg.norm(seen[a] - seen[b])), a, b) for a, b in itertools.combinations(range(10), 2))
    assert closest[0] >= 15, f"classes {closest[1]} and {closest[2]} are {closest[0]:.1f} apart"
