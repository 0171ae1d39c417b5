"""Generation: noise (and a class) in, an image out (DCGAN, conditional GAN, ACGAN).

An "epoch" is a fixed number of real images drawn from the labelled split (class-balanced for the
conditional families); the model's own training_step makes the discriminator's and the generator's
updates. Validation only monitors (GAN-test or a Fréchet distance with the data set's judge): a fixed
schedule keeps the last epoch, and nothing is fitted after.
"""
from dataclasses import dataclass, replace
from pathlib import Path

import torch

import weights_dir
from tasks.base import Task, labelled_load


GAN_LIMITATIONS = [
    "Generated images are not real patients or real digits: never use them as evidence of anything clinical, and "
    "never mix them into a test set.",
    "The judge that measures them (evaluators.py) is itself imperfect: a GAN-test figure cannot be trusted beyond the "
    "judge's own accuracy on real images, stated beside it.",
    "Small images (32 or 64 px) from a small CPU-trained network: fine detail of the real images is missing.",
]

GAN_SETTINGS = {
    "optimiser": "Adam (betas 0.5, 0.999), one for the generator and one for the discriminator, the same learning "
                 "rate; linear warm-up then cosine decay",
    "updates": "one discriminator step, then one generator step, per batch; generated images take the labels of the "
               "first half of the real batch, twice, so that pairs share a label for the mode-seeking term (MSGAN, "
               "weight `mode_seeking` in config.json)",
    "model selection": "none: a fixed schedule keeps the last epoch's weights (rule fixed before any test figure); "
                       "the validation score is monitored only",
}


# -- GANs: real images and their labels; a fixed schedule keeps the last epoch ----------------------


@dataclass
class GANImages:
    """A labelled split seen by a GAN: an "epoch" is `epoch_size` images drawn from it (a checkpoint every
    few minutes on a CPU), class-balanced for the conditional families."""

    split: object  # data.Split
    epoch_size: int | None
    balanced: bool

    def __len__(self) -> int:
        return self.epoch_size or len(self.split)  # drawn with replacement: may exceed the split

    @property
    def class_names(self) -> list[str]:
        return self.split.class_names

    @property
    def description(self) -> str:
        return self.split.description


def gan_load(args, root: Path, split: str):
    data = labelled_load(args, root, split)
    data.dataset_name = args.dataset  # gan_score finds the judge by it
    return GANImages(data, args.epoch_size, args.family != "dcgan") if split == "train" else data


def gan_order(data: GANImages, generator: torch.Generator) -> torch.Tensor:
    """Conditional families: every class equally often (the label is an input); DCGAN: the data's own mix."""
    labels = data.split.labels
    if data.balanced:
        counts = torch.bincount(labels).float()
        return torch.multinomial((1.0 / counts)[labels], len(data), replacement=True, generator=generator)
    return torch.randint(len(labels), (len(data),), generator=generator)


def gan_batch(data: GANImages, index: torch.Tensor, generator: torch.Generator, args):
    images, labels = data.split.batch(index)
    return images, labels, generator  # no augmentation here: DiffAugment, if on, is the model's


_JUDGES: dict = {}


def gan_score(model, split) -> tuple[str, float]:
    """Monitoring only (the last epoch is kept, whatever this says): GAN-test of 50 images per class with
    the data set's judge (evaluators.py) for conditional families, or minus the Fréchet distance between
    the judge's features of 200 generated and 200 val images for DCGAN; 0 when the data set has no judge."""
    import evaluators
    from metrics import frechet_distance, gan_test

    dataset = getattr(split, "dataset_name", None)
    name = evaluators.EVALUATORS.get(dataset)
    folder = weights_dir.shipped(name) if name else None
    if folder is None:
        return "none (no judge)", 0.0
    judge = _JUDGES.get(folder) or _JUDGES.setdefault(folder, weights_dir.load(name))  # by folder: MEDLAB_WEIGHTS may move
    model.eval()
    generator = torch.Generator().manual_seed(evaluators.GENERATOR_SEEDS["val"])
    if model.conditional:
        requested = torch.arange(len(model.class_names)).repeat_interleave(50)
        probabilities, _ = evaluators.judge(judge, model.sample(requested, generator))
        return "GAN-test", gan_test(probabilities.numpy(), requested.numpy(), model.class_names)["overall"]
    _, fake = evaluators.judge(judge, model.sample(200, generator))
    _, real = evaluators.judge(judge, split.batch(torch.randperm(len(split), generator=generator)[:200])[0])
    return "minus Fréchet distance", -frechet_distance(fake.numpy(), real.numpy())


def gan_config(args, data) -> dict:
    return {"class_names": data.class_names, "image_size": args.image_size, "in_channels": args.channels,
            "widths": args.widths, "latent_dim": args.latent_dim, "loss": args.loss, "mode_seeking": args.mode_seeking,
            "class_weight": args.class_weight, "twin_weight": args.twin_weight,
            "diff_augment": [p for p in args.diff_augment.split(",") if p]}


def gan_card(args, data, config) -> dict:
    settings = {}
    if config.class_weight != 1:
        settings["class weight"] = f"{config.class_weight} x the class cross-entropy, in D's loss and G's"
    if config.twin_weight:
        settings["twin classifier"] = (f"TAC-GAN (Gong et al., 2019): a twin class head in D learns the classes of "
                                       f"generated images; G's loss subtracts {config.twin_weight} x its cross-entropy")
    return {"data": f"({', '.join(data.class_names)}), generating {config.image_size} px "
                    f"{'grayscale' if config.in_channels == 1 else 'colour'} images; generator widths {config.widths} "
                    f"from a {config.latent_dim}-d noise vector, discriminator the same widths in reverse",
            "augmentation": ("DiffAugment (" + ", ".join(config.diff_augment) + ") on real and generated images "
                             "before the discriminator") if config.diff_augment else "none",
            "settings": settings}


GAN_FLAGS = ("image_size", "channels", "epoch_size", "widths", "latent_dim", "loss", "mode_seeking", "diff_augment")
GAN_TASK = Task(gan_score, load=gan_load, order=gan_order, batch=gan_batch, config=gan_config, card=gan_card,
                keep_last=lambda args: True, flags=GAN_FLAGS, limitations=lambda args: GAN_LIMITATIONS)

TASKS = {
    "dcgan": GAN_TASK, "cgan": GAN_TASK,
    "acgan": replace(GAN_TASK, flags=(*GAN_FLAGS, "class_weight", "twin_weight")),  # its discriminator names classes
}

SETTINGS = {  # what the model card says about each family's training recipe
    "dcgan": {**GAN_SETTINGS, "loss": "the adversarial loss named by the config's `loss`"},
    "cgan": {**GAN_SETTINGS, "loss": "the adversarial loss named by the config's `loss`; the label enters G as an "
                                     "embedding beside z and D by projection"},
    "acgan": {**GAN_SETTINGS, "loss": "the adversarial loss named by the config's `loss`, plus cross-entropy of D's "
                                      "class head: D on real images only, G on its generated images"},
}
