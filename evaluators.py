"""Independent judges of generated images: for each data set a generator learns, a classifier trained
on that data set's real images only (never on generated ones), shipped in weights/.

GAN-test asks the judge which class each generated image shows; the Fréchet distance compares the
judge's features of generated and real images. A judge's own accuracy on real test images bounds what
its verdicts on generated ones can mean: report it beside them.
"""
import torch

from models.classifier import CalibratedClassifier

# data set -> the weights folder name (in weights/) of its judge. Generators of a data set are judged
# by the same network, whichever family they are.
EVALUATORS = {
    "mnist": "mnist-source-only",  # the PixelDA task classifier trained on MNIST alone: MNIST test 0.991
    "chest_xray": "cxr-pneumonia",
    "cifar10": "cifar10-classifier",  # a small ResNet trained on the CIFAR-10 train subset alone
    "covid_ct": "covid-ct",  # the COVID CT ensemble (fine-tuned Lite0 + the k-means network and a small ResNet)
}

# The noise seed a generator's images are drawn from, by the split they are measured against: a generator
# chosen on validation (evaluate.py --split val, or train.py's monitor) never saw the images its test
# figures are read from.
GENERATOR_SEEDS = {"test": 0, "val": 1, "train": 2}


@torch.no_grad()
def judge(model, images: torch.Tensor, *, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities (N, K) and a feature vector per image (N, D) for images (N, C, H, W) in [0, 1],
    whatever the judge's family: a classifier's `embedding` (its pooled features), or any other model's
    `features` (B, D)."""
    probabilities, features = [], []
    for chunk in images.split(batch):
        if isinstance(model, CalibratedClassifier):  # the ResNet classifier, the k-means network, an ensemble
            features.append(model.embedding(chunk))
            probabilities.append(model.predict(chunk))
        else:  # families whose predict returns logits (PixelDA's task classifier)
            features.append(model.features(chunk))
            probabilities.append(torch.softmax(model.predict(chunk), dim=1))
    return torch.cat(probabilities), torch.cat(features)
