"""The metric code against answers known by construction or computed another way."""
import numpy as np
import pytest
import torch

from metrics import (average_precision, binary_report, confusion, fit_temperature, log_loss, pr_curve, reliability,
                     roc_auc, roc_curve, youden_threshold)
from saliency import grad_cam, overlay
from tests.conftest import tiny_model


def mann_whitney_auc(scores, labels):
    """P(score of a random positive > score of a random negative), ties counting half: the AUC's definition."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    return ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_its_definition_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.3 * labels, 1)  # rounding makes many ties
    assert roc_auc(scores, labels) == pytest.approx(mann_whitney_auc(scores, labels))


def test_perfect_and_reversed_rankings():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], labels) == 0.0
    assert average_precision([0.1, 0.2, 0.8, 0.9], labels) == 1.0


def test_curves_start_and_end_where_they_should():
    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 50), rng.random(50)
    fpr, tpr, _ = roc_curve(scores, labels)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    precision, recall, _ = pr_curve(scores, labels)
    assert recall[-1] == 1 and precision[-1] == pytest.approx(labels.mean())


def test_binary_report_counts_by_hand():
    labels = [0, 0, 0, 1, 1, 1, 1]
    scores = [0.1, 0.6, 0.2, 0.9, 0.4, 0.7, 0.8]
    r = binary_report(scores, labels, 0.5)
    assert r["confusion_matrix"] == [[2, 1], [1, 3]]  # rows: true NORMAL, PNEUMONIA; columns: predicted
    assert (r["sensitivity"], r["specificity"]) == (0.75, pytest.approx(2 / 3))
    assert r["precision"] == 0.75 and r["f1"] == 0.75 and r["accuracy"] == pytest.approx(5 / 7)
    assert confusion([1, 0], [0, 0]).tolist() == [[1, 1], [0, 0]]


def test_youden_threshold_separates_separable_scores():
    labels = np.array([0] * 5 + [1] * 5)
    scores = np.r_[np.linspace(0.1, 0.3, 5), np.linspace(0.6, 0.9, 5)]
    t = youden_threshold(scores, labels)
    assert binary_report(scores, labels, t)["accuracy"] == 1.0
    assert t == pytest.approx((0.3 + 0.6) / 2)  # the middle of the gap, not its edge


def test_ece_is_zero_when_confidence_equals_accuracy():
    # 10 predictions at confidence 0.8, of which exactly 8 are right.
    p = np.tile([[0.2, 0.8]], (10, 1))
    labels = np.array([1] * 8 + [0] * 2)
    assert reliability(p, labels)["ece"] == pytest.approx(0.0)
    assert reliability(p, 1 - labels)["ece"] == pytest.approx(0.6)


def test_temperature_scaling_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 3, generator=g) * 2
    labels = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=g)[:, 0]
    assert fit_temperature(true_logits * 3, labels) == pytest.approx(3.0, rel=0.1)
    # two classes, sharpened: with a fixed step, L-BFGS stopped at 0.19 for 0.3 and at 0.65 for 0.05
    true_logits = torch.randn(500, 2, generator=g)
    labels = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=g)[:, 0]
    for temperature in (0.3, 0.05):
        assert fit_temperature(true_logits * temperature, labels) == pytest.approx(temperature, rel=0.15)


def test_grad_cam_is_a_normalised_map_at_input_size():
    model = tiny_model("classifier").eval()
    image = torch.zeros(1, 1, 32, 32)
    image[..., 4:12, 20:28] = 1.0  # one bright square
    heat = grad_cam(model, image, target=1)
    assert heat.shape == (1, 32, 32) and 0 <= heat.min() and heat.max() <= 1
    rgb = overlay(image[0, 0].numpy(), heat[0].numpy(), 0.5)
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8


def squares(n: int, generator: torch.Generator, size: int = 32, side: int = 8):
    """Gray noise with one square anywhere: bright for class 1, dark for class 0. The square is all the evidence."""
    images = (0.5 + 0.1 * torch.randn(n, 1, size, size, generator=generator)).clamp(0, 1)
    labels = torch.randint(0, 2, (n,), generator=generator)
    corners = torch.randint(0, size - side + 1, (n, 2), generator=generator)
    for image, label, (y, x) in zip(images, labels, corners.tolist()):
        image[:, y:y + side, x:x + side] = 0.9 if label else 0.1
    return images, labels


def test_grad_cam_peaks_where_the_evidence_for_the_class_is():
    """A classifier that learned bright square = class 1, dark square = class 0, shown both at once in opposite
    corners: each class's map lights up its own square. A map of the wrong sign, of the wrong class, flipped or
    transposed would light up the other corner (or nothing)."""
    torch.manual_seed(0)
    model = tiny_model("classifier", dropout=0.0)
    optimizers = model.configure_optimizers(3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(100):  # 0.5 s; the squares are told apart perfectly after it, whatever the seed (0-7 tried)
        model.training_step(squares(32, generator), optimizers)
    model.eval()
    images, labels = squares(200, torch.Generator().manual_seed(1))
    assert (model.predict(images).argmax(1) == labels).float().mean() > 0.95  # it did learn the squares

    image = (0.5 + 0.1 * torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    bright, dark = (slice(2, 10), slice(22, 30)), (slice(22, 30), slice(2, 10))  # top right, bottom left
    image[0, 0][bright], image[0, 0][dark] = 0.9, 0.1
    for target, square in ((1, bright), (0, dark)):
        heat = grad_cam(model, image, target=target)[0]
        outside = torch.ones(32, 32, dtype=torch.bool)
        outside[square] = False
        # The last feature map is 4x4 (stride 8): the peak falls in the square's quarter of the image, if not
        # inside the square itself.
        row, column = divmod(int(heat.argmax()), 32)
        assert (row < 16, column >= 16) == ((True, True) if target == 1 else (False, False)), (target, row, column)
        assert heat[square].mean() > 2 * heat[outside].mean(), target  # 0.81 against 0.13 for class 1


def test_log_loss_by_hand():
    # -(log 0.8 + log 0.9) / 2 for two right answers; a certain wrong one is clipped, not infinite.
    assert log_loss([0.8, 0.1], [1, 0]) == pytest.approx(-(np.log(0.8) + np.log(0.9)) / 2)
    assert 16 < log_loss([0.0], [1]) < 16.2  # -log(1e-7)
