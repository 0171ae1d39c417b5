"""Contrastive pretraining without labels (SimCLR: Chen, Kornblith, Norouzi and Hinton, 2020) for the
small ResNet of `classifier.py`.

For COVID-CT, whose 425 training slices are too few for that network to learn from their labels alone:
each slice is shown twice, differently cropped, turned, mirrored, exposed, blurred and noised, and the
network learns to tell which two views in a batch come from the same slice. What stays the same
between the views is the anatomy; what the augmentation changes (brightness, sharpness, framing) is
what the network learns to ignore. In COVID-CT's training split, brightness and sharpness tell the
sources apart (`scripts/ct_shortcuts.py`), so these are the cues a classifier should not learn.

The network's body has the classifier's tensor names, so a classifier starts from it with
`train.py classifier --init-from <this model's folder>` and then learns from the labels. The
projection head, through which the contrast is computed (the paper's finding: the layer before it
transfers better), is dropped then. `predict` gives the pooled body features as unit vectors.

Measured on COVID-CT (the README): networks fine-tuned from it reached validation ROC-AUC 0.73-0.80, no better
than starting from the chest X-ray model or the k-means network, so no shipped model uses it yet.
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .base import MedLabModel
from .classifier import prepare_images, resnet_body
from .registry import register


@dataclass
class ContrastiveConfig:
    in_channels: int = 1
    image_size: int = 128
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # as the classifier it pretrains
    depths: list[int] = field(default_factory=lambda: [1, 1, 2, 1])
    per_image_norm: bool = True  # each image standardised by its own mean and spread (classifier.py)
    mean: float = 0.5
    std: float = 0.25
    projection: list[int] = field(default_factory=lambda: [256, 128])  # the projection head's hidden and output widths
    temperature: float = 0.2  # of the NT-Xent loss: lower weighs the hardest negatives more


def nt_xent(z: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SimCLR's loss for 2N unit vectors, rows i and i + N the two views of one image: cross-entropy of
    picking the other view among the 2N - 1 others by cosine similarity. (loss, accuracy of that pick)."""
    n = len(z) // 2
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(-float("inf"))  # a view is not its own pair
    twins = (torch.arange(2 * n, device=z.device) + n) % (2 * n)
    return F.cross_entropy(similarity, twins), (similarity.argmax(1) == twins).float().mean()


@register("contrastive")
class ContrastiveEncoder(MedLabModel):
    Config = ContrastiveConfig
    usage = "embeddings = model.predict(images)  # (B, C, H, W) in [0, 1] -> (B, D) unit vectors"

    def __init__(self, config: ContrastiveConfig):
        super().__init__(config)
        self.stem, self.stages, width = resnet_body(config.in_channels, config.widths, config.depths)
        hidden, out = config.projection
        self.projector = nn.Sequential(nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                       nn.Linear(hidden, out))

    def embedding(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1], any size -> (B, w[-1]): the body's feature map pooled over space."""
        return self.stages(self.stem(prepare_images(images, self.config))).mean(dim=(2, 3))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, w[-1]) unit vectors: what the pretrained body makes of each image."""
        return F.normalize(self.embedding(images), dim=1)

    def contrast(self, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two views of the same B images -> (NT-Xent loss, how often a view picks its twin)."""
        z = F.normalize(self.projector(self.embedding(torch.cat([first, second]))), dim=1)
        return nt_xent(z, self.config.temperature)

    def training_step(self, batch, optimizers) -> dict[str, float]:
        (optimizer,) = optimizers
        loss, accuracy = self.contrast(*batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "twin_accuracy": accuracy.item()}

    def configure_optimizers(self, lr: float, *, weight_decay: float = 1e-4):
        return [torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay)]
