"""A single-layer network whose filters are learned by k-means (Coates, Lee and Ng, "An analysis of
single-layer networks in unsupervised feature learning", AISTATS 2011); only its last layer is trained.

Made for COVID-CT, whose 425 training slices are too few for a deep network trained from scratch: the
small ResNet of `classifier.py` reached at best validation ROC-AUC 0.780, barely above a logistic
regression on 32x32 pixels (0.709, `scripts/ct_shortcuts.py`), and can learn the training set's sources
(brightness, how sharp each paper's figure was) instead of the lungs. Here no filter is fitted to the labels:

1. every `patch` x `patch` window of the image is standardised (its own brightness and contrast removed)
   and ZCA-whitened (the patch statistics of the training images, so edges and textures stand out);
2. k-means on windows drawn from the training images gives `centroids` prototypes: the filters;
3. a window's code is the "triangle" activation max(0, mean_k d_k - d_k) of its distances d_k to the
   prototypes: which textures it is closer to than average (the paper's best encoder);
4. codes are averaged over 1x1, 2x2 and 3x3 regions of the image (a spatial pyramid: where in the slice),
   standardised by the training images' statistics, and a linear layer gives the logits.

Steps 1-2 and the standardisation of step 4 are `fit` (before training, from the training images
alone); the linear layer is what `training_step` learns. As in `classifier.py`, a temperature and
(two classes) a threshold fitted on validation are stored with the weights (`CalibratedClassifier`).
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import luminance
from .classifier import CalibratedClassifier
from .registry import register


@dataclass
class KMeansConfig:
    class_names: list[str] = field(default_factory=lambda: ["CT_NonCOVID", "CT_COVID"])  # as the data set's folders
    in_channels: int = 1
    # Below the resolution of all but 7 of COVID-CT's 746 slices (shorter side): a small paper figure that was
    # upscaled then looks about as sharp as any other, so sharpness says little about the source.
    image_size: int = 96
    patch: int = 8  # window side in pixels (6, 8 and 10 were tried on COVID-CT's validation split: 8 scored best)
    centroids: int = 256  # prototypes (filters); 512 scored no better on validation and doubles the time
    pyramid: list[int] = field(default_factory=lambda: [1, 2, 3])  # pooling grids: 1 + 4 + 9 regions
    dropout: float = 0.3  # on the pooled codes, while training the linear layer


def standardise_windows(windows: torch.Tensor) -> torch.Tensor:
    """(N, D) windows -> each with its own mean removed and divided by its spread (+ 0.01 under the root, so
    that flat windows are not blown up into noise; the paper adds a constant for the same reason)."""
    return (windows - windows.mean(1, keepdim=True)) / (windows.var(1, keepdim=True) + 0.01).sqrt()


@register("kmeans")
class KMeansNet(CalibratedClassifier):
    Config = KMeansConfig

    def __init__(self, config: KMeansConfig):
        super().__init__(config)
        d, k = config.patch ** 2, config.centroids
        pooled = k * sum(g * g for g in config.pyramid)
        # Fitted by `fit` from training images; until then an untrained model has identity whitening and
        # random unit prototypes, so that it runs (and tests can build it) before it knows anything.
        self.register_buffer("window_mean", torch.zeros(d))
        self.register_buffer("whitening", torch.eye(d))
        self.register_buffer("prototypes", F.normalize(torch.randn(k, d, generator=torch.Generator().manual_seed(0)), dim=1))
        self.head = nn.Sequential(PyramidPool(config.pyramid), Standardise(pooled), nn.Dropout(config.dropout),
                                  nn.Linear(pooled, len(config.class_names)))  # (B, K, S', S') -> logits
        self.add_calibration()

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1], any size, 1 or 3 channels -> (B, 1, S, S) at the network's size."""
        if images.ndim != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(images.shape)}")
        if images.shape[1] == 3 and self.config.in_channels == 1:  # luminance, as images.to_tensor
            images = luminance(images)
        elif images.shape[1] != self.config.in_channels:
            raise ValueError(f"expected {self.config.in_channels}-channel images, got {images.shape[1]}")
        size = self.config.image_size
        return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)

    def windows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> every window, standardised and whitened: (B * L, D), L = (S - patch + 1)^2."""
        columns = F.unfold(x, self.config.patch).transpose(1, 2)  # (B, L, D)
        return (standardise_windows(columns.flatten(0, 1)) - self.window_mean) @ self.whitening

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Prepared images -> triangle codes (B, K, S', S'), S' = S - patch + 1: the map Grad-CAM explains."""
        b, side = len(x), x.shape[-1] - self.config.patch + 1
        distances = torch.cdist(self.windows(x), self.prototypes)  # (B*L, K)
        codes = (distances.mean(1, keepdim=True) - distances).clamp_min(0)
        return codes.view(b, side, side, -1).permute(0, 3, 1, 2)

    @property
    def window_margins(self) -> tuple[int, int]:
        """Cell i of the code map is the window whose centre is pixel i + (patch - 1) / 2 of the input."""
        return (self.config.patch - 1) // 2, self.config.patch // 2

    def embedding(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, K * g^2) for the coarsest pyramid grid g (with the default [1, 2, 3]:
        each prototype's mean code over the whole image), standardised as the linear layer sees it: the
        features a judge compares generated and real images by (unit spread, whatever the codes' scale:
        the raw codes are so small that Fréchet distances between them all round to 0)."""
        pooled = self.head[1](self.head[0](self.features(self.prepare(images))))
        return pooled[:, :self.config.centroids * self.config.pyramid[0] ** 2]

    # -- fitting the filters (no labels) -------------------------------------------------------------

    @torch.no_grad()
    def fit(self, images: torch.Tensor, *, windows: int = 150_000, iterations: int = 15,
            generator: torch.Generator | None = None) -> None:
        """Learn whitening, prototypes and code statistics from training images (N, C, H, W) in [0, 1]."""
        x = self.prepare(images)
        d = self.config.patch ** 2
        # 1. Whitening (ZCA) from a random sample of standardised windows.
        columns = F.unfold(x, self.config.patch).transpose(1, 2).reshape(-1, d)  # (N*L, D)
        sample = standardise_windows(columns[torch.randperm(len(columns), generator=generator)[:windows]])
        self.window_mean.copy_(sample.mean(0))
        values, vectors = torch.linalg.eigh(torch.cov((sample - self.window_mean).T))
        self.whitening.copy_(vectors @ torch.diag((values + 0.1).rsqrt()) @ vectors.T)  # + 0.1: the paper's regulariser
        white = (sample - self.window_mean) @ self.whitening
        # 2. Spherical k-means: prototypes start as random windows, stay unit length.
        prototypes = F.normalize(white[torch.randperm(len(white), generator=generator)[:self.config.centroids]], dim=1)
        for _ in range(iterations):
            nearest = torch.cdist(white, prototypes).argmin(1)
            sums = torch.zeros_like(prototypes).index_add_(0, nearest, white)
            counts = torch.bincount(nearest, minlength=len(prototypes)).unsqueeze(1)
            prototypes = torch.where(counts > 0, F.normalize(sums, dim=1), prototypes)  # an empty cluster keeps its prototype
        self.prototypes.copy_(prototypes)
        # 3. The pooled codes' mean and spread over the training images, for the linear layer's input.
        pool, standardise = self.head[0], self.head[1]
        pooled = torch.cat([pool(self.features(chunk)) for chunk in x.split(32)])
        standardise.mean.copy_(pooled.mean(0))
        standardise.std.copy_(pooled.std(0).clamp_min(1e-6))

    # -- training the linear layer -------------------------------------------------------------------

    def configure_optimizers(self, lr: float, *, weight_decay: float = 0.1):
        """Only the linear layer learns (the step is CalibratedClassifier's); strong weight decay, as for a
        logistic regression on many features."""
        return [torch.optim.AdamW(self.head.parameters(), lr=lr, weight_decay=weight_decay)]


class PyramidPool(nn.Module):
    """(B, K, H, W) -> (B, K * sum(g^2)): the mean code over each cell of a g x g grid, for each g."""

    def __init__(self, grids: list[int]):
        super().__init__()
        self.grids = list(grids)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.adaptive_avg_pool2d(codes, g).flatten(1) for g in self.grids], 1)


class Standardise(nn.Module):
    """Pooled codes (B, F) -> (codes - mean) / std, with the training images' statistics (set by `fit`)."""

    def __init__(self, features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return (pooled - self.mean) / self.std
