"""Streamlit helpers the pages share: models loaded once, uploads read safely, the disclaimer, eval.json.

The figures are in `charts.py`; the model calls in `inference.py`. Nothing here decides anything
about an image: it only loads, reads and shows.
"""
import json

import numpy as np
import streamlit as st

import inference
from cards import read_meta
from images import ImageReadError, LoadedImage, read_image
from models import WeightsError

DISCLAIMER = ("MedLab is a teaching tool, not a medical device: never use it to diagnose, triage or treat "
              "anyone.")


def disclaimer() -> None:
    st.caption(f":material/info: {DISCLAIMER}")


@st.cache_resource(show_spinner="Loading model ...")
def load_model(name: str):
    """A shipped model by folder name, loaded once per server and shared by every session.

    inference.load_model caches too (for the command line); going through st.cache_resource here
    gives the spinner and makes the once-per-server intent visible to Streamlit.
    """
    return inference.load_model(name)


def require_models(*names: str) -> None:
    """Stop the page with a message saying what to do when a model it needs is missing or broken."""
    missing = [name for name in names if not (inference.WEIGHTS / name / "config.json").is_file()]
    if missing:
        several = len(missing) > 1
        st.info(f"This page needs the model{'s' if several else ''} {', '.join(f'`{n}`' for n in missing)} in "
                f"`{inference.WEIGHTS}`, and {'they are' if several else 'it is'} not there yet. "
                "Train them with `train.py` (see the README), or point the environment variable "
                "`MEDLAB_WEIGHTS` at a folder that has them.")
        st.stop()
    for name in names:
        try:
            load_model(name)
        except WeightsError as error:
            st.error(f"The model `{name}` could not be loaded: {error}")
            st.stop()


def read_upload(uploaded) -> LoadedImage | None:
    """The uploaded file as an image in [0, 1], or None after showing (st.error) why it cannot be read.

    For pages that take one image. Classify catches ImageReadError itself, because it also puts the
    message in its summary table.
    """
    try:
        return read_image(uploaded, name=uploaded.name)
    except ImageReadError as error:
        st.error(str(error))
        return None


@st.cache_data(max_entries=128, show_spinner="Computing Grad-CAM ...")
def explain(_image: LoadedImage, model_name: str, key: str) -> np.ndarray:
    """inference.explain, cached by `key` (the upload's file id), so moving a slider does not redo it.

    The leading underscore tells Streamlit not to hash the image; `key` identifies it instead.
    """
    return inference.explain(_image, model_name)


# -- shipped models and what evaluate.py measured -------------------------------------------------


def shipped_models() -> list[str]:
    """Weights folders under inference.WEIGHTS (those with a config.json), by name."""
    if not inference.WEIGHTS.is_dir():
        return []
    return sorted(p.name for p in inference.WEIGHTS.iterdir() if (p / "config.json").is_file())


def evaluated_models() -> list[str]:
    """Shipped models that have an eval.json."""
    return [name for name in shipped_models() if (inference.WEIGHTS / name / "eval.json").is_file()]


def read_eval(name: str) -> dict | None:
    """weights/<name>/eval.json as written by evaluate.py, or None when the model is not evaluated."""
    path = inference.WEIGHTS / name / "eval.json"
    return json.loads(path.read_text()) if path.is_file() else None


def model_card(name: str) -> str:
    """The model card (README.md) without its YAML front matter, ready for st.markdown."""
    path = inference.WEIGHTS / name / "README.md"
    if not path.is_file():
        return f"`{name}` has no model card (README.md) yet."
    text = path.read_text()
    if text.startswith("---"):
        text = text.split("---", 2)[2]
    return text.strip()


def model_title(name: str) -> str:
    """The model card's title, else the folder name."""
    return read_meta(inference.WEIGHTS / name).get("title") or name


def headline(evaluation: dict) -> str:
    """One sentence of the measured figures, for the home page: never typed in by hand."""
    where = f"{evaluation.get('split', '?')} split of `{evaluation.get('dataset', '?')}`, {evaluation['n']} images"
    if "at_threshold" in evaluation:  # two classes
        at = evaluation["at_threshold"]
        return (f"On the {where}: ROC-AUC {evaluation['roc_auc']:.3f}; at the threshold chosen on validation "
                f"({at['threshold']:.2f}): accuracy {at['accuracy']:.1%}, sensitivity {at['sensitivity']:.1%}, "
                f"specificity {at['specificity']:.1%}.")
    if "accuracy" in evaluation:  # more classes
        routing = evaluation.get("routing")
        refused = f"; refuses {routing['out_of_domain_refused']:.1%} of non-medical images" if routing else ""
        return f"On the {where}: accuracy {evaluation['accuracy']:.1%}{refused}."
    if "dice" in evaluation:  # a segmenter
        return f"On the {where}: mean Dice {evaluation['dice']:.3f}, mean IoU {evaluation['iou']:.3f}."
    return f"Evaluated on the {where}: see the Evaluate page."
