"""The weights folder: where the lab's trained models live, which are there, and how one is loaded by name.

    weights_dir.root()              # $MEDLAB_WEIGHTS, else the repository's weights/
    weights_dir.families()          # {"cxr-pneumonia": "ensemble", "modality": "classifier", ...}
    weights_dir.load("polyp-unet")  # a name under root(), else a folder or Hub repository id as given

Everything that reads the weights folder asks here: the app and its pages, the API, predict.py,
evaluate.py, train.py (its GAN monitor's judge), results.py and the scripts. So MEDLAB_WEIGHTS moves
all of them at once, and a folder listed on one page is listed on every other.

Light on purpose: no serving code (train.py imports this; tests/test_layering.py keeps training free of
the app), and `models` does not import it (the model library stands alone).
"""
import os
from functools import lru_cache
from pathlib import Path

import models
from models.base import CONFIG_FILE, read_config

ENVIRONMENT = "MEDLAB_WEIGHTS"
DEFAULT = Path(__file__).resolve().parent / "weights"


def root() -> Path:
    """The weights folder: $MEDLAB_WEIGHTS when set, else the repository's weights/. Read at every call, not once
    at import: a test, or a server started by a script (browser.py), sets the variable after this module loads."""
    value = os.environ.get(ENVIRONMENT)
    return Path(value) if value else DEFAULT


def shipped(name: str | Path) -> Path | None:
    """The folder of the weights `name` under root(), or None when `name` is not one: a path with a separator
    (runs/out/x, an absolute path) or a Hub repository id (owner/name) never is, whatever the folder holds."""
    text = str(name)
    if not text or text in (".", "..") or Path(text).name != text:
        return None
    folder = root() / text
    return folder if folder.is_dir() else None


def locate(name: str | Path) -> Path | str:
    """What to load for `name`: its folder under root() when it names one, else `name` as given (a folder
    elsewhere, or a Hub repository id)."""
    return shipped(name) or name


def load(name: str | Path, *, family: str | tuple[str, ...] | None = None, **options) -> models.MedLabModel:
    """The model `name` names (see `locate`), loaded strictly by models.load; `family`: the family (or families)
    it must be. The weights under root() are the project's own (trusted: not size-checked before building, as
    tests/test_models.py checks the shipped configs; every other check runs); anything else gets every check.
    `options` (revision, token) go to models.load, for Hub repositories."""
    folder = shipped(name)
    return models.load(folder or name, family=family, trusted=folder is not None, **options)


def families() -> dict[str, str]:
    """Each weights folder under root() -> the family its config.json names, by name; read without loading any
    weights. Folders without a readable config.json are left out (models.load says what is wrong with them)."""
    folder = root()
    try:
        entries = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return {}
    # The cache key is every folder's config.json and its modification time, not the root's mtime alone: train.py
    # writes a config.json into a folder after creating it, and retraining in place rewrites it, neither of which
    # touches the root. A stat per folder is cheap; reading and parsing each config.json is what is saved.
    stamps = tuple((name, _modified(folder / name / CONFIG_FILE)) for name in entries)
    return dict(_families(folder, stamps))


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


@lru_cache(maxsize=8)  # a few roots at most (tests point MEDLAB_WEIGHTS at many; each entry is a few names)
def _families(folder: Path, stamps: tuple[tuple[str, int | None], ...]) -> tuple[tuple[str, str], ...]:
    found = []
    for name, modified in stamps:
        if modified is None:
            continue
        try:
            found.append((name, read_config(folder / name)["family"]))
        except models.WeightsError:
            continue
    return tuple(found)


families.cache_clear = _families.cache_clear  # forget every listing (tests that rewrite a config.json in place)
