"""The uncertain band of each routed two-class classifier, chosen on its validation split: the Classify page (and
predict.py's `uncertain`) calls an answer uncertain when its probability is within the margin of the threshold.

    python scripts/uncertain_band.py

The margin is the smallest (in steps of 0.01) outside which at least 9 in 10 validation answers are right
(inference.uncertain_margin, from weights/<name>/eval-val.json, whose ROC curve holds every validation score).
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import inference  # noqa: E402
import weights_dir  # noqa: E402


def band(name: str) -> dict:
    evaluation = json.loads((weights_dir.root() / name / "eval-val.json").read_text())
    scores, labels = inference.validation_predictions(evaluation)
    threshold, margin = evaluation["at_threshold"]["threshold"], inference.uncertain_margin(name)
    inside = np.abs(scores - threshold) < margin
    right = (scores >= threshold) == labels
    return {"model": name, "threshold": threshold, "margin": margin, "n": len(scores), "inside": int(inside.sum()),
            "accuracy_inside": float(right[inside].mean()) if inside.any() else None,
            "accuracy_outside": float(right[~inside].mean())}


if __name__ == "__main__":
    for name in inference.CLASSIFIERS.values():
        b = band(name)
        inside = f"{b['accuracy_inside']:.0%} right" if b["inside"] else "none"
        print(f"{name}: margin {b['margin']:.2f} around the threshold {b['threshold']:.2f}; on validation "
              f"{b['inside']} of {b['n']} images inside ({inside}), {b['accuracy_outside']:.1%} right outside")
