"""scripts/sr_peers.py: the peers' networks written to load the released weights (RFDN, CARN-M) build, upscale
x4 and load strictly through the script's loader; absent peers are skipped with a message; the report's
tables. Nothing here reads ../shared except the last test, which is skipped without it."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from images import LoadedImage

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("sr_peers", ROOT / "scripts/sr_peers.py")
sr_peers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sr_peers)

NETWORKS = {"RFDN": sr_peers.RFDN, "CARN-M": sr_peers.CARNM}
FILES = {name: file for name, file, _ in sr_peers.TORCH_PEERS}
# Tensors and numbers in the released checkpoints (../shared/peers/sr: RFDN_AIM.pth, carn_m.pth; the README's
# 433k and 415k parameters): a network that matches these has every layer the authors' has.
RELEASED = {"RFDN": (128, 433_448), "CARN-M": (58, 414_811)}


def image(h: int, w: int, grayscale: bool = False, seed: int = 0) -> LoadedImage:
    pixels = np.random.default_rng(seed).random((h, w) if grayscale else (h, w, 3)).astype(np.float32)
    return LoadedImage(pixels=pixels, name="test.png", format="PNG", grayscale=grayscale, bit_depth=8)


def random_weights(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=generator) * 0.05 for k, v in NETWORKS[name]().state_dict().items()}


@pytest.mark.parametrize("name", NETWORKS)
def test_network_upscales_x4(name):
    torch.manual_seed(0)
    network = NETWORKS[name]().eval()
    with torch.no_grad():
        out = network(torch.rand(1, 3, 16, 16) * network.INPUT_RANGE)
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NETWORKS)
def test_network_has_the_released_checkpoints_tensors(name):
    state = NETWORKS[name]().state_dict()
    assert (len(state), sum(v.numel() for v in state.values())) == RELEASED[name]


@pytest.mark.parametrize("name", NETWORKS)
def test_saved_weights_load_strictly_through_the_scripts_loader(name, tmp_path):
    weights = random_weights(name)
    torch.save(weights, tmp_path / FILES[name])
    methods, notes = sr_peers.find_peers(tmp_path)
    assert [m.name for m in methods] == [name]
    assert any(note.startswith(f"{other} skipped") for note in notes for other in ("FSRCNN", "ESPCN", "LapSRN"))
    network = sr_peers.load_network(NETWORKS[name], tmp_path / FILES[name])
    for key, value in network.state_dict().items():
        torch.testing.assert_close(value, weights[key], rtol=0, atol=0)
    out = methods[0].upscale(image(16, 20))
    assert out.shape == (64, 80, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert methods[0].upscale(image(16, 20, grayscale=True)).shape == (64, 80)  # grey in, grey out


@pytest.mark.parametrize("name", NETWORKS)
def test_weights_of_another_shape_are_refused(name, tmp_path):
    weights = random_weights(name)
    weights.pop(next(iter(weights)))
    torch.save(weights, tmp_path / FILES[name])
    with pytest.raises(RuntimeError, match="Missing key"):
        sr_peers.find_peers(tmp_path)


def test_absent_peers_are_skipped_with_a_note(tmp_path):
    methods, notes = sr_peers.find_peers(tmp_path)
    assert methods == []
    for name in ("FSRCNN", "ESPCN", "LapSRN", "RFDN", "CARN-M"):
        assert any(note.startswith(f"{name} skipped") for note in notes), notes
    methods, notes = sr_peers.find_peers(tmp_path / "absent")
    assert methods == [] and len(notes) == 1 and "every peer skipped" in notes[0]


def test_the_report_with_an_empty_peers_folder(tmp_path, capsys):
    """The whole command on a miniature of the data root: bicubic only, each absent peer and model named."""
    rng = np.random.default_rng(0)
    for set_name, count in (("Set5", 1), ("Set14", 2)):
        folder = tmp_path / "data/sr" / set_name / "x4"
        folder.mkdir(parents=True)
        for k in range(1, count + 1):
            high = Image.fromarray((rng.random((64, 48, 3)) * 255).astype(np.uint8))
            high.save(folder / f"img_{k:03d}_SRF_4_HR.png")
            high.resize((12, 16), Image.BICUBIC).save(folder / f"img_{k:03d}_SRF_4_LR.png")
    (tmp_path / "peers").mkdir()
    sr_peers.main(["--data-root", str(tmp_path / "data"), "--peers", str(tmp_path / "peers"),
                   "--models", "no-such-model", "--repeats", "1"])
    said = capsys.readouterr().out
    for name in ("FSRCNN", "ESPCN", "LapSRN", "RFDN", "CARN-M", "no-such-model"):
        assert f"- {name} skipped" in said
    assert "| Set5, PSNR-Y (dB) | benchmark LR | bicubic-aa |" in said and "| Set14, SSIM-Y |" in said
    assert "| bicubic | – |" in said  # the timing row


def test_least_gain_is_over_the_protocol_only():
    """The benchmark's LR is shown, but the mean and the least gain are over the protocol's degradations."""
    columns = [sr_peers.BENCHMARK_LR, *(way.name for way in sr_peers.PROTOCOL)]
    bicubic = {c: {"psnr_y": 25.0} for c in columns}
    model = {c: {"psnr_y": 27.0} for c in columns}
    model[sr_peers.BENCHMARK_LR] = {"psnr_y": 20.0}  # worse on the benchmark LR: not a protocol degradation
    model["bilinear"] = {"psnr_y": 24.5}
    methods = [sr_peers.Method("bicubic", None, None, ""), sr_peers.Method("m", None, 1, "")]
    table = sr_peers.quality_table({"bicubic": {"Set5": bicubic}, "m": {"Set5": model}}, methods, "Set5", "psnr_y",
                                   "PSNR-Y (dB)", 2)
    row = table.splitlines()[-1]
    n = len(sr_peers.PROTOCOL)
    assert row.startswith("| m | 20.00 |")
    assert row.endswith(f"| {(27 * (n - 1) + 24.5) / n:.2f} | {(2 * (n - 1) - 0.5) / n:+.2f} | -0.50 (bilinear) |")


PEERS = sr_peers.PEERS


@pytest.mark.skipif(not all((PEERS / file).is_file() for file in FILES.values()), reason="no ../shared/peers/sr")
@pytest.mark.parametrize("name", NETWORKS)
def test_released_weights_load_strictly(name):
    network = sr_peers.load_network(NETWORKS[name], PEERS / FILES[name])
    assert sum(p.numel() for p in network.parameters()) == RELEASED[name][1]
