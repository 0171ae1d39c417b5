"""Model cards: the README.md in every weights folder, rendered from facts the commands recorded.

The facts live in the card's YAML front matter under `medlab:` (what trained the model, on which
split, with which settings, and what `evaluate.py` measured), so the card is regenerated, never
hand-edited, and every number in it names the command and split that produced it.

    python cards.py weights/*     # re-render each card's body from its own front matter (kept as written)
"""
import json
import sys
from pathlib import Path

import yaml

import models
import results

INTENDED_USE = ("Teaching and demonstration of deep learning on medical images (MedLab). "
                "Not a medical device: never use it to diagnose, triage or treat anyone.")

DATA_LICENCES = {
    "chest_xray": "CC BY 4.0 (Kermany et al., 2018, Mendeley Data)",
    "covid_ct": "research use; copyright with the source papers (UCSD-AI4H COVID-CT)",
    "kvasir_seg": "Simula terms: research and education (Kvasir-SEG)",
    "sr": "T91: not stated; BSDS500: research use (Berkeley). Test sets Set5 and Set14: citation requested",
    "mnist": "see MNIST's site (LeCun, Cortes and Burges)",
    "cifar10": "see CIFAR's site (Krizhevsky, 2009)",
    "mnist_m": "MNIST-M: not stated (Ganin and Lempitsky, 2015); BSDS500 photos: research use; MNIST: see its site",
    "modality": "the strictest of its sources': COVID-CT research use, Kvasir-SEG research and education",
}
# Weights learned from a data set are not the code's to license: MIT covers MedLab's code, the weights carry this too.
INHERITED = "- The weights inherit the data set's terms above (MedLab's MIT licence covers its code, not them)."


def read_meta(folder: Path) -> dict:
    """The `medlab:` facts from the card's front matter ({} when there is no card yet)."""
    card = Path(folder) / "README.md"
    if not card.exists():
        return {}
    text = card.read_text()
    if not text.startswith("---"):
        return {}
    front = yaml.safe_load(text.split("---", 2)[1]) or {}
    return front.get("medlab", {}) or {}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2g}"  # a learning rate of 1e-4 too
    return str(value)


def _metrics_table(report: dict, keys=("accuracy", "sensitivity", "specificity", "precision", "f1")) -> list[str]:
    return ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
            "| " + " | ".join(_fmt(report[k]) for k in keys) + " |"]


def render(meta: dict, folder: Path | None = None) -> str:
    """The model card: YAML front matter (the meta) and the body. Tables too long for the front matter (the
    super-resolution degradation table) are read from the evaluation files in `folder` when given."""
    dataset = meta.get("dataset", "")
    front = {
        "license": "mit",
        "library_name": "medlab",
        "tags": ["medlab", "medical-imaging", "teaching", meta.get("family", "")],
        "datasets": [dataset] if dataset else [],
        "medlab": meta,
    }
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# {meta.get('title', meta.get('name', 'MedLab model'))}", "",
             meta.get("summary", ""), "",
             *how_to_use(meta, folder),
             "## Intended use", "", INTENDED_USE, "",
             "## Data", "",
             f"- Data set: `{dataset}`; licence: {DATA_LICENCES.get(dataset, 'see the data set README')}.", INHERITED,
             *[f"- {d}" for d in meta.get("splits", [])], "",
             "## Training", "", f"Command: `{meta.get('train_command', '')}`", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in (meta.get("settings") or {}).items()]
    if meta.get("calibration"):
        lines += ["", "Calibration, fitted on the validation split: " + ", ".join(
            f"{k} {_fmt(v)}" for k, v in meta["calibration"].items()) + "."]
    lines += ["", "## Results", ""]
    for result in meta.get("results", []):
        lines += [f"### {result['split']} ({result['n']} images)", "",
                  f"Command: `{result['command']}`. {result.get('protocol', '')}", ""]
        if "roc_auc" in result:
            lines += [f"ROC-AUC {result['roc_auc']:.3f}, average precision {result['average_precision']:.3f}, "
                      f"expected calibration error {result['ece']:.3f} (10 bins).", ""]
        if "dice" in result:
            found = result.get("found", {})
            lines += [f"Dice {result['dice']:.3f}, IoU {result['iou']:.3f} (per image, averaged). "
                      + (f"'Polyp found' (mask covering at least {found['area_threshold']:.1%} of the frame) on "
                         f"{found['share_found']:.1%} of these frames, all of which contain a polyp." if found else ""), ""]
        if "sets" in result:  # super-resolution: bicubic and the model per test set
            lines += ["| set (n) | method | PSNR-Y (dB) | SSIM-Y | PSNR-RGB (dB) | SSIM-RGB | sharpness |",
                      "|---|---|---|---|---|---|---|"]
            model = meta.get("name", "this model")
            for name, s in result["sets"].items():
                for who, label in results.sr_methods(model, s):
                    m = s[who]
                    lines.append(f"| {name} ({s['n']}) | {label} | {m['psnr_y']:.2f} | {m['ssim_y']:.4f} | "
                                 f"{m['psnr_rgb']:.2f} | {m['ssim_rgb']:.4f} | {m['sharpness']:.2f} |")
                lines.append(f"| {name} ({s['n']}) | HR original | | | | | {s['original']['sharpness']:.2f} |")
            lines += ["", "Gain over bicubic on Y: " + ", ".join(
                f"{name} {results.sr_gain(s)}" for name, s in result["sets"].items()) + ".", ""]
        if "degradations" in result:  # super-resolution under each way an image may have been made small
            table = result["degradations"]
            lines += [f"Other degradations ({table['protocol']}): {results.degradation_summary(table)}.", ""]
            source = folder and Path(folder) / ("eval.json" if result["split"] == "test" else f"eval-{result['split']}.json")
            if source and source.is_file() and "degradations" in (full := json.loads(source.read_text())):
                lines += ["| degradation | set | bicubic PSNR-Y | model PSNR-Y | gain (dB) | bicubic SSIM-Y | model SSIM-Y |",
                          "|---|---|---|---|---|---|---|"]
                lines += [f"| {r['degradation']} | {r['set']} | {r['bicubic PSNR-Y']:.2f} | {r['model PSNR-Y']:.2f} | "
                          f"{r['gain (dB)']:+.2f} | {r['bicubic SSIM-Y']:.4f} | {r['model SSIM-Y']:.4f} |"
                          for r in results.degradation_rows(full["degradations"])] + [""]
        if "elbo" in result:  # a VAE: reconstruction, the bound, and (conditional) GAN-test of its samples
            lines += [f"Reconstruction PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.3f}; held-out ELBO "
                      f"{result['elbo']:.1f} nats per image.", ""]
            if "gan_test" in result:
                g = result["gan_test"]
                lines += [f"GAN-test (the judge {g['judge']} reads each sample as the class it was drawn for): "
                          f"{g['overall']:.3f} over {g['samples']} samples; per class " + ", ".join(
                              f"{k} {v:.3f}" for k, v in g["per_class"].items())
                          + f". The judge's accuracy on the real images: {g['judge_accuracy_on_real']:.3f}.", ""]
        if "recall" in result:
            lines += [f"Accuracy {result['accuracy']:.3f}; recall per class: " + ", ".join(
                f"{k} {v:.3f}" for k, v in result["recall"].items()) + ".", ""]
        if "source" in result:  # domain adaptation: the headline is the target domain; the source as well
            source = result["source"]
            lines += [f"On the source domain, `{source['dataset']}` ({source['n']} images; {source['protocol']}): "
                      f"accuracy {source['accuracy']:.3f}.", ""]
        if "judge" in result:  # a generator, judged by an independent classifier
            lines += generator_results(result)
        if "routing" in result:
            r = result["routing"]
            lines += [f"Routing as the app does it (routed only at probability >= {r['route_confidence']}): "
                      f"{r['medical_routed_correctly']:.1%} of {r['n_medical']} medical images routed to the right "
                      f"model, {r['medical_misrouted']:.1%} misrouted, {r['medical_refused']:.1%} refused; "
                      f"{r['out_of_domain_refused']:.1%} of {r['n_out_of_domain']} out-of-domain images refused.", ""]
        for name in ("at_threshold", "at_0.5"):
            if name in result:
                lines += [f"At threshold {result[name]['threshold']:.3f}"
                          f"{' (chosen on validation)' if name == 'at_threshold' else ''}:", "",
                          *_metrics_table(result[name]), ""]
    if not meta.get("results"):
        lines += ["Not evaluated yet: run `evaluate.py`.", ""]
    lines += ["## Limitations", "", *[f"- {item}" for item in meta.get("limitations", [])], ""]
    if meta.get("history"):  # how this model was chosen over the others tried: last, for those who want it
        lines += ["## History", "", *[f"- {item}" for item in meta["history"]], ""]
    return "\n".join(lines)


def how_to_use(meta: dict, folder: Path | None) -> list[str]:
    """The family's inference call in three lines of Python (its class's `usage`) and, given the folder's config.json,
    the `predict.py` line that runs the model (`predict.command_line`), or that none does. [] for a card that names no
    registered family."""
    family, name = meta.get("family"), meta.get("name", "NAME")
    if family not in models.names():
        return []
    lines = ["## How to use", "", "In Python, from the repository's root:", "",
             "```python", "import models", f'model = models.load("weights/{name}")  # or a Hub repository id',
             models.get(family).usage, "```", ""]
    config = Path(folder) / models.base.CONFIG_FILE if folder else None
    if not config or not config.is_file():
        return lines
    import predict  # here, not at the top: it loads the serving layer, which training (train.py -> cards) does not need

    command = predict.command_line(name, json.loads(config.read_text()))
    if command is None:
        return lines + ["No `predict.py` command runs this model.", ""]
    return lines + ["On files, from the command line:", "", "```bash", command, "```", ""]


def generator_results(result: dict) -> list[str]:
    """GAN-test, Fréchet distance against its floor and diversity, per class, beside the judge's own accuracy."""
    judge = result["judge"]
    lines = [f"Judge: `{judge['name']}`, accuracy {judge['accuracy_on_real']:.3f} on the real images of this split at "
             "the generator's size (recall " + ", ".join(f"{k} {v:.3f}" for k, v in judge["recall_on_real"].items()) + ").", ""]
    if "gan_test" in result:
        lines += [f"GAN-test (the judge's accuracy on generated images, per requested class): overall "
                  f"{result['gan_test']['overall']:.3f}.", ""]
    if "class_shares" in result:
        shares = result["class_shares"]
        lines += ["Unconditional: the judge's class shares of generated images " + ", ".join(
            f"{k} {v:.2f}" for k, v in shares["generated"].items()) + "; of the real images " + ", ".join(
            f"{k} {v:.2f}" for k, v in shares["real_by_judge"].items()) + ".", ""]
    lines += ["| class | GAN-test | Fréchet distance (floor: real vs real) | diversity generated / real (ratio) |",
              "|---|---|---|---|"]
    for name, fid in result["frechet"].items():
        gan = result.get("gan_test", {}).get("per_class", {}).get(name)
        d = result["diversity"][name]
        lines.append(f"| {name} | {_fmt(gan) if gan is not None else 'n/a'} | {fid['generated_vs_real']:.2f} "
                     f"({fid['floor_real_vs_real']:.2f}; {fid['n_each']} each) | {d['generated']:.3f} / {d['real']:.3f} "
                     f"({d['ratio']:.2f}) |")
    lines += ["", "Diversity is 1 - mean pairwise SSIM within a class (higher: more varied); the ratio should be at "
              "least 0.8.", ""]
    if "cas" in result:
        cas = result["cas"]
        lines += [f"Classification accuracy score (CAS): a classifier trained only on {cas['n_train']} generated images "
                  f"reaches accuracy {cas['accuracy']:.3f} on the {cas['n_test']} real images (a classifier of the same "
                  f"recipe trained on real images: {cas['real_accuracy']:.3f}).", ""]
    return lines


def write(folder: Path, meta: dict) -> None:
    (Path(folder) / "README.md").write_text(render(meta, folder))


def refresh(folder: Path) -> None:
    """Render the card's body again from its front matter, kept exactly as written: how a change to `render` reaches
    every shipped card without rerunning the commands that recorded its facts."""
    card = Path(folder) / "README.md"
    _, front, _ = card.read_text().split("---", 2)
    card.write_text("---" + front + "---" + render(read_meta(folder), folder).split("---", 2)[2])


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        if not (Path(argument) / "README.md").is_file():
            sys.exit(f"{argument} has no model card (README.md): name weights folders, e.g. weights/*")
        refresh(Path(argument))
        print(f"rendered {Path(argument) / 'README.md'}")
