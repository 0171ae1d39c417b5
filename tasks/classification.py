"""Classification: labelled images in, one class out (the small ResNet, EfficientNet-Lite, the k-means
network, an ensemble of trained classifiers), and contrastive pretraining of a classifier's body.

A classifier is scored on validation by ROC-AUC (two classes) or accuracy, and after training its
temperature and (two classes) its decision threshold are fitted on validation. Its data are the
labelled-image default of tasks/base.py; a new CalibratedClassifier family needs no entry here
(`tasks.task_of` gives it CLASSIFIER_TASK).
"""
import logging
from pathlib import Path

import torch

import cards
import models
from data import augment
from evaluate import classifier_logits
from metrics import fit_temperature, roc_auc, youden_threshold
from tasks.base import AUGMENTATIONS, TRANSFER, Task, labelled_card, labelled_load

log = logging.getLogger("train")  # the trainer's log: train.py writes it to the run's train.log


# -- classifiers: ROC-AUC or accuracy on validation; temperature and threshold fitted on it after ---


def classifier_score(model, split) -> tuple[str, float]:
    """ROC-AUC for two classes, accuracy for more."""
    logits = classifier_logits(model, split)
    if logits.shape[1] == 2:
        return "ROC-AUC", roc_auc(torch.softmax(logits, 1)[:, 1], split.labels)
    return "accuracy", float((logits.argmax(1) == split.labels).float().mean())


def classifier_finish(model, split) -> dict:
    """Temperature scaling, then (two classes) the threshold maximising Youden's J, both on validation."""
    logits = classifier_logits(model, split)
    model.temperature.fill_(fit_temperature(logits, split.labels))
    facts = {"temperature": float(model.temperature)}
    if logits.shape[1] == 2:
        scores = torch.softmax(logits / model.temperature, 1)[:, 1]
        model.threshold.fill_(youden_threshold(scores, split.labels))
        facts["threshold (Youden's J on val)"] = float(model.threshold)
    return facts


def kmeans_fit(model, split, generator: torch.Generator, args) -> None:
    """The k-means network's filters and code statistics, from the training images alone (no labels)."""
    images, _ = split.batch(torch.arange(len(split)))
    log.info("fitting %d k-means filters on %d training images", model.config.centroids, len(split))
    model.fit(images, generator=generator)


def kmeans_card(args, split, config) -> dict:
    """The labelled card, plus how the fixed filters were made."""
    return {**labelled_card(args, split, config), "settings": {
        "filters": f"{config.centroids} prototypes from spherical k-means on whitened {config.patch}x{config.patch} "
                   f"windows of the training images, fitted before training (no labels); codes pooled over "
                   f"{' + '.join(f'{g}x{g}' for g in config.pyramid)} grids"}}


# -- contrastive pretraining: two augmented views of each training image, labels unused ---------------


# -- contrastive pretraining: two augmented views of each training image, labels unused ---------------


def contrastive_order(split, generator: torch.Generator) -> torch.Tensor:
    return torch.randperm(len(split), generator=generator)


def contrastive_batch(split, index: torch.Tensor, generator: torch.Generator, args):
    """Two independently augmented views of the same images (their labels are not read)."""
    images, _ = split.batch(index)
    settings = AUGMENTATIONS[args.augment][0]
    return augment(images, generator, **settings), augment(images, generator, **settings)


def contrastive_score(model, split) -> tuple[str, float]:
    """How often a view picks its twin among all the validation images' views (the contrastive preset,
    the same views every epoch)."""
    generator = torch.Generator().manual_seed(0)
    images, _ = split.batch(torch.arange(len(split)))
    settings = AUGMENTATIONS["contrastive"][0]
    model.eval()
    with torch.no_grad():
        _, accuracy = model.contrast(augment(images, generator, **settings), augment(images, generator, **settings))
    return "twin accuracy", float(accuracy)


def contrastive_card(args, split, config) -> dict:
    return {**labelled_card(args, split, config),
            "data": f"{config.image_size} px {'grayscale' if config.in_channels == 1 else 'colour'} input, labels unused",
            "summary": f"A small ResNet body pretrained by contrast (SimCLR) on the `{args.dataset}` training images "
                       f"without their labels, to start a classifier from: `train.py classifier --init-from "
                       f"{args.out}`."}


def ensemble_members(args) -> list[dict]:
    """The config of each --members folder (its weights are copied in by `ensemble_fit`)."""
    if not args.members or len(args.members) < 2:
        raise SystemExit("an ensemble needs --members with two or more classifier weights folders")
    return [models.base.read_config(models.base.resolve(folder)) for folder in args.members]


def ensemble_load(args, root: Path, split: str):
    """A labelled split at the largest member's input size (each member resizes to its own)."""
    configs = ensemble_members(args)
    return labelled_load(args, root, split, size=max(c["image_size"] for c in configs),
                         channels=configs[0].get("in_channels", 1))


def ensemble_config(args, split) -> dict:
    configs = ensemble_members(args)
    return {"class_names": split.class_names, "members": configs, "image_size": max(c["image_size"] for c in configs),
            "in_channels": configs[0].get("in_channels", 1)}


def ensemble_fit(model, split, generator: torch.Generator, args) -> None:
    """Each member's trained weights, loaded strictly from its folder; nothing else is learned."""
    for member, folder in zip(model.members, args.members):
        member.load_state_dict(models.load(folder).state_dict())


def ensemble_card(args, split, config) -> dict:
    """Who the members are and how each was trained (their own cards' commands)."""
    members = {}
    for i, folder in enumerate(args.members, 1):
        meta = cards.read_meta(models.base.resolve(folder))
        score = next((f"{k} {v:.3f}" for k, v in meta.get("settings", {}).items() if k.startswith("best validation")), "")
        members[f"member {i}"] = (f"{folder} ({meta.get('family', '?')}; {score}), trained by: "
                                  f"{meta.get('train_command', 'unknown')}")
    return {"augmentation": "none here (each member's own, in its command)",
            "summary": f"An ensemble of {len(config.members)} classifiers "
                       f"({', '.join(c['family'] for c in config.members)}) on `{args.dataset}`: the mean of their "
                       "calibrated probabilities, with its own temperature and threshold fitted on validation.",
            "settings": members}


# Classification: the small ResNet's Task, and any other classifier's that has no entry of its own (`task_of`).
CLASSIFIER_TASK = Task(classifier_score, classifier_finish,
                       flags=("image_size", "channels", "val_crops", "augment", "widths", "depths", "per_image_norm"))
TASKS = {
    "classifier": CLASSIFIER_TASK,
    "kmeans": Task(classifier_score, classifier_finish, fit=kmeans_fit, card=kmeans_card,
                   flags=("image_size", "channels", "val_crops", "augment")),
    # Its Config always normalises each image by itself: --per-image-norm would change nothing.
    "contrastive": Task(contrastive_score, order=contrastive_order, batch=contrastive_batch, card=contrastive_card,
                        keep_last=lambda args: True, flags=("image_size", "channels", "augment", "widths", "depths")),
    # Its size and channels are its members'; nothing is trained, so nothing is augmented.
    "ensemble": Task(classifier_score, classifier_finish, load=ensemble_load, config=ensemble_config, fit=ensemble_fit,
                     card=ensemble_card, flags=("members", "val_crops")),
    "efficientnet": Task(classifier_score, classifier_finish,
                         flags=("image_size", "channels", "val_crops", "augment", "per_image_norm", "variant", "stages",
                                *TRANSFER)),
}

SETTINGS = {  # what the model card says about each family's training recipe; a classifier may go without (`recipe`)
    "classifier": {"optimiser": "AdamW, weight decay 5e-4, cosine schedule with warm-up",
                   "loss": "cross-entropy, label smoothing 0.05", "class imbalance": "class-balanced sampling"},
    "efficientnet": {"optimiser": "AdamW, weight decay 1e-4, cosine schedule with warm-up (linear over the first "
                                  "epoch)", "loss": "cross-entropy, label smoothing 0.05",
                     "class imbalance": "class-balanced sampling",
                     "regularisation": "dropout before the head, stochastic depth (as in ImageNet training)"},
    "kmeans": {"optimiser": "AdamW on the linear layer only, weight decay 0.1, cosine schedule with warm-up",
               "loss": "cross-entropy, label smoothing 0.05", "class imbalance": "class-balanced sampling"},
    "contrastive": {"optimiser": "AdamW, weight decay 1e-4, cosine schedule with warm-up",
                    "loss": "NT-Xent (SimCLR): each image's two augmented views must pick each other among the "
                            "batch's views, by cosine similarity of the projection head's output; labels unused",
                    "model selection": "none: a fixed schedule keeps the last epoch's weights; validation reports "
                                       "how often a view picks its twin among the validation images' views"},
    "ensemble": {"combination": "the mean of the members' calibrated probabilities (equal weights); the members "
                                "are not retrained"},
}
