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
SEGMENTERS = {"endoscopy": "polyp-unet"}  # modality -> the weights folder of its segmenter
ROUTE_CONFIDENCE = 0.8  # below this, the recognizer is unsure and the image is refused
FOUND_AREA = 0.005  # "polyp found" when the predicted mask covers at least 0.5% of the frame


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


def classify(image: LoadedImage, *, modality: str | None = None, seen: dict[str, float] | None = None) -> Classification:
    """Route the image to its classifier and classify it; `modality` overrides the recognizer.

    `seen`: the recognizer's answer for this image, if the caller has already asked it.
    """
    seen = seen or recognize(image)
    best = max(seen, key=seen.get)
    chosen = modality or best
    result = Classification(file=image.name, modality=chosen, modality_probability=round(seen.get(chosen, 0.0), 4))
    if modality is None and seen[best] < ROUTE_CONFIDENCE:
        result.refusal = (f"{image.name}: the modality recognizer is unsure what this image is (best guess "
                          f"{MODALITY_NAMES[best]}, {seen[best]:.0%}), so no classifier judges it. Upload a frontal "
                          "chest X-ray.")
        return result
    if chosen not in CLASSIFIERS:
        what = "does not look like a medical image the lab knows" if chosen == "other" else \
            f"looks like a {MODALITY_NAMES[chosen]}, which no shipped classifier is trained on"
        result.refusal = (f"{image.name} {what} ({seen[chosen]:.0%} by the modality recognizer); the classifiers "
                          f"here judge only: {', '.join(MODALITY_NAMES[m] for m in CLASSIFIERS)}.")
        return result
    name = CLASSIFIERS[chosen]
    model = load_model(name)
    p = model.predict(to_tensor(image, channels=model.config.in_channels))
    result.model = name
    result.label = model.class_names[int(model.decide(p)[0])]
    result.probabilities = {c: round(v, 4) for c, v in zip(model.class_names, p[0].tolist())}
    if len(model.class_names) == 2:
        result.threshold = round(float(model.threshold), 4)
    return result


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


def segment(image: LoadedImage, *, check_modality: bool = True) -> Segmentation:
    """Polyp mask of a colonoscopy frame; raises ValueError (with the reason) for other images."""
    if check_modality:
        seen = recognize(image)
        best = max(seen, key=seen.get)
        if best != "endoscopy" or seen[best] < ROUTE_CONFIDENCE:
            raise ValueError(f"{image.name} looks like {MODALITY_NAMES[best]} ({seen[best]:.0%} by the modality "
                             "recognizer), not a colonoscopy frame: the polyp segmenter only judges those")
    name = SEGMENTERS["endoscopy"]
    model = load_model(name)
    probability = model.predict(to_tensor(image, channels=model.config.in_channels))[0, 0]
    return Segmentation(image.name, "endoscopy", name, model.mask(probability).numpy(), probability.numpy(),
                        round(float(model.threshold), 4))
