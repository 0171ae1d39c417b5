"""Shared test fixtures: tiny generated data and tiny models. Nothing here reads ../shared."""
import csv
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network; read when huggingface_hub loads

import numpy as np
import pytest
import torch
from PIL import Image

import models

torch.set_num_threads(1)  # tests run beside each other and beside training jobs on 2 cores

# The smallest configuration of every registered family; a new family adds its own here.
TINY = {
    "classifier": dict(image_size=32, widths=[8, 16], depths=[1, 1]),
    "efficientnet": dict(image_size=32),  # Lite0's width is fixed by its ImageNet weights; only the input is small
    "kmeans": dict(image_size=16, patch=4, centroids=8, pyramid=[1, 2]),
    "contrastive": dict(image_size=32, widths=[8, 16], depths=[1, 1], projection=[16, 8]),
    "ensemble": dict(class_names=["NORMAL", "PNEUMONIA"], image_size=32, members=[
        dict(family="classifier", class_names=["NORMAL", "PNEUMONIA"], image_size=32, widths=[8, 16], depths=[1, 1]),
        dict(family="kmeans", class_names=["NORMAL", "PNEUMONIA"], image_size=16, patch=4, centroids=8, pyramid=[1, 2])]),
    "unet": dict(image_size=32, widths=[4, 8, 16]),
    # tile 16 < the 40-px test images: the round-trip test goes through tiled inference too
    "srresnet": dict(channels=8, blocks=1, upsample_channels=4, tile=16, overlap=10),
    "srgan": dict(channels=8, blocks=1, upsample_channels=4, tile=16, overlap=10, discriminator_widths=[4, 8]),
    "pixelda": dict(generator_width=4, generator_blocks=1, discriminator_widths=[4, 8, 16, 32]),
    "vae": dict(image_size=16, widths=[4, 8], strides=[2, 2], dense=16, latent_dim=2),
    "dcgan": dict(image_size=16, widths=[8, 4], latent_dim=8, class_names=["a", "b"]),
    "cgan": dict(image_size=16, widths=[8, 4], latent_dim=8, embed_dim=4, class_names=["a", "b"]),
    "acgan": dict(image_size=16, widths=[8, 4], latent_dim=8, embed_dim=4, class_names=["a", "b"]),
}


def tiny_model(family: str, **overrides):
    cls = models.get(family)
    return cls(cls.Config(**{**TINY[family], **overrides}))


def fake_xray(rng: np.random.Generator, pneumonia: bool, size: int = 48) -> np.ndarray:
    """A gray square with a dark 'lung field'; pneumonia adds a bright patch: learnable in one epoch."""
    image = rng.normal(0.55, 0.05, (size, size))
    image[8:40, 6:42] -= 0.3
    if pneumonia:
        y, x = rng.integers(10, 26, 2)
        image[y:y + 12, x:x + 12] += 0.45
    return (image.clip(0, 1) * 255).astype(np.uint8)


def make_chest_xray_tree(root: Path, n_train: int = 20, n_test: int = 6, seed: int = 0) -> Path:
    """A miniature of ../shared/data/chest_xray: <root>/chest_xray/{train,test}/{NORMAL,PNEUMONIA} + index.csv."""
    rng = np.random.default_rng(seed)
    base = root / "chest_xray"
    rows = []
    for split, n in [("train", n_train), ("test", n_test)]:
        for label in ["NORMAL", "PNEUMONIA"]:
            (base / split / label).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                patient = f"{label[:1]}{split[:2]}{i // 2}"  # two images per patient
                path = f"{split}/{label}/{patient}-{i}.jpeg"
                Image.fromarray(fake_xray(rng, label == "PNEUMONIA")).convert("RGB").save(base / path, quality=95)
                rows.append({"path": path, "split": split, "label": label, "patient_key": patient})
    with open(base / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "split", "label", "patient_key"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def make_kvasir_tree(root: Path, n_train: int = 20, n_val: int = 4, seed: int = 0) -> Path:
    """A miniature of ../shared/data/kvasir_seg: reddish frames with a brighter disc (the 'polyp') and its mask."""
    rng = np.random.default_rng(seed)
    base = root / "kvasir_seg"
    for folder in ("images", "masks", "splits"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    ids = [f"frame{i:03d}" for i in range(n_train + n_val)]
    yy, xx = np.mgrid[:40, :48]
    for i in ids:
        cy, cx, r = rng.integers(12, 28), rng.integers(12, 36), rng.integers(5, 10)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
        image = np.stack([0.6 + 0.3 * disc, 0.3 + 0.2 * disc, 0.2 + 0.1 * disc], -1) + rng.normal(0, 0.03, (40, 48, 3))
        Image.fromarray((image.clip(0, 1) * 255).astype(np.uint8)).save(base / "images" / f"{i}.jpg", quality=95)
        Image.fromarray(disc.astype(np.uint8) * 255).save(base / "masks" / f"{i}.png")
    (base / "splits/train.txt").write_text("\n".join(ids[:n_train]) + "\n")
    (base / "splits/val.txt").write_text("\n".join(ids[n_train:]) + "\n")
    return root


def make_digits_tree(root: Path, n_train: int = 160, n_test: int = 40, seed: int = 0) -> Path:
    """A miniature of MNIST (idx .gz files), the MNIST-M test npz and BSDS500 photos, under `root`: a
    "digit" k is a bright bar at a height set by k, so a tiny classifier can learn it."""
    import gzip

    rng = np.random.default_rng(seed)

    def digits(n):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.uint8)
        for image, k in zip(images, labels):
            image[4 + 2 * k:6 + 2 * k, 6:22] = 255
        return images, labels

    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for part, n in (("train", n_train), ("t10k", n_test)):
        images, labels = digits(n)
        with gzip.open(root / "mnist" / f"{part}-images-idx3-ubyte.gz", "wb") as f:
            f.write(np.array([0x803, n, 28, 28], ">i4").tobytes() + images.tobytes())
        with gzip.open(root / "mnist" / f"{part}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(np.array([0x801, n], ">i4").tobytes() + labels.tobytes())
    images, labels = digits(n_test)
    photos = rng.integers(0, 256, (n_test, 32, 32, 3)).astype(np.uint8)
    strokes = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None].astype(int)  # (n, 32, 32, 1)
    (root / "mnist_m").mkdir(exist_ok=True)
    np.savez(root / "mnist_m/mnist_m_test.npz", images=np.abs(photos.astype(int) - strokes).astype(np.uint8),
             labels=labels)
    for part in ("train", "test"):
        (root / "sr/BSDS500" / part).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            photo = rng.integers(0, 256, (48, 64, 3)).astype(np.uint8)
            Image.fromarray(photo).save(root / "sr/BSDS500" / part / f"{i}.jpg", quality=90)
    return root


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_cifar_tree(root: Path, per_class_train: int = 20, per_class_test: int = 4, seed: int = 0) -> Path:
    """A miniature of ../shared/data/cifar10: the two npz subsets, `images` (N, 32, 32, 3) uint8, `labels`,
    `classes`; class k is a colour whose red channel is 20 * k, so every image's class can be read back."""
    rng = np.random.default_rng(seed)
    (root / "cifar10").mkdir(parents=True, exist_ok=True)
    for part, per_class in (("train", per_class_train), ("test", per_class_test)):
        labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), per_class))
        images = rng.integers(0, 256, (len(labels), 32, 32, 3)).astype(np.uint8)
        images[..., 0] = 20 * labels[:, None, None]
        np.savez(root / "cifar10" / f"cifar10_{part}_subset.npz", images=images, labels=labels,
                 classes=np.array(CIFAR_CLASSES))
    return root


def make_router(modality: str):
    """A tiny modality recognizer that always answers `modality` (its head ignores the image)."""
    names = ["chest_xray", "ct", "endoscopy", "other"]
    router = tiny_model("classifier", class_names=names, in_channels=3)
    with torch.no_grad():
        router.head[-1].weight.zero_()
        router.head[-1].bias.copy_(torch.tensor([8.0 if n == modality else 0.0 for n in names]))
    return router


def make_sr_tree(root: Path, seed: int = 0) -> Path:
    """A miniature of ../shared/data/sr: smooth colour photos for T91 and BSDS500 train/test, and
    Set5/Set14 x4 HR/LR pairs (LR by PIL bicubic), all small."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64] / 64

    def photo() -> Image.Image:
        f = rng.uniform(1, 4, 3)
        pixels = np.stack([0.5 + 0.4 * np.sin(f[c] * 6 * xx + rng.uniform(0, 6) + 5 * yy * c) for c in range(3)], -1)
        return Image.fromarray((pixels.clip(0, 1) * 255).astype(np.uint8))

    for folder, n in [("T91", 8), ("BSDS500/train", 8), ("BSDS500/test", 10)]:
        (root / "sr" / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            photo().save(root / "sr" / folder / f"img{i}.png")
    for name, n in [("Set5", 2), ("Set14", 2)]:
        (root / "sr" / name / "x4").mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            high = photo()
            high.save(root / "sr" / name / "x4" / f"img_{i:03d}_SRF_4_HR.png")
            high.resize((16, 16), Image.BICUBIC).save(root / "sr" / name / "x4" / f"img_{i:03d}_SRF_4_LR.png")
    return root


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_chest_xray_tree(root)
    make_kvasir_tree(root)
    make_sr_tree(root)
    make_cifar_tree(root)
    return root


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    """A weights/ folder with a tiny chest X-ray classifier and a router that says 'chest X-ray'."""
    import inference

    folder = tmp_path / "weights"
    tiny_model("classifier").save_pretrained(folder / "cxr-pneumonia")
    make_router("chest_xray").save_pretrained(folder / "modality")
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(folder))
    inference.load_model.cache_clear()
    yield folder
    inference.load_model.cache_clear()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Back to one torch thread after each test: a command line under test (train.py, evaluate.py) sets
    its own count for the whole process, and two threads beside busy cores make tiny tensor work crawl."""
    yield
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_hub_token(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def use_weights(monkeypatch):
    """Point the app at a weights folder (MEDLAB_WEIGHTS); models loaded for another folder are forgotten. Here, so
    that every page's tests have it without importing it."""
    import streamlit as st

    import inference

    def use(folder: Path) -> None:
        monkeypatch.setenv("MEDLAB_WEIGHTS", str(folder))
        inference.load_model.cache_clear()
        st.cache_resource.clear()
        st.cache_data.clear()
    return use
