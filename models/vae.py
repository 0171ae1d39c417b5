"""Variational autoencoders (Kingma and Welling, 2014), beta-VAE (Higgins et al., 2017) and the
conditional VAE (Sohn et al., 2015), with two architectures:

- "endovae": the EndoVAE coursework network. Encoder convolutions of 16-32-32-64-128-256 channels
  (ReLU, five of them halve the image) to a 256-unit dense layer, then mu and log-variance of size
  `latent_dim` (6); a mirrored decoder of transposed convolutions; sigmoid output.
- "residual": our improved variant at the same latent size. Residual blocks at every scale,
  nearest-neighbour upsampling followed by a convolution (no transposed-convolution checkerboards),
  and, with `reconstruction="gaussian"`, a decoder calibrated by a learned output variance per
  channel (the sigma-VAE of Rybkin et al., 2021): the balance between reconstruction and KL is
  learned instead of fixed by a loss's arbitrary scale.

An image x is encoded to q(z | x) = N(mu, diag(exp(logvar))); a sample z = mu + sigma * eps (the
reparameterisation trick) is decoded to the mean of p(x | z). Training minimises the negative
evidence lower bound (ELBO), per image, in nats:

    -ELBO = -log p(x | z)  +  beta * KL(q(z | x) || N(0, I))        (beta = 1: the true bound)

The conditional VAE gives the class (one-hot) to the encoder's dense layer and to the decoder, so
`decode(z, labels)` draws the requested class and z holds only the style.

    image (B, C, S, S) --convs--> (B, w, S/2^k, S/2^k) --dense--> mu, logvar (B, latent_dim)
    z (B, latent_dim) [+ one-hot] --dense--> (B, w, S/2^k, S/2^k) --up-convs--> image (B, C, S, S)

The latent interface the Latent page walks (shared with the GAN families): `noise(n, generator)`,
`decode(z, labels)`, `sample(labels_or_n, generator)`, `class_names`, and here `encode(images, labels)`.
"""
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .base import MedLabModel
from .blocks import fit_input, luminance
from .registry import register

RECONSTRUCTIONS = ("bce", "mse", "l1", "gaussian")


@dataclass
class VAEConfig:
    class_names: list[str] = field(default_factory=lambda: ["polyp frame"])  # conditional: one per label
    image_size: int = 96  # as in EndoVAE
    in_channels: int = 3
    latent_dim: int = 6  # as in EndoVAE
    architecture: str = "endovae"  # "endovae" or "residual" (ours)
    widths: list[int] = field(default_factory=lambda: [16, 32, 32, 64, 128, 256])  # EndoVAE's encoder
    strides: list[int] = field(default_factory=lambda: [2, 2, 1, 2, 2, 2])  # 96 -> 3 px before the dense layer
    dense: int = 256  # as in EndoVAE
    blocks: list[int] = field(default_factory=list)  # "residual": residual blocks per encoder stage (mirrored); [] = 1 each
    conditional: bool = False  # True: encoder and decoder are given the class (a CVAE)
    # The objective is part of the model: it defines the likelihood p(x | z) the ELBO is measured with.
    reconstruction: str = "bce"  # bce (Bernoulli, as EndoVAE), mse, l1 (Laplace), gaussian (learned variance)
    beta: float = 1.0  # KL weight; 1 is the true ELBO, > 1 a beta-VAE
    ssim_weight: float = 0.0  # adds ssim_weight * (1 - SSIM) * pixels to the training loss (not to the ELBO)
    kl_warmup_steps: int = 0  # training: the KL weight rises linearly from 0 to beta over these steps (Bowman et al., 2016)


# -- building blocks -----------------------------------------------------------------------------------


def ssim_loss_term(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM per image (B,) as metrics.ssim measures it (11x11 Gaussian window, sigma 1.5, 'valid' windows),
    in float32: metrics.ssim works in float64, several times slower to train through on a CPU."""
    c = a.shape[1]
    g = torch.exp(-((torch.arange(11, dtype=a.dtype) - 5) ** 2) / (2 * 1.5 ** 2))
    window = ((g[:, None] * g[None, :]) / g.sum() ** 2).expand(c, 1, 11, 11)
    blur = lambda x: F.conv2d(x, window, groups=c)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return index.flatten(1).mean(1)



class ResBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm and SiLU, plus the input: keeps detail on its way through."""

    def __init__(self, width: int):
        super().__init__()
        groups = math.gcd(8, width)
        self.body = nn.Sequential(nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, width, 3, 1, 1),
                                  nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, width, 3, 1, 1))

    def forward(self, x):
        return x + self.body(x)


def encoder_stage(architecture: str, c_in: int, c_out: int, stride: int, blocks: int) -> nn.Module:
    if architecture == "endovae":
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.ReLU(inplace=True))
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.SiLU(), *[ResBlock(c_out) for _ in range(blocks)])


def decoder_stage(architecture: str, c_in: int, c_out: int, stride: int, blocks: int, last: bool = False) -> nn.Module:
    if architecture == "endovae":  # Keras' Conv2DTranspose, 'same' padding
        if stride == 1:
            return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 3, 1, 1), nn.ReLU(inplace=True))
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ReLU(inplace=True))
    # Upsample-then-convolve: no checkerboard artefacts from overlapping transposed-convolution kernels.
    up = nn.Upsample(scale_factor=stride, mode="nearest") if stride > 1 else nn.Identity()
    act = nn.Identity() if last else nn.SiLU()
    return nn.Sequential(*[ResBlock(c_in) for _ in range(blocks)], up, nn.Conv2d(c_in, c_out, 3, 1, 1), act)


class Encoder(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        c, widths = config.in_channels, config.widths
        blocks = config.blocks or [1] * len(widths)
        self.convs = nn.Sequential(*[encoder_stage(config.architecture, a, b, s, n)
                                     for a, b, s, n in zip([c, *widths[:-1]], widths, config.strides, blocks)])
        side = config.image_size // math.prod(config.strides)
        extra = len(config.class_names) if config.conditional else 0
        self.dense = nn.Sequential(nn.Linear(widths[-1] * side * side + extra, config.dense), nn.ReLU(inplace=True))
        self.mu = nn.Linear(config.dense, config.latent_dim)
        self.logvar = nn.Linear(config.dense, config.latent_dim)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.convs(x).flatten(1)  # (B, w * side * side)
        if onehot is not None:
            h = torch.cat([h, onehot], 1)
        h = self.dense(h)  # (B, dense)
        return self.mu(h), self.logvar(h)  # (B, latent_dim) each


class Decoder(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        widths = config.widths[::-1]  # mirrored: 256, 128, 64, 32, 32, 16
        strides = config.strides[::-1]
        self.side = config.image_size // math.prod(config.strides)
        extra = len(config.class_names) if config.conditional else 0
        self.dense = nn.Sequential(nn.Linear(config.latent_dim + extra, config.dense), nn.ReLU(inplace=True),
                                   nn.Linear(config.dense, widths[0] * self.side * self.side), nn.ReLU(inplace=True))
        blocks = (config.blocks or [1] * len(widths))[::-1]
        if config.architecture == "endovae":  # mirrored to the last width, then a 3x3 convolution to the image
            outs = [*widths[1:], widths[-1]]
            self.out = nn.Conv2d(widths[-1], config.in_channels, 3, 1, 1)
        else:  # the last stage's convolution makes the image itself: no full-resolution hidden layer (CPU time)
            outs = [*widths[1:], config.in_channels]
            self.out = nn.Identity()
        self.convs = nn.Sequential(*[decoder_stage(config.architecture, a, b, s, n, last=i == len(widths) - 1)
                                     for i, (a, b, s, n) in enumerate(zip(widths, outs, strides, blocks))])

    def forward(self, z: torch.Tensor, onehot: torch.Tensor | None) -> torch.Tensor:
        if onehot is not None:
            z = torch.cat([z, onehot], 1)
        h = self.dense(z).view(len(z), -1, self.side, self.side)  # (B, w, side, side)
        return self.out(self.convs(h))  # (B, C, S, S) logits of the mean image


# -- the family --------------------------------------------------------------------------------------


@register("vae")
class VAE(MedLabModel):
    Config = VAEConfig
    usage = "mu, logvar = model.encode(images, labels)  # (B, C, H, W) in [0, 1], labels (B,) or None -> (B, D) each"

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        if config.architecture not in ("endovae", "residual"):
            raise ValueError(f"architecture must be 'endovae' or 'residual', not {config.architecture!r}")
        if config.reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {', '.join(RECONSTRUCTIONS)}, not {config.reconstruction!r}")
        if len(config.widths) != len(config.strides) or (config.blocks and len(config.blocks) != len(config.widths)):
            raise ValueError(f"widths {config.widths}, strides {config.strides} and blocks {config.blocks} "
                             "differ in length")
        if config.image_size % math.prod(config.strides):
            raise ValueError(f"image_size {config.image_size} must be divisible by {math.prod(config.strides)} "
                             f"(the product of the strides {config.strides})")
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        # log sigma of p(x | z) per channel. "gaussian": the optimal sigma of each batch, sqrt(MSE) (the
        # "optimal sigma-VAE": gradient descent on sigma is slow), kept as a running average for the ELBO
        # at evaluation. mse and l1: a fixed 0 (sigma 1, b 1), their loss the plain summed error.
        self.register_buffer("log_scale", torch.zeros(config.in_channels))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # optimiser steps taken: the KL warm-up clock

    @property
    def class_names(self) -> list[str]:
        return list(self.config.class_names)

    @property
    def conditional(self) -> bool:
        """Whether the class is an input, as every latent model says (the GANs too)."""
        return bool(self.config.conditional)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _onehot(self, labels, n: int) -> torch.Tensor | None:
        if not self.config.conditional:
            return None
        if labels is None:
            raise ValueError(f"this is a conditional VAE: pass labels, one class index per image "
                             f"({', '.join(f'{k}: {c}' for k, c in enumerate(self.class_names))})")
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if len(labels) != n:
            raise ValueError(f"got {len(labels)} labels for {n} images or codes")
        if labels.min() < 0 or labels.max() >= len(self.class_names):
            raise ValueError(f"labels must be class indices 0 to {len(self.class_names) - 1}")
        return F.one_hot(labels, len(self.class_names)).float()

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1 or C, H, W) in [0, 1], any size -> (B, C, S, S): colour to gray by luma, gray repeated."""
        if images.ndim == 4 and images.shape[1] == 3 and self.config.in_channels == 1:
            images = luminance(images)
        return fit_input(images, channels=self.config.in_channels, size=self.config.image_size)

    # -- inference: the latent interface ---------------------------------------------------------

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), (n, latent_dim), drawn on the CPU so a seed means the same z on every machine."""
        return torch.randn(n, self.config.latent_dim, generator=generator)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, H, W) in [0, 1] -> (mu, logvar), each (B, latent_dim)."""
        return self.encoder(self.prepare(images), self._onehot(labels, len(images)))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """Codes (B, latent_dim) -> images (B, C, S, S) in [0, 1] (the mean of p(x | z))."""
        z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, self.config.latent_dim)
        return torch.sigmoid(self.decoder(z, self._onehot(labels, len(z))))

    @torch.no_grad()
    def sample(self, labels_or_n, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images, or one per requested class index; for a conditional VAE an int n cycles the classes."""
        if isinstance(labels_or_n, int):
            n = labels_or_n
            labels = torch.arange(n) % len(self.class_names) if self.config.conditional else None
        else:
            labels = torch.as_tensor(labels_or_n, dtype=torch.long).reshape(-1)
            n = len(labels)
        return self.decode(self.noise(n, generator), labels)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, labels=None) -> torch.Tensor:
        """The reconstruction (B, C, S, S) in [0, 1]: decoded from mu, so the same image gives the same answer."""
        mu, _ = self.encode(images, labels)
        return self.decode(mu, labels)

    # -- the objective -----------------------------------------------------------------------------

    def nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) per image (B,) in nats, summed over pixels and channels; logits (B, C, S, S)."""
        kind = self.config.reconstruction
        if kind == "bce":  # Bernoulli, as EndoVAE (pixel values in [0, 1] as soft targets)
            per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            mean, log_scale = torch.sigmoid(logits), self.log_scale.view(1, -1, 1, 1)
            if kind == "gaussian" and self.training:
                log_scale = self.optimal_log_scale(mean, x).view(1, -1, 1, 1)
            if kind == "l1":  # Laplace with scale b: |x - mean| / b + log(2b)
                per_pixel = (x - mean).abs() / log_scale.exp() + log_scale + math.log(2)
            else:  # mse, gaussian: (x - mean)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2
                per_pixel = (x - mean) ** 2 / (2 * (2 * log_scale).exp()) + log_scale + 0.5 * math.log(2 * math.pi)
        return per_pixel.flatten(1).sum(1)

    def optimal_log_scale(self, mean: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log sqrt(MSE) per channel (C,) of this batch, the sigma that maximises its likelihood; floored at
        1/255 (a pixel's quantum); updates the running value evaluation uses."""
        log_scale = 0.5 * ((x - mean) ** 2).mean(dim=(0, 2, 3)).detach().clamp_min(1 / 255 ** 2).log()
        self.log_scale.lerp_(log_scale, 0.05)
        return log_scale

    @staticmethod
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(mu, exp(logvar)) || N(0, I)) per image (B,), in nats."""
        return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)

    def forward(self, images: torch.Tensor, labels=None, generator: torch.Generator | None = None):
        """(nll, kl, mean image) for images (B, C, S, S) in [0, 1]: one reparameterised draw of z."""
        x = self.prepare(images)
        onehot = self._onehot(labels, len(x))
        mu, logvar = self.encoder(x, onehot)
        eps = torch.randn(mu.shape, generator=generator)  # (B, latent_dim), on the CPU
        z = mu + (0.5 * logvar).exp() * eps
        logits = self.decoder(z, onehot)
        return self.nll(logits, x), self.kl(mu, logvar), torch.sigmoid(logits)

    @torch.no_grad()
    def elbo(self, images: torch.Tensor, labels=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """The evidence lower bound per image (B,), nats (beta 1, one draw of z; higher is better)."""
        nll, kl, _ = self(images, labels, generator)
        return -(nll + kl)

    # -- training ----------------------------------------------------------------------------------

    def kl_weight(self) -> float:
        warmup = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, (int(self.steps) + 1) / warmup) if warmup else 1.0)

    def configure_optimizers(self, lr: float):
        return [torch.optim.Adam(self.parameters(), lr=lr)]

    def training_step(self, batch, optimizers) -> dict[str, float]:
        """batch: (images (B, C, S, S) in [0, 1], labels (B,) or None, a torch.Generator for eps)."""
        images, labels, rng = batch
        (optimizer,) = optimizers
        nll, kl, mean = self(images, labels if self.config.conditional else None, rng)
        weight = self.kl_weight()
        loss = (nll + weight * kl).mean()
        pixels = mean[0].numel()  # C * S * S
        if self.config.ssim_weight:
            loss = loss + self.config.ssim_weight * pixels * (1 - ssim_loss_term(mean, self.prepare(images))).mean()
        optimizer.zero_grad(set_to_none=True)
        (loss / pixels).backward()  # per pixel: the same learning rate suits every image size
        optimizer.step()
        self.steps += 1
        return {"loss": loss.item(), "nll": nll.mean().item(), "kl": kl.mean().item(), "kl_weight": weight}
