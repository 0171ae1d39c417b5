"""Measure a shipped model on a named split and write `weights/<name>/eval.json`.

    python evaluate.py cxr-pneumonia --data-root ../shared/data --split test --json

Reports, at 0.5 and at the threshold chosen on validation: accuracy, sensitivity, specificity,
precision, F1 and the confusion matrix; and ROC-AUC, average precision, ROC and PR curves and
expected calibration error with its reliability diagram. The figures are also added to the model
card. `<name>` is a folder under weights/ ($MEDLAB_WEIGHTS when set), any weights folder, or a Hub
repository id.
"""
import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import cards
import eval_schema
import models
import weights_dir
from data import SPLITS, data_root, kvasir_ids, load_split, load_sr, read_mask
from degradations import PROTOCOL
from images import LoadedImage, read_image, to_tensor
from metrics import (average_precision, binary_report, confusion, pr_curve, reliability, roc_auc, roc_curve,
                     sharpness)
from models.gan import GAN

@torch.no_grad()
def classifier_logits(model, split, batch_size: int = 128) -> torch.Tensor:
    """Raw logits (N, K) for a whole split; the model is left in eval mode."""
    model.eval()
    return torch.cat([model(split.batch(slice(i, i + batch_size))[0]) for i in range(0, len(split), batch_size)])


@torch.no_grad()
def segmenter_probabilities(model, split, batch_size: int = 16) -> torch.Tensor:
    """Polyp probabilities (N, 1, S, S) for a whole split held at the network's size, as `predict` gives them."""
    model.eval()
    return torch.cat([model.predict(split.batch(slice(i, i + batch_size))[0]) for i in range(0, len(split), batch_size)])


@torch.no_grad()
def vae_elbo(model, split, batch_size: int = 200) -> np.ndarray:
    """The ELBO (nats) of every image of a split, one draw of z each from a fixed seed (beta 1)."""
    model.eval()
    generator = torch.Generator().manual_seed(0)
    values = []
    for i in range(0, len(split), batch_size):
        images, labels = split.batch(slice(i, i + batch_size))
        values.append(model.elbo(images, labels if model.config.conditional else None, generator))
    return torch.cat(values).numpy()


def _thin(*arrays, most: int = 200):
    """Keep a curve plottable: at most `most` points, always the first and the last."""
    n = len(arrays[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(int))
    return [np.asarray(a)[keep].tolist() for a in arrays]


def routing_report(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    """How uploads fare at the app's routing rule: routed only when the top class is a modality
    and its probability reaches inference.ROUTE_CONFIDENCE; refused otherwise."""
    from inference import ROUTE_CONFIDENCE

    other = class_names.index("other")
    top, confident = probabilities.argmax(1), probabilities.max(1) >= ROUTE_CONFIDENCE
    routed = confident & (top != other)
    medical = labels != other
    return {
        "route_confidence": ROUTE_CONFIDENCE,
        "medical_routed_correctly": float((routed & (top == labels))[medical].mean()),
        "medical_misrouted": float((routed & (top != labels))[medical].mean()),
        "medical_refused": float((~routed)[medical].mean()),
        "out_of_domain_refused": float((~routed)[~medical].mean()),
        "n_medical": int(medical.sum()), "n_out_of_domain": int((~medical).sum()),
    }


@torch.no_grad()
def file_probabilities(model, files: list) -> np.ndarray:
    """Calibrated probabilities (N, K), each file read and predicted exactly as predict.py does it."""
    channels = model.config.in_channels
    return np.concatenate([model.predict(to_tensor(read_image(f), channels=channels)).numpy()
                           for f in tqdm(files, desc="predicting", unit="image", leave=False)])


def input_sizes(model) -> set[int]:
    """The sizes a classifier resizes its input to: an ensemble's members' (theirs, if ensembles too)."""
    if model.family == "ensemble":
        return set().union(*(input_sizes(member) for member in model.members))
    return {model.config.image_size}


def evaluate_classifier(model, probabilities: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    result = {"n": len(labels), "class_counts": np.bincount(labels, minlength=len(class_names)).tolist(),
              "class_names": class_names}
    if probabilities.shape[1] == 2:
        scores = probabilities[:, 1]
        fpr, tpr, thr = roc_curve(scores, labels)
        precision, recall, pthr = pr_curve(scores, labels)
        thr = np.where(np.isinf(thr), 1.0, thr)
        result.update({
            "roc_auc": roc_auc(scores, labels), "average_precision": average_precision(scores, labels),
            "at_0.5": binary_report(scores, labels, 0.5),
            "at_threshold": binary_report(scores, labels, float(model.threshold)),
            "roc": dict(zip(["fpr", "tpr", "threshold"], _thin(fpr, tpr, thr))),
            "pr": dict(zip(["precision", "recall", "threshold"], _thin(precision, recall, pthr))),
        })
    else:
        predicted = probabilities.argmax(1)
        matrix = confusion(predicted, labels, len(class_names))
        result.update({"accuracy": float((predicted == labels).mean()), "confusion_matrix": matrix.tolist(),
                       "recall": dict(zip(class_names, (matrix.diagonal() / matrix.sum(1).clip(1)).tolist()))})
        if "other" in class_names:  # the modality recognizer: what the app does with its answers
            result["routing"] = routing_report(probabilities, labels, class_names)
    calibration = reliability(probabilities, labels)
    result.update({"ece": calibration["ece"], "reliability": calibration["bins"]})
    return result


def evaluate_segmenter(model, root: Path, split: str) -> tuple[str, dict]:
    """Dice and IoU per image at each image's own resolution, exactly as `predict.py segment` masks it."""
    from inference import FOUND_AREA

    dices, ious, areas = [], [], []
    ids = kvasir_ids(root, split)
    for i in tqdm(ids, desc=f"kvasir_seg {split}", unit="image", leave=False):
        image = read_image(root / "kvasir_seg/images" / f"{i}.jpg")
        predicted = model.mask(model.predict(to_tensor(image, channels=model.config.in_channels)))[0, 0].numpy()
        truth = read_mask(root / "kvasir_seg/masks" / f"{i}.png")
        overlap, union = (predicted & truth).sum(), (predicted | truth).sum()
        dices.append(2 * overlap / max(1, predicted.sum() + truth.sum()))
        ious.append(overlap / max(1, union))
        areas.append(predicted.mean())
    dices, ious = np.array(dices), np.array(ious)
    worst = np.argsort(dices)[:6]
    protocol = (f"kvasir_seg {split} ({'the official 120-image val list' if split == 'test' else 'our split'}); "
                f"masks predicted at {model.config.image_size} px, upsampled to each image's size, thresholded at "
                f"{float(model.threshold):.2f}; Dice and IoU per image, then averaged")
    return protocol, {
        "n": len(ids), "dice": float(dices.mean()), "iou": float(ious.mean()),
        "dice_median": float(np.median(dices)), "per_image_dice": dices.round(4).tolist(), "ids": ids,
        "worst": [{"id": ids[k], "dice": float(dices[k]), "iou": float(ious[k])} for k in worst],
        "found": {"area_threshold": FOUND_AREA, "share_found": float((np.array(areas) >= FOUND_AREA).mean())},
    }


SR_SETS = ("Set5", "Set14")


def evaluate_super_resolution(model, root: Path, split: str) -> tuple[str, dict]:
    """x4 on Set5 and Set14 (split "test") from their provided LR images, or on the held-out crops
    train.py validates on (split "val"): PSNR and SSIM on Y (4-px border removed) and on RGB, and
    no-reference sharpness, for bicubic, the model as it answers by default (and in one pass, when that
    default is more), and the model's 8-transform self-ensemble. Test images
    are read and upscaled exactly as `predict.py upscale` does it (superres.upscale)."""
    import superres

    passes = superres.passes(model)  # the model's default; one pass is measured too when that is more

    def measure(low, high: np.ndarray) -> dict:  # one image: low a LoadedImage, high its pixels
        return {"bicubic": superres.compare(superres.upscale(low, None), high),
                "model": superres.compare(superres.upscale(low, model), high),
                **({"one_pass": superres.compare(superres.upscale(low, model, transforms=[0]), high)} if passes > 1 else {}),
                "self_ensemble": superres.compare(superres.upscale(low, model, self_ensemble=True), high),
                "original": {"sharpness": float(sharpness(superres.to_rgb_tensor(high), border=superres.BORDER))}}

    data, pairs_by_set = sr_pairs(root, split)
    sets = {}
    for name, pairs in pairs_by_set.items():
        rows = [{"image": image, **measure(low, high)}
                for image, low, high in tqdm(pairs, desc=name, unit="image", leave=False)]
        mean = {who: {k: float(np.mean([r[who][k] for r in rows])) for k in rows[0][who]}
                for who in rows[0] if who != "image"}
        gains = {who: mean[who]["psnr_y"] - mean["bicubic"]["psnr_y"] for who in ("one_pass", "self_ensemble")
                 if who in mean}
        sets[name] = {"n": len(rows), "passes": passes, **mean,
                      "gain_psnr_y": mean["model"]["psnr_y"] - mean["bicubic"]["psnr_y"],
                      **{f"gain_psnr_y_{who}": gain for who, gain in gains.items()}, "per_image": rows}
    protocol = (f"{data}; PSNR (peak 1) and "
                "SSIM (Gaussian 11x11, sigma 1.5) on the Y channel of BT.601 YCbCr (MATLAB's rgb2ycbcr) with a "
                "4-pixel border removed, and on RGB over the whole image; per image, then averaged. Bicubic: PIL's "
                "bicubic (a = -0.5, MATLAB's kernel) of the same LR image. The model as it answers by default: "
                + (f"the mean of its answers for {passes} of the input's 8 rotations and mirror images (transforms "
                   f"{model.config.transforms} of models.srresnet.dihedral; one pass also given). " if passes > 1
                   else "one pass. ") +
                "Self-ensemble: the mean of the model's "
                "answers for the 8 rotations and mirror images of the input. Sharpness: mean Sobel gradient "
                "magnitude of Y x100 (no reference; the HR original's is given for scale)")
    highs = {name: [high for _, _, high in pairs] for name, pairs in pairs_by_set.items()}
    return protocol, {"n": sum(s["n"] for s in sets.values()), "sets": sets,
                      "degradations": degradation_table(model, highs)}


def degradation_table(model, highs: dict[str, list[np.ndarray]]) -> dict:
    """The same high-resolution images made small by each degradation of degradations.PROTOCOL (noise
    seeded by the image's index), then restored by bicubic and by the model as it answers by default:
    mean PSNR-Y / SSIM-Y per set and degradation, and per set the mean and the least gain over bicubic
    across the degradations (what issue 29 asks of a model for real uploads: never below bicubic)."""
    import superres

    rows = []
    for way in tqdm(PROTOCOL, desc="degradations", unit="way", leave=False):
        row = {"name": way.name, "description": way.describe(), "sets": {}}
        for name, images in highs.items():
            scores = {"bicubic": [], "model": []}
            for k, high in enumerate(images):
                h, w = (side // superres.SCALE * superres.SCALE for side in high.shape[:2])
                high = high[:h, :w]
                small = superres.to_pixels(way(superres.to_rgb_tensor(high), scale=superres.SCALE, seed=k), False)
                low = LoadedImage(pixels=small, name=f"{name}-{k}", format="PNG", grayscale=False, bit_depth=8)
                scores["bicubic"].append(superres.compare(superres.upscale(low, None), high, y_only=True))
                scores["model"].append(superres.compare(superres.upscale(low, model), high, y_only=True))
            mean = {who: {k: float(np.mean([v[k] for v in values])) for k in values[0]} for who, values in scores.items()}
            row["sets"][name] = {**mean, "gain_psnr_y": mean["model"]["psnr_y"] - mean["bicubic"]["psnr_y"]}
        rows.append(row)
    summary = {}
    for name in highs:
        gains = {row["name"]: row["sets"][name]["gain_psnr_y"] for row in rows}
        worst = min(gains, key=gains.get)
        summary[name] = {"mean_gain_psnr_y": float(np.mean(list(gains.values()))), "least_gain_psnr_y": gains[worst],
                         "least_gain_at": worst}
    return {"protocol": "each high-resolution image (cropped to a multiple of 4) made small x4 by each degradation "
                        "of degradations.PROTOCOL, rounded to 8 bits, restored by bicubic (PIL) and by the model (its "
                        "default passes); PSNR-Y and SSIM-Y with a 4-pixel border, per image, then averaged",
            "rows": rows, "summary": summary}


def sr_pairs(root: Path, split: str) -> tuple[str, dict[str, list]]:
    """(what the data are, {set name: [(image name, low-resolution LoadedImage, high-resolution pixels)]})."""
    import superres

    if split == "val":  # the crops train.py's monitor scores: fixed() cuts them whatever the patch size
        crops = load_sr(root, "val", patch=128, n=1)
        pairs = [(Path(file).name, LoadedImage(pixels=superres.to_pixels(low, grayscale=False), name=Path(file).name,
                                               format="PNG", grayscale=False, bit_depth=8),
                  superres.to_pixels(high, grayscale=False)) for file, (low, high) in zip(crops.files, crops.fixed())]
        return crops.description + " (the crops train.py validates on)", {"val": pairs}
    sets = {}
    for name in SR_SETS:
        pairs = sorted((root / "sr" / name / "x4").glob("*_HR.png"))
        if not pairs:
            raise SystemExit(f"no {name} images under {root}/sr/{name}/x4: is {root} the data root?")
        sets[name] = [(hr.name.replace("_SRF_4_HR.png", ""), read_image(str(hr).replace("_HR.png", "_LR.png")),
                       read_image(hr).pixels) for hr in pairs]
    return "Set5 and Set14 x4, the provided LR images (MATLAB bicubic) against the HR images", sets


def evaluate_adaptation(model, root: Path, split: str) -> tuple[str, dict]:
    """A digit classifier (source-only or PixelDA) on both domains: the target, MNIST-M (the headline:
    on test, the real MNIST-M test split), and the source, MNIST (on test, the official t10k), as
    `evaluate_classifier` reports each. Logits are softmaxed as they are (PixelDA is not calibrated)."""
    def measure(dataset: str) -> tuple[str, dict]:
        split_ = load_split(dataset, root, split, size=model.config.image_size, channels=model.config.in_channels)
        probabilities = torch.softmax(classifier_logits(model, split_), 1).numpy()
        return split_.description, evaluate_classifier(model, probabilities, split_.labels.numpy(), split_.class_names)

    target_protocol, target = measure("mnist_m")
    source_protocol, source = measure("mnist")
    protocol = (f"Target domain, {target_protocol}; digits at {model.config.image_size} px RGB; accuracy of the "
                "argmax of the task classifier's logits. Source domain, " + source_protocol)
    return protocol, {**target, "source": {"dataset": "mnist", "protocol": source_protocol, **source}}


MAP_SIZE = 2000  # test images on a shipped latent map: enough to see the clusters, small on disk
MAP_THUMBNAILS = ("mnist",)  # data sets whose images we may ship, as 28-px thumbnails, beside the codes


@torch.no_grad()
def evaluate_vae(model, root: Path, dataset: str, split: str, folder: Path | None) -> tuple[str, dict]:
    """A VAE on a held-out split: reconstruction PSNR and SSIM (decoded from the encoder's mean), the ELBO
    per image, and for a conditional VAE with a judge in evaluators.py, GAN-test of its samples. With a
    weights folder, also writes the split's latent map (codes, labels; thumbnails only for MNIST)."""
    import latent
    from evaluators import EVALUATORS, GENERATOR_SEEDS, judge
    from metrics import gan_test, psnr, ssim

    c = model.config
    data = load_split(dataset, root, split, size=c.image_size, channels=c.in_channels)
    labels = None if data.is_segmentation else data.labels
    given = (lambda index: labels[index]) if c.conditional else (lambda index: None)
    psnrs, ssims, codes = [], [], []
    for i in tqdm(range(0, len(data), 200), desc=f"{dataset} {split}", unit="batch", leave=False):
        images = data.batch(slice(i, i + 200))[0]
        mu, _ = model.encode(images, given(slice(i, i + 200)))
        recon = model.decode(mu, given(slice(i, i + 200)))
        psnrs.append(psnr(recon, images))
        ssims.append(ssim(recon, images))
        codes.append(mu)
    psnrs, ssims, codes = torch.cat(psnrs).numpy(), torch.cat(ssims).numpy(), torch.cat(codes).numpy()
    elbo = vae_elbo(model, data)
    likelihood = {"bce": "Bernoulli (pixel values as soft targets)", "mse": "Gaussian, sigma 1",
                  "l1": "Laplace, scale 1", "gaussian": "Gaussian, sigma per channel fitted in training"}[c.reconstruction]
    result = {"n": len(data), "psnr": float(psnrs.mean()), "ssim": float(ssims.mean()),
              "psnr_median": float(np.median(psnrs)), "elbo": float(elbo.mean()),
              "elbo_per_dim": float(elbo.mean() / (c.in_channels * c.image_size ** 2)),
              "latent_dim": c.latent_dim, "likelihood": likelihood,
              "worst": [{"file": data.files[k], "psnr": float(psnrs[k])} for k in np.argsort(psnrs)[:5]]}
    protocol = (f"{data.description}; images read by images.read_image and resized to {c.image_size} px "
                f"{'grayscale' if c.in_channels == 1 else 'RGB'}; reconstruction decoded from the encoder's mean "
                "(no sampling); PSNR (peak 1) and SSIM (Gaussian 11x11, sigma 1.5) on all channels at that size, per "
                f"image, then averaged; ELBO per image in nats (beta 1, one draw of z, seed 0; likelihood: {likelihood})")
    if c.conditional and dataset in EVALUATORS:
        judge_model = weights_dir.load(EVALUATORS[dataset])
        per_class = 1000 if len(c.class_names) > 2 else 500
        requested = torch.arange(len(c.class_names)).repeat_interleave(per_class)
        # One seed per 500 samples, from a base that depends on the split (test: seeds 0, 1, ...), so that
        # validation and test never read the same samples.
        first_seed = 1000 * GENERATOR_SEEDS[split]
        samples = torch.cat([model.sample(chunk, generator=torch.Generator().manual_seed(first_seed + k))
                             for k, chunk in enumerate(requested.split(500))])
        probabilities, _ = judge(judge_model, samples)
        real, _ = judge(judge_model, data.batch(slice(0, len(data)))[0])
        result["gan_test"] = gan_test(probabilities.numpy(), requested.numpy(), c.class_names)
        result["gan_test"].update(judge=EVALUATORS[dataset], samples=len(requested),
                                  judge_accuracy_on_real=float((real.argmax(1) == data.labels).float().mean()))
        protocol += (f"; GAN-test: {per_class} samples per class (z ~ N(0, I), seeds {first_seed}, {first_seed + 1}, "
                     f"... per 500), read by the independent judge {EVALUATORS[dataset]} (its accuracy on the real "
                     "images of this split beside it)")
    if folder is not None and split == "test":
        keep = np.sort(np.random.default_rng(0).permutation(len(data))[:MAP_SIZE])
        thumbnails = None
        if dataset in MAP_THUMBNAILS:
            small = load_split(dataset, root, split, size=28, channels=1)
            thumbnails = small.images[keep, 0].numpy()
        values = data.labels[keep].float().mean(dim=(1, 2, 3)).numpy() if data.is_segmentation else None
        latent.save_map(folder, codes=codes[keep], labels=np.zeros(len(keep)) if labels is None else labels[keep].numpy(),
                        class_names=c.class_names, thumbnails=thumbnails, values=values,
                        value_name="polyp area (share of the frame)" if values is not None else "",
                        description=f"{len(keep)} images of {data.description}: the encoder's mean of each")
    return protocol, result
DIVERSITY_BAR = 0.8  # generated diversity (1 - mean pairwise SSIM) at least 80% of the real images'


@torch.no_grad()
def _generate(model, requested: torch.Tensor | int, seed: int, chunk: int = 250) -> torch.Tensor:
    """Images from one seeded stream, in chunks (the same images whatever the chunk size would be per seed)."""
    generator = torch.Generator().manual_seed(seed)
    if isinstance(requested, int):
        return torch.cat([model.sample(min(chunk, requested - i), generator) for i in range(0, requested, chunk)])
    return torch.cat([model.sample(part, generator) for part in requested.split(chunk)])


def evaluate_generator(model, root: Path, split: str, dataset: str, *, per_class: int = 500, seed: int = 0) -> tuple[str, dict]:
    """A generator judged by its data set's independent classifier (evaluators.EVALUATORS), against the
    real `split` images at the generator's own resolution:

    - GAN-test: the judge's accuracy on `per_class` generated images of each class (the judge's own
      accuracy on the real images, shrunk to the generator's size as its images are, beside it);
    - Fréchet distance in the judge's feature space, per class: generated vs one half of the real images
      of that class, the same number of each; the floor is the distance between the two real halves;
    - diversity: 1 - mean pairwise SSIM of 500 random pairs within a class, generated and real; the
      ratio generated / real should be at least DIVERSITY_BAR.
    An unconditional generator (DCGAN) gets no GAN-test: the judge's class shares of its images instead.
    """
    import evaluators
    from metrics import frechet_distance, gan_test, mean_pairwise_ssim

    if dataset not in evaluators.EVALUATORS:
        sys.exit(f"no judge for {dataset!r} in evaluators.EVALUATORS ({', '.join(evaluators.EVALUATORS)})")
    judge_name = evaluators.EVALUATORS[dataset]
    judge = weights_dir.load(judge_name)
    real = load_split(dataset, root, split, size=model.config.image_size, channels=model.config.in_channels)
    if real.class_names != model.class_names:
        sys.exit(f"the split's classes {real.class_names} are not the model's {model.class_names}")
    real_images = real.images.float() / 255
    real_labels = real.labels.numpy()
    real_probabilities, real_features = evaluators.judge(judge, real_images)
    real_predicted = real_probabilities.argmax(1).numpy()
    k = len(model.class_names)
    judge_report = {"name": judge_name,
                    "accuracy_on_real": float((real_predicted == real_labels).mean()),
                    "recall_on_real": {model.class_names[c]: float((real_predicted[real_labels == c] == c).mean())
                                       for c in range(k)},
                    "protocol": f"argmax of the judge's probabilities on the {len(real)} real {split} images, "
                                f"resized to {model.config.image_size} px as the generator's images are"}

    rng = np.random.default_rng(seed)
    torch_rng = torch.Generator().manual_seed(seed)
    if model.conditional:
        requested = torch.arange(k).repeat_interleave(per_class)
        fake = _generate(model, requested, seed)
    else:
        n = per_class * k
        fake = _generate(model, n, seed)
    fake_probabilities, fake_features = evaluators.judge(judge, fake)
    fake_predicted = fake_probabilities.argmax(1).numpy()

    def fid_and_floor(fake_idx: np.ndarray, real_idx: np.ndarray) -> dict:
        """Generated vs a real half, and the real halves against each other, with equal counts."""
        if len(real_idx) < 4:  # each half needs two images for a covariance
            sys.exit(f"{real.description}: {len(real_idx)} real images of a class, too few for a Fréchet distance "
                     "(at least 4: two halves of two)")
        real_idx = rng.permutation(real_idx)
        half_a, half_b = real_idx[: len(real_idx) // 2], real_idx[len(real_idx) // 2: 2 * (len(real_idx) // 2)]
        fake_idx = rng.permutation(fake_idx)[: len(half_b)]
        return {"generated_vs_real": frechet_distance(fake_features[fake_idx].numpy(), real_features[half_b].numpy()),
                "floor_real_vs_real": frechet_distance(real_features[half_a].numpy(), real_features[half_b].numpy()),
                "n_each": int(len(half_b))}

    def diversity(images: torch.Tensor) -> float:
        return 1 - mean_pairwise_ssim(images, pairs=500, generator=torch_rng)

    body = {"n": int(len(fake)), "judge": judge_report, "seed": seed}
    if model.conditional:
        requested_np = requested.numpy()
        body["gan_test"] = gan_test(fake_probabilities.numpy(), requested_np, model.class_names)
        body["gan_test"]["mean_judge_probability"] = {
            model.class_names[c]: float(fake_probabilities[requested == c, c].mean()) for c in range(k)}
        body["frechet"] = {model.class_names[c]: fid_and_floor(np.flatnonzero(requested_np == c), np.flatnonzero(real_labels == c))
                           for c in range(k)}
        body["diversity"] = {}
        for c in range(k):
            gen, ref = diversity(fake[requested == c]), diversity(real_images[real_labels == c])
            body["diversity"][model.class_names[c]] = {"generated": gen, "real": ref, "ratio": gen / ref}
    else:
        body["class_shares"] = {"generated": {model.class_names[c]: float((fake_predicted == c).mean()) for c in range(k)},
                                "real_by_judge": {model.class_names[c]: float((real_predicted == c).mean()) for c in range(k)}}
        body["frechet"] = {"all": fid_and_floor(np.arange(len(fake)), np.arange(len(real)))}
        gen, ref = diversity(fake), diversity(real_images)
        body["diversity"] = {"all": {"generated": gen, "real": ref, "ratio": gen / ref}}
    body["diversity_bar"] = DIVERSITY_BAR
    body["diversity_ok"] = all(d["ratio"] >= DIVERSITY_BAR for d in body["diversity"].values())
    protocol = (f"{per_class * k} generated images ({per_class} per class{'' if model.conditional else ', unconditional'}; "
                f"noise from torch.Generator seed {seed}) against {real.description} at {model.config.image_size} px; "
                f"judge {judge_name} (evaluators.py, trained on real images only). GAN-test: argmax of the judge per "
                "requested class. Fréchet distance in the judge's pooled features, per class, generated vs one random "
                "half of the real images (equal counts); floor: real half vs real half. Diversity: 1 - mean SSIM of "
                "500 random pairs within a class (Gaussian 11x11 SSIM), generated / real >= "
                f"{DIVERSITY_BAR} required")
    return protocol, body


CAS_RECIPE = dict(widths=[16, 32, 64, 128], depths=[1, 1, 1, 1], epochs=6, per_class=1000, batch=64, lr=2e-3)


def _train_small_classifier(images: torch.Tensor, labels: torch.Tensor, class_names: list[str], size: int,
                            channels: int, seed: int):
    """The CAS recipe (CAS_RECIPE): a small residual classifier, AdamW, class-balanced batches, no augmentation."""
    from data import balanced_order

    torch.manual_seed(seed)
    cls = models.get("classifier")
    model = cls(cls.Config(class_names=class_names, in_channels=channels, image_size=size,
                           widths=CAS_RECIPE["widths"], depths=CAS_RECIPE["depths"]))
    (optimizer,) = model.configure_optimizers(CAS_RECIPE["lr"])
    generator = torch.Generator().manual_seed(seed)
    steps = CAS_RECIPE["per_class"] * len(class_names) // CAS_RECIPE["batch"]
    model.train()
    for _ in range(CAS_RECIPE["epochs"]):
        order = balanced_order(labels, generator)[: steps * CAS_RECIPE["batch"]]
        for index in order.split(CAS_RECIPE["batch"]):
            model.training_step((images[index], labels[index]), [optimizer])
    return model.eval()


def classification_accuracy_score(model, root: Path, split: str, dataset: str, seed: int = 1) -> dict:
    """CAS (Ravuri & Vinyals, 2019): a classifier trained only on generated images (CAS_RECIPE["per_class"]
    per class, noise seed `seed`), tested on the real `split`; beside it the same recipe trained on the real
    train split. Both at the generator's resolution."""
    size, channels = model.config.image_size, model.config.in_channels
    k = len(model.class_names)
    requested = torch.arange(k).repeat_interleave(CAS_RECIPE["per_class"])
    fake = _generate(model, requested, seed)
    real_train = load_split(dataset, root, "train", size=size, channels=channels)
    test = load_split(dataset, root, split, size=size, channels=channels)
    test_images = test.images.float() / 255

    def accuracy(classifier) -> float:
        with torch.no_grad():
            return float((classifier(test_images).argmax(1) == test.labels).float().mean())

    on_fake = _train_small_classifier(fake, requested, model.class_names, size, channels, seed)
    on_real = _train_small_classifier(real_train.images.float() / 255, real_train.labels, model.class_names, size,
                                      channels, seed)
    return {"accuracy": accuracy(on_fake), "real_accuracy": accuracy(on_real), "n_train": int(len(fake)),
            "n_test": len(test), "recipe": {k_: v for k_, v in CAS_RECIPE.items()},
            "protocol": f"classifier trained on {len(fake)} generated images (seed {seed}) vs on {real_train.description}"
                        f" with the same recipe; accuracy (argmax) on {test.description} at {size} px"}


def write_eval(folder: Path, result: dict) -> Path:
    """Write `result` as the folder's eval.json (test: the figures the app shows) or eval-<split>.json,
    after eval_schema.check: a result that breaks the schema is refused, its problems listed."""
    problems = eval_schema.check(result)
    if problems:
        raise ValueError(f"not writing {result.get('split', '?')} results for {folder}: they break eval.json's "
                         "schema (eval_schema.py): " + "; ".join(problems))
    path = folder / ("eval.json" if result["split"] == "test" else f"eval-{result['split']}.json")
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="weights folder name under weights/, a path, or a Hub repository id")
    p.add_argument("--data-root", help="data root (default: $MEDLAB_DATA)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--dataset", help="default: the data set named in the model card")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--per-class", type=int, default=500, help="generators: images generated per class")
    p.add_argument("--no-write", action="store_true", help="do not write eval.json or update the card")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--cas", action="store_true", help="conditional generators: also the classification accuracy score "
                                                      "(trains two small classifiers: minutes)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    path = weights_dir.locate(args.name)  # written to below when a folder (the shipped one or another)
    model = weights_dir.load(args.name)
    meta = cards.read_meta(model.folder)
    dataset = args.dataset or meta.get("dataset")
    if not dataset:
        sys.exit(f"{path} has no model card naming its data set: pass --dataset")
    command = "python evaluate.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    root = data_root(args.data_root)
    if model.family == "unet":
        protocol, body = evaluate_segmenter(model, root, args.split)
    elif model.family in ("srresnet", "srgan"):
        if args.split not in ("val", "test"):
            sys.exit("super-resolution is measured on Set5 and Set14 (--split test) or on train.py's held-out "
                     "crops (--split val)")
        protocol, body = evaluate_super_resolution(model, root, args.split)
    elif model.family == "vae":
        protocol, body = evaluate_vae(model, root, dataset, args.split, Path(path) if not args.no_write else None)
    elif isinstance(model, GAN):
        import evaluators  # as in evaluate_generator: loaded only where a generator is measured

        protocol, body = evaluate_generator(model, root, args.split, dataset, per_class=args.per_class,
                                            seed=evaluators.GENERATOR_SEEDS[args.split])
        if args.cas and model.conditional:
            body["cas"] = classification_accuracy_score(model, root, args.split, dataset)
    elif model.family == "pixelda":  # the headline is the target domain, whichever data set it was trained on
        protocol, body = evaluate_adaptation(model, root, args.split)
        dataset = "mnist_m"
    else:
        if dataset in SPLITS:  # image files: read and predicted exactly as predict.py does, so the two agree
            files, labels, class_names, description = SPLITS[dataset](root, args.split)
            probabilities, labels = file_probabilities(model, files), np.array(labels)
        else:  # assembled from arrays (digits, photos): the in-memory split at the network's size
            split = load_split(dataset, root, args.split, size=model.config.image_size,
                               channels=model.config.in_channels)
            probabilities = torch.softmax(classifier_logits(model, split) / model.temperature, 1).numpy()
            labels, class_names, description = split.labels.numpy(), split.class_names, split.description
        if class_names != model.class_names:
            sys.exit(f"the split's classes {class_names} are not the model's {model.class_names}")
        sizes = sorted(input_sizes(model))
        protocol = (f"{description}; images read by images.read_image, "
                    f"{'grayscale' if model.config.in_channels == 1 else 'RGB'}, resized to "
                    f"{' and '.join(map(str, sizes))} px by the model"
                    f"{' (each member to its own)' if len(sizes) > 1 else ''}; probabilities calibrated with the "
                    "temperature fitted on val")
        body = evaluate_classifier(model, probabilities, labels, class_names)
    result = {"model": Path(path).name, "dataset": dataset, "split": args.split, "command": command,
              "protocol": protocol, **body}
    if not args.no_write and Path(path).is_dir():
        write_eval(Path(path), result)  # first: a result that breaks the schema changes neither file nor card
        summary = {k: result[k] for k in ("split", "n", "command", "protocol", "roc_auc", "average_precision", "ece",
                                          "at_threshold", "at_0.5", "accuracy", "recall", "routing", "dice", "iou",
                                          "found", "psnr", "ssim", "elbo", "judge", "gan_test", "class_shares",
                                          "frechet", "diversity", "diversity_ok", "cas") if k in result}
        if "sets" in result:  # super-resolution: the means per set, not the per-image rows
            summary["sets"] = {name: {k: v for k, v in s.items() if k != "per_image"} for name, s in result["sets"].items()}
        if "degradations" in result:  # its summary; the card reads the table itself from the file written above
            summary["degradations"] = {k: result["degradations"][k] for k in ("protocol", "summary")}
        if "source" in result:  # a domain-adaptation model: its source-domain figures too
            summary["source"] = {k: result["source"][k] for k in ("dataset", "n", "protocol", "accuracy")}
        meta["results"] = [r for r in meta.get("results", []) if r["split"] != args.split] + [summary]
        cards.write(Path(path), meta)
    if args.json:
        print(json.dumps(result))
    else:
        keys = ("n", "roc_auc", "ece", "at_threshold", "at_0.5", "accuracy", "recall", "routing", "dice", "iou", "found",
                "psnr", "ssim", "elbo", "judge", "gan_test", "class_shares", "frechet", "diversity", "diversity_ok", "cas")
        shown = {"split": args.split, **{k: result[k] for k in keys if k in result}}
        if "sets" in result:
            shown["sets"] = {name: {k: v for k, v in s.items() if k != "per_image"} for name, s in result["sets"].items()}
        if "source" in result:
            shown["source"] = {k: result["source"][k] for k in ("dataset", "n", "accuracy")}
        print(json.dumps(shown, indent=1))
    return result


if __name__ == "__main__":
    main()
