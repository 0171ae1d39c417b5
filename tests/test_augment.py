"""data.augment's endoscopy options (vertical flips, per-channel colour gain), the `endoscopy` preset,
and the U-Net's validation monitor (scored at the threshold that is then shipped)."""
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import data
import tasks.base
import tasks.segmentation
from data import Split, augment
from evaluate import segmenter_probabilities
from models.unet import dice

ROOT = Path(__file__).resolve().parent.parent
STILL = dict(rotate=0.0, scale=(1.0, 1.0), shift=0.0, contrast=0.0, gamma=0.0)  # no geometry, no intensity change


def square_frames(n: int = 8, size: int = 32):
    """Frames with a bright off-centre rectangle and masks marking it: (n, 3, S, S), (n, 1, S, S)."""
    images = torch.zeros(n, 3, size, size)
    images[:, :, 5:14, 8:22] = 1.0
    return images, images[:, :1].clone()


def test_the_endoscopy_preset_follows_the_seed_and_moves_masks_with_their_frames():
    images, masks = square_frames()
    args = SimpleNamespace(augment="endoscopy")
    split = Split(images=(images * 255).to(torch.uint8), labels=masks.to(torch.uint8), class_names=["polyp"],
                  files=[], description="")
    index = torch.arange(len(images))
    first = tasks.base.labelled_batch(split, index, torch.Generator().manual_seed(0), args)
    again = tasks.base.labelled_batch(split, index, torch.Generator().manual_seed(0), args)
    other = tasks.base.labelled_batch(split, index, torch.Generator().manual_seed(1), args)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])
    warped, warped_masks = first
    assert set(warped_masks.unique().tolist()) <= {0.0, 1.0} and warped_masks.sum() > 0
    agreement = ((warped.mean(1, keepdim=True) > 0.5) == warped_masks.bool()).float().mean()
    assert agreement > 0.97  # the mask is wherever the bright rectangle went


def test_vflip_mirrors_frames_and_masks_upside_down_and_only_that():
    images, masks = square_frames(16)
    out, out_masks = augment(images, torch.Generator().manual_seed(0), masks=masks, vflip=True, **STILL)
    upended = [torch.allclose(o, i.flip(-2), atol=1e-5) for o, i in zip(out, images)]
    kept = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, images)]
    assert all(u != k for u, k in zip(upended, kept))  # each frame is itself or its upside-down image
    assert any(upended) and any(kept)
    for o, m in zip(out, out_masks):
        assert torch.equal(m, (o[:1] > 0.5).float())  # the mask was flipped with its frame


def test_colour_scales_each_channel_by_its_own_gain():
    gray = torch.full((64, 3, 4, 4), 0.5)
    out = augment(gray, torch.Generator().manual_seed(0), colour=0.1, **STILL)
    gains = out[:, :, 0, 0] / 0.5  # (B, C)
    assert torch.allclose(out, gains.view(64, 3, 1, 1) * 0.5, atol=1e-6)  # one gain per channel, whole image
    assert gains.min() >= 0.9 - 1e-6 and gains.max() <= 1.1 + 1e-6
    assert (gains.max(1).values - gains.min(1).values > 0.01).float().mean() > 0.5  # channels move apart
    assert torch.allclose(augment(gray, torch.Generator().manual_seed(0), **STILL), gray, atol=1e-6)


def test_the_new_options_draw_nothing_when_off():
    """The older presets reproduce their augmentations: with vflip and colour off, augment draws exactly
    the six per-image numbers it always drew (rotation, zoom, two shifts, gamma, contrast), flip one more."""
    images, _ = square_frames(5)
    for flip, draws in ((False, 6), (True, 7)):
        used, expected = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        augment(images, used, flip=flip)
        for _ in range(draws):
            torch.rand(5, generator=expected)
        assert torch.equal(used.get_state(), expected.get_state())


def test_the_segmenter_monitor_scores_at_the_threshold_finish_then_fits():
    from tests.conftest import tiny_model

    torch.manual_seed(0)
    unet = tiny_model("unet", flip_average=True).eval()
    images, masks = square_frames(6)
    images = (images * 0.6 + 0.4 * torch.rand(images.shape))  # a little texture
    split = Split(images=(images * 255).to(torch.uint8), labels=masks.to(torch.uint8), class_names=["polyp"],
                  files=[], description="")
    name, score = tasks.segmentation.segmenter_score(unet, split)
    tasks.segmentation.segmenter_finish(unet, split)
    shipped = dice(unet.mask(segmenter_probabilities(unet, split)), split.labels).mean()
    assert name == "Dice" and abs(score - float(shipped)) < 1e-9


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.2])
def test_the_blur_is_torchvisions(sigma):
    torchvision = pytest.importorskip("torchvision.transforms.functional")
    image = torch.rand(3, 40, 37, generator=torch.Generator().manual_seed(0))
    size = 2 * math.ceil(3 * sigma) + 1
    assert torch.allclose(data.gaussian_blur(image, size, sigma), torchvision.gaussian_blur(image, size, sigma),
                          atol=1e-6)


def test_predicting_one_image_never_imports_torchvision():
    """Its import alone takes seconds and hundreds of MB, for nothing predict.py does."""
    code = "import sys, predict; print(sorted(m for m in sys.modules if m.startswith('torchvision')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "MEDLAB_THREADS": "1"}).stdout
    assert out.strip().splitlines()[-1] == "[]"
