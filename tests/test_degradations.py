"""The x4 degradations of evaluate.py's protocol and of training: shape, range, 8-bit rounding,
determinism with a seed, and that each really is the operation it is named after."""
import numpy as np
import pytest
import torch
from PIL import Image

from degradations import PROTOCOL, RESIZES, Degradation, gaussian_blur, random_degradation


@pytest.fixture
def photo():
    """Two 64x48 'photos': smooth colour gradients with texture, in [0, 1]."""
    generator = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 1, 48).view(1, 1, 1, 48) * torch.rand(2, 3, 1, 1, generator=generator)
    return (ramp.expand(2, 3, 64, 48) * 0.8 + 0.2 * torch.rand(2, 3, 64, 48, generator=generator)).contiguous()


@pytest.mark.parametrize("way", PROTOCOL, ids=lambda way: way.name)
def test_each_degradation_is_a_small_8_bit_image_and_repeatable(way, photo):
    small = way(photo, seed=3)
    assert small.shape == (2, 3, 16, 12) and small.dtype == torch.float32
    assert 0 <= float(small.min()) and float(small.max()) <= 1
    torch.testing.assert_close(small * 255, (small * 255).round(), atol=1e-4, rtol=0)  # 8-bit levels
    torch.testing.assert_close(way(photo, seed=3), small, atol=0, rtol=0)


def test_noise_follows_the_seed_and_its_size(photo):
    way = Degradation("bicubic-aa", noise=5)
    assert not torch.equal(way(photo, seed=1), way(photo, seed=2))
    spread = float((way(photo, seed=1) - Degradation()(photo)).std() * 255)
    assert 4 < spread < 6  # sigma 5 levels, rounded


def test_each_resize_is_what_it_is_named():
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    area = Degradation("area")(x)
    torch.testing.assert_close(area, (x.view(1, 3, 8, 4, 8, 4).mean((3, 5)) * 255).round() / 255, atol=1e-6, rtol=0)
    # Bilinear without antialiasing at x4 reads only the two middle pixels of each block: aliasing.
    bilinear = Degradation("bilinear")(x)
    middle = (x[:, :, 1::4] + x[:, :, 2::4]) / 2
    torch.testing.assert_close(bilinear, ((middle[..., 1::4] + middle[..., 2::4]) / 2 * 255).round() / 255,
                               atol=1e-6, rtol=0)
    # Antialiased bicubic is PIL's (and MATLAB's) kernel: within one 8-bit level of PIL on the same image.
    pixels = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    pil = np.asarray(Image.fromarray(pixels).resize((8, 8), Image.BICUBIC)).astype(np.float32) / 255
    ours = Degradation("bicubic-aa")(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255)
    assert float(np.abs(ours[0].permute(1, 2, 0).numpy() - pil).max()) <= 1.5 / 255
    # JPEG at quality 75 changes the pixels but keeps the picture; without antialiasing, bicubic aliases more.
    assert 0 < float((Degradation("area", jpeg=75)(x) - area).abs().mean()) < 0.1
    assert float(Degradation("bicubic")(x).std()) > float(Degradation("bicubic-aa")(x).std())


def test_gaussian_blur_keeps_flat_images_and_the_mean():
    flat = torch.full((1, 3, 20, 20), 0.4)
    torch.testing.assert_close(gaussian_blur(flat, 1.6), flat)
    x = torch.rand(1, 1, 40, 40, generator=torch.Generator().manual_seed(2))
    assert float(gaussian_blur(x, 2.0).std()) < float(x.std()) / 2


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown resize"):
        Degradation("lanczos")
    for bad in ({"jpeg": 0}, {"noise": -1}, {"noise": float("nan")}, {"sigma": 0}):
        with pytest.raises(ValueError):
            Degradation("area", **bad)


def test_the_protocol_names_each_case_once():
    names = [way.name for way in PROTOCOL]
    assert len(names) == len(set(names)) == 2 * len(RESIZES) + 1
    assert "bicubic-aa" in names and "bilinear+jpeg75" in names and "bicubic-aa+noise5" in names


def test_the_training_mix_is_repeatable_and_varied():
    draws = [random_degradation(torch.Generator().manual_seed(0)) for _ in range(2)]
    assert draws[0] == draws[1]
    generator = torch.Generator().manual_seed(0)
    many = [random_degradation(generator) for _ in range(300)]
    assert {way.resize for way in many} == set(RESIZES)
    share_plain = sum(way == Degradation() for way in many) / len(many)
    assert 0.25 < share_plain < 0.5  # a third of the draws keep the benchmark's own degradation
    assert any(way.jpeg for way in many) and any(way.noise for way in many)
