"""What ImageNet pretraining buys: classifiers of one data set, trained from scratch, on frozen ImageNet
features and fine-tuned, side by side on the same test split and protocol (`evaluate.py`'s).

    python scripts/compare_transfer.py covid-ct \
        "from scratch=runs/out/ct-scratch:runs/ct-scratch" "frozen ImageNet features=runs/out/ct-frozen:runs/ct-frozen" ...

Each argument is LABEL=WEIGHTS[:RUN_DIR]: a weights folder that `evaluate.py FOLDER --split test` has
measured (its eval.json), and the run folder whose history.json holds train.py's epochs and their seconds
(left out: training time is "not recorded"). Writes weights/<MODEL>/transfer.json beside the shipped model
it explains, and the Evaluate page draws it under that model's figures: a table (accuracy and F1 at the validation threshold, ROC-AUC, training time, parameters) and
the ROC curves overlaid.
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
import weights_dir  # noqa: E402


def row(label: str, folder: Path, run_dir: Path | None) -> dict:
    evaluation = json.loads((folder / "eval.json").read_text())
    if evaluation["split"] != "test" or "roc" not in evaluation:
        raise SystemExit(f"{folder}/eval.json is not a two-class test evaluation: run evaluate.py {folder} --split test")
    history = json.loads((run_dir / "history.json").read_text()) if run_dir else None
    model = weights_dir.load(folder)
    at = evaluation["at_threshold"]
    return {
        "label": label, "model": folder.name, "family": model.family, "parameters": model.num_parameters,
        "accuracy": at["accuracy"], "f1": at["f1"], "roc_auc": evaluation["roc_auc"], "threshold": at["threshold"],
        "epochs": len(history) if history else None,
        "train_seconds": round(sum(r["seconds"] for r in history)) if history else None,
        "roc": {k: evaluation["roc"][k] for k in ("fpr", "tpr")},
        "command": evaluation["command"], "protocol": evaluation["protocol"],
    }


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="the shipped model (weights/<MODEL>) whose Evaluate view shows the comparison")
    p.add_argument("runs", nargs="+", metavar="LABEL=WEIGHTS[:RUN_DIR]")
    args = p.parse_args(argv)
    rows = []
    for spec in args.runs:
        label, _, where = spec.partition("=")
        folder, _, run_dir = where.partition(":")
        if not label or not folder:
            p.error(f"{spec!r} is not LABEL=WEIGHTS[:RUN_DIR]")
        rows.append(row(label, Path(folder), Path(run_dir) if run_dir else None))
    datasets = {json.loads((Path(w.partition("=")[2].partition(":")[0]) / "eval.json").read_text())["dataset"]
                for w in args.runs}
    if len(datasets) != 1:
        p.error(f"the runs were evaluated on different data sets ({', '.join(sorted(datasets))}): nothing to compare")
    out = weights_dir.root() / args.model / "transfer.json"
    out.write_text(json.dumps({"dataset": datasets.pop(), "split": "test", "rows": rows}, indent=1) + "\n")
    for r in rows:
        time = f"{r['train_seconds'] / 60:.0f} min" if r["train_seconds"] is not None else "not recorded"
        print(f"{r['label']}: accuracy {r['accuracy']:.3f}, F1 {r['f1']:.3f}, ROC-AUC {r['roc_auc']:.3f}, "
              f"{r['parameters'] / 1e6:.2f}M parameters, training {time}")
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
