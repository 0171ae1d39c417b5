"""New images from the shipped generators (DCGAN, CGAN, ACGAN), each with its independent judge's verdict.

Shared by `predict.py sample` and the Generate page: which generators are shipped, sampling by class
name and seed, the judge's verdict on every image, and the PNG grid and ZIP downloads.
"""
import io
import json
import zipfile
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

import cards
import evaluators
import inference
import latent
import models
import weights_dir
from models.gan import GAN

MAX_IMAGES = 64  # per request: a grid a person can look at, and bounded work per visitor
SHOWN_FIRST = "acgan-mnist"  # the page opens on the best-measured generator, not the first name in the alphabet


def is_generator(family: str) -> bool:
    """Whether a registered family is a GAN (dcgan, cgan, acgan, or any later subclass of models.gan.GAN): asked at
    each call, so a family registered after this module loaded counts too."""
    return family in models.names() and issubclass(models.get(family), GAN)


def shipped() -> list[str]:
    """Names of the generator weights folders in the weights folder (their config.json names a GAN family),
    SHOWN_FIRST first when it is shipped."""
    names = [name for name, family in weights_dir.families().items() if is_generator(family)]
    return sorted(names, key=lambda name: name != SHOWN_FIRST)  # stable: the rest keep their order


def facts(name: str) -> tuple[dict, dict]:
    """The model card's facts (`medlab:` front matter) and the measured eval.json ({} if not measured)."""
    folder = weights_dir.root() / name
    measured = folder / "eval.json"
    return cards.read_meta(folder), (json.loads(measured.read_text()) if measured.exists() else {})


@dataclass
class Sample:
    images: torch.Tensor  # (N, C, S, S) in [0, 1]
    requested: str | None  # the class asked for (None: unconditional)
    verdicts: list[tuple[str, float]]  # the judge's class and its probability, per image
    judge: str | None  # the judge's weights name


def measured_rows(measured: dict) -> list[dict]:
    """eval.json of a generator -> one row per class: GAN-test beside the judge's recall on real images,
    the Fréchet distance beside its floor, and diversity generated vs real."""
    rows = []
    for cls, fid in measured["frechet"].items():
        diversity = measured["diversity"][cls]
        rows.append({"class": cls,
                     "GAN-test": measured.get("gan_test", {}).get("per_class", {}).get(cls),
                     "judge on real images": measured["judge"]["recall_on_real"].get(cls),
                     "Fréchet distance": fid["generated_vs_real"], "floor (real vs real)": fid["floor_real_vs_real"],
                     "diversity: generated": diversity["generated"], "diversity: real": diversity["real"]})
    return rows


def measured_columns() -> dict:
    """How `measured_rows` is shown, on the Generate and the Evaluate page alike: shares as percentages."""
    import streamlit as st

    percent, number = st.column_config.NumberColumn(format="percent"), st.column_config.NumberColumn(format="%.3f")
    return {"GAN-test": percent, "judge on real images": percent, "Fréchet distance": number,
            "floor (real vs real)": number, "diversity: generated": number, "diversity: real": number}


MEANINGS = (
    "- **GAN-test**: of the images generated for a class, the share the judge reads as that class; beside it, "
    "the judge's own recall on real test images of that class, shrunk to the generator's size: the judge "
    "cannot be trusted beyond it.\n"
    "- **Fréchet distance**: how far the generated images' features (in the judge's network) are from the real "
    "ones'; the floor is the distance between two halves of the real images, what a perfect generator would "
    "reach with this many images.\n"
    "- **Diversity**: 1 minus the mean structural similarity (SSIM) of random pairs within a class: near 0 means "
    "the generator makes the same image again and again (mode collapse); it should be at least 80% of the real "
    "images' figure.")


def judge_of(name: str) -> str | None:
    """The weights name of the judge of the data set the generator `name` learned (evaluators.EVALUATORS)."""
    return evaluators.EVALUATORS.get(cards.read_meta(weights_dir.root() / name).get("dataset"))


def sample(model, label: str | None, n: int, seed: int, *, truncation: float | None = None, judge=None) -> Sample:
    """`n` images of class `label` (None for a DCGAN) from a loaded generator, noise from `seed`, each with the
    verdict of `judge` (a loaded classifier, or None). Raises ValueError, saying what to do, for bad requests."""
    if not isinstance(model, GAN):
        raise ValueError(f"this is a {model.family} model, not a generator (a GAN)")
    if not 1 <= n <= MAX_IMAGES:
        raise ValueError(f"ask for 1 to {MAX_IMAGES} images, not {n}")
    generator = torch.Generator().manual_seed(seed)
    if model.conditional and label not in model.class_names:
        raise ValueError(f"unknown class {label!r}: this generator makes {', '.join(model.class_names)}")
    if not model.conditional and label is not None:
        raise ValueError("this generator is unconditional (DCGAN): it cannot be asked for a class; leave the label out")
    verdicts = []
    with inference.computing():  # a model call like any other: it waits for one of the server's slots
        images = model.sample([label] * n if model.conditional else n, generator, truncation=truncation)
        if judge is not None:
            probabilities, _ = evaluators.judge(judge, images)
            verdicts = [(judge.class_names[int(p.argmax())], float(p.max())) for p in probabilities]
    return Sample(images, label, verdicts, getattr(getattr(judge, "folder", None), "name", None))


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(C, S, S) in [0, 1] -> (S, S) or (S, S, 3) uint8."""
    return latent.to_uint8(image[None])[0]


def png(image: torch.Tensor, *, scale: int = 1) -> bytes:
    picture = Image.fromarray(to_uint8(image))
    if scale > 1:  # nearest: enlarged pixels, nothing invented
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def grid(images: torch.Tensor, *, columns: int = 8, padding: int = 2) -> torch.Tensor:
    """(N, C, S, S) -> one (C, H, W) image, rows of `columns`, white padding."""
    n, c, s, _ = images.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    out = torch.ones(c, rows * (s + padding) + padding, columns * (s + padding) + padding)
    for i, image in enumerate(images):
        y, x = padding + (i // columns) * (s + padding), padding + (i % columns) * (s + padding)
        out[:, y:y + s, x:x + s] = image
    return out


def zip_of_pngs(images: torch.Tensor, stem: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, image in enumerate(images):
            archive.writestr(f"{stem}-{i:02d}.png", png(image))
    return buffer.getvalue()
