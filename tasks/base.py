"""What every task shares: the `Task` a family trains by, the labelled-image default it starts from (load,
order, augment, config, card), the --augment presets, and what each data set's model card says it cannot do.

A task's own module (classification, segmentation, super_resolution, latent, generation, adaptation) replaces
what differs; `tasks.TASKS` gathers them. Nothing here imports train.py or serving code.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from data import augment, balanced_order, load_split, reframed

LIMITATIONS = {  # what each data set's model card says the model cannot do (Task.limitations' default)
    "chest_xray": [
        "Trained on pediatric (1 to 5 years) chest X-rays from one hospital (Guangzhou): it has never seen an adult's "
        "chest X-ray, nor another site's; do not trust its answers on them.",
        "The source images were resized to 224x224, squashing the aspect ratio; the model expects such images.",
        "Images that are not frontal chest X-rays are out of scope: the app refuses them before this model is asked.",
        "Grad-CAM shows where the network looked, not why a clinician would decide.",
    ],
    "covid_ct": [
        "COVID-CT's COVID images are crops from paper figures and its non-COVID images come from other sources: "
        "a model can learn the source rather than the disease; some images carry arrows, text or borders.",
        "425 training images from a few hundred patients; the 203-image test split is small (wide confidence intervals).",
        "One slice at a time; a real diagnosis reads the whole scan with the clinical picture.",
        "It has never seen a slice straight from a scanner: every training slice is a figure from a paper, windowed, "
        "cropped and compressed by its authors. Do not trust its answer on a DICOM slice or another hospital's images.",
    ],
    "kvasir_seg": [
        "Every Kvasir-SEG image contains a polyp: how often the model 'finds' a polyp in a normal colon is unmeasured.",
        "Frames are squashed to a square for the network; masks are upsampled back to each frame's size.",
        "It has never seen another hospital's colonoscope: Kvasir-SEG's 1,000 frames come from one Norwegian health "
        "trust. Flat or very small polyps, blood, stool and instruments are rare in them: expect misses there.",
    ],
    "sr": [
        "Trained on natural photographs (T91, BSDS500) downscaled x4 as the Data section says: on low-resolution "
        "images made another way it may invent or miss detail (the degradation table in Results shows where it helps "
        "and where it hurts), and it was never trained on X-rays or CT.",
        "Super-resolution guesses detail that is not in the input: never read a diagnosis into an upscaled image.",
    ],
    "mnist": [
        "Trained on MNIST digits only: it has never seen a digit on a photo, which is why MNIST-M fools it. Its "
        "batch-norm statistics are MNIST's (dark backgrounds): on MNIST-M's bright, coloured images its features land "
        "far from where it learned digits, and it answers '8' for most of them.",
        "Digits, not medical images: this model is in the lab to show the domain gap and how PixelDA closes it.",
    ],
    "mnist_m": [
        "The unlabelled target set is synthesised from MNIST train digits with the MNIST-M recipe; they are other "
        "digits than the source's (MNIST train 30,000-56,999 vs 0-26,999), but the same writers' hand and the same "
        "recipe as the real MNIST-M test split, so the adaptation is easier than between two real domains.",
        "The generator only learns the MNIST -> MNIST-M style: any other input gets a style of digit-on-photo.",
        "Digits, not medical images: this model is in the lab to show the domain gap and how PixelDA closes it.",
    ],
    "cifar10": [
        "Trained on 9,000 CIFAR-10 photos (32 px, ten everyday classes) to judge generated CIFAR-10 images: it knows "
        "nothing else, and names one of its ten classes for any image at all.",
        "Its errors are a CIFAR classifier's (cat vs dog, automobile vs truck, bird vs airplane): a GAN-test figure "
        "cannot be trusted beyond its own accuracy on real test images, stated beside it.",
    ],
    "modality": [
        "Knows only the kinds of image it was trained on: pediatric chest X-rays, CT slices cropped from papers, "
        "colonoscopy frames, and digits and photos as 'other'. Other medical images (MRI, ultrasound, adult "
        "X-rays of other body parts) may be misrouted.",
        "It decides where an image goes, not what it shows.",
    ],
}


AUGMENTATIONS = {  # --augment: the data.augment settings, and how the model card says them
    "standard": ({}, "random rotation (10 degrees), zoom (0.85-1.15), shift, gamma and contrast"),
    # No augmentation: the k-means network (fixed filters, only a linear layer learns) scored lower on
    # COVID-CT's validation split with the standard preset's rotations, zooms and shifts than without.
    "none": (dict(rotate=0.0, scale=(1.0, 1.0), shift=0.0, contrast=0.0, gamma=0.0), "none"),
    "strong": (dict(rotate=15.0, scale=(0.75, 1.25), shift=0.1, contrast=0.4, gamma=0.5, noise=0.03, erase=0.5),
               "random rotation (15 degrees), zoom (0.75-1.25), shift, gamma and contrast, Gaussian noise, "
               "cutout (p 0.5)"),
    # For textures that matter wherever they are (COVID CT's ground glass): zoomed-in crops make the
    # network judge parts of the lungs, not a figure's frame; a mirrored slice is still a slice.
    # Chest X-ray framing differs by class (NORMAL: neck and shoulders in view; PNEUMONIA: the lungs
    # fill the frame): zooming in, up to 62% of the side, shows the network tightly framed NORMAL
    # lungs, so framing stops telling the classes apart.
    "framing": (dict(rotate=10.0, scale=(0.9, 1.6), shift=0.1, contrast=0.3, gamma=0.4, noise=0.02, erase=0.25),
                "random zoom (62-111% of the side), shift, rotation (10 degrees), gamma and contrast, Gaussian noise, "
                "cutout (p 0.25)"),
    "crops": (dict(rotate=15.0, scale=(1.0, 1.6), shift=0.15, contrast=0.4, gamma=0.5, noise=0.03, erase=0.3, flip=True),
              "random crops (62-100% of the side), horizontal flips, rotation (15 degrees), gamma and contrast, "
              "Gaussian noise, cutout (p 0.3)"),
    # Two views of one CT slice for contrastive pretraining (models/contrastive.py): everything a slice's
    # source changes (framing, exposure, how sharp the figure was) varies between them, the lungs do not.
    "contrastive": (dict(rotate=20.0, scale=(1.0, 2.0), shift=0.15, contrast=0.5, gamma=0.6, noise=0.04, erase=0.3,
                         flip=True, blur=1.5),
                    "random crops (50-100% of the side), horizontal flips, rotation (20 degrees), gamma and contrast, "
                    "Gaussian blur (sigma up to 1.5 px), Gaussian noise, cutout (p 0.3)"),
    # Small natural photos (CIFAR-10): the usual shifts by up to 4 of 32 px and mirror images (a horse
    # facing left is still a horse), a little zoom and colour jitter; no rotation (photos are upright).
    "photo": (dict(rotate=0.0, scale=(0.9, 1.1), shift=0.125, contrast=0.2, gamma=0.2, flip=True),
              "random shifts (up to 1/8 of the side), zoom (0.9-1.1), horizontal flips, gamma and contrast"),
    # Colonoscopy frames have no up or down (the scope turns freely): any rotation and both mirrors
    # are real views; the light and the tissue's tint vary by scope, so each colour channel is scaled
    # on its own. Masks are warped alike.
    "endoscopy": (dict(rotate=180.0, scale=(0.8, 1.25), shift=0.1, contrast=0.3, gamma=0.3, flip=True, vflip=True,
                       colour=0.1),
                  "random rotation (any angle), zoom (0.8-1.25), shift, horizontal and vertical flips, gamma and "
                  "contrast, per-channel colour gain (0.9-1.1)"),
}


# -- the labelled-image default, which a family's Task may replace ------------------------------------


def labelled_load(args, root: Path, split: str, *, size: int | None = None, channels: int | None = None):
    """A whole split of labelled images (or images and masks) in memory, at the network's input size
    (--image-size and --channels unless given)."""
    loaded = load_split(args.dataset, root, split, size=size or args.image_size, channels=channels or args.channels)
    return reframed(loaded, args.val_crops) if split == "val" and args.val_crops else loaded


def labelled_order(split, generator: torch.Generator) -> torch.Tensor:
    """One epoch's order: class-balanced for classifiers, a plain shuffle for segmentation."""
    return torch.randperm(len(split), generator=generator) if split.is_segmentation else balanced_order(split.labels, generator)


def labelled_batch(split, index: torch.Tensor, generator: torch.Generator, args):
    """Augmented (images, targets); masks are warped with their images."""
    images, targets = split.batch(index)
    settings = AUGMENTATIONS[args.augment][0]
    if split.is_segmentation:
        return augment(images, generator, masks=targets, **{"flip": True, **settings})
    return augment(images, generator, **settings), targets


def labelled_config(args, split) -> dict:
    """The Config fields this command line sets (a field the family lacks is ignored)."""
    return {"class_names": split.class_names, "image_size": args.image_size, "in_channels": args.channels,
            "widths": args.widths, "depths": args.depths, "per_image_norm": args.per_image_norm or None,
            "flip_average": args.flip_average or None, "variant": args.variant, "encoder": args.encoder,
            "stages": args.stages}


def labelled_card(args, split, config) -> dict:
    """What the model card says about the data the network saw and how it was augmented."""
    return {"data": f"({', '.join(split.class_names)}), {config.image_size} px "
                    f"{'grayscale' if config.in_channels == 1 else 'colour'} input",
            "augmentation": AUGMENTATIONS[args.augment][1] + (
                "; random flips, masks warped alike" if split.is_segmentation
                else "" if AUGMENTATIONS[args.augment][0].get("flip") or args.augment == "none" else "; no flips")}



@dataclass(frozen=True)
class Task:
    """What differs between families in training. The loop in train.main is the same for all of them."""

    score: Callable  # (model, val split) -> (name, value): higher is better; picks the weights kept
    finish: Callable = lambda model, split: {}  # (model, val split) -> facts fitted on validation after training
    load: Callable = labelled_load  # (args, data root, split name) -> a split: len(), .description
    order: Callable = labelled_order  # (split, generator) -> one epoch's indices
    batch: Callable = labelled_batch  # (split, indices, generator, args) -> what training_step takes
    config: Callable = labelled_config  # (args, train split) -> Config fields set from the command line
    # (args, train split, config) -> {"data": ..., "augmentation": ...} for the card; "summary" and "settings" are
    # optional ("summary" replaces the default sentence built from "data")
    card: Callable = labelled_card
    keep_last: Callable = lambda args: False  # (args) -> True: a fixed schedule, the last epoch's weights are kept
    # (model, train split, generator, args) -> None: what is learned from the training images before the first
    # step (the k-means network's filters); a resumed run has it in its checkpoint.
    fit: Callable = lambda model, split, generator, args: None
    # The options (argparse names) this family's functions read, beside train.RUN_FLAGS: train.parse_args refuses
    # any other, so that a flag the family would ignore (a unet's --latent-dim) is not dropped silently.
    flags: tuple[str, ...] = ()
    # (args) -> the card's limitations: the data set's own (LIMITATIONS) unless the task's models say otherwise
    limitations: Callable = lambda args: LIMITATIONS.get(args.dataset, [])



# Each family's flags are what its functions read. The labelled-image default: labelled_load (--image-size,
# --channels, and --val-crops, which only a classifier's validation needs) and labelled_batch (--augment);
# labelled_config's fields count only where the family's Config has them (a unet has no --depths). TRANSFER:
# what train.main reads for a pretrained backbone.
TRANSFER = ("pretrained", "freeze", "backbone_lr")
