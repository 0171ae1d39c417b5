"""An ensemble of calibrated classifiers: the mean of its members' calibrated probabilities.

Members are any `CalibratedClassifier` families with the same classes: networks that err differently, so
their mean errs less. The chest X-ray model is two small ResNets of the same recipe and different seeds; the
COVID CT model, the k-means network and a small ResNet started from the chest X-ray model. Each member keeps
its own config, weights and temperature; the ensemble's logits are log(mean_m P_m), and its own temperature
and threshold are fitted on validation like any classifier's (`train.py ensemble --members A B ...`, which
trains nothing).

One folder holds it all: config.json lists each member's config (with its family) and model.safetensors
holds member i's tensors under `members.i.`, so loading stays strict. Grad-CAM of an ensemble is the
mean of its members' heat maps (saliency.grad_cam).
"""
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .classifier import CalibratedClassifier
from .registry import get, register


@dataclass
class EnsembleConfig:
    class_names: list[str] = field(default_factory=lambda: ["CT_NonCOVID", "CT_COVID"])
    # Each member's config.json as a dict, "family" included, e.g. {"family": "kmeans", "image_size": 96, ...}.
    members: list[dict] = field(default_factory=list)
    in_channels: int = 1
    image_size: int = 160  # the size images are loaded at for evaluation: the largest member's (each resizes its own)


@register("ensemble")
class Ensemble(CalibratedClassifier):
    Config = EnsembleConfig

    def __init__(self, config: EnsembleConfig):
        super().__init__(config)
        if not config.members:
            raise ValueError("an ensemble needs at least one member")
        built = []
        for member in config.members:
            settings = dict(member)
            family = get(settings.pop("family"))
            if not issubclass(family, CalibratedClassifier):
                raise ValueError(f"ensemble members are classifiers; {family.family!r} is not one")
            built.append(family(family.Config(**settings)))
        for model in built:
            if model.class_names != list(config.class_names):
                raise ValueError(f"every member must have the ensemble's classes {list(config.class_names)}; "
                                 f"a {model.family!r} member has {model.class_names}")
        self.members = nn.ModuleList(built)
        self.add_calibration()

    def member_log_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Each member's calibrated log-probabilities (M, B, K)."""
        return torch.stack([torch.log_softmax(m(images) / m.temperature, dim=1) for m in self.members])

    @staticmethod
    def pool(log_probabilities: torch.Tensor) -> torch.Tensor:
        """(M, B, K) -> log of the members' mean probability (B, K): the ensemble's logits."""
        return torch.logsumexp(log_probabilities, dim=0) - math.log(len(log_probabilities))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The ensemble's (uncalibrated) logits (B, K): log of the mean of its members' calibrated probabilities."""
        return self.pool(self.member_log_probabilities(images))

    @torch.no_grad()
    def predict_with_members(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(`predict`'s answer (B, K), each member's calibrated probabilities (M, B, K)), from one pass of each."""
        members = self.member_log_probabilities(images)
        return torch.softmax(self.pool(members) / self.temperature, dim=1), members.exp()

    def embedding(self, images: torch.Tensor) -> torch.Tensor:
        """The members' embeddings side by side (B, sum of D_m)."""
        return torch.cat([m.embedding(images) for m in self.members], dim=1)

    def configure_optimizers(self, lr: float):
        return []  # nothing is trained: the members were, on their own

    def training_step(self, batch, optimizers):
        raise RuntimeError("an ensemble is not trained; train its members, then `train.py ensemble --members ...`")
