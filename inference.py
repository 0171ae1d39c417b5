"""What the app and the command line ask of the shipped models: which modality is this, what does
the right classifier make of it, and where did it look.

Every upload first meets the modality recognizer (`weights/modality`): chest X-ray, CT slice,
endoscopy frame, or none of these. Only an image recognised, confidently, as the modality a
classifier was trained on reaches that classifier; anything else is refused with the reason, never
given a probability it has no grounds for.
"""
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

import models
from images import LoadedImage, to_tensor
from saliency import grad_cam

WEIGHTS = Path(os.environ.get("MEDLAB_WEIGHTS", Path(__file__).resolve().parent / "weights"))
ROUTER = "modality"
CLASSIFIERS = {"chest_xray": "cxr-pneumonia"}  # modality -> the weights folder of its classifier
MODALITY_NAMES = {"chest_xray": "chest X-ray", "ct": "CT slice", "endoscopy": "endoscopy frame",
                  "other": "none of these"}
PLURALS = {"chest_xray": "chest X-rays", "ct": "CT slices", "endoscopy": "colonoscopy frames"}
LOOKS_LIKE = {"chest_xray": "looks like a chest X-ray", "ct": "looks like a CT slice",
              "endoscopy": "looks like an endoscopy frame", "other": "does not look like a medical image the lab knows"}
SEGMENTERS = {"endoscopy": "polyp-unet"}  # modality -> the weights folder of its segmenter
ROUTE_CONFIDENCE = 0.8  # below this, the recognizer is unsure and the image is refused
FOUND_AREA = 0.005  # "polyp found" when the predicted mask covers at least 0.5% of the frame


class Refusal(ValueError):
    """An image no shipped model may judge (wrong modality); the text says why."""


@lru_cache(maxsize=None)
def load_model(name: str):
    """A shipped model by folder name under weights/ (or any folder or Hub id), loaded once per process."""
    path = WEIGHTS / name
    return models.load(path if path.is_dir() else name)


@dataclass
class Classification:
    file: str
    modality: str  # what the recognizer (or the user) decided
    modality_probability: float
    model: str | None = None  # the classifier that judged the image, if any
    label: str | None = None
    probabilities: dict[str, float] | None = None
    threshold: float | None = None  # on P(second class), chosen on validation
    refusal: str | None = None  # why no classifier judged the image

    def to_json(self) -> dict:
        if self.refusal:
            return {"file": self.file, "modality": self.modality, "error": self.refusal}
        return {k: v for k, v in asdict(self).items() if v is not None and k != "refusal"}


def recognize(image: LoadedImage) -> dict[str, float]:
    """Modality probabilities, e.g. {"chest_xray": 0.98, "ct": 0.01, ...}."""
    router = load_model(ROUTER)
    p = router.predict(to_tensor(image, channels=router.config.in_channels))[0]
    return dict(zip(router.class_names, p.tolist()))


def what_the_lab_judges() -> str:
    kinds = [f"{', '.join(PLURALS[m] for m in CLASSIFIERS)} (classified)"]
    kinds += [f"{PLURALS[m]} (segmented)" for m in SEGMENTERS]
    return f"The lab's models judge {' and '.join(kinds)}."


def route(image: LoadedImage, seen: dict[str, float], modality: str | None = None,
          task: dict[str, str] | None = None) -> str:
    """The modality to act on: the user's override, or the recognizer's confident answer.

    Raises Refusal, with the reason, when the recognizer is unsure or the modality has no model
    (in `task`, when given: CLASSIFIERS or SEGMENTERS).
    """
    best = max(seen, key=seen.get)
    if modality is None and seen[best] < ROUTE_CONFIDENCE:
        raise Refusal(f"{image.name}: the modality recognizer is unsure what this image is (best guess "
                      f"{MODALITY_NAMES[best]}, {seen[best]:.0%}), so no model judges it. {what_the_lab_judges()}")
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
    p = model.predict(to_tensor(image, channels=model.config.in_channels))
    return Classification(
        file=image.name, modality=chosen, modality_probability=round(seen[chosen], 4), model=name,
        label=model.class_names[int(model.decide(p)[0])],
        probabilities={c: round(v, 4) for c, v in zip(model.class_names, p[0].tolist())},
        threshold=round(float(model.threshold), 4) if len(model.class_names) == 2 else None)


def explain(image: LoadedImage, model_name: str, target: str | None = None) -> np.ndarray:
    """Grad-CAM heat map (H, W) in [0, 1] at the image's own size, for `target` (default: the decision)."""
    model = load_model(model_name)
    x = to_tensor(image, channels=model.config.in_channels)
    if target is None:
        index = int(model.decide(model.predict(x))[0])
    else:
        index = model.class_names.index(target)
    return grad_cam(model, x, index)[0].numpy()


@dataclass
class Segmentation:
    file: str
    modality: str
    model: str
    mask: np.ndarray  # (H, W) bool at the image's own size
    probability: np.ndarray  # (H, W) float polyp probability
    threshold: float

    @property
    def area(self) -> float:
        """The polyp's share of the image."""
        return float(self.mask.mean())

    @property
    def found(self) -> bool:
        return self.area >= FOUND_AREA

    def to_json(self) -> dict:
        return {"file": self.file, "modality": self.modality, "model": self.model, "polyp_found": self.found,
                "polyp_fraction": round(self.area, 5), "mask_threshold": self.threshold, "found_area": FOUND_AREA}


def segment(image: LoadedImage, *, modality: str | None = None, seen: dict[str, float] | None = None) -> Segmentation:
    """The mask of what the segmenter for the image's modality finds (polyps in colonoscopy frames).

    `modality` overrides the recognizer; raises Refusal, with the reason, for images no segmenter judges.
    """
    chosen = route(image, seen or recognize(image), modality, SEGMENTERS) if modality not in SEGMENTERS else modality
    name = SEGMENTERS[chosen]
    model = load_model(name)
    probability = model.predict(to_tensor(image, channels=model.config.in_channels))[0, 0]
    return Segmentation(image.name, chosen, name, model.mask(probability).numpy(), probability.numpy(),
                        round(float(model.threshold), 4))
