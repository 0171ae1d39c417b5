"""What the Adapt page asks of the PixelDA models (models/pixelda.py): digits translated into the target
domain's style, what each classifier reads in an image, and a classifier's features. Each call holds one of
the server's compute slots (inference.computing), so the page makes none outside one."""
import torch

import inference


def translate(model, digit: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """One digit (1, 3, H, W) in [0, 1] translated with each noise vector (n, Z): (n, 3, S, S) in [0, 1]."""
    with inference.computing():
        return model.translate(digit.expand(len(noise), -1, -1, -1), noise=noise)


def read(classifiers: dict, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each classifier's softmax (N, K) for images (N, 3, H, W) in [0, 1], by the classifiers' keys; uncalibrated,
    as the page shows it."""
    with inference.computing():  # one slot for all of them: the page shows their readings side by side
        return {name: torch.softmax(model.predict(images), 1) for name, model in classifiers.items()}


def features(model, images: torch.Tensor) -> torch.Tensor:
    """The classifier's last hidden layer (N, D) for images (N, 3, H, W) in [0, 1]."""
    with inference.computing():
        return model.features(images)
