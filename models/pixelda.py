"""PixelDA: unsupervised pixel-level domain adaptation with a GAN (Bousmalis et al., CVPR 2017).

A digit classifier trained on MNIST is near-perfect on MNIST and poor on MNIST-M (the same digits
blended into photo crops): the domain gap. PixelDA closes it without a single target label. A
generator G(x, z) turns a labelled source image x and a noise vector z into an image in the target
style; a discriminator D tells real target images from translated ones; a task classifier T learns
the digits from the source images and from their translations, whose labels are the source labels.
As G learns to fool D, T learns to read digits that look like the target's, and it is T that is then
used on target images.

    source x (MNIST) --G(x, z)--> fake target --D--> real or fake?        (D: real MNIST-M-style)
                  \\                      \\
                   T(x) -> digit          T(G(x, z)) -> digit              (labels: x's)

With `adapt=False` the family is the task classifier alone, trained on the source only: the
"source-only" baseline that shows the gap. Every network returns logits (a softmax before the
cross-entropy would apply softmax twice, a known bug of a popular public port).
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .base import MedLabModel
from .blocks import fit_input
from .registry import register

# Loss weights of the paper's MNIST -> MNIST-M setting: min over G and T, max over D of
# ADVERSARIAL_WEIGHT * domain loss + TASK_WEIGHT * task loss.
ADVERSARIAL_WEIGHT = 0.013  # alpha in the paper
TASK_WEIGHT = 0.011  # beta in the paper


@dataclass
class PixelDAConfig:
    class_names: list[str] = field(default_factory=lambda: [str(d) for d in range(10)])
    image_size: int = 32  # MNIST-M is 32x32; MNIST digits are resized from 28 to 32 to match
    in_channels: int = 3  # MNIST-M is colour; gray MNIST digits are repeated over RGB
    adapt: bool = True  # False: the source-only baseline (the task classifier alone, no G and no D)
    noise_dim: int = 10  # as in the paper: z ~ U(-1, 1)^10
    generator_width: int = 64  # the paper: 64 channels ...
    generator_blocks: int = 6  # ... in 6 residual blocks
    discriminator_widths: list[int] = field(default_factory=lambda: [64, 128, 256, 512])  # each halves H, W
    discriminator_noise: float = 0.2  # std of the Gaussian noise added to every layer's input (the paper's 0.2)
    discriminator_dropout: float = 0.1  # after every layer (the paper's keep probability 0.9)


class GeneratorBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input: the residual block of the paper's generator."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """(source image, noise) -> target-style image, all at the input's resolution (no down-sampling)."""

    def __init__(self, config: PixelDAConfig):
        super().__init__()
        c, s = config.in_channels, config.image_size
        self.noise_to_plane = nn.Linear(config.noise_dim, s * s)  # z becomes one extra input channel
        self.stem = nn.Sequential(nn.Conv2d(c + 1, config.generator_width, 3, 1, 1), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*[GeneratorBlock(config.generator_width) for _ in range(config.generator_blocks)])
        self.out = nn.Conv2d(config.generator_width, c, 3, 1, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x (B, C, S, S) in [-1, 1], z (B, noise_dim) -> (B, C, S, S) in [-1, 1]."""
        plane = self.noise_to_plane(z).view(x.shape[0], 1, *x.shape[-2:])  # (B, 1, S, S)
        h = self.stem(torch.cat([x, plane], dim=1))  # (B, width, S, S)
        return torch.tanh(self.out(self.blocks(h)))


class Discriminator(nn.Module):
    """Image in [-1, 1] -> one logit, "real target image". Gaussian noise on every layer's input and
    dropout after every layer keep it from winning too early, as in the paper."""

    def __init__(self, config: PixelDAConfig):
        super().__init__()
        self.noise = config.discriminator_noise
        layers, c_in = [], config.in_channels
        for i, width in enumerate(config.discriminator_widths):
            layers.append(nn.Sequential(
                nn.Conv2d(c_in, width, 3, 2, 1),  # halves H, W
                nn.Identity() if i == 0 else nn.BatchNorm2d(width),
                nn.LeakyReLU(0.2, inplace=True), nn.Dropout(config.discriminator_dropout)))
            c_in = width
        self.layers = nn.ModuleList(layers)
        side = config.image_size // 2 ** len(config.discriminator_widths)
        self.head = nn.Linear(c_in * side * side, 1)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for layer in self.layers:
            if self.training and self.noise:
                x = x + self.noise * torch.randn(x.shape, generator=generator)
            x = layer(x)  # (B, width, S / 2^(i+1), ...)
        return self.head(x.flatten(1)).squeeze(1)  # (B,)


class TaskClassifier(nn.Module):
    """The digit classifier of the paper's MNIST setting (that of Ganin and Lempitsky's DANN):
    two 5x5 convolutions with max-pooling, two hidden layers of 100, then the class logits."""

    def __init__(self, config: PixelDAConfig):
        super().__init__()
        s = config.image_size
        self.body = nn.Sequential(
            nn.Conv2d(config.in_channels, 32, 5, 1, 2), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 48, 5, 1, 2), nn.BatchNorm2d(48), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # (B, 48, S/4, S/4)
            nn.Flatten(), nn.Linear(48 * (s // 4) ** 2, 100), nn.ReLU(inplace=True),
            nn.Linear(100, 100), nn.ReLU(inplace=True))  # (B, 100): the features the app projects
        self.head = nn.Linear(100, len(config.class_names))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@register("pixelda")
class PixelDA(MedLabModel):
    Config = PixelDAConfig
    usage = "logits = model.predict(images)  # (B, C, H, W) in [0, 1] -> (B, K) class logits, not probabilities"

    def __init__(self, config: PixelDAConfig):
        super().__init__(config)
        if config.image_size % 2 ** len(config.discriminator_widths):
            raise ValueError(f"image_size {config.image_size} must be divisible by 2^{len(config.discriminator_widths)}")
        self.classifier = TaskClassifier(config)
        if config.adapt:
            self.generator = Generator(config)
            self.discriminator = Discriminator(config)
        # evaluate.py's generic classifier path divides logits by a temperature; PixelDA is not calibrated.
        self.register_buffer("temperature", torch.ones(()))

    @property
    def class_names(self) -> list[str]:
        return list(self.config.class_names)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1 or 3, H, W) in [0, 1], any size -> (B, C, S, S) in [-1, 1]; gray is repeated over RGB."""
        images = fit_input(images, channels=self.config.in_channels, size=self.config.image_size)
        return images * 2 - 1

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ U(-1, 1)^noise_dim, (n, noise_dim), drawn on the CPU so a seed means the same z everywhere."""
        return torch.rand(n, self.config.noise_dim, generator=generator) * 2 - 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Task-classifier logits (B, K) for images (B, C, H, W) in [0, 1]."""
        return self.classifier(self.prepare(images))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K) (not probabilities: apply softmax for those)."""
        return self(images)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The task classifier's last hidden layer (B, 100): what the app projects to show the domain gap."""
        return self.classifier.body(self.prepare(images))

    @torch.no_grad()
    def translate(self, images: torch.Tensor, generator: torch.Generator | None = None,
                  noise: torch.Tensor | None = None) -> torch.Tensor:
        """Source images (B, C, H, W) in [0, 1] -> target-style images (B, C, S, S) in [0, 1]."""
        if not self.config.adapt:
            raise ValueError("this is a source-only model: it has no generator to translate with")
        x = self.prepare(images)
        z = self.noise(len(x), generator) if noise is None else noise
        return (self.generator(x, z) + 1) / 2

    # -- training ----------------------------------------------------------------------------------

    def configure_optimizers(self, lr: float):
        """Adam, as in the paper: one optimiser for G and T together (they minimise the same loss), one for D."""
        if not self.config.adapt:
            return [torch.optim.Adam(self.classifier.parameters(), lr=lr, betas=(0.5, 0.999))]
        return [torch.optim.Adam([*self.generator.parameters(), *self.classifier.parameters()], lr=lr, betas=(0.5, 0.999)),
                torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))]

    def training_step(self, batch, optimizers) -> dict[str, float]:
        """batch: (source images (B, C, S, S) in [0, 1], their labels (B,), unlabelled target images
        (B', C, S, S) in [0, 1], a torch.Generator for the noise)."""
        source, labels, target, rng = batch
        x_s = self.prepare(source)
        if not self.config.adapt:
            logits = self.classifier(x_s)
            loss = F.cross_entropy(logits, labels)
            (optimizer,) = optimizers
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return {"task_loss": loss.item(), "accuracy": (logits.argmax(1) == labels).float().mean().item()}

        g_optimizer, d_optimizer = optimizers
        x_t = self.prepare(target)
        fake = self.generator(x_s, self.noise(len(x_s), rng))  # (B, C, S, S) in [-1, 1]

        # ---------------------
        #  Train Discriminator
        # ---------------------
        real_logits = self.discriminator(x_t, rng)
        fake_logits = self.discriminator(fake.detach(), rng)
        d_loss = ADVERSARIAL_WEIGHT * (
            F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()

        # -----------------------------------------
        #  Train Generator (and the task classifier)
        # -----------------------------------------
        fooled = self.discriminator(fake, rng)
        adversarial = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))  # G: "call it real"
        # One pass over both halves, so batch norm sees the mix its running statistics will describe.
        fake_class, source_class = self.classifier(torch.cat([fake, x_s])).chunk(2)  # (B, K) each
        task = F.cross_entropy(fake_class, labels) + F.cross_entropy(source_class, labels)
        g_loss = ADVERSARIAL_WEIGHT * adversarial + TASK_WEIGHT * task
        g_optimizer.zero_grad(set_to_none=True)
        d_optimizer.zero_grad(set_to_none=True)  # D's gradients from this pass are not used
        g_loss.backward()
        g_optimizer.step()
        return {"d_loss": d_loss.item() / ADVERSARIAL_WEIGHT, "g_adversarial": adversarial.item(),
                "task_loss": task.item() / 2,
                "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item(),
                "fake_accuracy": (fake_class.argmax(1) == labels).float().mean().item()}
