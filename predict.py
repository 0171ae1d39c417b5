"""Run the shipped models on files from the command line; one JSON object per line per file.

    python predict.py classify chest1.png scan.dcm --json [--model cxr-pneumonia]
    python predict.py segment frame1.jpg frame2.jpg --json --masks out/
    python predict.py upscale photo.png xray.png --model srresnet --out big/
    python predict.py adapt digit.png --seed 0 --out translated/
    python predict.py encode frame.jpg --model endovae-kvasir --json
    python predict.py decode --model vae-mnist-2d --code 0.5 -1.0 --out out/
    python predict.py interpolate --model endovae-kvasir --images a.jpg b.jpg --frames 12 --out out/
    python predict.py sample acgan-mnist --label 7 --n 16 --seed 0 --out sevens/

Each line has `file` (the path as given), `modality`, `model`, `label` and `probabilities` (and, from an
ensemble, `members`: each network's own); or `file` and `error` when the file could not be read, no model
could judge it or its result could not be written (a read-only folder, a name too long). The other files
are still processed. Exit status 0 unless the command itself was wrong.

Output files are named after their inputs: segment <stem>.png, upscale <stem>-<model>-x4.png, adapt
<stem>-seed<S>.png. When two inputs would give one name (a/x.png and b/x.png), the later gets -2, -3, ...
before the extension (x.png, x-2.png); each line says where its file went. A file left by an earlier run
is replaced, but an input never is: an output folder where a result would replace an input is refused.
"""
import argparse
import errno
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import inference
import models
import superres
import weights_dir
from images import ImageReadError, read_image, to_tensor
from models import WeightsError


class WriteError(ValueError):
    """An output file that could not be written; the text says which and why."""


def write(target: Path, save) -> None:
    """`save(target)`, creating its folder first; an OS error becomes a WriteError saying what to do."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        save(target)
    except (FileExistsError, NotADirectoryError):  # mkdir met a file
        raise WriteError(f"could not write {target}: a file stands where its folder should be; "
                         "choose another output folder") from None
    except OSError as error:
        hint = ("rename the input to something shorter" if error.errno == errno.ENAMETOOLONG else
                "choose an output folder you can write to")
        raise WriteError(f"could not write {target} ({error.strerror or error}): {hint}") from None


def output_paths(files: list[str], folder: Path, name, option: str) -> list[Path]:
    """Where each input's result goes: `folder / name(Path(file))`, the later of two equal names with -2, -3,
    ... before the extension. Exits if a result would replace one of the inputs."""
    targets, taken = [], set()
    for file in files:
        target = folder / name(Path(file))
        stem, n = target.stem, 1
        while target.name.lower() in taken:  # lower: on macOS and Windows, X.png and x.png are one file
            n += 1
            target = target.with_name(f"{stem}-{n}{target.suffix}")
        taken.add(target.name.lower())
        targets.append(target)
    inputs = {Path(file).resolve() for file in files}
    for target in targets:
        if target.resolve() in inputs:
            sys.exit(f"{option} {folder}: a result named {target.name} would replace the input {target}; "
                     "choose another folder for the results")
    return targets


def each_file(args, judge, describe, targets: list[Path] | None = None) -> None:
    """Run `judge(path) -> dict` (or `judge(path, target)`, with each file's entry of `targets`) on every
    file and print a line for each; a failure is that file's `error` line, and the other files go on."""
    for i, path in enumerate(args.files):
        try:
            line = judge(path) if targets is None else judge(path, targets[i])
        except (ImageReadError, inference.Refusal, superres.TooLarge, WriteError) as error:
            line = {"file": path, "error": str(error)}
        line["file"] = path  # the path exactly as given
        if args.json:
            print(json.dumps(line), flush=True)
        else:
            print(f"{path}: {line['error'] if 'error' in line else describe(line)}", flush=True)


def classify(args) -> None:
    modality = None
    if args.model:
        by_model = {v: k for k, v in inference.CLASSIFIERS.items()}
        if args.model not in by_model:
            sys.exit(f"unknown classifier {args.model!r}; shipped: {', '.join(by_model)}")
        modality = by_model[args.model] if args.force else None

    def judge(path: str) -> dict:
        result = inference.classify(read_image(path, name=path), modality=modality).to_json()
        if args.model and result.get("model") not in (None, args.model):
            raise inference.Refusal(f"{path} {inference.LOOKS_LIKE[result['modality']]}, not an input for "
                                    f"{args.model}; pass --force to run it anyway")
        return result

    def describe(line: dict) -> str:
        return f"{line['label']} ({line['probabilities'][line['label']]:.1%}, {line['model']})"

    each_file(args, judge, describe)


def segment(args) -> None:
    """Polyp masks for colonoscopy frames, written as <stem>.png (0/255) at each image's own size."""
    targets = output_paths(args.files, Path(args.masks), lambda file: f"{file.stem}.png", "--masks")

    def judge(path: str, mask_file: Path) -> dict:
        result = inference.segment(read_image(path, name=path), modality="endoscopy" if args.force else None)
        write(mask_file, Image.fromarray(result.mask.astype(np.uint8) * 255).save)
        return {**result.to_json(), "mask": str(mask_file)}

    def describe(line: dict) -> str:
        verdict = "polyp found" if line["polyp_found"] else "no polyp found"
        return f"{verdict}, {line['polyp_fraction']:.1%} of the image; mask {line['mask']}"

    each_file(args, judge, describe, targets)


def upscale(args) -> None:
    """Super-resolution x4, written as <stem>-<model>-x4.png at four times each image's size."""
    targets = output_paths(args.files, Path(args.out), lambda file: f"{file.stem}-{args.model}-x4.png", "--out")
    name = superres.MODELS.get(args.model)
    try:
        model = None if args.model == "bicubic" else inference.load_model(name)
    except WeightsError as error:
        sys.exit(f"the model {name} could not be loaded ({error}); train it with train.py (see the README)")

    def judge(path: str, target: Path) -> dict:
        image = read_image(path, name=path)
        pixels = superres.upscale(image, model, self_ensemble=args.self_ensemble)
        write(target, lambda to: to.write_bytes(superres.png_bytes(pixels, sixteen_bit=image.bit_depth > 8)))
        passes = superres.passes(model, self_ensemble=args.self_ensemble)
        return {"model": name or "bicubic", "self_ensemble": args.self_ensemble and model is not None, "passes": passes,
                "input_size": [image.width, image.height],
                "output_size": [pixels.shape[1], pixels.shape[0]], "output": str(target),
                "notes": superres.notes(image)}

    def describe(line: dict) -> str:
        (w, h), (W, H) = line["input_size"], line["output_size"]
        how = line["model"] + (", x8 self-ensemble" if line["self_ensemble"] else
                               f", {line['passes']} passes" if line["passes"] > 1 else "")
        return f"{w}x{h} -> {W}x{H} ({how}): {line['output']}" + "".join(f"; {n}" for n in line["notes"])

    each_file(args, judge, describe, targets)


def adapt(args) -> None:
    """Digits turned into MNIST-M style by PixelDA's generator, written as <stem>-seed<S>.png (32x32 RGB);
    each line also says which digit the adapted classifier reads in the translated image."""
    targets = output_paths(args.files, Path(args.out), lambda file: f"{file.stem}-seed{args.seed}.png", "--out")
    model = inference.load_model(args.model)
    if model.family != "pixelda" or not model.config.adapt:
        sys.exit(f"{args.model} is not a PixelDA model with a generator")

    def judge(path: str, written: Path) -> dict:
        digit = to_tensor(read_image(path, name=path), channels=3)  # (1, 3, H, W) in [0, 1]
        translated = model.translate(digit, generator=torch.Generator().manual_seed(args.seed))  # (1, 3, 32, 32)
        write(written, Image.fromarray((translated[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save)
        read_as = int(model.predict(translated).argmax(1))
        return {"translated": str(written), "seed": args.seed, "adapted_reads": model.class_names[read_as]}

    def describe(line: dict) -> str:
        return f"{line['translated']} (seed {line['seed']}; the adapted classifier reads {line['adapted_reads']})"

    each_file(args, judge, describe, targets)


# -- latent spaces (VAEs; GANs for decode and interpolate between seeds) ------------------------------


def latent_model(args):
    """The model named by --model, checked to have the latent interface and, if conditional, a --label."""
    import latent

    model = inference.load_model(args.model)
    if not hasattr(model, "decode") or not hasattr(model, "noise"):
        sys.exit(f"{args.model} is a {model.family!r} model without a latent space (no noise/decode)")
    conditional = model.conditional
    if conditional and args.label is None:
        sys.exit(f"{args.model} is conditional: pass --label, one of "
                 + ", ".join(f"{k} ({name})" for k, name in enumerate(model.class_names)))
    if args.label is not None and not conditional:
        sys.exit(f"{args.model} is not conditional: drop --label")
    if args.label is not None and not 0 <= args.label < len(model.class_names):
        sys.exit(f"--label must be 0 to {len(model.class_names) - 1} ({', '.join(model.class_names)})")
    args.labels = None if args.label is None else torch.tensor([args.label])
    args.size = latent.latent_size(model)
    return model


def encode_image(model, path: str, labels) -> torch.Tensor:
    """The encoder's mean (D,) for one image file."""
    if not hasattr(model, "encode"):
        raise SystemExit(f"a {model.family!r} model has no encoder: it cannot place an image in its latent space")
    image = to_tensor(read_image(path, name=path), channels=getattr(model.config, "in_channels", 3))
    return model.encode(image, labels)[0][0]


def save_png(image: torch.Tensor, path: Path) -> None:
    import latent

    Image.fromarray(latent.to_uint8(image[None])[0]).save(path)


def encode(args) -> None:
    """Each image's code: the encoder's mean and log-variance."""
    model = latent_model(args)
    if not hasattr(model, "encode"):
        sys.exit(f"{args.model} is a {model.family!r} model without an encoder: only VAEs place images in their latent space")

    def judge(path: str) -> dict:
        image = to_tensor(read_image(path, name=path), channels=model.config.in_channels)
        mu, logvar = model.encode(image, args.labels)
        return {"model": args.model, "mu": [round(v, 5) for v in mu[0].tolist()],
                "logvar": [round(v, 5) for v in logvar[0].tolist()]}

    each_file(args, judge, lambda line: "mu " + " ".join(f"{v:+.3f}" for v in line["mu"]))


def decode(args) -> None:
    """One image from a code given on the command line (--code) or drawn from a seed (--seed)."""
    import latent

    model = latent_model(args)
    if args.code is not None:
        if len(args.code) != args.size:
            sys.exit(f"--code needs {args.size} numbers for {args.model}, got {len(args.code)}")
        code, name = torch.tensor(args.code, dtype=torch.float32), "code"
    else:
        code, name = latent.seed_code(model, args.seed), f"seed{args.seed}"
    label = "" if args.label is None else f"-{model.class_names[args.label]}"
    target = Path(args.out) / f"{args.model.replace('/', '_')}-{name}{label}.png"
    write(target, lambda to: save_png(model.decode(code[None], args.labels)[0], to))
    line = {"model": args.model, "code": [round(v, 5) for v in code.tolist()], "output": str(target)}
    print(json.dumps(line) if args.json else f"{target} (code {' '.join(f'{v:+.3f}' for v in code.tolist())})")


def interpolate(args) -> None:
    """Frames from one end to the other (two seeds, or two images through the encoder), as PNGs and/or a GIF."""
    import latent

    model = latent_model(args)
    if (args.seeds is None) == (args.images is None):
        sys.exit("give the two ends as --seeds A B or as --images FILE1 FILE2")
    try:
        if args.seeds is not None:
            ends, stem = [latent.seed_code(model, s) for s in args.seeds], f"seeds{args.seeds[0]}-{args.seeds[1]}"
        else:
            ends, stem = [encode_image(model, f, args.labels) for f in args.images], \
                "-".join(Path(f).stem for f in args.images)
        frames = latent.walk(model, ends[0], ends[1], args.frames, args.method,
                             None if args.labels is None else int(args.labels[0]))
    except (ImageReadError, ValueError) as error:
        sys.exit(str(error))
    out = Path(args.out)
    gif = [out / f"{stem}-{args.method}.gif"] if args.format in ("gif", "both") else []
    pngs = [out / f"{stem}-{args.method}-{i:03d}.png" for i in range(len(frames))] if args.format != "gif" else []
    for target in gif:
        write(target, lambda to: to.write_bytes(latent.gif_bytes(frames, scale=max(1, 192 // frames.shape[-1]))))
    for target, frame in zip(pngs, frames):
        write(target, lambda to: save_png(frame, to))
    written = [str(target) for target in gif + pngs]
    line = {"model": args.model, "method": args.method, "frames": args.frames,
            "start": [round(v, 5) for v in ends[0].tolist()], "end": [round(v, 5) for v in ends[1].tolist()],
            "written": written}
    print(json.dumps(line) if args.json else f"{args.frames} frames ({args.method}): " + ", ".join(written[:3])
          + (f" and {len(written) - 3} more" if len(written) > 3 else ""))
def sample(args) -> None:
    """New images from a shipped generator, written as <model>-<label>-seed<S>-<i>.png; one line per
    image with the independent judge's verdict (evaluators.py)."""
    import generators

    if args.model not in generators.shipped() and not Path(args.model).is_dir():
        sys.exit(f"unknown generator {args.model!r}; shipped: {', '.join(generators.shipped()) or 'none yet'}")
    model = inference.load_model(args.model)
    judge_name = generators.judge_of(args.model)
    judge = inference.load_model(judge_name) if judge_name and weights_dir.shipped(judge_name) else None
    try:
        made = generators.sample(model, args.label, args.n, args.seed, truncation=args.truncation, judge=judge)
    except ValueError as error:  # an unknown class, a count out of range, a label for a DCGAN
        sys.exit(str(error))
    out = Path(args.out)
    for i, image in enumerate(made.images):
        written = out / f"{Path(args.model).name}-{args.label or 'any'}-seed{args.seed}-{i:02d}.png"  # a folder's name
        write(written, lambda to: to.write_bytes(generators.png(image)))
        line = {"file": str(written), "model": args.model, "label": args.label, "seed": args.seed, "index": i}
        if made.verdicts:
            line.update(judge=made.judge, judged_as=made.verdicts[i][0], probability=made.verdicts[i][1])
        if args.json:
            print(json.dumps(line), flush=True)
        else:
            verdict = f" (judge {made.judge}: {line['judged_as']}, {line['probability']:.1%})" if made.verdicts else ""
            print(f"{written}{verdict}", flush=True)


# models/gan.py redraws every noise entry beyond the truncation until none is left: a draw lands inside a
# small t with probability ~0.8 t, so 1e-9 loops for ever. At 0.05 (as low as BigGAN's truncation figures go)
# the slowest of 64 images x 100 latents still settles in a few hundred redraws, well under a second.
MIN_TRUNCATION = 0.05


def truncation(text: str) -> float:
    """--truncation: a finite number >= MIN_TRUNCATION, else an argparse error naming what was given."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not np.isfinite(value) or value < MIN_TRUNCATION:
        raise argparse.ArgumentTypeError(f"must be a finite number >= {MIN_TRUNCATION} (e.g. 1.0), got {text!r}")
    return value


def command_line(name: str, config: dict) -> str | None:
    """The line that runs the weights folder `name` (whose config.json is `config`) through a verb here, for its model
    card (cards.py); None when no verb takes it (a classifier nothing routes to, a source-only PixelDA)."""
    import generators  # here, not at the top: it imports cards, which imports this module

    family = config["family"]
    if name == inference.ROUTER:  # it routes every classify and segment call
        return "python predict.py classify image.png --json  # each line's modality is this model's answer"
    if name in inference.CLASSIFIERS.values():
        return f"python predict.py classify image.png --model {name} --json"
    if name in inference.SEGMENTERS.values():
        return "python predict.py segment frame.jpg --masks masks/ --json"
    if name in superres.MODELS.values():
        alias = next(alias for alias, folder in superres.MODELS.items() if folder == name)
        return f"python predict.py upscale photo.png --model {alias} --out upscaled/"
    if family == "pixelda" and config.get("adapt", True):
        return f"python predict.py adapt digit.png --model {name} --out translated/"
    if generators.is_generator(family):
        label = f" --label {config['class_names'][-1]}" if models.get(family).conditioning else ""
        return f"python predict.py sample {name}{label} --n 16 --seed 0 --out samples/"
    if hasattr(models.get(family), "encode"):  # as `encode` itself asks
        label = " --label 0" if config.get("conditional") else ""
        return f"python predict.py encode image.png --model {name}{label} --json"
    return None


def parser() -> argparse.ArgumentParser:
    """The command line: a sub-parser per verb, each verb's function as its `run`."""
    top = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = top.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("classify", help="classify images (routed by the modality recognizer)")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--model", help="a shipped classifier, e.g. cxr-pneumonia (default: chosen by the recognizer)")
    p.add_argument("--force", action="store_true", help="with --model: skip the modality check")
    p.set_defaults(run=classify)
    p = verbs.add_parser("segment", help="segment polyps in colonoscopy frames, writing mask PNGs")
    p.add_argument("files", nargs="+")
    p.add_argument("--masks", required=True, help="folder for the masks, one <stem>.png per input (<stem>-2.png, "
                   "... for a stem met again); never a folder where a mask would replace an input")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--force", action="store_true", help="skip the modality check")
    p.set_defaults(run=segment)
    p = verbs.add_parser("upscale", help="super-resolution x4, writing PNGs")
    p.add_argument("files", nargs="+")
    p.add_argument("--model", default=superres.DEFAULT, choices=[*superres.MODELS, "bicubic"],
                   help=f"default {superres.DEFAULT}, for real small images; srresnet is sharper on images made small "
                        "by antialiased bicubic (the benchmark's) and worse than bicubic on others (its model card)")
    p.add_argument("--out", required=True, help="folder for the results, one <stem>-<model>-x4.png per input "
                   "(<stem>-<model>-x4-2.png, ... for a stem met again)")
    p.add_argument("--self-ensemble", action="store_true",
                   help="average the network's answers for the 8 rotations and mirror images of each input: "
                        "8 passes instead of the model's default number (its config.json's transforms), 0.05 to "
                        "0.21 dB more PSNR-Y than one pass as measured (see the model card)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=upscale)
    p = verbs.add_parser("adapt", help="turn digits (MNIST style: light on dark) into MNIST-M style with PixelDA")
    p.add_argument("files", nargs="+")
    p.add_argument("--out", required=True, help="folder for the translated images, one <stem>-seed<S>.png per "
                   "input (<stem>-seed<S>-2.png, ... for a stem met again)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator's noise vector (another seed, another style)")
    p.add_argument("--model", default="mnist-m-pixelda", help="a PixelDA weights folder under weights/ (or a path)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=adapt)
    p = verbs.add_parser("encode", help="an image's code in a VAE's latent space (mu, logvar)")
    p.add_argument("files", nargs="+")
    p.add_argument("--model", default="endovae-kvasir", help="a VAE weights folder under weights/ (or a path)")
    p.add_argument("--label", type=int, help="conditional VAEs: the class index of the images")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=encode)
    p = verbs.add_parser("decode", help="the image of one code (--code) or of a seed's code (--seed)")
    p.add_argument("--model", default="endovae-kvasir", help="a VAE or GAN weights folder under weights/ (or a path)")
    p.add_argument("--code", type=float, nargs="+", help="the code, one number per latent dimension")
    p.add_argument("--seed", type=int, default=0, help="without --code: draw the code from this seed")
    p.add_argument("--label", type=int, help="conditional models: the class index to draw")
    p.add_argument("--out", required=True, help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="a JSON object")
    p.set_defaults(run=decode)
    p = verbs.add_parser("interpolate", help="walk from one code to another: frames as PNGs and/or an animated GIF")
    p.add_argument("--model", default="endovae-kvasir", help="a VAE or GAN weights folder under weights/ (or a path)")
    p.add_argument("--seeds", type=int, nargs=2, metavar=("A", "B"), help="the ends: the codes of two seeds")
    p.add_argument("--images", nargs=2, metavar=("FILE1", "FILE2"), help="the ends: two images through the encoder")
    p.add_argument("--frames", type=int, default=12, help="frames, the two ends included (at least 2)")
    p.add_argument("--method", default="spherical", choices=["linear", "spherical"])
    p.add_argument("--label", type=int, help="conditional models: the class index of every frame")
    p.add_argument("--format", default="gif", choices=["gif", "frames", "both"])
    p.add_argument("--out", required=True, help="folder for the GIF and/or the frames")
    p.add_argument("--json", action="store_true", help="a JSON object")
    p.set_defaults(run=interpolate)
    p = verbs.add_parser("sample", help="new images from a shipped generator (GAN), by class label and seed")
    p.add_argument("model", help="a generator weights folder under weights/, e.g. acgan-mnist")
    p.add_argument("--label", help="the class to generate (e.g. 7, PNEUMONIA); leave out for an unconditional DCGAN")
    p.add_argument("--n", type=int, default=16, help="how many images (1 to 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise: the same seed gives the same images")
    p.add_argument("--truncation", type=truncation, help="redraw noise entries beyond this magnitude (e.g. 1.0: more "
                   f"typical images; at least {MIN_TRUNCATION})")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=sample)
    return top


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    torch.set_num_threads(2)
    try:
        args.run(args)
    except WeightsError as error:  # no file can be judged without the models: stop, saying why
        sys.exit(f"the lab's models cannot be loaded: {error}")
    except WriteError as error:  # decode, interpolate and sample: their one output (or set of outputs) failed
        sys.exit(str(error))


if __name__ == "__main__":
    main()
