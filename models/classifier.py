"""Image classifier: a small ResNet (He et al., 2016) trained from scratch, with calibrated outputs.

Used for chest X-ray pneumonia (NORMAL / PNEUMONIA) and, later, COVID CT. The network sees grayscale
images resized to `image_size`; `predict` takes images of any size in [0, 1] and returns calibrated
class probabilities: softmax(logits / T), where the temperature T (Guo et al., 2017) and, for two
classes, the decision threshold on the positive class are fitted on validation data by the training
command and stored with the weights.
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .base import MedLabModel
from .blocks import ResidualBlock, conv_bn_act, luminance
from .registry import register


@dataclass
class ClassifierConfig:
    class_names: list[str] = field(default_factory=lambda: ["NORMAL", "PNEUMONIA"])  # as the data set's folders
    in_channels: int = 1  # X-rays and CT slices are grayscale
    image_size: int = 192  # the shipped chest X-ray copies are 224 px; 192 keeps a CPU epoch to about a minute
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # channels per stage; each stage halves H, W
    depths: list[int] = field(default_factory=lambda: [1, 1, 2, 1])  # residual blocks per stage
    dropout: float = 0.2  # before the linear head; the training sets are small
    mean: float = 0.5  # input normalisation happens inside the model, so callers pass plain [0, 1] images
    std: float = 0.25
    # Standardise each image by its own mean and spread instead of (mean, std): exposure and black level
    # then carry no signal. They differ between the chest X-ray set's official train and test images.
    per_image_norm: bool = False


def resnet_body(in_channels: int, widths: list[int], depths: list[int]) -> tuple[nn.Module, nn.Module, int]:
    """(stem, stages, channels out): the small ResNet's convolutional body, shared by the classifier and the
    contrastive encoder that pretrains it (models/contrastive.py), so that their tensors have the same names."""
    if len(widths) != len(depths):
        raise ValueError("widths and depths need one entry per stage")
    stem = conv_bn_act(in_channels, widths[0], stride=2)  # (B, w0, S/2, S/2)
    stages, c_in = [], widths[0]
    for width, depth in zip(widths, depths):
        blocks = [ResidualBlock(c_in, width, stride=2)] + [ResidualBlock(width, width) for _ in range(depth - 1)]
        stages.append(nn.Sequential(*blocks))
        c_in = width
    return stem, nn.Sequential(*stages), c_in  # stages: (B, w[-1], S/2^(1+stages), ...)


def prepare_images(images: torch.Tensor, config) -> torch.Tensor:
    """(B, C, H, W) in [0, 1], any size and 1 or 3 channels -> the normalised input of a network with
    `config`'s in_channels, image_size, per_image_norm, mean and std."""
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(images.shape)}")
    if images.shape[1] != config.in_channels:
        if config.in_channels == 1 and images.shape[1] == 3:  # luminance, as images.to_tensor
            images = luminance(images)
        else:
            raise ValueError(f"expected {config.in_channels}-channel images, got {images.shape[1]}")
    size = config.image_size
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    if config.per_image_norm:
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        spread = images.std(dim=(1, 2, 3), keepdim=True).clamp_min(0.02)  # a blank image stays finite
        return (images - mean) / spread
    return (images - config.mean) / config.std


class CalibratedClassifier(MedLabModel):
    """What every MedLab image classifier shares, whatever its network. A subclass builds `prepare`
    (images -> the network's input), `features` (-> the map Grad-CAM explains) and `head` (-> logits),
    calls `add_calibration()`, and says which parameters `configure_optimizers` trains; this class gives
    the logits, the calibrated probabilities, the decision rule and the training step."""

    usage = "probabilities = model.predict(images)  # (B, C, H, W) in [0, 1] -> (B, K) calibrated, K: model.class_names"
    # Input pixels before and after the `features` map's first and last cells: (0, 0) when the map spans
    # the whole input, as a CNN's does; Grad-CAM pads the map by these before resizing it to the image.
    window_margins: tuple[int, int] = (0, 0)

    def add_calibration(self) -> None:
        # Fitted on validation after training; stored with the weights, so strict loading checks them.
        self.register_buffer("temperature", torch.ones(()))
        self.register_buffer("threshold", torch.tensor(0.5))  # on P(class 1), binary models only

    @property
    def class_names(self) -> list[str]:
        return list(self.config.class_names)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Raw (uncalibrated) logits (B, K); used for training."""
        return self.head(self.features(self.prepare(images)))

    def embedding(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, D): the feature map pooled over space, what a judge compares
        generated and real images by (evaluators.py)."""
        return self.features(self.prepare(images)).mean(dim=(2, 3))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities (B, K) for images (B, C, H, W) in [0, 1]."""
        return torch.softmax(self(images) / self.temperature, dim=1)

    @torch.no_grad()
    def predict_with_members(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(`predict`'s answer (B, K), each member's (M, B, K)): one network has no members, so None;
        an ensemble (models/ensemble.py) gives its members' answers from the same pass."""
        return self.predict(images), None

    def decide(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Class indices (B,): the fitted threshold on P(class 1) for two classes, argmax otherwise."""
        if probabilities.shape[1] == 2:
            return (probabilities[:, 1] >= self.threshold).long()
        return probabilities.argmax(dim=1)

    def training_step(self, batch, optimizers) -> dict[str, float]:
        images, labels = batch
        (optimizer,) = optimizers
        logits = self(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=0.05)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "accuracy": (logits.argmax(1) == labels).float().mean().item()}


@register("classifier")
class Classifier(CalibratedClassifier):
    Config = ClassifierConfig
    initialises_from = ("contrastive",)  # train.py --init-from: a network pretrained without labels

    def __init__(self, config: ClassifierConfig):
        super().__init__(config)
        self.stem, self.stages, c_in = resnet_body(config.in_channels, config.widths, config.depths)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout),
                                  nn.Linear(c_in, len(config.class_names)))
        self.add_calibration()

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1], any size and 1 or 3 channels -> the network's normalised input."""
        return prepare_images(images, self.config)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised input -> the last stage's feature map (B, w[-1], h, w), the layer Grad-CAM explains."""
        return self.stages(self.stem(x))

    def configure_optimizers(self, lr: float, *, weight_decay: float = 5e-4):
        return [torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay)]
