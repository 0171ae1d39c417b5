"""A GAN small enough to train live while a class watches, in the spirit of GAN Lab (Kahng et al., 2019).

Two players, each a small multilayer perceptron: the generator turns noise z into a sample (a point
in the plane, or a 28x28 digit), the discriminator scores samples as real or generated. Each step
trains the discriminator on a batch of real samples and a batch of generated ones, then the
generator against the discriminator's judgement; the loss is any of `models.gan_losses.LOSSES`.

The page (app_pages/gan_lab.py) calls `LiveGAN.turn` to train a fraction of a second at a time and draw
what changed: where the generated points are, how the discriminator scores the plane, the two losses.
Nothing here is saved or shipped: every visitor trains their own from scratch. Every call that runs the
networks (train, shown, field, turn) holds one of the server's long compute slots (inference.computing):
training never takes the slots that classifications wait for.
"""
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import inference
from models.gan_losses import LOSSES, discriminator_loss, generator_loss, gradient_penalty

# -- the real data: 2-D toy distributions in [-1, 1]^2, or digits ------------------------------------


def ring(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Eight Gaussians on a circle: the classic test of mode collapse (a GAN that finds only some)."""
    centre = torch.randint(8, (n,), generator=generator) * (2 * math.pi / 8)
    points = 0.7 * torch.stack([centre.cos(), centre.sin()], dim=1)
    return points + 0.04 * torch.randn(n, 2, generator=generator)


def spiral(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One arm of a spiral: a thin curved manifold."""
    t = torch.rand(n, generator=generator).sqrt() * 3 * math.pi  # sqrt: even density along the arm
    points = (t / (3 * math.pi) * 0.85)[:, None] * torch.stack([t.cos(), t.sin()], dim=1)
    return points + 0.02 * torch.randn(n, 2, generator=generator)


def two_moons(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Two interleaved half circles."""
    t = torch.rand(n, generator=generator) * math.pi
    upper = torch.rand(n, generator=generator) < 0.5
    x = torch.where(upper, t.cos(), 1 - t.cos())
    y = torch.where(upper, t.sin(), 0.5 - t.sin())
    points = torch.stack([x - 0.5, y - 0.25], dim=1) * 0.7
    return points + 0.03 * torch.randn(n, 2, generator=generator)


def grid(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A 5x5 grid of tight Gaussians: 25 modes."""
    cell = torch.randint(5, (n, 2), generator=generator).float()
    return (cell - 2) * 0.35 + 0.025 * torch.randn(n, 2, generator=generator)


TOYS = {"Ring of 8": ring, "Spiral": spiral, "Two moons": two_moons, "Grid of 25": grid}


class Drawn:
    """The distribution a user painted: uniform over the painted pixels, mapped to [-1, 1]^2."""

    def __init__(self, painted: np.ndarray, *, min_pixels: int = 20):
        """painted: a (H, W) boolean mask (True where the user drew)."""
        rows, cols = np.nonzero(painted)
        if len(rows) < min_pixels:
            raise ValueError(f"draw a little more: the distribution needs at least {min_pixels} painted pixels, "
                             f"this drawing has {len(rows)}")
        h, w = painted.shape
        # Pixel centres to [-1, 1]; y flipped so that up on the canvas is up on the chart.
        self.points = torch.tensor(np.stack([(cols + 0.5) / w * 2 - 1, 1 - (rows + 0.5) / h * 2], axis=1),
                                   dtype=torch.float32)
        self.jitter = 1 / max(h, w)  # half a pixel each way: a continuous density, not a point cloud

    def __call__(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        pick = torch.randint(len(self.points), (n,), generator=generator)
        return self.points[pick] + (torch.rand(n, 2, generator=generator) * 2 - 1) * self.jitter


class Digits:
    """Real digits: MNIST images (N, 28, 28) uint8, served flattened in [-1, 1] (the generator's tanh range)."""

    def __init__(self, images: np.ndarray):
        self.images = torch.tensor(images).flatten(1)  # (N, 784) uint8, shared: 4x smaller than floats

    def __call__(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        picked = self.images[torch.randint(len(self.images), (n,), generator=generator)]
        return picked.float() / 127.5 - 1


# -- the two players -----------------------------------------------------------------------------------


@dataclass
class LabSettings:
    """What the page lets a visitor choose, and may change between two steps."""
    loss: str = "non-saturating"
    lr_generator: float = 1e-3  # high for a GAN, chosen so that digits appear within the page's time budget
    lr_discriminator: float = 1e-3
    discriminator_steps: int = 1  # discriminator updates per generator update (WGAN-GP's critic likes 5)
    batch: int = 64


def mlp(sizes: list[int], out: nn.Module | None = None) -> nn.Sequential:
    """Linear layers with LeakyReLU between them; `out` after the last (tanh for digits, nothing for scores)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers, *([out] if out is not None else []))


class LiveGAN:
    """A GAN and its training state for one visitor: the networks, the optimisers, the loss history."""

    def __init__(self, real, *, dim: int, settings: LabSettings | None = None, seed: int = 0):
        """real: a sampler (n, generator) -> (n, dim); dim: 2 for points, 784 for 28x28 digits."""
        self.real, self.dim = real, dim
        self.settings = settings or LabSettings()
        self.rng = torch.Generator().manual_seed(seed)  # every draw of training comes from here
        torch.manual_seed(seed)  # the networks' initial weights
        points = dim == 2
        self.latent = 2 if points else 64  # 2-D noise for 2-D data: the map from z to x stays easy to read
        hidden = [64, 64, 64] if points else [256, 512]
        self.generator = mlp([self.latent, *hidden, dim], None if points else nn.Tanh())
        self.discriminator = mlp([dim, *reversed(hidden), 1])
        self.optimizers = (torch.optim.Adam(self.generator.parameters(), betas=(0.5, 0.999)),
                           torch.optim.Adam(self.discriminator.parameters(), betas=(0.5, 0.999)))
        self.configure(self.settings)  # the learning rates
        self.history: dict[str, list[float]] = {"step": [], "discriminator": [], "generator": []}
        self.steps, self.seconds = 0, 0.0
        # The same noise every time the page draws: the picture changes only because the generator did.
        self.shown_noise = torch.randn(512 if points else 36, self.latent, generator=torch.Generator().manual_seed(seed))

    def configure(self, settings: LabSettings) -> None:
        """New choices take effect from the next step; the networks keep what they have learned."""
        if settings.loss not in LOSSES:
            raise ValueError(f"unknown GAN loss {settings.loss!r}; choose one of {', '.join(LOSSES)}")
        self.settings = settings
        for optimizer, lr in zip(self.optimizers, (settings.lr_generator, settings.lr_discriminator)):
            for group in optimizer.param_groups:
                group["lr"] = lr

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent, generator=self.rng)

    def step(self) -> None:
        """One generator update after `discriminator_steps` discriminator updates."""
        s = self.settings
        opt_g, opt_d = self.optimizers
        score = lambda x: self.discriminator(x).squeeze(1)  # noqa: E731  (B, dim) -> (B,)

        # Train Discriminator
        for _ in range(s.discriminator_steps):
            real = self.real(s.batch, self.rng)
            fake = self.generator(self.noise(s.batch)).detach()
            loss_d = discriminator_loss(s.loss, score(real), score(fake))
            if s.loss == "wgan-gp":
                loss_d = loss_d + gradient_penalty(score, real, fake, generator=self.rng)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

        # Train Generator
        loss_g = generator_loss(s.loss, score(self.generator(self.noise(s.batch))))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

        self.steps += 1
        for key, value in (("step", self.steps), ("discriminator", loss_d.item()), ("generator", loss_g.item())):
            self.history[key].append(value)

    def train(self, *, steps: int | None = None, seconds: float | None = None) -> int:
        """Train for a number of steps, or until `seconds` have passed (at least one step); returns how many."""
        with inference.computing("long"):
            start, done = time.perf_counter(), 0
            while (steps is None or done < steps) and (seconds is None or done == 0
                                                       or time.perf_counter() - start < seconds):
                self.step()
                done += 1
            self.seconds += time.perf_counter() - start
        return done

    def turn(self, seconds: float, show: Callable[[], None]) -> None:
        """A turn of live training on a server shared by many visitors: train for `seconds`, `show()` where the GAN
        stands, then rest as long as both took, all in one long slot. A redraw costs as much as the training
        (plotly builds the field's figure in Python), and the rest keeps the slot: however many visitors train,
        the lab takes at most half of one core, and of Python's lock (the GIL), which other visitors' pages need."""
        with inference.computing("long"):
            started = time.perf_counter()
            self.train(seconds=seconds)
            show()
            time.sleep(time.perf_counter() - started)

    @torch.no_grad()
    def shown(self) -> torch.Tensor:
        """The generator's output for the fixed display noise: points (512, 2), or digits (36, 28, 28) in [0, 1]."""
        with inference.computing("long"):
            out = self.generator(self.shown_noise)
        return out if self.dim == 2 else (out.view(-1, 28, 28) + 1) / 2

    @torch.no_grad()
    def field(self, resolution: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """The discriminator's verdict over the plane [-1.2, 1.2]^2: the axis (R,) and a (R, R) map in [0, 1],
        P(real) under the non-saturating loss, the clipped score under least squares (targets 1 and 0), and a
        rank-preserving squash of the centred score under WGAN-GP and hinge, whose scores are unbounded."""
        axis = torch.linspace(-1.2, 1.2, resolution)
        y, x = torch.meshgrid(axis, axis, indexing="ij")
        with inference.computing("long"):
            scores = self.discriminator(torch.stack([x.flatten(), y.flatten()], dim=1)).view(resolution, resolution)
        if self.settings.loss == "least-squares":
            return axis.numpy(), scores.clamp(0, 1).numpy()
        if self.settings.loss != "non-saturating":
            scores = scores - scores.median()
        return axis.numpy(), torch.sigmoid(scores).numpy()
