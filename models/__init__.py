"""MedLab's model families. Each module registers its family when imported here, by name."""
from . import classifier, contrastive, efficientnet, ensemble, gan, kmeans, pixelda, srgan, srresnet, unet, vae  # noqa: F401  (each registers its family)
from .base import MedLabModel, WeightsError, load
from .registry import get, names, register

__all__ = ["MedLabModel", "WeightsError", "get", "load", "names", "register"]
