"""The field side by side (issue 29, item 4): other projects' x4 super-resolution models next to bicubic and
the lab's own, on Set5 and Set14, under every degradation of evaluate.py's protocol.

    pip install -r requirements-bench.txt     # once: OpenCV's dnn_superres, for the FSRCNN, ESPCN, LapSRN peers
    python scripts/sr_peers.py --data-root ../shared/data [--models srresnet-x4 srgan-x4] [--repeats 3]

The peers are the trained models in ../shared/peers/sr (its README says where each comes from, its licence
and what it was trained on). They are for benchmarks only: read from there, never copied into the
repository or weights/, never offered by the app. A peer whose file is absent (or the whole folder) is
skipped with a printed note, as are the OpenCV peers when OpenCV with dnn_superres is not installed.

- OpenCV `dnn_superres`: FSRCNN, ESPCN, LapSRN (TensorFlow graphs; 8-bit BGR in and out, as OpenCV expects).
- RFDN (Liu et al. 2020, MIT) and CARN-M (Ahn et al. 2018, MIT): PyTorch state dicts, whose networks are
  written below so that they load with `weights_only=True` and `strict=True`.

Protocol, as evaluate.py's `degradation_table`: each HR image cropped to a multiple of 4, made small by each
degradation of degradations.PROTOCOL (noise seeded by the image's index), and, as a first column, the
benchmark's own LR images (MATLAB bicubic). Every method answers through the same function of a read
image (`superres.upscale` for bicubic and the lab's models); PSNR-Y and SSIM-Y by `superres.compare`
(4-px border), per image, then averaged per set. Then the seconds for one 512x512 -> 2048x2048 upscale
(a crop of Set14's img_002, as `benchmark.py --sr`), on one torch thread (and one OpenCV thread), and
the parameters. Prints Markdown tables (BENCHMARKS.md); progress goes to stderr.
"""
import argparse
import math
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
import data  # noqa: E402
import inference  # noqa: E402
import superres  # noqa: E402
import weights_dir  # noqa: E402
from degradations import PROTOCOL  # noqa: E402
from images import LoadedImage, read_image  # noqa: E402

PEERS = ROOT.parent / "shared" / "peers" / "sr"  # ../shared/peers/sr beside the repository
SETS = ("Set5", "Set14")
BENCHMARK_LR = "benchmark LR"  # the first column: the sets' own *_LR.png (MATLAB's antialiased bicubic)
# Set5 / Set14 benchmark-LR PSNR-Y as measured in ../shared/peers/sr/README.md: a peer whose figure differs
# by more than 0.02 dB is not being run as its authors ran it (wrong network or input range).
README_PSNR_Y = {"bicubic": (28.43, 26.09), "FSRCNN": (28.41, 26.18), "ESPCN": (28.38, 26.16),
                 "LapSRN": (28.75, 26.38), "RFDN": (32.16, None), "CARN-M": (31.88, None)}


def conv3(c_in: int, c_out: int, **kwargs) -> nn.Conv2d:
    """3x3 convolution that keeps the size."""
    return nn.Conv2d(c_in, c_out, 3, padding=1, **kwargs)


# -- RFDN: Liu, Tang and Wu, "Residual Feature Distillation Network for Lightweight Image Super-Resolution",
# ECCV 2020 workshops (AIM 2020 efficient SR winner). Layer names are the authors', so their state dict loads.

class ESA(nn.Module):
    """Enhanced spatial attention: a mask in (0, 1) per feature and pixel, computed cheaply at about a sixth of
    the resolution (a stride-2 convolution, then a 7x7 max-pool of stride 3) so that it sees a wide field."""

    def __init__(self, channels: int):
        super().__init__()
        f = channels // 4
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2)  # no padding, as the authors'
        self.conv_max = conv3(f, f)
        self.conv3 = conv3(f, f)
        self.conv3_ = conv3(f, f)
        self.conv4 = nn.Conv2d(f, channels, 1)

    def forward(self, x):
        reduced = self.conv1(x)  # (B, C/4, H, W)
        small = F.max_pool2d(self.conv2(reduced), kernel_size=7, stride=3)  # (B, C/4, ~H/6, ~W/6)
        small = self.conv3_(F.relu(self.conv3(F.relu(self.conv_max(small)))))
        small = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, C/4, H, W)
        return x * torch.sigmoid(self.conv4(small + self.conv_f(reduced)))


class RFDB(nn.Module):
    """Residual feature distillation block: three steps each keep a 1x1 'distilled' slice of C/2 features and
    refine all C with a residual 3x3; a last 3x3 gives the fourth slice; the 2C kept features are fused back
    to C by a 1x1 convolution and weighted by the ESA."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.c1_d, self.c1_r = nn.Conv2d(channels, half, 1), conv3(channels, channels)
        self.c2_d, self.c2_r = nn.Conv2d(channels, half, 1), conv3(channels, channels)
        self.c3_d, self.c3_r = nn.Conv2d(channels, half, 1), conv3(channels, channels)
        self.c4 = conv3(channels, half)
        self.c5 = nn.Conv2d(4 * half, channels, 1)
        self.esa = ESA(channels)

    def forward(self, x):
        kept = []
        for distil, refine in ((self.c1_d, self.c1_r), (self.c2_d, self.c2_r), (self.c3_d, self.c3_r)):
            kept.append(F.leaky_relu(distil(x), 0.05))
            x = F.leaky_relu(refine(x) + x, 0.05)
        kept.append(F.leaky_relu(self.c4(x), 0.05))
        return self.esa(self.c5(torch.cat(kept, 1)))  # (B, 2C, H, W) -> (B, C, H, W)


class RFDN(nn.Module):
    """Four RFDBs at low resolution, their outputs fused by a 1x1 convolution, a global residual, then one
    sub-pixel convolution to x4. Pixels in [0, 255] in and out (the released weights were trained so)."""
    INPUT_RANGE = 255.0

    def __init__(self, channels: int = 50, scale: int = 4):  # 50 features: the AIM 2020 model (433k parameters)
        super().__init__()
        self.fea_conv = conv3(3, channels)
        self.B1, self.B2, self.B3, self.B4 = (RFDB(channels) for _ in range(4))
        self.c = nn.Sequential(nn.Conv2d(4 * channels, channels, 1), nn.LeakyReLU(0.05))
        self.LR_conv = conv3(channels, channels)
        self.upsampler = nn.Sequential(conv3(channels, 3 * scale ** 2), nn.PixelShuffle(scale))

    def forward(self, x):  # (B, 3, H, W) -> (B, 3, 4H, 4W)
        features = self.fea_conv(x)
        outputs, h = [], features
        for block in (self.B1, self.B2, self.B3, self.B4):
            h = block(h)
            outputs.append(h)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outputs, 1))) + features)


# -- CARN-M: Ahn, Kang and Sohn, "Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual
# Network", ECCV 2018: the mobile variant (group convolutions, one residual block shared within each cascade).

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)  # RGB mean subtracted at the entry and added back at the exit


class MeanShift(nn.Module):
    """Adds `sign` x the DIV2K mean; a 1x1 convolution because the checkpoint stores it as one."""

    def __init__(self, sign: int):
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.shifter.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.shifter.bias.copy_(sign * torch.tensor(DIV2K_MEAN))

    def forward(self, x):
        return self.shifter(x)


class ConvReLU(nn.Module):
    """A 1x1 convolution and ReLU: fuses a cascade's concatenated features back to 64 channels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.ReLU())

    def forward(self, x):
        return self.body(x)


class EfficientResidual(nn.Module):
    """Two grouped 3x3 convolutions and a 1x1 (which mixes the groups), plus the input."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.body = nn.Sequential(conv3(channels, channels, groups=groups), nn.ReLU(),
                                  conv3(channels, channels, groups=groups), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 1))

    def forward(self, x):
        return F.relu(self.body(x) + x)


def cascade(x, units, fusers):
    """CARN's cascading connection: each unit's output is appended to everything before it, and a 1x1
    convolution fuses the growing concatenation into the next unit's input. (B, C, H, W) -> (B, C, H, W)."""
    stacked = out = x
    for unit, fuse in zip(units, fusers):
        stacked = torch.cat([stacked, unit(out)], 1)  # (B, C * (k + 1), H, W) after the k-th unit
        out = fuse(stacked)
    return out


class CascadingBlock(nn.Module):
    """A local cascade of three applications of one shared residual block (CARN-M's weight sharing)."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.b1 = EfficientResidual(channels, groups)
        self.c1, self.c2, self.c3 = (ConvReLU(k * channels, channels) for k in (2, 3, 4))

    def forward(self, x):
        return cascade(x, (self.b1, self.b1, self.b1), (self.c1, self.c2, self.c3))


class Upsample(nn.Module):
    """Sub-pixel upsampling by `scale`: per factor of 2 (or once for 3) a grouped 3x3 convolution to
    factor^2 x the channels, ReLU and pixel shuffle."""

    def __init__(self, channels: int, scale: int, groups: int):
        super().__init__()
        factors = [3] if scale == 3 else [2] * int(math.log2(scale))
        layers = []
        for factor in factors:
            layers += [conv3(channels, factor ** 2 * channels, groups=groups), nn.ReLU(), nn.PixelShuffle(factor)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class CARNM(nn.Module):
    """The global cascade of three cascading blocks at low resolution, then the x4 branch of the multi-scale
    upsampler (the x2 and x3 branches are in the checkpoint, so they are built, but unused here). Pixels
    in [0, 1] in and out."""
    INPUT_RANGE = 1.0

    def __init__(self, channels: int = 64, groups: int = 4, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.sub_mean, self.add_mean = MeanShift(-1), MeanShift(+1)
        self.entry = conv3(3, channels)
        self.b1, self.b2, self.b3 = (CascadingBlock(channels, groups) for _ in range(3))
        self.c1, self.c2, self.c3 = (ConvReLU(k * channels, channels) for k in (2, 3, 4))
        self.upsample = nn.ModuleDict({f"up{s}": Upsample(channels, s, groups) for s in (2, 3, 4)})
        self.exit = conv3(channels, 3)

    def forward(self, x):  # (B, 3, H, W) -> (B, 3, 4H, 4W)
        h = cascade(self.entry(self.sub_mean(x)), (self.b1, self.b2, self.b3), (self.c1, self.c2, self.c3))
        return self.add_mean(self.exit(self.upsample[f"up{self.scale}"](h)))


def load_network(cls: type[nn.Module], path: Path) -> nn.Module:
    """A peer network with its released weights, loaded strictly (every key, every shape)."""
    network = cls()
    network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return network.eval()


# -- every method answers the same way: a read image -> its x4 pixels, as superres.upscale --------------

@dataclass
class Method:
    name: str
    upscale: Callable[[LoadedImage], np.ndarray]  # -> (4H, 4W) or (4H, 4W, 3) float in [0, 1]
    parameters: int | None  # those used at x4 (None: bicubic)
    how: str  # for the timing table: tiles, passes, input format


def network_upscaler(network: nn.Module) -> Callable[[LoadedImage], np.ndarray]:
    """The whole image in one pass (no tiles), in the network's own pixel range; grayscale replicated to RGB
    and averaged back, as superres.upscale does for the lab's models."""
    @torch.no_grad()
    def upscale(image: LoadedImage) -> np.ndarray:
        x = superres.to_rgb_tensor(image.pixels) * network.INPUT_RANGE  # (1, 3, H, W)
        return superres.to_pixels(network(x) / network.INPUT_RANGE, image.grayscale)  # (4H, 4W[, 3])
    return upscale


def opencv_upscaler(cv2, path: Path, algorithm: str) -> Callable[[LoadedImage], np.ndarray]:
    """OpenCV's dnn_superres: 8-bit BGR in, 8-bit BGR out (the models work on luma; colour by bicubic)."""
    model = cv2.dnn_superres.DnnSuperResImpl_create()
    model.readModel(str(path))
    model.setModel(algorithm, superres.SCALE)

    def upscale(image: LoadedImage) -> np.ndarray:
        rgb = superres.to_rgb_tensor(image.pixels)[0].permute(1, 2, 0).numpy()  # (H, W, 3)
        bgr = np.ascontiguousarray(np.round(rgb[..., ::-1] * 255).astype(np.uint8))
        out = model.upsample(bgr)[..., ::-1].astype(np.float32) / 255  # (4H, 4W, 3) RGB
        return superres.to_pixels(torch.from_numpy(out.copy()).permute(2, 0, 1)[None], image.grayscale)
    return upscale


def count(parameters) -> int:
    return sum(p.numel() for p in parameters)


def opencv_parameters(cv2, path: Path) -> int:
    """The numbers OpenCV holds in the network's layers (its weights and biases)."""
    net, total = cv2.dnn.readNetFromTensorflow(str(path)), 0
    for name in net.getLayerNames():
        layer, index = net.getLayerId(name), 0
        while True:
            try:
                blob = net.getParam(layer, index)
            except cv2.error:  # past the layer's last blob
                break
            if blob is None or blob.size == 0:
                break
            total, index = total + blob.size, index + 1
    return total


def opencv() -> tuple[object | None, str]:
    """(cv2 with dnn_superres, "") or (None, why not)."""
    try:
        import cv2
    except ImportError:
        return None, "OpenCV is not installed (pip install -r requirements-bench.txt)"
    if not hasattr(cv2, "dnn_superres"):
        return None, (f"OpenCV {cv2.__version__} has no dnn_superres (pip install -r requirements-bench.txt: "
                      "the contrib build)")
    cv2.setNumThreads(1)  # one thread, as torch: the machine is shared
    return cv2, ""


# name, file in the peers folder, and OpenCV's name for the algorithm or the network written above
OPENCV_PEERS = [("FSRCNN", "FSRCNN_x4.pb", "fsrcnn"), ("ESPCN", "ESPCN_x4.pb", "espcn"),
                ("LapSRN", "LapSRN_x4.pb", "lapsrn")]
TORCH_PEERS = [("RFDN", "RFDN_AIM.pth", RFDN), ("CARN-M", "carn_m.pth", CARNM)]


def find_peers(folder: Path) -> tuple[list[Method], list[str]]:
    """The peers present in `folder`, ready to run, and a note for each one skipped."""
    if not folder.is_dir():
        return [], [f"no peers folder at {folder}: every peer skipped (FSRCNN, ESPCN, LapSRN, RFDN, CARN-M)"]
    methods, notes = [], []
    cv2, why = opencv()
    for name, file, algorithm in OPENCV_PEERS:
        if not (folder / file).is_file():
            notes.append(f"{name} skipped: {file} is not in {folder}")
        elif cv2 is None:
            notes.append(f"{name} skipped: {why}")
        else:
            methods.append(Method(name, opencv_upscaler(cv2, folder / file, algorithm),
                                  opencv_parameters(cv2, folder / file),
                                  f"OpenCV {cv2.__version__} dnn_superres, whole image, 8-bit BGR"))
    for name, file, cls in TORCH_PEERS:
        if not (folder / file).is_file():
            notes.append(f"{name} skipped: {file} is not in {folder}")
            continue
        network = load_network(cls, folder / file)
        loaded = used = count(network.parameters())
        if isinstance(network, CARNM):  # the x2 and x3 branches are loaded, not used
            used -= count(network.upsample["up2"].parameters()) + count(network.upsample["up3"].parameters())
        how = "PyTorch, whole image, one pass" + (f"; {loaded:,} in the file with the x2, x3 branches" if used < loaded
                                                  else "")
        methods.append(Method(name, network_upscaler(network), used, how))
    return methods, notes


def lab_methods(names: list[str]) -> tuple[list[Method], list[str]]:
    """Bicubic and the lab's models present in the weights folder, through superres.upscale."""
    methods = [Method("bicubic", lambda image: superres.upscale(image, None), None, "PIL bicubic on float pixels")]
    notes = []
    for name in names:
        if weights_dir.shipped(name) is None:
            notes.append(f"{name} skipped: not in {weights_dir.root()}")
            continue
        model = inference.load_model(name)
        c = model.config
        n = superres.passes(model)
        how = f"superres.upscale: {c.tile}-px tiles + {c.overlap}-px overlap, {n} pass{'es' if n > 1 else ''}"
        methods.append(Method(f"{name} (lab)", lambda image, model=model: superres.upscale(image, model),
                              count(model.generator.parameters()), how))
    return methods, notes


# -- the measurements --------------------------------------------------------------------------------

def read_sets(root: Path) -> dict[str, list[tuple[np.ndarray, LoadedImage]]]:
    """{set: [(HR pixels, the benchmark's LR image)]}, in file order (the index seeds the noise)."""
    sets = {}
    for name in SETS:
        highs = sorted((root / "sr" / name / "x4").glob("*_HR.png"))
        if not highs:
            raise SystemExit(f"no {name} images under {root}/sr/{name}/x4: pass --data-root (e.g. ../shared/data)")
        sets[name] = [(read_image(hr).pixels, read_image(str(hr).replace("_HR.png", "_LR.png"))) for hr in highs]
    return sets


def inputs(sets) -> dict[str, dict[str, list[tuple[LoadedImage, np.ndarray]]]]:
    """{set: {column: [(LR image, HR pixels to score against)]}}: the benchmark's LR, then each degradation
    of the protocol applied exactly as evaluate.py's degradation_table applies it."""
    out = {}
    for name, pairs in sets.items():
        columns = {BENCHMARK_LR: [(low, high) for high, low in pairs]}
        for way in PROTOCOL:
            columns[way.name] = []
            for k, (high, _) in enumerate(pairs):
                h, w = (side // superres.SCALE * superres.SCALE for side in high.shape[:2])
                high = high[:h, :w]
                small = superres.to_pixels(way(superres.to_rgb_tensor(high), scale=superres.SCALE, seed=k), False)
                low = LoadedImage(pixels=small, name=f"{name}-{k}", format="PNG", grayscale=False, bit_depth=8)
                columns[way.name].append((low, high))
        out[name] = columns
    return out


def score(method: Method, cases) -> dict[str, dict[str, dict[str, float]]]:
    """{set: {column: {"psnr_y", "ssim_y"}}}, per image then averaged."""
    out = {}
    for name, columns in cases.items():
        out[name] = {}
        for column, pairs in tqdm(columns.items(), desc=f"{method.name} on {name}", unit="way", leave=False):
            each = [superres.compare(method.upscale(low), high, y_only=True) for low, high in pairs]
            out[name][column] = {k: float(np.mean([e[k] for e in each])) for k in each[0]}
    return out


def timing(method: Method, image: LoadedImage, repeats: int) -> tuple[float, float]:
    """(p50 wall seconds, p50 CPU seconds) of one upscale, after one warm-up."""
    method.upscale(image)
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        method.upscale(image)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return float(np.median(wall)), float(np.median(cpu))


# -- the tables --------------------------------------------------------------------------------------

def quality_table(scores, methods: list[Method], set_name: str, metric: str, title: str, digits: int) -> str:
    """One set, one metric: methods x (benchmark LR, each degradation), the mean over the protocol's
    degradations, its gain over bicubic and the least gain over bicubic (and where)."""
    columns = [BENCHMARK_LR, *(way.name for way in PROTOCOL)]
    protocol = columns[1:]
    bicubic = scores["bicubic"][set_name]
    lines = [f"| {set_name}, {title} | " + " | ".join(columns) + " | protocol mean | mean gain | least gain (at) |",
             "|---" * (len(columns) + 4) + "|"]
    for method in methods:
        mine = scores[method.name][set_name]
        values = [mine[c][metric] for c in columns]
        mean = np.mean([mine[c][metric] for c in protocol])
        if method.name == "bicubic":
            gains = "| – | – |"
        else:
            gain = {c: mine[c][metric] - bicubic[c][metric] for c in protocol}
            worst = min(gain, key=gain.get)
            gains = (f"| {mean - np.mean([bicubic[c][metric] for c in protocol]):+.{digits}f} | "
                     f"{gain[worst]:+.{digits}f} ({worst}) |")
        lines.append(f"| {method.name} | " + " | ".join(f"{v:.{digits}f}" for v in values) + f" | {mean:.{digits}f} {gains}")
    return "\n".join(lines)


def reproduction(scores) -> list[str]:
    """The benchmark-LR figures beside those in the peers' README."""
    said = []
    for name, expected in README_PSNR_Y.items():
        if name not in scores:
            continue
        for set_name, figure in zip(SETS, expected):
            if figure is not None:
                got = scores[name][set_name][BENCHMARK_LR]["psnr_y"]
                verdict = "reproduced" if abs(got - figure) <= 0.02 else "NOT reproduced"
                said.append(f"{name} on {set_name}, benchmark LR: {got:.2f} dB, README {figure:.2f}: {verdict}")
    return said


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", help="where sr/Set5 and sr/Set14 are (default: $MEDLAB_DATA)")
    parser.add_argument("--peers", type=Path, default=PEERS, help="the peers' folder (default: ../shared/peers/sr)")
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        default=["srresnet-x4", "srgan-x4", "srresnet-x4-real"],
                        help="the lab's models under weights/; those absent are skipped with a note (default: srresnet-x4 srgan-x4 "
                             "srresnet-x4-real)")
    parser.add_argument("--repeats", type=int, default=3, help="timed 512 -> 2048 upscales per method, after a warm-up")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the machine's cores are shared with training
    root = data.data_root(args.data_root)
    started, load = datetime.now(timezone.utc), os.getloadavg()[0]

    # 1. the methods: bicubic, the lab's, the peers present
    ours, notes = lab_methods(args.models)
    peers, skipped = find_peers(args.peers)
    methods, notes = ours + peers, notes + skipped
    for note in notes:
        print(note, file=sys.stderr)

    # 2. the images: the benchmark's LR and every degradation of the protocol
    sets = read_sets(root)
    cases = inputs(sets)
    crop = read_image(root / "sr/Set14/x4/img_002_SRF_4_HR.png")
    crop.pixels = crop.pixels[:512, :512]

    # 3. quality, then time
    scores = {m.name: score(m, cases) for m in tqdm(methods, desc="methods", unit="method")}
    seconds = {m.name: timing(m, crop, args.repeats) for m in tqdm(methods, desc="timing", unit="method")}

    # 4. the report
    print(f"Command: `python scripts/sr_peers.py {' '.join(argv if argv is not None else sys.argv[1:])}`, "
          f"started {started:%Y-%m-%d %H:%M} UTC; machine {platform.machine()}, 1 torch thread (1 OpenCV "
          f"thread), torch {torch.__version__}; load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
          "(wall-clock seconds count the wait for a core; CPU seconds do not).\n")
    print("Set5 and Set14 x4; columns: the benchmark's own LR images (MATLAB bicubic), then each degradation of "
          "degradations.PROTOCOL applied to the HR image cropped to a multiple of 4 (noise seeded by the image's "
          "index), as evaluate.py's degradation table. Y channel (BT.601), 4-px border, per image then averaged. "
          "'protocol mean', 'mean gain' and 'least gain' are over the protocol's degradations (not the benchmark LR); "
          "gains are over bicubic.\n")
    for note in notes:
        print(f"- {note}")
    if notes:
        print()
    for metric, title, digits in (("psnr_y", "PSNR-Y (dB)", 2), ("ssim_y", "SSIM-Y", 4)):
        print(f"### {title}\n")
        for set_name in SETS:
            print(quality_table(scores, methods, set_name, metric, title, digits) + "\n")
    print("### Against the peers' README (benchmark LR, PSNR-Y)\n")
    for line in reproduction(scores):
        print(f"- {line}")
    print(f"\n### Seconds for one 512x512 -> 2048x2048 upscale (a crop of Set14's img_002), p50 of {args.repeats} "
          "after a warm-up, 1 thread\n")
    print("| method | parameters | p50 s (wall) | p50 CPU s | how |\n|---|---|---|---|---|")
    for m in methods:
        wall, cpu = seconds[m.name]
        parameters = "–" if m.parameters is None else f"{m.parameters:,}"
        print(f"| {m.name} | {parameters} | {wall:.2f} | {cpu:.2f} | {m.how} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak resident memory of this process: {peak:.0f} MB (the peers run whole images, without tiles).")


if __name__ == "__main__":
    main()
