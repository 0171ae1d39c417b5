"""Metrics in plain numpy (torch where images are compared): classification (ROC, calibration), super-resolution
(PSNR, SSIM), generation (GAN-test, Fréchet distance). What `evaluate.py` reports and the Evaluate page plots.

Binary tasks take `scores` = P(positive class) and `labels` in {0, 1}.
"""
import numpy as np


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold (descending), starting at (0, 0)."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each run of equal scores
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    tpr = np.r_[0, tp] / max(1, y.sum())
    fpr = np.r_[0, fp] / max(1, (~y).sum())
    return fpr, tpr, np.r_[np.inf, s[last]]


def roc_auc(scores, labels) -> float:
    fpr, tpr, _ = roc_curve(scores, labels)
    return float(np.trapezoid(tpr, fpr))


def pr_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at every distinct threshold (descending)."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return tp / (tp + fp), tp / max(1, y.sum()), s[last]


def average_precision(scores, labels) -> float:
    precision, recall, _ = pr_curve(scores, labels)
    return float(np.sum(np.diff(np.r_[0, recall]) * precision))


def youden_threshold(scores, labels) -> float:
    """The threshold maximising sensitivity + specificity - 1 (Youden's J); independent of prevalence.

    When a range of thresholds reaches the same best J (as on a well-separated validation set), take
    the middle of that range, the widest margin on both sides, rather than its arbitrary lower edge.
    """
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    candidates = np.unique(np.r_[s, 0.0, 1.0])
    j = np.array([(s[y] >= t).mean() - (s[~y] >= t).mean() for t in candidates])
    best = np.flatnonzero(j >= j.max() - 1e-12)
    runs = np.split(best, np.flatnonzero(np.diff(best) > 1) + 1)  # consecutive candidates, same decisions
    # A run from candidate a to b: every threshold in (the candidate before a, b] reaches the best J.
    spans = [(candidates[max(r[0] - 1, 0)], candidates[r[-1]]) for r in runs]
    low, high = max(spans, key=lambda span: span[1] - span[0])
    return float((low + high) / 2)


def log_loss(scores, labels) -> float:
    """Mean negative log-likelihood (nats) of binary labels under P(class 1) = scores (clipped to 1e-7):
    how good the probabilities are, where a saturated ROC-AUC no longer tells two models apart."""
    p, y = np.clip(np.asarray(scores, float), 1e-7, 1 - 1e-7), np.asarray(labels)
    return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))


def confusion(predicted, labels, k: int = 2) -> np.ndarray:
    """k x k counts, rows = true class, columns = predicted class."""
    m = np.zeros((k, k), int)
    np.add.at(m, (np.asarray(labels, int), np.asarray(predicted, int)), 1)
    return m


def binary_report(scores, labels, threshold: float) -> dict:
    """Accuracy, sensitivity, specificity, precision, F1 and the confusion matrix at one threshold."""
    y = np.asarray(labels, int)
    predicted = (np.asarray(scores, float) >= threshold).astype(int)
    (tn, fp), (fn, tp) = confusion(predicted, y)
    sensitivity = tp / max(1, tp + fn)
    precision = tp / max(1, tp + fp)
    return {
        "threshold": float(threshold),
        "accuracy": float((tp + tn) / len(y)),
        "sensitivity": float(sensitivity),
        "specificity": float(tn / max(1, tn + fp)),
        "precision": float(precision),
        "f1": float(2 * tp / max(1, 2 * tp + fp + fn)),
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
    }


def reliability(probabilities, labels, bins: int = 10) -> dict:
    """Expected calibration error of the top-class confidence (Guo et al., 2017), equal-width bins."""
    p = np.asarray(probabilities, float)
    confidence, predicted = p.max(1), p.argmax(1)
    correct = predicted == np.asarray(labels, int)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            ece += inside.mean() * gap
            rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(inside.sum()),
                         "confidence": float(confidence[inside].mean()), "accuracy": float(correct[inside].mean())})
    return {"ece": float(ece), "bins": rows}


def fit_temperature(logits, labels, *, steps: int = 200) -> float:
    """Temperature scaling: the T > 0 minimising the NLL of softmax(logits / T) (fitted on validation)."""
    import torch

    z, y = torch.as_tensor(logits, dtype=torch.float64), torch.as_tensor(labels)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    # A line search: with a fixed step L-BFGS can stop far from the minimum (a covid-ct ensemble got T = 0.135,
    # NLL 0.62 on validation, where T = 0.3 gives 0.47).
    optimizer = torch.optim.LBFGS([log_t], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


# -- super-resolution: PSNR and SSIM (full-reference), sharpness (no reference) ----------------------
# Images are torch tensors (B, C, H, W) or (C, H, W) in [0, 1]; results are per image, (B,).


def rgb_to_y(images):
    """Luma Y of ITU-R BT.601 in studio range, as MATLAB's rgb2ycbcr (the SR literature's Y): [16, 235] / 255."""
    import torch

    weights = torch.tensor([65.481, 128.553, 24.966], dtype=images.dtype).view(1, 3, 1, 1)
    return ((images * weights).sum(1, keepdim=True) + 16.0) / 255.0


def _prepare(a, b, *, y: bool, border: int):
    """Both images as float32 (B, C, H, W), on Y if asked, the border cut: float32 holds a 16-megapixel
    result in 200 MB where float64 took 400, and torch's cascaded sums keep the means exact to ~1e-6."""
    import torch

    if a.shape != b.shape:
        raise ValueError(f"images to compare differ in shape: {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = (x[None] if x.ndim == 3 else x for x in (a, b))
    a, b = a.to(torch.float32), b.to(torch.float32)
    if y:
        a, b = rgb_to_y(a), rgb_to_y(b)
    if border:
        a, b = a[..., border:-border, border:-border], b[..., border:-border, border:-border]
    return a, b


def psnr(a, b, *, y: bool = False, border: int = 0):
    """Peak signal-to-noise ratio in dB for peak 1: 10 log10(1 / MSE), per image (B,). y: on the Y channel."""
    a, b = _prepare(a, b, y=y, border=border)
    mse = (a - b).pow_(2).flatten(1).mean(1)  # one full-size temporary, not two
    return 10 * (1 / mse.clamp_min(1e-20)).log10()


def ssim(a, b, *, y: bool = False, border: int = 0, band: int = 256):
    """Structural similarity (Wang et al., 2004) per image (B,): 11x11 Gaussian window (sigma 1.5),
    K1 0.01, K2 0.03, data range 1, 'valid' windows only, averaged over channels.

    In float32, with the window applied as two 1-D passes (it is separable): a fifth of the work and
    half the memory of the 2-D float64 form, the same figure to 1e-5 (tests/test_superres.py). Variances
    are taken about each image's mean, not 0, so that float32 does not lose them to cancellation. The
    index map is made `band` rows at a time (each band read with the window's 10 extra rows), so a
    16-megapixel comparison needs tens of megabytes for its maps, not gigabytes."""
    import torch

    a, b = _prepare(a, b, y=y, border=border)
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM's 11x11 window needs images of at least 11x11 pixels; got {tuple(a.shape[-2:])}")
    c = a.shape[1]
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5 ** 2))
    g = (g / g.sum()).tolist()

    def blur(x):  # 'valid' 11x11 Gaussian as two 1-D passes of shifted sums: no im2col buffer 11 maps large
        for dim in (-1, -2):
            n = x.shape[dim] - 10
            out = x.narrow(dim, 0, n) * g[0]
            for k in range(1, 11):
                out.add_(x.narrow(dim, k, n), alpha=g[k])
            x = out
        return x

    # (co)variances do not change when each image is shifted by a constant; their float32 rounding does:
    # about its own mean, a flat image's variance is 0, not a rounding error that swamps C2
    mean_a, mean_b = a.mean((-2, -1), keepdim=True), b.mean((-2, -1), keepdim=True)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    total = torch.zeros(a.shape[0])
    for top in range(0, a.shape[-2] - 10, band):  # valid windows start at rows 0 .. H - 11
        x, z = a[..., top:top + band + 10, :], b[..., top:top + band + 10, :]
        mu_a, mu_b = blur(x), blur(z)
        x, z, da, db = x - mean_a, z - mean_b, mu_a - mean_a, mu_b - mean_b
        var_a, var_b, cov = blur(x * x) - da ** 2, blur(z * z) - db ** 2, blur(x * z) - da * db
        index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
        total += index.flatten(1).sum(1)
    return total / (c * (a.shape[-2] - 10) * (a.shape[-1] - 10))


def sharpness(images, *, border: int = 0):
    """No-reference sharpness per image (B,): the mean gradient magnitude of Y (Sobel, per pixel, x100).
    Higher means more edges and texture, real or invented: read it next to PSNR, never alone."""
    import torch

    x = (images[None] if images.ndim == 3 else images).to(torch.float32)
    y = rgb_to_y(x) if x.shape[-3] == 3 else x
    if border:
        y = y[..., border:-border, border:-border]

    def sobel(x, dim):  # the [1 2 1] / 8 smoothing across `dim`'s neighbour, the [-1 0 1] difference along it
        other = -1 if dim == -2 else -2
        d = x.narrow(dim, 2, x.shape[dim] - 2) - x.narrow(dim, 0, x.shape[dim] - 2)
        n = d.shape[other] - 2
        return (d.narrow(other, 0, n) + 2 * d.narrow(other, 1, n) + d.narrow(other, 2, n)) / 8

    gx, gy = sobel(y, -1), sobel(y, -2)  # shifted differences: no 9-map im2col buffer as a 3x3 convolution takes
    return 100 * gx.pow_(2).add_(gy.pow_(2)).sqrt_().flatten(1).mean(1)


# Generative models: is the requested class recognisable, is the distribution right, is there variety?

def gan_test(probabilities, requested, class_names: list[str]) -> dict:
    """GAN-test (Shmelkov et al., 2018): how often an independent classifier reads each generated image as
    the class it was generated for. probabilities (N, K) from that classifier, requested (N,) class indices.
    Returns {"overall": accuracy, "per_class": {name: accuracy}} over the classes that were requested."""
    probabilities, requested = np.asarray(probabilities), np.asarray(requested)
    hits = probabilities.argmax(1) == requested
    per_class = {class_names[k]: float(hits[requested == k].mean()) for k in np.unique(requested)}
    return {"overall": float(hits.mean()), "per_class": per_class}


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D), as FID (Heusel et al., 2017)
    but in any network's feature space: |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2).
    Symmetric eigendecompositions in float64 replace scipy's sqrtm; both sets need more rows than columns
    for the figure to mean much (FID's own caveat), so compare it with the same distance between two
    halves of the real data."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(values.clip(0))) @ vectors.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(middle.clip(0)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def mean_pairwise_ssim(images, *, pairs: int = 500, generator=None) -> float:
    """Diversity: the mean SSIM of random pairs of distinct images (N, C, H, W) in [0, 1] (N >= 2).
    Lower means more varied; a collapsed generator scores near 1. Pairs are drawn with `generator`."""
    import torch

    n = len(images)
    if n < 2:
        raise ValueError(f"need at least 2 images to measure diversity, got {n}")
    first = torch.randint(n, (pairs,), generator=generator)
    second = (first + torch.randint(1, n, (pairs,), generator=generator)) % n  # never the image itself
    return float(ssim(images[first], images[second]).mean())
