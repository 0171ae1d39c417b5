"""Data sets for training and evaluation, read from a data root the user names.

The data root comes from `--data-root` or the MEDLAB_DATA environment variable; nothing is
downloaded and nothing is copied into the repository. Each named data set knows its own layout and
split protocol (see `SPLITS`). Images go through the same reader the app uses (`images.read_image`),
so a model is trained on exactly the preprocessing it meets at inference.
"""
import csv
import gzip
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from degradations import RESIZES, Degradation, random_degradation
from images import LUMA, read_image, to_tensor

DATA_ENV = "MEDLAB_DATA"
SPLIT_SEED = 0  # fixed: the validation split is part of the protocol, not a training choice
VAL_FRACTION = 0.1  # of the chest X-ray training patients, and of each class of the CIFAR-10 train subset


def data_root(flag: str | None) -> Path:
    root = flag or os.environ.get(DATA_ENV)
    if not root:
        raise SystemExit(f"no data root: pass --data-root DIR or set {DATA_ENV} (on this machine: ../shared/data)")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise SystemExit(f"data root {path} is not a folder")
    return path


@dataclass
class Split:
    """A whole split in memory: small enough on these data sets, and it keeps a CPU epoch fast."""

    images: torch.Tensor  # (N, C, S, S) uint8
    labels: torch.Tensor  # (N,) int64 class indices, or (N, 1, S, S) uint8 masks for segmentation
    class_names: list[str]
    files: list[str]
    description: str  # data set, split and protocol, for model cards and eval.json

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def is_segmentation(self) -> bool:
        return self.labels.ndim == 4

    def batch(self, index) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, S, S) in [0, 1] and class indices (B,) or masks (B, 1, S, S) in {0, 1}."""
        labels = self.labels[index]
        return self.images[index].float() / 255, labels.float() if self.is_segmentation else labels


def _read_files(files: list[Path], *, size: int, channels: int) -> torch.Tensor:
    def one(path):
        return (to_tensor(read_image(path), channels=channels, size=size)[0] * 255).round().to(torch.uint8)

    with ThreadPoolExecutor(max_workers=4) as pool:  # decoding releases the GIL
        return torch.stack(list(pool.map(one, files)))


def _folder_split(folder: Path, class_names: list[str] | None) -> tuple[list[Path], list[int], list[str]]:
    classes = class_names or sorted(p.name for p in folder.iterdir() if p.is_dir())
    files, labels = [], []
    for k, name in enumerate(classes):
        found = sorted(p for p in (folder / name).glob("*") if p.is_file())
        if not found:
            raise SystemExit(f"no images in {folder / name}")
        files += found
        labels += [k] * len(found)
    return files, labels, classes


def _chest_xray(root: Path, split: str) -> tuple[list[Path], list[int], list[str], str]:
    """Official test split; validation carved out of train by patient (`patient_key`), never by image."""
    base = root / "chest_xray"
    classes = ["NORMAL", "PNEUMONIA"]
    rows = list(csv.DictReader(open(base / "index.csv")))
    if split == "test":
        rows = [r for r in rows if r["split"] == "test"]
        note = "official test split"
    else:
        rows = [r for r in rows if r["split"] == "train"]
        rng = np.random.default_rng(SPLIT_SEED)
        held = set()
        for label in classes:  # stratified: the same share of NORMAL and of PNEUMONIA patients
            patients = sorted({r["patient_key"] for r in rows if r["label"] == label})
            held |= set(rng.choice(patients, size=max(1, round(VAL_FRACTION * len(patients))), replace=False))
        rows = [r for r in rows if (r["patient_key"] in held) == (split == "val")]
        note = (f"{split} part of the official train split: {VAL_FRACTION:.0%} of each class's patients held out "
                f"for val (seed {SPLIT_SEED}; no patient on both sides)")
    files = [base / r["path"] for r in rows]
    labels = [classes.index(r["label"]) for r in rows]
    return files, labels, classes, f"chest_xray {split}: {note}"


def _image_folders(name: str, class_names: list[str] | None = None):
    """Data sets laid out as <name>/<split>/<class>/<image>, with an official val split.

    Two-class sets list the negative class first: metrics and thresholds are on P(second class).
    """

    def read(root: Path, split: str):
        files, labels, classes = _folder_split(root / name / split, class_names)
        return files, labels, classes, f"{name} {split}: official split"

    return read


def _resize(images: np.ndarray, size: int, channels: int) -> torch.Tensor:
    """(N, H, W) or (N, H, W, 3) uint8 -> (N, channels, size, size) uint8, as `images.to_tensor` resizes."""
    x = torch.from_numpy(images).float() / 255
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if x.shape[1] != channels:
        x = x.expand(-1, 3, -1, -1) if channels == 3 else (x * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def read_mnist(root: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST from its four idx .gz files; part is "train" or "t10k"."""
    with gzip.open(root / "mnist" / f"{part}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(root / "mnist" / f"{part}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def _photo_crops(files: list[Path], n: int, rng: np.random.Generator, size: int, *, min_side: int = 48,
                 max_side: int | None = None) -> np.ndarray:
    """n random square crops (side min_side px to max_side or the photo's short side) of the photos, at
    size x size, RGB."""
    photos = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(min_side, min(photo.shape[:2] + (max_side or 10 ** 9,)) + 1))
        y, x = rng.integers(photo.shape[0] - side + 1), rng.integers(photo.shape[1] - side + 1)
        out[i] = np.asarray(Image.fromarray(photo[y:y + side, x:x + side]).resize((size, size), Image.BILINEAR))
    return out


MODALITIES = ["chest_xray", "ct", "endoscopy", "other"]


def _modality(root: Path, split: str, size: int, channels: int) -> Split:
    """Chest X-ray vs CT slice vs endoscopy frame vs anything else, for routing uploads.

    The medical classes take the images of their own data sets' splits (kvasir_seg: its official
    val list is our test; 10% of its train list, by seed, our val). "other" is what people upload
    by mistake: digits (MNIST), small photos (CIFAR-10) and photo crops (BSDS500), half of them
    turned gray so that a gray photo is not taken for an X-ray. Test: MNIST t10k, CIFAR-10 test,
    BSDS500 test and MNIST-M (a kind never seen in training).
    """
    rng = np.random.default_rng({"train": 1, "val": 2, "test": 3}[split])
    parts, labels, files = [], [], []

    def add(images: torch.Tensor, label: str, names: list[str]):
        parts.append(images)
        labels.extend([MODALITIES.index(label)] * len(images))
        files.extend(names)

    for label, dataset in [("chest_xray", "chest_xray"), ("ct", "covid_ct")]:
        paths = SPLITS[dataset](root, split)[0]
        add(_read_files(paths, size=size, channels=channels), label, [str(f) for f in paths])
    paths = [root / "kvasir_seg/images" / f"{i}.jpg" for i in kvasir_ids(root, split)]
    add(_read_files(paths, size=size, channels=channels), "endoscopy", [str(f) for f in paths])

    n = {"train": 1500, "val": 300, "test": 1000}[split]
    digits = read_mnist(root, "t10k" if split == "test" else "train")[0]
    pick = rng.choice(len(digits) // 2, n, replace=False) + (len(digits) // 2 if split == "val" else 0)
    add(_resize(digits[pick], size, channels), "other", [f"mnist:{i}" for i in pick])
    cifar = np.load(root / "cifar10" / ("cifar10_test_subset.npz" if split == "test" else "cifar10_train_subset.npz"))
    pick = rng.choice(len(cifar["images"]) // 2, n, replace=False) + (len(cifar["images"]) // 2 if split == "val" else 0)
    photos = cifar["images"][pick].copy()
    bsds = sorted((root / "sr/BSDS500" / ("test" if split == "test" else "train")).glob("*.jpg"))
    if split != "test":  # hold 40 of the 200 training photos out for val
        bsds = bsds[:160] if split == "train" else bsds[160:]
    crops = _photo_crops(bsds, n, rng, size)
    for batch, source in [(photos, "cifar10"), (crops, "bsds500")]:
        gray = rng.random(len(batch)) < 0.5
        batch[gray] = batch[gray].mean(-1, keepdims=True).round().astype(np.uint8)
        add(_resize(batch, size, channels), "other", [f"{source}:{i}" for i in range(len(batch))])
    if split == "test":
        mnist_m = np.load(root / "mnist_m/mnist_m_test.npz")["images"][:n]
        add(_resize(mnist_m, size, channels), "other", [f"mnist_m:{i}" for i in range(n)])
    return Split(torch.cat(parts), torch.tensor(labels), list(MODALITIES), files,
                 f"modality {split}: {', '.join(f'{MODALITIES[k]} {c}' for k, c in enumerate(np.bincount(labels)))}"
                 " (see data._modality for sources)")


# -- digits: MNIST (the source domain) and MNIST-M (the target), for domain adaptation ------------------

DIGITS = [str(d) for d in range(10)]


def mnist_parts(n: int) -> dict[str, range]:
    """How the n MNIST training digits are shared out (of 60,000: 0-26,999 the labelled source, 27,000-29,999
    its val split, 30,000-56,999 the digits of the synthetic MNIST-M target, 57,000-59,999 its val split):
    the source and the target never share a digit image."""
    cut = [0, n * 45 // 100, n // 2, n * 95 // 100, n]
    return {"source": range(cut[0], cut[1]), "source_val": range(cut[1], cut[2]),
            "target": range(cut[2], cut[3]), "target_val": range(cut[3], cut[4])}


def synthesise_mnist_m(digits: np.ndarray, crops: np.ndarray) -> np.ndarray:
    """The MNIST-M recipe (Ganin and Lempitsky, 2015): each digit blended into a photo crop of its own
    size by the absolute difference, per pixel and channel, |crop - digit|, with the digit binarised
    (any ink becomes 255, as in the published script), so strokes show the photo inverted, edges sharp.

    digits (N, h, w) uint8 (MNIST: 28x28), crops (N, h, w, 3) uint8 -> (N, h, w, 3) uint8.
    """
    if len(digits) != len(crops) or digits.shape[1:] != crops.shape[1:3]:
        raise ValueError(f"need one crop of the digits' size per digit, got digits {digits.shape} and crops {crops.shape}")
    strokes = (digits > 0).astype(np.int16)[..., None] * 255  # (N, h, w, 1), broadcast over RGB
    return np.abs(crops.astype(np.int16) - strokes).astype(np.uint8)


def _bsds_photos(root: Path) -> list[Path]:
    """BSDS500 train and test photos (never its val split, BSD100, a super-resolution test set)."""
    files = sorted((root / "sr/BSDS500/train").glob("*.jpg")) + sorted((root / "sr/BSDS500/test").glob("*.jpg"))
    if not files:
        raise SystemExit(f"no BSDS500 photos under {root / 'sr/BSDS500'}/{{train,test}}")
    return files


def _mnist(root: Path, split: str, size: int, channels: int) -> Split:
    """MNIST, the source domain: train and val are halves of the first 30,000 training digits
    (the other 30,000 make the synthetic MNIST-M target); test is the official 10,000."""
    images, labels = read_mnist(root, "t10k" if split == "test" else "train")
    keep = {**mnist_parts(len(labels)), "test": range(len(labels))}[{"train": "source", "val": "source_val"}.get(split, split)]
    note = {"train": f"MNIST train digits {keep.start}-{keep.stop - 1}",
            "val": f"MNIST train digits {keep.start}-{keep.stop - 1} (held out)", "test": "the official t10k split"}
    keep = np.arange(keep.start, keep.stop)
    return Split(_resize(images[keep], size, channels), torch.from_numpy(labels[keep].astype(np.int64)), list(DIGITS),
                 [f"mnist:{i}" for i in keep], f"mnist {split}: {note[split]}, 28 px resized to {size}")


def _mnist_m(root: Path, split: str, size: int, channels: int) -> Split:
    """MNIST-M, the target domain. test: the real MNIST-M test split (9,001 images, made from MNIST
    t10k). train and val: synthesised here with the published recipe from MNIST train digits that the
    source never uses (30,000-56,999 and 57,000-59,999) and random 28-px crops of BSDS500 photos at
    their native resolution, blended at 28 px as in the original, then resized to `size` (as the real
    32-px MNIST-M test images were). Training reads only the train images, never their
    labels; val labels serve only as a diagnostic."""
    if split == "test":
        arrays = np.load(root / "mnist_m/mnist_m_test.npz")
        return Split(_resize(arrays["images"], size, channels), torch.from_numpy(arrays["labels"].astype(np.int64)),
                     list(DIGITS), [f"mnist_m_test:{i}" for i in range(len(arrays["labels"]))],
                     "mnist_m test: the real MNIST-M test split (9,001 images)")
    images, labels = read_mnist(root, "train")
    keep = mnist_parts(len(labels))[{"train": "target", "val": "target_val"}[split]]
    keep = np.arange(keep.start, keep.stop)
    rng = np.random.default_rng({"train": 11, "val": 12}[split])
    crops = _photo_crops(_bsds_photos(root), len(keep), rng, 28, min_side=28, max_side=28)  # native resolution
    return Split(_resize(synthesise_mnist_m(images[keep], crops), size, channels),
                 torch.from_numpy(labels[keep].astype(np.int64)), list(DIGITS), [f"mnist:{i}" for i in keep],
                 f"mnist_m {split}: synthesised (|photo crop - binarised digit| at 28 px, then resized to {size}) from "
                 f"MNIST train digits {keep[0]}-{keep[-1]} and random 28-px crops of BSDS500 train+test photos (seed "
                 f"{ {'train': 11, 'val': 12}[split]})")


def kvasir_ids(root: Path, split: str) -> list[str]:
    """Kvasir-SEG image ids. test: the official 120-image val list (what we report); val: 10% of
    the official train list, drawn with the fixed seed (model selection); train: the rest."""
    lists = root / "kvasir_seg/splits"
    ids = [i.strip() for i in open(lists / ("val.txt" if split == "test" else "train.txt")) if i.strip()]
    if split == "test":
        return ids
    held = set(np.random.default_rng(SPLIT_SEED).choice(ids, size=len(ids) // 10, replace=False))
    return [i for i in ids if (i in held) == (split == "val")]


def read_mask(path: Path) -> np.ndarray:
    """A binary mask (H, W) bool from a 0/255 PNG."""
    return np.asarray(Image.open(path).convert("L")) > 127


def _kvasir(root: Path, split: str, size: int, channels: int) -> Split:
    ids = kvasir_ids(root, split)
    images = _read_files([root / "kvasir_seg/images" / f"{i}.jpg" for i in ids], size=size, channels=channels)
    masks = torch.stack([
        F.interpolate(torch.from_numpy(read_mask(root / "kvasir_seg/masks" / f"{i}.png")).float()[None, None],
                      size=(size, size), mode="bilinear", align_corners=False)[0] >= 0.5 for i in ids])
    note = {"test": "the official 120-image val list", "val": "10% of the official train list (seed 0)",
            "train": "the official train list less our val"}[split]
    return Split(images, masks.to(torch.uint8), ["background", "polyp"], ids, f"kvasir_seg {split}: {note}")


def _medmnist(name: str, class_names: list[str]):
    """MedMNIST v2 npz files, <name>/<name>_<size>.npz with <split>_images and <split>_labels."""

    def build(root: Path, split: str, size: int, channels: int) -> Split:
        found = sorted((root / name).glob(f"{name}_*.npz"))
        if not found:
            raise SystemExit(f"no {name}_<size>.npz under {root / name}")
        arrays = np.load(found[0])
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"].reshape(-1)
        return Split(_resize(images, size, channels), torch.from_numpy(labels.astype(np.int64)), class_names,
                     [f"{found[0].name}:{split}:{i}" for i in range(len(labels))], f"{name} {split}: official MedMNIST split")

    return build


def _cifar10(root: Path, split: str, size: int, channels: int) -> Split:
    """The CIFAR-10 subsets (npz `images` (N, 32, 32, 3) uint8, `labels`, `classes`): test is the test subset
    (200 a class); val is 10% of each class of the train subset, drawn with the fixed seed; train the rest."""
    part = "test" if split == "test" else "train"
    path = root / "cifar10" / f"cifar10_{part}_subset.npz"
    if not path.exists():
        raise SystemExit(f"no {path.name} under {root / 'cifar10'}: is {root} the data root?")
    arrays = np.load(path)
    images, labels = arrays["images"], arrays["labels"].astype(np.int64).reshape(-1)
    keep = np.arange(len(labels))
    note = "the test subset (200 a class)"
    if split != "test":
        rng = np.random.default_rng(SPLIT_SEED)
        held = np.zeros(len(labels), bool)
        for k in np.unique(labels):  # stratified: the same share of every class
            members = np.flatnonzero(labels == k)
            held[rng.choice(members, size=max(1, round(VAL_FRACTION * len(members))), replace=False)] = True
        keep = np.flatnonzero(held == (split == "val"))
        note = (f"{VAL_FRACTION:.0%} of each class of the train subset held out (seed {SPLIT_SEED})" if split == "val"
                else f"the train subset less our val ({VAL_FRACTION:.0%} of each class, seed {SPLIT_SEED})")
    return Split(_resize(images[keep], size, channels), torch.from_numpy(labels[keep]),
                 [str(c) for c in arrays["classes"]], [f"{path.name}:{i}" for i in keep],
                 f"cifar10 {split}: {note}, 32 px{'' if size == 32 else f' resized to {size}'}")


SPLITS = {
    "chest_xray": _chest_xray,
    "covid_ct": _image_folders("covid_ct", ["CT_NonCOVID", "CT_COVID"]),
    "folder": _image_folders("."),  # any <root>/<split>/<class>/ tree, e.g. the tests' generated data
}
BUILT = {"modality": _modality, "kvasir_seg": _kvasir, "pneumoniamnist": _medmnist("pneumoniamnist", ["NORMAL", "PNEUMONIA"]),
         "mnist": _mnist, "mnist_m": _mnist_m, "cifar10": _cifar10}  # data sets assembled from several sources, straight into memory


def load_split(dataset: str, root: Path, split: str, *, size: int, channels: int = 1) -> Split:
    if dataset not in SPLITS and dataset not in BUILT:
        raise SystemExit(f"unknown data set {dataset!r}; known: {', '.join(sorted([*SPLITS, *BUILT]))}")
    if split not in ("train", "val", "test"):
        raise SystemExit(f"split must be train, val or test, not {split!r}")
    if dataset in BUILT:
        return BUILT[dataset](root, split, size, channels)
    files, labels, classes, description = SPLITS[dataset](root, split)
    if not files:
        raise SystemExit(f"{dataset} {split}: no images found under {root}")
    images = _read_files(files, size=size, channels=channels)
    return Split(images, torch.tensor(labels), classes, [str(f) for f in files], description)


def reframed(split: Split, crops: list[float]) -> Split:
    """The split seen at several framings: each image whole and as centre crops (fractions of its side,
    resized back), pooled. In `chest_xray` the classes differ in framing (NORMAL images tend to show
    neck and shoulders, PNEUMONIA images the lungs alone), a shortcut a network learns; a validation
    set that only holds the training framing cannot see it. (N, ...) -> (N * len(crops), ...)."""
    size = split.images.shape[-1]
    views = []
    for crop in crops:
        side = int(round(size * crop))
        top = (size - side) // 2
        patch = split.images[..., top:top + side, top:top + side].float()
        views.append(F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True,
                                   align_corners=False).round().clamp(0, 255).to(torch.uint8))
    n = len(crops)
    return Split(torch.cat(views), split.labels.repeat(n), split.class_names, split.files * n,
                 f"{split.description}; each image whole and as centre crops of "
                 f"{', '.join(f'{c:.0%}' for c in crops)} of its side, pooled")


# -- sampling and augmentation ---------------------------------------------------------------------


def balanced_order(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One epoch of indices drawn with every class equally likely (handles class imbalance)."""
    counts = torch.bincount(labels).float()
    weights = (1.0 / counts)[labels]
    return torch.multinomial(weights, len(labels), replacement=True, generator=generator)


def gaussian_blur(image: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """(C, H, W) blurred by a Gaussian of `sigma` px over `kernel_size` taps, edges reflected: torchvision's
    gaussian_blur, written out (two 1-D passes) so that reading one image never imports torchvision."""
    half = (kernel_size - 1) / 2
    kernel = torch.exp(-0.5 * (torch.linspace(-half, half, kernel_size) / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(image.dtype)
    c = image.shape[0]
    out = F.pad(image[None], [kernel_size // 2] * 4, mode="reflect")  # (1, C, H + k - 1, W + k - 1)
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # across
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)[0]  # and down: (C, H, W)


def augment(images: torch.Tensor, generator: torch.Generator, *, masks: torch.Tensor | None = None,
            rotate: float = 10.0, scale=(0.85, 1.15), shift: float = 0.08, contrast: float = 0.25,
            gamma: float = 0.3, flip: bool = False, noise: float = 0.0, erase: float = 0.0,
            vflip: bool = False, colour: float = 0.0, blur: float = 0.0):
    """Per-image random affine (rotation in degrees, zoom, shift as a fraction) and intensity jitter.

    (B, C, H, W) in [0, 1] -> same shape. Flips only where asked: a mirrored chest X-ray is
    anatomically wrong, a mirrored colonoscopy frame is not. With `masks` (B, 1, H, W), they get the
    same geometry and the pair (images, masks) is returned. `noise`: the largest standard deviation of
    added Gaussian noise; `erase`: the probability of blanking one random rectangle (cutout), which
    makes a classifier gather evidence from the whole image rather than one telltale patch.
    `vflip`: upside-down mirror images too (an endoscope has no up or down); `colour`: each channel
    scaled by its own factor in [1 - colour, 1 + colour] (white balance and tissue tint vary by scope
    and light); `blur`: the largest Gaussian blur (sigma in pixels), each image blurred by its own sigma in
    [0, blur], so that sharpness (how a figure was scaled) carries no signal. These three are off by
    default: they draw no random numbers then, so the other settings give exactly what they gave before
    these options existed.
    """
    b = images.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=generator)  # noqa: E731
    angle = torch.deg2rad(u(-rotate, rotate))
    zoom = u(*scale)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    mirror = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(b)
    upend = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0) if vflip else torch.ones(b)
    # rotation @ zoom @ diag(mirror, upend): the flips act on the output's x and y before the rotation
    theta = torch.stack([torch.stack([cos * mirror, -sin * upend, u(-shift, shift) * 2], 1),
                         torch.stack([sin * mirror, cos * upend, u(-shift, shift) * 2], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = out.clamp(0, 1) ** torch.exp(u(-gamma, gamma)).view(b, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * u(1 - contrast, 1 + contrast).view(b, 1, 1, 1) + mean).clamp(0, 1)
    if colour:
        gains = 1 - colour + 2 * colour * torch.rand(b, out.shape[1], generator=generator)  # (B, C)
        out = (out * gains.view(b, -1, 1, 1)).clamp(0, 1)
    if blur:
        for i, sigma in enumerate(u(0, blur).tolist()):
            if sigma > 0.2:  # below that a 3-tap kernel is about the identity
                out[i] = gaussian_blur(out[i], 2 * math.ceil(3 * sigma) + 1, sigma)
    if noise:
        out = (out + u(0, noise).view(b, 1, 1, 1) * torch.randn(out.shape, generator=generator)).clamp(0, 1)
    if erase:
        h, w = out.shape[-2:]
        for i in torch.nonzero(torch.rand(b, generator=generator) < erase).flatten().tolist():
            eh, ew = int(h * u(0.1, 0.4)[i]), int(w * u(0.1, 0.4)[i])
            y, x = int(u(0, h - eh)[i]), int(u(0, w - ew)[i])
            out[i, :, y:y + eh, x:x + ew] = out[i].mean()
    if masks is None:
        return out
    warped = F.grid_sample(masks, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out, (warped >= 0.5).float()


# -- super-resolution: random patches of T91 and BSDS500 train/test (never its val: that is BSD100) ---

SR_TRAIN_FOLDERS = ("sr/T91", "sr/BSDS500/train", "sr/BSDS500/test")
SR_VAL_EVERY = 25  # every 25th image (sorted by path) is held out for model selection: 20 of 491


def sr_files(root: Path, split: str) -> list[Path]:
    """The high-resolution training ("train") or held-out ("val") images; Set5/Set14 are test sets, never here."""
    files = sorted(f for folder in SR_TRAIN_FOLDERS for f in (root / folder).glob("*")
                   if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    if not files:
        raise SystemExit(f"no images under {root}/sr/{{T91,BSDS500/train,BSDS500/test}}: is {root} the data root?")
    held_out = set(files[::SR_VAL_EVERY])
    return [f for f in files if (f in held_out) == (split == "val")]


class SRPatches:
    """High-resolution images in memory; `batch` draws random (low, high) patch pairs from them.

    An "epoch" is `n` patches: the images are few and large, so what counts is how many patches the
    network has seen. For validation, `fixed` holds one centre crop per image (the same every time).
    """

    def __init__(self, files: list[Path], *, patch: int, n: int, scale: int, description: str,
                 degradation: str = "bicubic-aa"):
        if degradation != "random" and degradation not in RESIZES:
            raise ValueError(f"degradation must be 'random' or one of {', '.join(RESIZES)}; got {degradation!r}")
        self.degradation = degradation  # how `batch` makes its LR patches: one resize kind, or a random mix
        self.images = [torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1).contiguous()
                       for f in files]  # (3, H, W) uint8 each
        self.files, self.patch, self.n, self.scale, self.description = [str(f) for f in files], patch, n, scale, description

    def __len__(self) -> int:
        return self.n

    def batch(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(low (B, 3, p/s, p/s), high (B, 3, p, p)) in [0, 1]: random crops, flips and 90-degree turns."""
        crops = []
        for _ in range(count):
            image = self.images[int(torch.randint(len(self.images), (1,), generator=generator))]
            p = min(self.patch, *image.shape[1:]) // self.scale * self.scale
            top = int(torch.randint(image.shape[1] - p + 1, (1,), generator=generator))
            left = int(torch.randint(image.shape[2] - p + 1, (1,), generator=generator))
            crop = image[:, top:top + p, left:left + p]
            if p < self.patch:  # a small image: pad by reflection to the batch's size (numpy's reflection
                # repeats for pads wider than the image, where torch's refuses)
                pad = self.patch - p
                crop = torch.from_numpy(np.pad(crop.numpy(), ((0, 0), (0, pad), (0, pad)), mode="reflect"))
            flip, turns = torch.randint(2, (1,), generator=generator), torch.randint(4, (1,), generator=generator)
            crop = crop.flip(-1) if flip else crop
            crops.append(torch.rot90(crop, int(turns), (1, 2)))
        high = torch.stack(crops).float() / 255
        if self.degradation != "random":
            return Degradation(self.degradation)(high, scale=self.scale), high
        low = [random_degradation(generator)(crop[None], scale=self.scale, seed=int(torch.randint(2 ** 31, (), generator=generator)))
               for crop in high]  # a different degradation for each patch
        return torch.cat(low), high

    def fixed(self, size: int = 128, degradation: Degradation = Degradation()) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One centre crop (at most size x size, a multiple of the scale) per image: (low, high) pairs,
        low made by `degradation` (its noise seeded by the image's index)."""
        pairs = []
        for image in self.images:
            h, w = (min(size, s) // self.scale * self.scale for s in image.shape[1:])
            top, left = (image.shape[1] - h) // 2, (image.shape[2] - w) // 2
            high = image[None, :, top:top + h, left:left + w].float() / 255
            pairs.append((degradation(high, scale=self.scale, seed=len(pairs)), high))
        return pairs


def load_sr(root: Path, split: str, *, patch: int, n: int, scale: int = 4, degradation: str = "bicubic-aa") -> SRPatches:
    files = sr_files(root, split)
    what = ("T91 + BSDS500 train/test, every 25th image held out" if split == "train"
            else "every 25th image of T91 + BSDS500 train/test (sorted by path), one centre crop each")
    how = (f"each crop made small x{scale} by every degradation of evaluate.py's protocol (degradations.PROTOCOL)"
           if degradation == "random" and split == "val" else
           f"LR made by a random degradation per patch (degradations.random_degradation: resize mode, blur, noise, "
           f"JPEG), x{scale}" if degradation == "random" else
           f"LR made by x{scale} downscaling: {RESIZES[degradation]}, rounded to 8 bits")
    return SRPatches(files, patch=patch, n=n, scale=scale, degradation=degradation,
                     description=f"sr {split}: {len(files)} images ({what}); {how}")
