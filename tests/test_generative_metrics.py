"""The generative metrics and GAN losses against answers known by construction."""
import numpy as np
import pytest
import torch

from metrics import frechet_distance, gan_test, mean_pairwise_ssim
from models.gan_losses import LOSSES, discriminator_loss, generator_loss, gradient_penalty


def test_gan_test_counts_hits_per_requested_class():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    result = gan_test(probabilities, [0, 1, 1, 1], ["normal", "pneumonia"])
    assert result == {"overall": 0.75, "per_class": {"normal": 1.0, "pneumonia": 2 / 3}}


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    # Two Gaussians with diagonal covariances: FD = |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2.
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (200_000, 3))
    b = rng.normal([1, 0, 2], [2, 1, 3], (200_000, 3))
    assert frechet_distance(a, b) == pytest.approx(1 + 4 + 1 + 0 + 4, rel=0.02)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)


def test_frechet_distance_handles_correlated_features():
    # A rotation of the same Gaussian is the same Gaussian: distance 0, though the covariances are full.
    rng = np.random.default_rng(1)
    x = rng.normal(0, [1, 3], (100_000, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated = x @ rotation.T
    assert frechet_distance(rotated, rotated @ np.eye(2)) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(x, rotated) > 1  # different covariances: a clear distance


def test_pairwise_ssim_is_one_for_copies_and_low_for_noise():
    same = torch.rand(1, 1, 28, 28).repeat(10, 1, 1, 1)
    assert mean_pairwise_ssim(same) == pytest.approx(1.0)
    noise = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert mean_pairwise_ssim(noise, generator=torch.Generator().manual_seed(0)) < 0.1
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_ssim(same[:1])


@pytest.mark.parametrize("kind", LOSSES)
def test_losses_reward_the_right_player(kind):
    # Scores 1 on real and 0 on fake: the targets of least-squares, the right order for the others.
    confident_real, confident_fake, fooled = torch.ones(8), torch.zeros(8), torch.ones(8)
    # A discriminator that tells real from fake has a lower loss than one that is fooled ...
    assert discriminator_loss(kind, confident_real, confident_fake) < discriminator_loss(kind, confident_real, fooled)
    # ... and a generator that fools it has a lower loss than one that is caught.
    assert generator_loss(kind, fooled) < generator_loss(kind, confident_fake)


def test_non_saturating_loss_values():
    zero = torch.zeros(4)
    assert discriminator_loss("non-saturating", zero, zero).item() == pytest.approx(2 * np.log(2))
    assert generator_loss("non-saturating", zero).item() == pytest.approx(np.log(2))


def test_every_loss_by_hand():
    """Each loss at scores worked out on paper: real (2, 0), fake (-0.5, 1.5). An order check alone passes a wrong
    target (least squares with fake's at -1) or a scale slip; these numbers do not."""
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-0.5, 1.5])
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731  -log sigmoid(-x)
    expected = {  # (discriminator, generator)
        "non-saturating": (np.mean(softplus(-np.array([2.0, 0.0]))) + np.mean(softplus(np.array([-0.5, 1.5]))),
                           np.mean(softplus(-np.array([-0.5, 1.5])))),
        "least-squares": (0.5 * ((1 + 1) / 2 + (0.25 + 2.25) / 2), 0.5 * (2.25 + 0.25) / 2),
        "wgan-gp": (0.5 - 1.0, -0.5),
        "hinge": ((0 + 1) / 2 + (0.5 + 2.5) / 2, -0.5),
    }
    assert set(expected) == set(LOSSES)
    for kind, (d, g) in expected.items():
        assert discriminator_loss(kind, real, fake).item() == pytest.approx(d), kind
        assert generator_loss(kind, fake).item() == pytest.approx(g), kind


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        generator_loss("wasserstein", torch.zeros(2))


def test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_positive_otherwise():
    real, fake = torch.randn(16, 3), torch.randn(16, 3)
    unit = torch.tensor([0.6, 0.8, 0.0])  # |grad| = 1 everywhere
    assert gradient_penalty(lambda x: x @ unit, real, fake).item() == pytest.approx(0, abs=1e-10)
    steep = gradient_penalty(lambda x: x @ (3 * unit), real, fake)
    assert steep.item() == pytest.approx(10 * (3 - 1) ** 2)


def test_gradient_penalty_trains_the_critic():
    critic = torch.nn.Linear(3, 1)
    gradient_penalty(lambda x: critic(x).squeeze(1), torch.randn(16, 3), torch.randn(16, 3)).backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("family", ["classifier", "pixelda"])
def test_a_judge_gives_probabilities_and_features_per_image(family):
    from evaluators import judge
    from tests.conftest import tiny_model

    model = tiny_model(family).eval()
    probabilities, features = judge(model, torch.rand(5, 3, 32, 32), batch=2)
    assert probabilities.shape == (5, len(model.class_names)) and features.shape[0] == 5
    assert torch.allclose(probabilities.sum(1), torch.ones(5))
