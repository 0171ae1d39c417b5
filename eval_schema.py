"""The schema of `weights/<name>/eval.json` (and `eval-<split>.json`): what evaluate.py writes and the
renderers (cards.py, results.py, ui.py, app_pages/evaluate.py, generators.py) read.

Every file has the COMMON keys; the rest depends on the kind of model measured (KINDS). Each key is
declared with its JSON type and a one-line meaning. `check(result)` returns the problems in words
(an empty list: the result fits); evaluate.py refuses to write a result with any.

Checked: the top-level keys (present, of their type, none undeclared). What is inside a nested object
is described in its meaning, not checked. Pure Python: no torch, no serving code.
"""
from dataclasses import dataclass, field

# JSON types by name. A bool is an int to Python, never a number here.
TYPES = {"str": (str,), "int": (int,), "number": (int, float), "bool": (bool,), "list": (list,), "dict": (dict,)}
SPLITS = ("train", "val", "test")

COMMON = {
    "model": ("str", "the weights folder's name"),
    "dataset": ("str", "the data set measured on (a domain-adaptation model: its target, mnist_m)"),
    "split": ("str", "train, val or test; eval.json is always test, eval-<split>.json the others"),
    "n": ("int", "images measured (generators: images generated; super-resolution: summed over the sets)"),
    "command": ("str", "the evaluate.py command line that wrote the file"),
    "protocol": ("str", "how the figures were measured, in words: data, sizes, channels, seeds, averaging"),
}


@dataclass(frozen=True)
class Kind:
    name: str
    marker: str  # the key only this kind writes: how a result's kind is told
    required: dict[str, tuple[str, str]]  # key -> (type, meaning)
    optional: dict[str, tuple[str, str]] = field(default_factory=dict)
    one_of: tuple[str, ...] = ()  # at least one of these optional keys


_CLASSES = {
    "class_counts": ("list", "images per class in the split, in class_names order"),
    "class_names": ("list", "the model's classes"),
    "ece": ("number", "expected calibration error of the top-class confidence, 10 equal bins (0 to 1)"),
    "reliability": ("list", "the reliability diagram: per bin, mean confidence, accuracy and count"),
}

# The kind is told from the keys present, not from config.json's family: check() must work on the dict
# alone (evaluate.py checks before writing; a Hub repository's eval.json has no family beside it), a list of
# family names here would be one more to keep (STYLE habit 13), and the same family writes different kinds
# (a classifier is binary or multi-class by its number of classes).
KINDS = (
    Kind("binary classifier", "roc_auc", {
        **_CLASSES,
        "roc_auc": ("number", "area under the ROC curve of the positive class's probability"),
        "average_precision": ("number", "area under the precision-recall curve"),
        "at_0.5": ("dict", "accuracy, sensitivity, specificity, precision, F1 and confusion at threshold 0.5"),
        "at_threshold": ("dict", "the same at the model's threshold, fitted on val"),
        "roc": ("dict", "the ROC curve: fpr, tpr, threshold (at most 200 points)"),
        "pr": ("dict", "the precision-recall curve: precision, recall, threshold (at most 200 points)"),
    }),
    Kind("multi-class classifier", "confusion_matrix", {
        **_CLASSES,
        "accuracy": ("number", "share of images whose top class is right (0 to 1)"),
        "confusion_matrix": ("list", "rows: true class, columns: predicted class, counts"),
        "recall": ("dict", "per class name: share of its images predicted as it"),
    }, optional={
        "routing": ("dict", "the modality recognizer: shares routed, misrouted, refused at the app's confidence"),
        "source": ("dict", "a domain-adaptation model: the same figures on its source domain (mnist)"),
    }),
    Kind("segmenter", "dice", {
        "dice": ("number", "mean Dice per image at each image's own size (0 to 1)"),
        "iou": ("number", "mean IoU per image (0 to 1)"),
        "dice_median": ("number", "median Dice per image"),
        "per_image_dice": ("list", "Dice of each image, in ids order"),
        "ids": ("list", "the images' ids"),
        "worst": ("list", "the six lowest: id, dice, iou"),
        "found": ("dict", "area_threshold and share_found: images where the predicted mask reaches that area"),
    }),
    Kind("super-resolution", "sets", {
        "sets": ("dict", "per set (Set5, Set14; val: the crops): PSNR/SSIM in dB/0-1 on Y (4-px border) and RGB "
                         "for bicubic, the model, self-ensemble; gains over bicubic; per_image rows"),
        "degradations": ("dict", "protocol, rows (per degradation and set: PSNR-Y/SSIM-Y) and summary of gains"),
    }),
    Kind("generator", "frechet", {
        "judge": ("dict", "the independent classifier that reads the samples: name, accuracy and recall on real"),
        "seed": ("int", "the torch.Generator seed of the noise"),
        "frechet": ("dict", "per class (unconditional: all): Fréchet distance in the judge's features, its floor"),
        "diversity": ("dict", "per class (or all): 1 - mean pairwise SSIM, generated, real and their ratio"),
        "diversity_bar": ("number", "the least ratio generated / real diversity that passes"),
        "diversity_ok": ("bool", "every ratio reaches diversity_bar"),
    }, optional={
        "gan_test": ("dict", "conditional: the judge's accuracy per requested class on the samples"),
        "class_shares": ("dict", "unconditional: the judge's class shares of generated and real images"),
        "cas": ("dict", "classification accuracy score: a classifier trained on samples, tested on real"),
    }, one_of=("gan_test", "class_shares")),
    Kind("VAE", "elbo", {
        "psnr": ("number", "mean reconstruction PSNR in dB (peak 1), decoded from the encoder's mean"),
        "ssim": ("number", "mean reconstruction SSIM (0 to 1)"),
        "psnr_median": ("number", "median PSNR per image, dB"),
        "elbo": ("number", "mean ELBO per image, nats (beta 1, one draw)"),
        "elbo_per_dim": ("number", "elbo divided by the pixels times channels"),
        "latent_dim": ("int", "size of the latent code"),
        "likelihood": ("str", "the decoder's likelihood, in words"),
        "worst": ("list", "the five worst reconstructions: file, psnr"),
    }, optional={
        "gan_test": ("dict", "a conditional VAE with a judge: the judge's accuracy per requested class"),
    }),
)


def _type_problem(key: str, value, type_name: str) -> str | None:
    if isinstance(value, bool) and type_name != "bool" or not isinstance(value, TYPES[type_name]):
        return f"{key!r} should be of type {type_name}, got {type(value).__name__}"
    return None


def check(result: dict) -> list[str]:
    """The ways `result` breaks the schema, in words; empty when it fits."""
    markers = [kind.marker for kind in KINDS]
    found = [kind for kind in KINDS if kind.marker in result]
    if len(found) != 1:
        which = "none" if not found else " and ".join(repr(kind.marker) for kind in found)
        problems = [f"cannot tell the kind of model: exactly one of {', '.join(map(repr, markers))} is expected, "
                    f"found {which}"]
        declared = dict(COMMON)
    else:
        kind = found[0]
        problems = []
        declared = {**COMMON, **kind.required, **kind.optional}
        for key in kind.required:
            if key not in result:
                problems.append(f"missing {key!r} ({kind.name}: {kind.required[key][1]})")
        if kind.one_of and not any(key in result for key in kind.one_of):
            problems.append(f"a {kind.name} needs one of {', '.join(map(repr, kind.one_of))}")
        problems += [f"{key!r} is not in the schema of a {kind.name}: declare it in eval_schema.py"
                     for key in result if key not in declared]
    for key in COMMON:
        if key not in result:
            problems.append(f"missing {key!r} ({COMMON[key][1]})")
    for key, value in result.items():
        if key in declared:
            problem = _type_problem(key, value, declared[key][0])
            if problem:
                problems.append(problem)
    if isinstance(result.get("split"), str) and result["split"] not in SPLITS:
        problems.append(f"'split' should be one of {', '.join(SPLITS)}, got {result['split']!r}")
    return problems
