"""Layering: the model library stands alone, below everything that serves or reads files."""
import subprocess
import sys
from pathlib import Path

import torch

import images
from models.blocks import LUMA, luminance

ROOT = Path(__file__).resolve().parent.parent


def project_modules_loaded_by(statement: str) -> set[str]:
    """The project's own top-level modules (its .py files and packages) that `statement` loads, in a fresh
    interpreter."""
    ours = {p.stem for p in ROOT.glob("*.py")} | {p.parent.name for p in ROOT.glob("*/__init__.py")}
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in loaded.split()} & ours


def test_models_import_torch_and_themselves_only():
    # The networks can be used (and read) without the app: no upload limits, data sets or serving code.
    assert project_modules_loaded_by("import models") == {"models"}


def test_the_networks_make_gray_as_uploads_are_read():
    assert LUMA == images.LUMA
    primaries = torch.eye(3).view(3, 3, 1, 1)  # pure red, green and blue images, one pixel each
    torch.testing.assert_close(luminance(primaries).flatten(), torch.tensor(images.LUMA))


def test_training_loads_no_serving_code_and_evaluation_does_not_load_training():
    # The trainer runs on a GPU node without the app's threads and slots; evaluate.py is imported by
    # train.py (the validation scores), never the other way round.
    loaded = project_modules_loaded_by("import train")
    assert not loaded & {"inference", "generators", "ui", "app"}
    assert "train" not in project_modules_loaded_by("import evaluate")


def test_tasks_load_neither_the_trainer_nor_serving_code():
    # tasks/ holds what differs between families in training; train.py imports it, never the other way round.
    assert not project_modules_loaded_by("import tasks") & {"train", "inference", "generators", "ui", "app"}
