"""The measured figures of eval.json files in words (eval_schema.py says what the files hold), for every
place that shows them: the README's results table (`describe`, and `main` prints the table), the Home and
Classify pages' sentence (`headline`), and the super-resolution pieces the cards, the Evaluate page and ui
share (`sr_gain`, `sr_methods`, `degradation_rows`, `degradation_summary`).

    python results.py

Each row names the split and the command that measured it (`evaluate.py`), so every figure in the
README can be traced and rerun. Paste the output into the README's Results section.
"""
import json

import weights_dir


def sr_methods(name: str, s: dict) -> list[tuple[str, str]]:
    """(key, label) of each way evaluate.py upscaled an SR set `s` with model `name`, in display order:
    bicubic, the model as it answers by default, and where measured one pass and the x8 self-ensemble."""
    passes = s.get("passes", 1)
    labels = {"bicubic": "bicubic", "model": name if passes == 1 else f"{name} (its default: {passes} passes)",
              "one_pass": f"{name}, one pass", "self_ensemble": f"{name}, x8 self-ensemble"}
    return [(who, label) for who, label in labels.items() if who in s]


def sr_gain(s: dict) -> str:
    """An SR set's gain in PSNR-Y over bicubic, with how many passes gave it and the other ways measured."""
    passes = s.get("passes", 1)
    others = [f"its default of {passes} passes"] if passes > 1 else []
    others += [f"{what} {s[f'gain_psnr_y_{who}']:+.2f} dB" for who, what in
               (("one_pass", "one pass"), ("self_ensemble", "x8 self-ensemble")) if who in s]
    return f"{s['gain_psnr_y']:+.2f} dB" + (f" ({'; '.join(others)})" if others else "")


def degradation_rows(table: dict) -> list[dict]:
    """evaluate.py's degradation table (result["degradations"]) as one flat row per degradation and set."""
    return [{"degradation": row["name"], "set": name, "bicubic PSNR-Y": s["bicubic"]["psnr_y"],
             "model PSNR-Y": s["model"]["psnr_y"], "gain (dB)": s["gain_psnr_y"], "bicubic SSIM-Y": s["bicubic"]["ssim_y"],
             "model SSIM-Y": s["model"]["ssim_y"]} for row in table["rows"] for name, s in row["sets"].items()]


def degradation_summary(table: dict) -> str:
    """Per set: the mean gain over bicubic across the degradations, and the least (where)."""
    return "; ".join(f"{name}: mean gain {s['mean_gain_psnr_y']:+.2f} dB, least {s['least_gain_psnr_y']:+.2f} dB "
                     f"({s['least_gain_at']})" for name, s in table["summary"].items())


def describe(result: dict) -> str:
    if "sets" in result:  # super-resolution x4
        return "; ".join(f"{name}: PSNR-Y {s['model']['psnr_y']:.2f} dB vs bicubic {s['bicubic']['psnr_y']:.2f}, "
                         f"gain {sr_gain(s)}; SSIM-Y {s['model']['ssim_y']:.4f} vs {s['bicubic']['ssim_y']:.4f}, "
                         f"sharpness {s['model']['sharpness']:.2f} (bicubic {s['bicubic']['sharpness']:.2f}, HR "
                         f"{s['original']['sharpness']:.2f})" for name, s in result["sets"].items()) + (
            f"; across {len(result['degradations']['rows'])} degradations, {degradation_summary(result['degradations'])}"
            if "degradations" in result else "")
    if "elbo" in result:  # a VAE
        text = (f"reconstruction PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.3f}; ELBO {result['elbo']:.1f} "
                f"nats per image ({result['latent_dim']}-D latent)")
        if "gan_test" in result:
            g = result["gan_test"]
            text += (f"; GAN-test {g['overall']:.3f} ({g['samples']} samples, judge `{g['judge']}`, itself "
                     f"{g['judge_accuracy_on_real']:.3f} on the real images)")
        return text
    if "judge" in result:  # a generator, judged by an independent classifier
        judge = f"judge `{result['judge']['name']}`, {result['judge']['accuracy_on_real']:.3f} on the real images"
        fid, diversity = result["frechet"], result["diversity"]
        if len(fid) <= 3:  # a class at a time
            distances = ", ".join(f"{k} {f['generated_vs_real']:.1f} (floor {f['floor_real_vs_real']:.1f})"
                                  for k, f in fid.items())
            ratios = ", ".join(f"{k} {d['ratio']:.2f}" for k, d in diversity.items())
        else:  # many classes: the range
            gen = [f["generated_vs_real"] for f in fid.values()]
            floor = [f["floor_real_vs_real"] for f in fid.values()]
            distances = f"{min(gen):.1f}-{max(gen):.1f} across classes (floors {min(floor):.1f}-{max(floor):.1f})"
            ratio = [d["ratio"] for d in diversity.values()]
            ratios = f"{min(ratio):.2f}-{max(ratio):.2f} across classes"
        if "gan_test" in result:
            per_class = result["gan_test"]["per_class"]
            shown = (", ".join(f"{k} {v:.3f}" for k, v in per_class.items()) if len(per_class) <= 3 else
                     f"lowest {min(per_class, key=per_class.get)} {min(per_class.values()):.3f}")
            head = f"GAN-test {result['gan_test']['overall']:.3f} ({shown}; {judge})"
        else:
            head = "unconditional; the judge's class shares " + ", ".join(
                f"{k} {v:.2f}" for k, v in result["class_shares"]["generated"].items()) + f" ({judge})"
        cas = (f"; CAS {result['cas']['accuracy']:.3f} (trained on real: {result['cas']['real_accuracy']:.3f})"
               if "cas" in result else "")
        return f"{head}; Fréchet distance {distances}; diversity generated/real {ratios}{cas}"
    if "dice" in result:
        return f"Dice {result['dice']:.3f}, IoU {result['iou']:.3f} (per image, averaged)"
    if "roc_auc" in result:
        t, half = result["at_threshold"], result["at_0.5"]
        return (f"ROC-AUC {result['roc_auc']:.3f}; at the validation threshold {t['threshold']:.2f}: accuracy "
                f"{t['accuracy']:.3f}, sensitivity {t['sensitivity']:.3f}, specificity {t['specificity']:.3f}, "
                f"F1 {t['f1']:.3f}; at 0.5: accuracy {half['accuracy']:.3f}, F1 {half['f1']:.3f}; "
                f"ECE {result['ece']:.3f}")
    text = f"accuracy {result['accuracy']:.4f}"
    if "source" in result:  # domain adaptation: the target (MNIST-M) first, then the source domain
        source = result["source"]
        text += f"; on {source['dataset']} {result['split']} ({source['n']}): accuracy {source['accuracy']:.4f}"
    if "routing" in result:
        r = result["routing"]
        text += (f"; {r['medical_routed_correctly']:.1%} of medical images routed right, "
                 f"{r['out_of_domain_refused']:.1%} of out-of-domain images refused")
    return text


def headline(evaluation: dict) -> str:
    """One sentence of the measured figures, for the home page: never typed in by hand."""
    where = f"{evaluation.get('split', '?')} split of `{evaluation.get('dataset', '?')}`, {evaluation['n']} images"
    if "at_threshold" in evaluation:  # two classes; the second is the positive one (the threshold is on it)
        at = evaluation["at_threshold"]
        positive = f" for {evaluation['class_names'][1]}" if "class_names" in evaluation else ""
        return (f"On the {where}: ROC-AUC {evaluation['roc_auc']:.3f}; at the threshold chosen on validation "
                f"({at['threshold']:.2f}): accuracy {at['accuracy']:.1%}, sensitivity{positive} "
                f"{at['sensitivity']:.1%}, specificity {at['specificity']:.1%}.")
    if "accuracy" in evaluation:  # more classes
        routing = evaluation.get("routing")
        refused = f"; refuses {routing['out_of_domain_refused']:.1%} of non-medical images" if routing else ""
        return f"On the {where}: accuracy {evaluation['accuracy']:.1%}{refused}."
    if "dice" in evaluation:  # a segmenter
        found = evaluation.get("found")
        share = (f"; a polyp found (a mask covering at least {found['area_threshold']:.1%} of the frame) in "
                 f"{found['share_found']:.1%} of them" if found else "")
        return f"On the {where}: mean Dice {evaluation['dice']:.3f}, mean IoU {evaluation['iou']:.3f}{share}."
    if "sets" in evaluation:  # super-resolution: the gain over bicubic on each test set
        return "x4, PSNR on Y (4-px border) against bicubic: " + "; ".join(
            f"{name} {s['model']['psnr_y']:.2f} dB vs {s['bicubic']['psnr_y']:.2f} ({s['gain_psnr_y']:+.2f})"
            for name, s in evaluation["sets"].items()) + "."
    if "elbo" in evaluation:  # a VAE
        judged = (f"; GAN-test of its samples {evaluation['gan_test']['overall']:.1%}" if "gan_test" in evaluation else "")
        return (f"On the {where}: reconstruction PSNR {evaluation['psnr']:.2f} dB, SSIM {evaluation['ssim']:.3f}; "
                f"ELBO {evaluation['elbo']:.1f} nats per image{judged}.")
    if "judge" in evaluation:  # a generator, judged by an independent classifier
        judge = evaluation["judge"]
        if "gan_test" in evaluation:
            figure = (f"GAN-test {evaluation['gan_test']['overall']:.1%} (the judge `{judge['name']}` reads the class "
                      f"asked for; it reads {judge['accuracy_on_real']:.1%} of real test images right)")
        else:
            figure = f"unconditional; judged by `{judge['name']}`"
        low = min(d["ratio"] for d in evaluation["diversity"].values())
        return (f"{evaluation['n']} generated images: {figure}; diversity at least {low:.0%} of the real images' "
                "(see the Generate page).")
    return f"Evaluated on the {where}: see the Evaluate page."


def main() -> None:
    print("| model | split (n) | measured | command |\n|---|---|---|---|")
    for name in weights_dir.families():
        path = weights_dir.root() / name / "eval.json"
        if not path.is_file():
            continue
        result = json.loads(path.read_text())
        split = (" + ".join(f"{set_name} ({s['n']})" for set_name, s in result["sets"].items()) + ", x4" if "sets" in result
                 else f"{result['n']} generated vs {result['dataset']} {result['split']}" if "judge" in result
                 else f"{result['dataset']} {result['split']} ({result['n']})")
        print(f"| [`{name}`](weights/{name}/README.md) | {split} | "
              f"{describe(result)} | `{result['command']}` |")


if __name__ == "__main__":
    main()
