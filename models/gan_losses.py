"""The adversarial losses a GAN can be trained with, shared by every GAN family and the live GAN lab.

A discriminator (a "critic" under WGAN-GP) scores images; each loss says how its scores on real and on
generated images become the two players' objectives:

- non-saturating: the original GAN (Goodfellow et al., 2014) with the generator maximising log D(G(z))
  instead of minimising log(1 - D(G(z))), whose gradient vanishes exactly when the generator is bad;
- least-squares: LSGAN (Mao et al., 2017), targets 1 for real and 0 for fake under a squared error;
- wgan-gp: Wasserstein GAN with gradient penalty (Gulrajani et al., 2017); scores are unbounded and the
  critic's gradient norm is pushed towards 1 on points between real and fake samples;
- hinge: the hinge loss of SAGAN and BigGAN (Lim & Ye, 2017; Zhang et al., 2019).

Scores are raw (no sigmoid): the losses apply whatever squashing they need.
"""
import torch
import torch.nn.functional as F

LOSSES = ("non-saturating", "least-squares", "wgan-gp", "hinge")
GRADIENT_PENALTY_WEIGHT = 10.0  # lambda in Gulrajani et al.


def _check(kind: str) -> None:
    if kind not in LOSSES:
        raise ValueError(f"unknown GAN loss {kind!r}; choose one of {', '.join(LOSSES)}")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss from its scores on real (B,) and generated (B,) images (lower is better).
    WGAN-GP's gradient penalty is separate: add `gradient_penalty(...)`."""
    _check(kind)
    if kind == "non-saturating":
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if kind == "least-squares":
        return 0.5 * (((real - 1) ** 2).mean() + (fake ** 2).mean())
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()  # hinge


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss from the discriminator's scores on its images (B,) (lower is better)."""
    _check(kind)
    if kind == "non-saturating":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "least-squares":
        return 0.5 * ((fake - 1) ** 2).mean()
    return -fake.mean()  # wgan-gp and hinge: raise the critic's score


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """GRADIENT_PENALTY_WEIGHT * E[(|grad critic(x_hat)| - 1)^2] at random points x_hat on the segments
    between real and generated samples (B, ...). `critic` maps a batch to scores (B,); wrap it in a
    lambda to pass labels."""
    shape = (len(real),) + (1,) * (real.dim() - 1)
    mix = torch.rand(shape, generator=generator).to(real)
    points = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)
    (gradients,) = torch.autograd.grad(critic(points).sum(), points, create_graph=True)
    norms = gradients.flatten(1).norm(dim=1)
    return GRADIENT_PENALTY_WEIGHT * ((norms - 1) ** 2).mean()
