"""Streamlit helpers the pages share: models loaded once, uploads (or the bundled examples) read safely,
the CT window controls, masks drawn over images, the disclaimer, eval.json.

The figures are in `charts.py`; the model calls in `inference.py`. Nothing here decides anything
about an image: it only loads, reads and shows.
"""
import importlib.util
import io
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st
from PIL import Image

import inference
import weights_dir
from cards import read_meta
from data import read_mnist
from images import WINDOW_PRESETS, ImageReadError, LoadedImage, read_image
from limits import MAX_UPLOAD_BYTES
from models import WeightsError
from models.base import HubUnavailable
from saliency import heat_levels

EXAMPLES = Path(__file__).resolve().parent / "examples"  # examples/README.md: each file's source and licence
EXAMPLE_IMAGES = {  # file: what a visitor picks it by
    "chest-xray-normal.jpeg": "Chest X-ray, normal",
    "chest-xray-pneumonia.jpeg": "Chest X-ray, pneumonia",
    "ct-covid.png": "CT slice, COVID-19",
    "ct-covid-uncertain.png": "CT slice, COVID-19 (a harder one)",
    "ct-small.dcm": "CT DICOM without lungs (pydicom's CT_small)",
    "colonoscopy-polyp.jpg": "Colonoscopy frame with a polyp",
    "mnist-digit-7.png": "MNIST digit 7",
    "mnist-digit-2.png": "MNIST digit 2",
    "photo-grace-hopper.jpg": "A photograph (Grace Hopper)",
}


class Page(NamedTuple):
    name: str  # app_pages/<name>.py
    title: str
    icon: str  # a Material Symbols name
    does: str  # a line for the Home page


PAGES = [  # after Home, in this order in app.py's sidebar and on the Home page
    Page("classify", "Classify", "image_search",
         "A chest X-ray, CT slice or colonoscopy frame: the answer, and where the model looked."),
    Page("evaluate", "Evaluate", "analytics",
         "How each shipped model measures on held-out test images, with the command that measured it."),
    Page("super_resolution", "Super-resolution", "zoom_in",
         "An image four times larger: bicubic and three networks side by side, or restored and scored."),
    Page("adapt", "Domain adaptation", "transform",
         "Why a digit classifier fails on digits in photos, and how a GAN closes the gap without labels."),
    Page("gan_lab", "GAN lab", "model_training", "Train a small GAN live, and change its loss and learning rates."),
    Page("latent_space", "Latent space", "scatter_plot",
         "What a VAE's few numbers hold: walks between codes, a test set's map, a slider per number."),
    Page("generate", "Generate", "auto_awesome", "New images from the shipped GANs, each read back by a classifier."),
]
DISCLAIMER = ("MedLab is a teaching tool, not a medical device: never use it to diagnose, triage or treat "
              "anyone.")


def disclaimer() -> None:
    st.caption(f":material/info: {DISCLAIMER}")


# -- presentation: a page's result in view on a projector (1920x1080 at 150% zoom: 1280x720 CSS pixels) -------

PRESENTING = "presentation"  # the sidebar switch's key: this visitor's choice, kept from page to page
# Streamlit leaves 6rem above a page's title; 2rem keep it clear of the header (the sidebar's open button).
COMPACT = "<style>[data-testid='stMainBlockContainer'] { padding-top: 2rem; }</style>"
# Where settings() puts a page's settings while presenting; per thread, as inference.use_sources.
_SETTINGS: ContextVar = ContextVar("medlab_settings")


def presentation_toggle() -> None:
    """The sidebar's "Presentation" switch (app.py): when on, each page shows its result first."""
    st.toggle("Presentation", key=PRESENTING, help="For a projector: each page's result first, in view without "
              "scrolling; its settings move here to the sidebar and its explanation behind *About this page*.")
    if presenting():
        st.html(COMPACT)  # style only: Streamlit puts it where it takes no room


def presenting() -> bool:
    return bool(st.session_state.get(PRESENTING))


@contextmanager
def settings_in(place) -> Iterator[None]:
    """Within the block, settings() puts a page's settings in `place` while presenting: app.py's container in
    the sidebar, right under the switch."""
    token = _SETTINGS.set(place)
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def settings():
    """Where a page's settings go: the sidebar while presenting (the result then comes first), else the page."""
    return _SETTINGS.get(st.sidebar) if presenting() else st.container()


def side_by_side(spec) -> list:
    """For settings: st.columns(spec) on the page; while presenting, as many places one above the other, as
    the sidebar is too narrow for columns."""
    return [st] * (spec if isinstance(spec, int) else len(spec)) if presenting() else st.columns(spec)


def intro(title: str, text: str) -> None:
    """A page's title and its few sentences of explanation, folded away while presenting."""
    if not presenting():
        st.title(title)
        st.markdown(text)
        return
    heading, about = st.columns([4, 1], vertical_alignment="bottom")  # one row: the result starts higher
    heading.title(title)
    about.popover("About this page", icon=":material/info:", width="stretch").markdown(text)


def load_model(name: str):
    """A routed model by name, from the source this session chose for it (see `model_sources`)."""
    source = inference.source_of(name)
    return _load_model(name, source.repo_id if source else None, source.revision if source else None)


@st.cache_resource(show_spinner="Loading model ...", max_entries=32)
def _load_model(name: str, repo_id: str | None, revision: str | None):
    """Loaded once per server per source and shared by every session (models are only read).

    inference.load_model caches too (for the command line); going through st.cache_resource here
    gives the spinner and makes the once-per-server intent visible to Streamlit.
    """
    with inference.use_sources({name: inference.Source(repo_id, revision)} if repo_id else {}):
        return inference.load_model(name)


def require_models(*names: str) -> None:
    """Stop the page with a message saying what to do when a model it needs is missing or broken."""
    missing = [name for name in names
               if inference.source_of(name) is None and not (weights_dir.root() / name / "config.json").is_file()]
    if missing:
        several = len(missing) > 1
        st.info(f"This page needs the model{'s' if several else ''} {', '.join(f'`{n}`' for n in missing)} in "
                f"`{weights_dir.root()}`, and {'they are' if several else 'it is'} not there yet. "
                "Train them with `train.py` (see the README), or point the environment variable "
                "`MEDLAB_WEIGHTS` at a folder that has them.")
        st.stop()
    for name in names:
        try:
            load_model(name)
        except WeightsError as error:
            st.error(f"The model `{name}` could not be loaded: {error}")
            st.stop()


class Example(io.BytesIO):
    """A file of examples/ handed to a page as an upload is: its bytes, `.name` and `.file_id`."""

    def __init__(self, name: str):
        super().__init__((EXAMPLES / name).read_bytes())
        self.name, self.file_id = name, f"example-{name}"


def upload_or_example(label: str, *, key: str, multiple: bool = False, examples=tuple(EXAMPLE_IMAGES)) -> list:
    """A file uploader with "Try an example" beside it: the visitor's uploads, else the examples they picked
    (none while neither). Every page that takes an upload offers the bundled examples, so a visitor with no
    files of their own can use it. `key` names the widgets; `multiple` allows several files."""
    left, right = side_by_side([3, 2])
    uploaded = left.file_uploader(label, accept_multiple_files=multiple, key=key, max_upload_size=MAX_UPLOAD_BYTES // 2**20)
    uploaded = list(uploaded or []) if multiple else [uploaded] if uploaded else []
    pick = dict(placeholder="Choose an example", disabled=bool(uploaded), key=f"{key}-example",
                help="Real images bundled with the lab (see examples/README.md for each one's source and licence); "
                     "an upload takes their place.")
    if multiple:
        chosen = right.multiselect("… or try an example", list(examples), format_func=EXAMPLE_IMAGES.get, **pick)
    else:
        chosen = right.selectbox("… or try an example", list(examples), format_func=EXAMPLE_IMAGES.get, index=None,
                                 **pick)
        chosen = [chosen] if chosen else []
    return uploaded or [Example(name) for name in chosen]


def as_text(table, formats: dict[str, str], missing: str = "–"):
    """A pandas table for st.dataframe with the columns of `formats` as text, each value by its format string
    ("{:.1%}"), and `missing` where a row has none: a dash or nothing instead of the table's "None"."""
    shown = table.copy()
    for column, form in formats.items():
        shown[column] = [missing if v is None or v != v else form.format(v) for v in table[column]]  # v != v: NaN
    return shown


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


def explain(image: LoadedImage, model_name: str, key: str) -> np.ndarray:
    """inference.explain, cached by `key` (the upload's file id), so moving a slider does not redo it."""
    return _explain(image, model_name, key, str(inference.source_of(model_name) or "bundled"))


# A bounded count of cached maps, gone after an hour, so that a class's uploads cannot fill the server's memory.
# 32: a class of 8 with a few images each; a map pushed out is computed again when asked for. A Grad-CAM map is
# kept as 8-bit levels at images.view_size (at most 2.4 MB); a mask at the frame's size (17 MB at WORK_PIXELS).
CACHED_MAPS = dict(max_entries=32, ttl=3600)


@st.cache_data(**CACHED_MAPS, show_spinner="Computing Grad-CAM ...")
def _explain(_image: LoadedImage, model_name: str, key: str, source: str) -> np.ndarray:
    """The leading underscore tells Streamlit not to hash the image; `key` identifies it instead, and
    `source` (only part of the cache key) keeps a bundled model's map from answering for a Hub model."""
    return heat_levels(inference.explain(_image, model_name))


def segment(image: LoadedImage, key: str, modality: str = "endoscopy") -> inference.Segmentation:
    """inference.segment of an image already routed to `modality`'s segmenter, cached by `key` like `explain`."""
    return _segment(image, key, modality, str(inference.source_of(inference.SEGMENTERS[modality]) or "bundled"))


@st.cache_data(**CACHED_MAPS, show_spinner="Segmenting ...")
def _segment(_image: LoadedImage, key: str, modality: str, source: str) -> inference.Segmentation:
    return inference.segment(_image, modality=modality)


# -- where each routed model comes from ------------------------------------------------------------


def routed_models() -> dict[str, str]:
    """The models images are routed to, by weights name, with what each does in words."""
    def what(modality: str) -> str:  # "Chest X-ray": str.capitalize would lower the X
        return inference.MODALITY_NAMES[modality][0].upper() + inference.MODALITY_NAMES[modality][1:]
    return {inference.ROUTER: "Modality recognizer",
            **{name: f"{what(m)} classifier" for m, name in inference.CLASSIFIERS.items()},
            **{name: f"{what(m)} segmenter" for m, name in inference.SEGMENTERS.items()}}


def model_sources() -> dict[str, inference.Source]:
    """The sidebar's "Model source": per routed model, its bundled weights (the default) or a Hugging Face
    Hub repository with an optional revision, downloaded once into the Hub client's cache.

    Returns the Hub sources that loaded, for `inference.use_sources`. The choice lives in this visitor's
    session_state (the widgets' keys), so it never reaches another visitor. A repository that cannot be
    used (another kind of model, not found, offline) is reported with the reason and the bundled weights
    stay in use; the failure is remembered for this session, so the Hub is not asked again on every rerun.
    """
    sources = {}
    failed = st.session_state.setdefault("source-failures", {})
    routed = routed_models()
    chosen = any(st.session_state.get(f"source-repo-{name}") for name in routed)
    with st.expander("Model source", icon=":material/cloud_download:", expanded=chosen):
        st.caption("Each model runs on its bundled weights unless you name a Hugging Face Hub repository "
                   "(`owner/name`, as `hub.py push` publishes) for it.")
        for name, role in routed.items():
            repo = st.text_input(role, key=f"source-repo-{name}", placeholder="bundled",
                                 help=f"Empty: the bundled weights `{name}`. Or a Hub model repository holding a "
                                      f"MedLab {' or '.join(inference.families_of(name))} model.").strip()
            if not repo:
                continue
            revision = st.text_input("Revision", key=f"source-revision-{name}", placeholder="main",
                                     help="A branch, tag or commit of the repository; empty: main.").strip() or None
            source = inference.Source(repo, revision)
            error = failed.get((name, str(source)))
            if error is None:
                try:
                    _load_model(name, repo, revision)
                except WeightsError as e:
                    error = failed[(name, str(source))] = (str(e), isinstance(e, HubUnavailable))
            if error is None:
                st.caption(f":material/check_circle: {role}: `{source}` from the Hub")
                sources[name] = source
            else:
                message, offline = error
                (st.warning if offline else st.error)(f"{role}: using the bundled weights `{name}`, because "
                                                      f"`{source}` cannot be used: {message}")
    return sources


def routed_modalities() -> str:
    """What the lab's models take, in words: "chest X-ray, CT slice or endoscopy frame"."""
    names = [inference.MODALITY_NAMES[m] for m in (*inference.CLASSIFIERS, *inference.SEGMENTERS)]
    return " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def png(pixels: np.ndarray) -> bytes:
    """(H, W) or (H, W, 3) uint8 -> PNG file bytes, for a download button."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


# -- CT windows -----------------------------------------------------------------------------------

CT_CENTERS = (-1100.0, 1500.0)  # HU, slider range: from air (-1000) to dense bone
CT_WIDTHS = (50.0, 4000.0)


def is_ct_dicom(image: LoadedImage) -> bool:
    """A grey DICOM in Hounsfield units, which a window maps to grey levels: Modality CT, or a rescale
    intercept of -1000 or below (HU puts air at -1000: a CT slice exported as secondary capture)."""
    if image.format != "DICOM" or not image.grayscale:
        return False
    rescale = image.info.get("rescale")
    return image.info.get("modality") == "CT" or (rescale is not None and rescale[1] <= -1000)


def ct_window(image: LoadedImage, key: str) -> tuple[float, float] | None:
    """The window controls for a CT slice (read with its file's window): a preset or two sliders.

    Returns the (center, width) to read the file again with, or None to keep the file's own window.
    """
    own = image.info.get("window") if isinstance(image.info.get("window"), tuple) else None
    windows = {"file": own, **WINDOW_PRESETS}
    labels = {name: f"{name} (C {c:g}, W {w:g})" for name, (c, w) in WINDOW_PRESETS.items()}
    labels = {"file": f"the file's own (C {own[0]:g}, W {own[1]:g})" if own else "the file's own (none: min-max)",
              **labels, "custom": "custom (sliders)"}
    choice, center, width = (f"{part}-{key}" for part in ("window", "center", "width"))
    start = own or WINDOW_PRESETS["mediastinum"]  # the sliders start at the window on screen
    st.session_state.setdefault(center, float(np.clip(start[0], *CT_CENTERS)))
    st.session_state.setdefault(width, float(np.clip(start[1], *CT_WIDTHS)))

    def follow() -> None:  # a preset moves the sliders, so "custom" starts from the window on screen
        window = windows.get(st.session_state[choice])
        if window:
            st.session_state[center] = float(np.clip(window[0], *CT_CENTERS))
            st.session_state[width] = float(np.clip(window[1], *CT_WIDTHS))

    preset = st.radio("CT window", list(labels), format_func=labels.get, horizontal=True, key=choice,
                      on_change=follow, help="Which Hounsfield units run from black to white. Lung shows the "
                      "airways and lung tissue; mediastinum the soft tissue. The models see the image as shown "
                      "here, so the window can change their answer too.")
    custom = preset == "custom"
    c = st.slider("Window center (HU)", *CT_CENTERS, step=10.0, key=center, disabled=not custom)
    w = st.slider("Window width (HU)", *CT_WIDTHS, step=10.0, key=width, disabled=not custom)
    return (c, w) if custom else None if preset == "file" else windows[preset]


def image_caption(image: LoadedImage) -> str:
    """Format and size, and for DICOM the window in use: "DICOM, 512 x 512 px; lung window: center -600 HU, ..."."""
    caption = f"{image.format}, {image.width} x {image.height} px"
    window = image.info.get("window")
    if isinstance(window, tuple):
        preset = next((name for name, w in WINDOW_PRESETS.items() if w == window), None)
        which = ("the file's own" if image.info.get("window_source") == "file" else
                 f"{preset} preset" if preset else "custom")
        unit = " HU" if is_ct_dicom(image) else ""
        caption += f"; window: {which}, center {window[0]:g}{unit}, width {window[1]:g}{unit}"
    elif window:
        caption += f"; window: {window}"
    return caption


# -- segmentation masks ---------------------------------------------------------------------------

MASK_FILL = np.array([0, 255, 0])  # the model's mask: translucent green, bright on the reddish colon
MASK_EDGE = np.array([255, 255, 0])  # and its outline, solid yellow
TRUTH_EDGE = np.array([0, 255, 255])  # a hand-drawn (true) mask's outline, cyan


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The mask's boundary, `width` px thick, inside the mask: the mask less its erosion (4-neighbour)."""
    inner = mask
    for _ in range(width):
        p = np.pad(inner, 1)  # outside the image counts as background: a mask at the edge is outlined there
        inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


def mask_overlay(pixels: np.ndarray, mask: np.ndarray, opacity: float, truth: np.ndarray | None = None) -> np.ndarray:
    """The image ((H, W) or (H, W, 3), in [0, 1] or uint8) with the mask filled at `opacity` and outlined; and,
    if given, the true mask's outline -> (H, W, 3) uint8. Masks of another size are drawn at the image's (a
    page passes its view of the image, images.view_size: the work stays bounded however large the frame)."""
    size = pixels.shape[1], pixels.shape[0]
    mask, truth = (m if m is None or m.shape == pixels.shape[:2] else
                   np.asarray(Image.fromarray(m).resize(size, Image.Resampling.NEAREST)) for m in (mask, truth))
    base = pixels.astype(np.float32) * np.float32(1 if pixels.dtype == np.uint8 else 255)
    out = base if base.ndim == 3 else np.repeat(base[..., None], 3, axis=2)
    out[mask] = (1 - opacity) * out[mask] + opacity * MASK_FILL
    width = max(1, round(max(mask.shape) / 256))  # about 2 px on a Kvasir-SEG frame as shown
    out[outline(mask, width)] = MASK_EDGE
    if truth is not None:
        out[outline(truth, width)] = TRUTH_EDGE
    return np.clip(out, 0, 255).round().astype(np.uint8)


def data_root() -> Path | None:
    """The data root ($MEDLAB_DATA, else ../shared/data beside the project) if there is one: for optional extras."""
    root = Path(os.environ.get("MEDLAB_DATA") or Path(__file__).resolve().parent.parent / "shared" / "data")
    return root if root.is_dir() else None


def mnist_digits(part: str) -> tuple[np.ndarray, np.ndarray, str]:
    """MNIST's "train" or "t10k" digits and labels from the data root, else the 2,000 test digits bundled in
    examples/ (a Space has no data root), read once per server; and where they came from, in words."""
    return _mnist_digits(part, data_root())


@st.cache_resource(show_spinner="Reading MNIST ...")
def _mnist_digits(part: str, root: Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    if root is not None and (root / f"mnist/{part}-images-idx3-ubyte.gz").is_file():
        images, labels = read_mnist(root, part)
        return images, labels, f"MNIST {'training' if part == 'train' else 'test'} digits ({len(images):,})"
    bundled = np.load(EXAMPLES / "mnist-digits.npz")
    return bundled["images"], bundled["labels"], f"the {len(bundled['images']):,} MNIST test digits bundled in examples/"


# -- shipped models and what evaluate.py measured -------------------------------------------------


def shipped_models() -> list[str]:
    """The weights folders (weights_dir.families): the models images are routed to, in the order of
    inference.CLASSIFIERS and SEGMENTERS, then the modality recognizer, then the rest by name."""
    found = set(weights_dir.families())
    first = [*inference.CLASSIFIERS.values(), *inference.SEGMENTERS.values(), inference.ROUTER]
    return [name for name in dict.fromkeys(first) if name in found] + sorted(found - set(first))


def evaluated_models() -> list[str]:
    """Shipped models that have an eval.json."""
    return [name for name in shipped_models() if (weights_dir.root() / name / "eval.json").is_file()]


def read_eval(name: str) -> dict | None:
    """weights/<name>/eval.json as written by evaluate.py, or None when the model is not evaluated."""
    path = weights_dir.root() / name / "eval.json"
    return json.loads(path.read_text()) if path.is_file() else None


def transfer_comparison(name: str) -> dict | None:
    """weights/<name>/transfer.json (scripts/compare_transfer.py): the model beside others trained from scratch,
    on frozen ImageNet features and fine-tuned, on the same test split; None where there is none."""
    path = weights_dir.root() / name / "transfer.json"
    return json.loads(path.read_text()) if path.is_file() else None


class History(NamedTuple):
    rows: list[dict]  # train.py's history.json: a row per epoch
    score: str  # the validation score's name (its rows' key is val_<score>)
    kept: int | None  # the epoch whose weights these are, where the card and the rows agree on it
    caption: str  # one line: what the chart shows


def training_history(name: str) -> History | None:
    """weights/<name>/history.json, the epoch kept (the card's "best validation X" or "last validation X" setting,
    found in the rows), and a line saying what the chart shows; None where there is none (weights trained before
    train.py wrote it there, an ensemble)."""
    folder = weights_dir.shipped(name)
    path = folder / "history.json" if folder else None
    rows = json.loads(path.read_text()) if path and path.is_file() else []
    score = next((key.removeprefix("val_") for key in (rows[0] if rows else {}) if key.startswith("val_")), None)
    if score is None:
        return None
    figures, settings = [row[f"val_{score}"] for row in rows], read_meta(folder).get("settings", {})
    # Rows written before train.py kept the learning rate have seconds only.
    hover = f"Hover the right-hand curve for each epoch's {'learning rate and ' * ('lr' in rows[0])}seconds."
    caption = f"The training step's figures (left) and the validation {score} (right) after each of {len(rows)} epochs"
    for rule, i, which in (("best", figures.index(max(figures)), f"the best validation {score}"),
                           ("last", len(rows) - 1, "the last (a fixed schedule)")):
        value = settings.get(f"{rule} validation {score}")
        if isinstance(value, (int, float)) and math.isclose(figures[i], value, rel_tol=1e-6):
            caption = (f"Epoch {rows[i]['epoch']} of {len(rows)} is ringed: {which}, whose weights these are"
                       + ("; no later epoch beat it" if i < len(rows) - 1 else ""))
            return History(rows, score, rows[i]["epoch"], f"{caption}. {hover}")
    return History(rows, score, None, f"{caption}. {hover}")


def model_card(name: str) -> str:
    """The model card (README.md) without its YAML front matter, ready for st.markdown."""
    path = weights_dir.root() / name / "README.md"
    if not path.is_file():
        return f"`{name}` has no model card (README.md) yet."
    text = path.read_text()
    if text.startswith("---"):
        text = text.split("---", 2)[2]
    return text.strip()


def model_title(name: str) -> str:
    """The model card's title, else the folder name."""
    return read_meta(weights_dir.root() / name).get("title") or name


# -- drawing a digit (the Adapt page) ---------------------------------------------------------------

# Optional: without it the Adapt page offers test digits and uploads only. Imported only when drawing:
# the component registers itself with the running Streamlit server, which bare Python (tests) has not.
HAS_CANVAS = importlib.util.find_spec("streamlit_drawable_canvas") is not None


def sr_fit(name: str) -> str | None:
    """What a super-resolution model is for, in one line from its eval.json: its gain over bicubic on the
    benchmark's own small images, and across evaluate.py's degradations (None before it was measured)."""
    evaluation = read_eval(name)
    if not evaluation or "degradations" not in evaluation:
        return None
    benchmark = " / ".join(f"{s['gain_psnr_y']:+.2f}" for s in evaluation["sets"].values())
    table = evaluation["degradations"]
    mean = " / ".join(f"{s['mean_gain_psnr_y']:+.2f}" for s in table["summary"].values())
    least = min(s["least_gain_psnr_y"] for s in table["summary"].values())
    verdict = ("never below bicubic" if least >= 0 else
               f"down to {least:+.2f} dB, below bicubic on some (Evaluate shows which)")
    return (f"**{name}**: {benchmark} dB over bicubic ({' / '.join(evaluation['sets'])}) on the benchmark's own small "
            f"images; across {len(table['rows'])} other ways of making them small, mean {mean} dB, {verdict}.")


def degradation_table(table: dict) -> None:
    """Where a super-resolution model helps and where it hurts: its gain over bicubic for each way the
    small image may have been made (evaluate.py's degradation protocol), one column per test set."""
    import pandas as pd

    import results

    st.subheader("Which inputs it helps with")
    st.caption(f"The same high-resolution images made small in {len(table['rows'])} ways, then restored by bicubic and "
               "by the model. "
               "A negative gain means the model is worse than plain bicubic on that kind of input: it has learned one "
               "way of making images small, not the way your image was made.")
    rows = pd.DataFrame(results.degradation_rows(table))
    wide = rows.pivot(index="degradation", columns="set", values="gain (dB)")
    wide = wide.reindex(index=[r["name"] for r in table["rows"]], columns=list(table["summary"]))  # as measured
    wide.insert(0, "how the small image was made", [r["description"] for r in table["rows"]])
    gains = [c for c in wide.columns if c != "how the small image was made"]
    st.dataframe(wide.style.format("{:+.2f} dB", subset=gains).map(
        lambda v: f"color: {'#1a7f37' if v >= 0 else '#cf222e'}", subset=gains), width="stretch",
        height=35 * (len(wide) + 1) + 3)  # every row, no inner scrolling
    st.caption(results.degradation_summary(table) + ". Protocol: " + table["protocol"] + ".")


def _canvas(key: str, caption: str, stroke_width: int) -> np.ndarray | None:
    """White strokes drawn on a black 224x224 canvas as (H, W, 4) uint8 RGBA, or None while it is empty."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as error:  # noqa: BLE001  (a component that cannot register says so in its own words)
        st.info(f"Drawing is not available here ({error}); choose another option.")
        return None
    st.caption(caption)
    result = st_canvas(stroke_width=stroke_width, stroke_color="#ffffff", background_color="#000000", height=224,
                       width=224, return_image_data=True, key=key)
    image = result.image_data if result is not None else None
    return None if image is None or image[..., 3].max() == 0 else image


def draw_digit() -> np.ndarray | None:
    """A digit drawn with the mouse, framed as MNIST frames its digits, or None while the canvas is empty.

    White strokes on black, as in MNIST; the strokes' bounding box is scaled to fit 20x20 px and centred
    in 28x28, MNIST's own framing. Returns (28, 28) float32 in [0, 1].
    """
    image = _canvas("digit-canvas", "Draw one digit, large, in the middle of the square.", stroke_width=20)
    if image is None:
        return None
    strokes = image[..., :3].mean(-1) * (image[..., 3] / 255)  # (H, W) 0-255, the white ink over the black
    rows, cols = np.nonzero(strokes > 20)
    box = Image.fromarray(strokes[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.uint8))
    scale = 20 / max(box.size)
    box = box.resize((max(1, round(box.width * scale)), max(1, round(box.height * scale))), Image.LANCZOS)
    framed = Image.new("L", (28, 28))
    framed.paste(box, ((28 - box.width) // 2, (28 - box.height) // 2))
    return np.asarray(framed, np.float32) / 255


def draw_distribution() -> np.ndarray | None:
    """A 2-D distribution painted with the mouse: the (H, W) boolean mask of painted pixels, or None."""
    image = _canvas("distribution-canvas", "Paint where the real data should be: the GAN learns to put its points "
                    "there.", stroke_width=12)
    return None if image is None else image[..., :3].mean(-1) * (image[..., 3] / 255) > 20
