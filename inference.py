"""What the app and the command line ask of the shipped models: which modality is this, what does
the right classifier make of it, and where did it look.

Every upload first meets the modality recognizer (`weights/modality`): chest X-ray, CT slice,
endoscopy frame, or none of these. Only an image recognised, confidently, as the modality a
classifier was trained on reaches that classifier; anything else is refused with the reason, never
given a probability it has no grounds for.

Each routed model comes from its folder under weights/, unless a Hub repository is chosen for it
with `use_sources` (the app's "Model source" sidebar does this per visitor).
"""
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

import limits
import models
import weights_dir
from images import LoadedImage, to_tensor, view_size
from models.classifier import CalibratedClassifier
from saliency import grad_cam

log = logging.getLogger("medlab.inference")

ROUTER = "modality"
CLASSIFIERS = {"chest_xray": "cxr-pneumonia", "ct": "covid-ct"}  # modality -> the weights folder of its classifier
MODALITY_NAMES = {"chest_xray": "chest X-ray", "ct": "CT slice", "endoscopy": "endoscopy frame",
                  "other": "none of these"}
PLURALS = {"chest_xray": "chest X-rays", "ct": "CT slices", "endoscopy": "colonoscopy frames"}
LOOKS_LIKE = {"chest_xray": "looks like a chest X-ray", "ct": "looks like a CT slice",
              "endoscopy": "looks like an endoscopy frame", "other": "does not look like a medical image the lab knows"}
SEGMENTERS = {"endoscopy": "polyp-unet"}  # modality -> the weights folder of its segmenter
# The families a routed model may be: a classifier's place takes any calibrated classifier (one network, the
# k-means network, an ensemble of them, or a family registered later: see `classifier_families`); the
# segmenter's, a U-Net.
FAMILIES = {"polyp-unet": ("unet",)}
ROUTE_CONFIDENCE = 0.8  # below this, the recognizer is unsure and the image is refused
# A DICOM header's Modality (0008,0060): what the code means, and which of the lab's modalities it may hold (None:
# none; such a file is refused on its header's word). Codes not here (OT, SC, ...) say nothing: the recognizer decides.
DICOM_MODALITIES = {"CT": ("computed tomography", "ct"), "CR": ("computed radiography", "chest_xray"),
                    "DX": ("digital radiography", "chest_xray"), "RG": ("radiography", "chest_xray"),
                    "ES": ("endoscopy", "endoscopy"), "MR": ("magnetic resonance imaging", None),
                    "US": ("ultrasound", None), "PT": ("positron emission tomography", None),
                    "NM": ("nuclear medicine", None), "MG": ("mammography", None), "XA": ("X-ray angiography", None),
                    "RF": ("fluoroscopy", None), "IO": ("intra-oral radiography", None), "PX": ("panoramic X-ray", None),
                    "OPT": ("optical coherence tomography", None), "SM": ("slide microscopy", None)}
UNCERTAIN_TARGET = 0.9  # the uncertain band: outside it, at least 9 in 10 validation answers right (uncertain_margin)
FOUND_AREA = 0.005  # "polyp found" when the predicted mask covers at least 0.5% of the frame


class Refusal(ValueError):
    """An image no shipped model may judge (wrong modality); the text says why."""


@dataclass(frozen=True)
class Source:
    """A Hub repository to load a routed model from instead of its folder under weights/."""
    repo_id: str  # owner/name
    revision: str | None = None  # branch, tag or commit; None: main

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id


# A context variable, not a module-level dict: the app sets it around each script run, and Streamlit runs
# each visitor's script in its own thread, so one visitor's choice never reaches another visitor's page.
_SOURCES: ContextVar[Mapping[str, Source]] = ContextVar("medlab_sources", default=MappingProxyType({}))


@contextmanager
def use_sources(sources: Mapping[str, Source]) -> Iterator[None]:
    """Within the block (this thread only), `load_model(name)` loads `sources[name]` when there is one."""
    token = _SOURCES.set(MappingProxyType(dict(sources)))
    try:
        yield
    finally:
        _SOURCES.reset(token)


def source_of(name: str) -> Source | None:
    """The Hub source chosen for the routed model `name` in this context, or None for its bundled weights."""
    return _SOURCES.get().get(name)


def classifier_families() -> tuple[str, ...]:
    """Every registered subclass of CalibratedClassifier, in the registry's order. Asked at each call, not once
    at import: a family registered after this module was imported (tests/test_new_family.py's) counts too."""
    return tuple(name for name in models.names() if issubclass(models.get(name), CalibratedClassifier))


def families_of(name: str) -> tuple[str, ...]:
    """The model families a routed model may be: a Hub repository or folder of another family is refused."""
    return FAMILIES.get(name) or classifier_families()


# -- serving many visitors at once -------------------------------------------------------------------

LOADS: Counter = Counter()  # how often each (name, source) was loaded in this process: once, unless evicted
_LOAD_LOCKS: dict = {}  # one lock per (name, source): the first caller loads, the others wait for it
_LOAD_LOCKS_GUARD = threading.Lock()
# Model calls running at once (limits.py); Streamlit runs each visitor's script in a thread of one process.
_COMPUTE = threading.BoundedSemaphore(limits.MAX_CONCURRENT_INFERENCES)  # short calls: seconds
_LONG = threading.BoundedSemaphore(limits.MAX_CONCURRENT_LONG)  # long work, in a pool of its own
_HELD = threading.local()  # .kind: the slot this thread holds ("short" or "long"), if any
_configured = False


@contextmanager
def computing(kind: str = "short") -> Iterator[None]:
    """Hold a slot for a model call; others wait their turn. "short": one of the MAX_CONCURRENT_INFERENCES slots
    (a classification, a map, a sample: seconds). "long": one of the MAX_CONCURRENT_LONG slots (a super-resolution
    upscale, a turn of live training), so that long work never holds the slots short work waits for.

    Taken by the functions the app and the API call for a model's answer (classify, explain, segment here;
    generators.sample, superres.upscale, latent's and adaptation's calls, LiveGAN's), never by a page: a page
    cannot forget it. Those functions call one another, so a thread that holds a slot already goes on in it."""
    if kind not in ("short", "long"):
        raise ValueError(f"kind must be 'short' or 'long', got {kind!r}")
    held = holding()
    if held is not None:
        # Nested: the outer slot bounds this work already. Taking a second would deadlock, as a BoundedSemaphore
        # is not re-entrant: with every slot held by a thread waiting for another slot, none is ever released.
        if held == "short" and kind == "long":
            raise RuntimeError("long work inside a short model-call slot would keep that slot from the short calls "
                               "waiting for it: take the long slot first (computing('long'))")
        yield
        return
    with _LONG if kind == "long" else _COMPUTE:
        _HELD.kind = kind
        try:
            yield
        finally:
            _HELD.kind = None


def holding() -> str | None:
    """The kind of compute slot this thread holds ("short" or "long"), or None."""
    return getattr(_HELD, "kind", None)


def configure_server() -> None:
    """For a server process (the app, the Gradio API): torch threads as limits.py says, and a line on
    stderr for every model load. Idempotent: app.py calls it on every run of a page."""
    global _configured
    if _configured:
        return
    _configured = True
    torch.set_num_threads(limits.INFERENCE_THREADS)
    try:
        torch.set_num_interop_threads(limits.INFERENCE_THREADS)
    except RuntimeError:  # only possible before the first parallel work; a later call keeps what is set
        pass
    medlab = logging.getLogger("medlab")
    if not medlab.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        medlab.addHandler(handler)
        medlab.setLevel(logging.INFO)
        medlab.propagate = False


def load_model(name: str):
    """A routed model by name: from the Hub source chosen for it (`use_sources`), else as weights_dir.load finds
    it (its folder under the weights folder, else `name` itself as a folder or Hub id). Loaded once per process
    per source, even when many visitors ask for it at the same moment."""
    key = (name, source_of(name))
    with _LOAD_LOCKS_GUARD:
        lock = _LOAD_LOCKS.setdefault(key, threading.Lock())
    with lock:  # lru_cache alone would let two threads that miss at once both load
        return _load(*key)


@lru_cache(maxsize=32)  # the bundled models stay (always in use); Hub picks by many visitors cannot pile up
def _load(name: str, source: Source | None):
    started = time.perf_counter()
    model = _load_uncounted(name, source)
    LOADS[(name, str(source or "bundled"))] += 1
    log.info("loaded model %s (%s) in %.2f s; loads of it in this process: %d", name, source or "bundled",
             time.perf_counter() - started, LOADS[(name, str(source or "bundled"))])
    return model


def _load_uncounted(name: str, source: Source | None):
    if source is None:
        # A routed model's family is checked too: a U-Net's config.json in a classifier's folder is refused.
        routed = name in {ROUTER, *CLASSIFIERS.values(), *SEGMENTERS.values()}
        return weights_dir.load(name, family=families_of(name) if routed else None)
    if not is_repo_id(source.repo_id):
        raise models.WeightsError(f"{source.repo_id!r} is not a Hub repository id (owner/name)")
    # Anonymously: with a Space-level HF_TOKEN, a visitor's repository must not be fetched with the Space's
    # token (their private or gated repositories would become usable by anyone).
    model = weights_dir.load(source.repo_id, family=families_of(name), revision=source.revision, token=False)
    if name == ROUTER and not set(model.class_names) <= set(MODALITY_NAMES):
        raise models.WeightsError(f"{source} is a classifier of {', '.join(model.class_names)}, not a modality "
                                  f"recognizer (its classes must be among {', '.join(MODALITY_NAMES)})")
    return model


def is_repo_id(text: str) -> bool:
    """owner/name as the Hub spells them, and not a folder here: a hosted app's visitors must not read its disk."""
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return text.count("/") == 1 and not Path(text).exists()


load_model.cache_clear = _load.cache_clear  # forget every loaded model (tests, a changed MEDLAB_WEIGHTS)


@dataclass
class Classification:
    file: str
    modality: str  # what the recognizer (or the user) decided
    modality_probability: float
    model: str | None = None  # the classifier that judged the image, if any
    label: str | None = None
    probabilities: dict[str, float] | None = None
    threshold: float | None = None  # on P(second class), chosen on validation
    members: list[dict[str, float]] | None = None  # an ensemble's: each member's own calibrated probabilities
    refusal: str | None = None  # why no classifier judged the image
    source: str | None = None  # the Hub repository the classifier came from, if not its bundled weights
    uncertain: bool | None = None  # within uncertain_margin() of the threshold (bundled weights only)

    def to_json(self) -> dict:
        if self.refusal:
            return {"file": self.file, "modality": self.modality, "error": self.refusal}
        return {k: v for k, v in asdict(self).items() if v is not None and k != "refusal"}


def recognize(image: LoadedImage) -> dict[str, float]:
    """Modality probabilities, e.g. {"chest_xray": 0.98, "ct": 0.01, ...}."""
    router = load_model(ROUTER)
    with computing():
        p = router.predict(to_tensor(image, channels=router.config.in_channels))[0]
    return dict(zip(router.class_names, p.tolist()))


def validation_predictions(evaluation: dict) -> tuple[np.ndarray, np.ndarray]:
    """(scores, labels) of every image of an eval-val.json, rebuilt from its ROC curve, which has a point at every
    distinct score: at each, how many positives and negatives have it."""
    n, roc = evaluation["n"], evaluation["roc"]
    positives = evaluation["class_counts"][1]
    tp = np.rint(np.asarray(roc["tpr"]) * positives).astype(int)
    fp = np.rint(np.asarray(roc["fpr"]) * (n - positives)).astype(int)
    scores = np.repeat(roc["threshold"][1:], np.diff(tp) + np.diff(fp))
    labels = np.concatenate([[1] * a + [0] * b for a, b in zip(np.diff(tp), np.diff(fp))] or [[]]).astype(int)
    return scores.astype(float), labels


def uncertain_margin(name: str) -> float | None:
    """How close to its threshold a bundled two-class model's answer counts as uncertain: the smallest margin (in
    steps of 0.01) outside which at least UNCERTAIN_TARGET of its validation answers are right, from its
    eval-val.json (`python evaluate.py NAME --split val`); None without one. `python scripts/uncertain_band.py`
    prints each margin with what it covers."""
    path = weights_dir.root() / name / "eval-val.json"
    return _uncertain_margin(path) if path.is_file() else None


@lru_cache(maxsize=64)
def _uncertain_margin(path: Path) -> float:
    evaluation = json.loads(path.read_text())
    scores, labels = validation_predictions(evaluation)
    threshold = evaluation["at_threshold"]["threshold"]
    for margin in np.arange(0, 0.51, 0.01):
        outside = np.abs(scores - threshold) >= margin
        if outside.any() and ((scores[outside] >= threshold) == labels[outside]).mean() >= UNCERTAIN_TARGET:
            return round(float(margin), 2)
    return 0.5


def what_the_lab_judges() -> str:
    kinds = [f"{', '.join(PLURALS[m] for m in CLASSIFIERS)} (classified)"]
    kinds += [f"{PLURALS[m]} (segmented)" for m in SEGMENTERS]
    return f"the lab's models judge {' and '.join(kinds)}."


def dicom_header(image: LoadedImage) -> tuple[str, str, str | None] | None:
    """What a DICOM file's header says it is: (Modality code, the code in words, the lab's modality it may hold or
    None), or None when the file is no DICOM or its header does not say."""
    code = str(image.info.get("modality", "")).strip().upper() if image.format == "DICOM" else ""
    return (code, *DICOM_MODALITIES[code]) if code in DICOM_MODALITIES else None


def route(image: LoadedImage, seen: dict[str, float], modality: str | None = None,
          task: dict[str, str] | None = None) -> str:
    """The modality to act on: the user's override, or the recognizer's confident answer.

    Raises Refusal, with the reason, when the recognizer is unsure or the modality has no model
    (in `task`, when given: CLASSIFIERS or SEGMENTERS), or when a DICOM header names a modality no model takes
    (MR, ultrasound, ...); a refusal of a DICOM file says what its header says.
    """
    best = max(seen, key=seen.get)
    header = dicom_header(image)
    says = f"its DICOM header says Modality {header[0]} ({header[1]})" if header else ""
    if modality is None and header and header[2] is None:
        raise Refusal(f"{image.name}: {says}, and no model here takes that; {what_the_lab_judges()}")
    if modality is None and header and best != header[2]:  # the header names a modality the lab has, the pixels disagree
        hint = (" The CT classifier was trained on axial chest slices at a lung window: if this is one, try the lung "
                "preset." if header[2] == "ct" else "")
        raise Refusal(f"{image.name}: {says}, but the modality recognizer does not see {LOOKS_LIKE[header[2]][11:]} "
                      f"like those the lab's models were trained on (it says {MODALITY_NAMES[best]}, {seen[best]:.0%}), "
                      f"so no model judges it.{hint}")
    if modality is None and seen[best] < ROUTE_CONFIDENCE:
        raise Refusal(f"{image.name}: the modality recognizer is unsure what this image is (best guess "
                      f"{MODALITY_NAMES[best]}, {seen[best]:.0%}), so no model judges it; {what_the_lab_judges()}")
    chosen = modality or best
    routed = task if task is not None else {**CLASSIFIERS, **SEGMENTERS}
    if chosen not in routed:
        if chosen in SEGMENTERS:
            hint = "segment it instead: the classifiers take " + " and ".join(PLURALS[m] for m in CLASSIFIERS)
        elif chosen in CLASSIFIERS:
            hint = "classify it instead: the segmenters take " + " and ".join(PLURALS[m] for m in SEGMENTERS)
        else:
            hint = what_the_lab_judges()
        raise Refusal(f"{image.name} {LOOKS_LIKE[chosen]} ({seen[chosen]:.0%} by the modality recognizer); {hint}")
    return chosen


def classify(image: LoadedImage, *, modality: str | None = None, seen: dict[str, float] | None = None) -> Classification:
    """Route the image to its classifier and classify it; `modality` overrides the recognizer.

    `seen`: the recognizer's answer for this image, if the caller has already asked it. A refused
    image comes back with `refusal` set and no label or probabilities.
    """
    seen = seen or recognize(image)
    try:
        chosen = route(image, seen, modality, CLASSIFIERS)
    except Refusal as refusal:
        best = modality or max(seen, key=seen.get)
        return Classification(image.name, best, round(seen.get(best, 0.0), 4), refusal=str(refusal))
    name = CLASSIFIERS[chosen]
    model = load_model(name)
    x = to_tensor(image, channels=model.config.in_channels)
    with computing():
        p, members = model.predict_with_members(x)  # members: an ensemble's networks, each on its own

    def named(probabilities: torch.Tensor) -> dict[str, float]:
        return {c: round(v, 4) for c, v in zip(model.class_names, probabilities.tolist())}

    two = len(model.class_names) == 2
    margin = uncertain_margin(name) if two and not source_of(name) else None
    return Classification(
        file=image.name, modality=chosen, modality_probability=round(seen[chosen], 4), model=name,
        source=str(source_of(name)) if source_of(name) else None,
        label=model.class_names[int(model.decide(p)[0])], probabilities=named(p[0]),
        threshold=round(float(model.threshold), 4) if two else None,
        members=None if members is None else [named(member[0]) for member in members],
        uncertain=None if margin is None else bool(abs(float(p[0, 1]) - float(model.threshold)) < margin))


def explain(image: LoadedImage, model_name: str, target: str | None = None) -> np.ndarray:
    """Grad-CAM heat map in [0, 1] for `target` (default: the decision), at images.view_size of the image: what
    a page shows (to_pil(image, view=True)), never the image's full size (160 MB at 40 megapixels)."""
    model = load_model(model_name)
    x = to_tensor(image, channels=model.config.in_channels)
    with computing():
        if target is None:
            index = int(model.decide(model.predict(x))[0])
        else:
            index = model.class_names.index(target)
        return grad_cam(model, x, index, view_size(image.height, image.width))[0].numpy()


@dataclass
class Segmentation:
    file: str
    modality: str
    model: str
    mask: np.ndarray  # (H, W) bool at the image's own size (the probabilities are not kept: 4 bytes a pixel)
    threshold: float
    source: str | None = None  # the Hub repository the segmenter came from, if not its bundled weights

    @property
    def area(self) -> float:
        """The polyp's share of the image."""
        return float(self.mask.mean())

    @property
    def found(self) -> bool:
        return self.area >= FOUND_AREA

    def to_json(self) -> dict:
        return {"file": self.file, "modality": self.modality, "model": self.model, "polyp_found": self.found,
                "polyp_fraction": round(self.area, 5), "mask_threshold": self.threshold, "found_area": FOUND_AREA,
                **({"source": self.source} if self.source else {})}


def segment(image: LoadedImage, *, modality: str | None = None, seen: dict[str, float] | None = None) -> Segmentation:
    """The mask of what the segmenter for the image's modality finds (polyps in colonoscopy frames).

    `modality` overrides the recognizer; raises Refusal, with the reason, for images no segmenter judges.
    """
    chosen = route(image, seen or recognize(image), modality, SEGMENTERS) if modality not in SEGMENTERS else modality
    name = SEGMENTERS[chosen]
    model = load_model(name)
    with computing():
        probability = model.predict(to_tensor(image, channels=model.config.in_channels))[0, 0]
    return Segmentation(image.name, chosen, name, model.mask(probability).numpy(),
                        round(float(model.threshold), 4), str(source_of(name)) if source_of(name) else None)
