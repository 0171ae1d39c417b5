"""What differs between model families in training, one module per task; train.py's loop is the same for all.

    base.py              the `Task` (what a family's training replaces), the labelled-image default, --augment
                         presets, each data set's card limitations
    classification.py    classifiers (ROC-AUC / accuracy, then temperature and threshold), k-means, ensembles,
                         contrastive pretraining
    segmentation.py      the U-Net (Dice, then the mask threshold)
    super_resolution.py  SRResNet, SRGAN (random patches; PSNR, sharpness match)
    latent.py            VAEs (the ELBO)
    generation.py        GANs (a fixed schedule, monitored by the data set's judge)
    adaptation.py        PixelDA (labelled source, unlabelled target)

Each module owns its families' `TASKS` entries and `SETTINGS` (the training recipe in words, for the card);
here they are gathered, and `task_of` finds any family's Task. Nothing here imports train.py or serving code.
"""
from dataclasses import fields, replace

import models
from models.classifier import CalibratedClassifier
from tasks import adaptation, classification, generation, latent, segmentation, super_resolution
from tasks.base import Task
from tasks.classification import CLASSIFIER_TASK


TASKS = {
    **classification.TASKS,
    **segmentation.TASKS,
    **super_resolution.TASKS,
    **latent.TASKS,
    **generation.TASKS,
    **adaptation.TASKS,
}


SETTINGS = {  # what the model card says about each family's training recipe; a classifier may go without (`recipe`)
    **classification.SETTINGS,
    **segmentation.SETTINGS,
    **super_resolution.SETTINGS,
    **latent.SETTINGS,
    **generation.SETTINGS,
    **adaptation.SETTINGS,
}


# A family declares its task by the class it subclasses, not by an attribute naming it: CalibratedClassifier is the
# contract the rest of the lab already reads (inference routes any of them, evaluate.py measures them on its
# default branch, Grad-CAM explains their `features`), so a `task = "classification"` beside it could only disagree
# with it. A new classifier family therefore needs no line here; a family that trains otherwise has its own entry.
def task_of(family: str) -> Task:
    """The family's entry in TASKS; else, for a CalibratedClassifier, CLASSIFIER_TASK with the flags its Config
    can take: labelled_config's --widths, --depths and --per-image-norm only where the Config has that field
    (train.parse_args then refuses them rather than drop them), the data's (--image-size, --channels, --val-crops,
    --augment) always. A KeyError, saying what to do, for any other family."""
    if family in TASKS:
        return TASKS[family]
    if family not in models.names():
        raise KeyError(f"unknown family {family!r}; choose from {', '.join(models.names())}")
    cls = models.get(family)
    if not issubclass(cls, CalibratedClassifier):
        raise KeyError(f"family {family!r} is not a classifier and has no Task: add its entry to its task's TASKS "
                       "(a module of tasks/)")
    has = {f.name for f in fields(cls.Config)}
    return replace(CLASSIFIER_TASK, flags=tuple(f for f in CLASSIFIER_TASK.flags
                                                if f not in ("widths", "depths", "per_image_norm") or f in has))


def recipe(family: str, optimizers) -> dict:
    """What the model card says about the family's training recipe: its SETTINGS entry; else (a classifier
    that `task_of` found by its class) what every such classifier is trained with, the optimisers named as its
    configure_optimizers built them. A KeyError for another family without an entry."""
    if family in SETTINGS:
        return SETTINGS[family]
    cls = models.get(family)
    if not issubclass(cls, CalibratedClassifier):
        raise KeyError(f"family {family!r} has no training recipe for its card: add its entry to its task's "
                       "SETTINGS (a module of tasks/)")
    named = ", ".join(type(o).__name__ + (f" (weight decay {o.defaults['weight_decay']:g})"
                                          if o.defaults.get("weight_decay") else "") for o in optimizers)
    own_step = cls.training_step is not CalibratedClassifier.training_step
    return {"optimiser": f"{named}, cosine schedule with warm-up",
            "loss": f"{cls.__name__}.training_step's own" if own_step else "cross-entropy, label smoothing 0.05",
            "class imbalance": "class-balanced sampling"}
