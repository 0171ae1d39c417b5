"""Image GANs: DCGAN (unconditional), CGAN (class-conditional) and ACGAN (the discriminator also names the class).

A generator G turns a noise vector z into an image; a discriminator D scores images as real or generated.
They play against each other: D learns to tell real from fake, G learns to fool D. Three families share
one generator and one discriminator and differ only in how the class label enters:

- `dcgan`: DCGAN (Radford et al., 2016). No label: G(z). Stages doubling the image side in G
  (nearest-neighbour upsampling and a 3x3 convolution where the paper has transposed convolutions),
  batch norm and ReLU; strided convolutions and LeakyReLU in D.
- `cgan`: conditional GAN (Mirza & Osindero, 2014). G(z, y) sees a learned embedding of the label y
  beside z; D sees the label through a projection (Miyato & Koyama, 2018): its score gains the inner
  product of the label's embedding with D's image features, the label embedding that trains most stably.
- `acgan`: auxiliary-classifier GAN (Odena et al., 2017). G(z, y) as CGAN; D has a second head that
  predicts the class. D learns that head on real images only; G is trained so that D's head reads its
  images as the class asked for. (The paper also trains D's head on fakes, which lets D learn to
  classify G's mistakes and costs variety within a class.) With a `twin_weight`, TAC-GAN (Gong et
  al., 2019): a second head learns the classes of generated images and G is rewarded for fooling it.

    z ~ N(0, I) (B, latent) --+-- G --> image (B, C, S, S) --DiffAugment--> D --> real/fake score (B,)
    label y (B,) -- embed ----+                                              \\--> class logits (ACGAN)

Losses (models/gan_losses.py): non-saturating, least-squares, WGAN-GP and hinge, chosen by the
config's `loss`. D's layers are spectrally normalised (Miyato et al., 2018), which keeps every one of
those losses stable on a CPU budget without per-loss tuning. DiffAugment (Zhao et al., 2020) applies
the same kind of random colour, translation and cutout to real and generated images before D sees
them, so that D cannot memorise a small training set (425 COVID CT slices) and G still learns the
un-augmented images.

Images are (B, C, H, W) in [0, 1] at the boundary, [-1, 1] inside (tanh output).
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from . import gan_losses
from .base import MedLabModel
from .registry import register

DIFF_AUGMENT = ("color", "translation", "cutout")  # the policies of Zhao et al. 2020


@dataclass
class GANConfig:
    class_names: list[str] = field(default_factory=lambda: [str(d) for d in range(10)])
    image_size: int = 32  # 4 * 2^len(widths): each stage doubles the side from 4x4
    in_channels: int = 1  # 1: grayscale; 3: colour
    latent_dim: int = 64  # z ~ N(0, I)^latent_dim
    widths: list[int] = field(default_factory=lambda: [256, 128, 64])  # G's channels at 4, 8, 16 px; D mirrors them
    embed_dim: int = 32  # CGAN/ACGAN: size of the label embedding G sees beside z
    loss: str = "hinge"  # one of gan_losses.LOSSES
    diff_augment: list[str] = field(default_factory=list)  # subset of DIFF_AUGMENT; [] = off
    class_weight: float = 1.0  # ACGAN: weight of the class loss beside the adversarial loss
    # ACGAN: a twin class head in D learns the classes of generated images, and G is also rewarded, with this
    # weight, for making it fail (TAC-GAN, Gong et al., 2019; the paper's weight is class_weight). ACGAN alone
    # pulls each class toward its most easily named images, which costs variety within the class; the twin's
    # term cancels that pull. 0: off (no twin head).
    twin_weight: float = 0.0
    # Mode seeking (Mao et al., 2019, MSGAN): G is penalised when two noise vectors with the same label give
    # near-identical images. Without it the conditional generators made one image per class.
    mode_seeking: float = 0.2  # weight of 1 / (image distance / noise distance); 0: off
    discriminator_norm: str = "spectral"  # "spectral" (any loss) or "batch" (DCGAN's; not with wgan-gp)
    minibatch_std: bool = True  # D sees how varied the batch is (ProGAN): without it G collapsed within a class


# -- DiffAugment (Zhao et al., 2020): differentiable, so G's gradient flows through it ------------------


def diff_augment(x: torch.Tensor, policies: list[str], generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1] -> same shape; one random draw per image per policy, from `generator`."""
    b, c, h, w = x.shape
    u = lambda *shape: torch.rand(b, *shape, generator=generator)  # noqa: E731  (on CPU: same seed, same draw)
    if "color" in policies:  # brightness +-0.5, saturation x0-2, contrast x0.5-1.5 (on [-1, 1] scale: x2 brightness)
        x = x + (u(1, 1, 1) - 0.5)
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (u(1, 1, 1) * 2) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * (u(1, 1, 1) + 0.5) + mean
    if "translation" in policies:  # shift by up to 1/8 of the side, zero padding
        pad = max(1, h // 8)
        dy = (u() * (2 * pad + 1)).long() - pad  # (B,)
        dx = (u() * (2 * pad + 1)).long() - pad
        padded = F.pad(x, [pad, pad, pad, pad])  # (B, C, H + 2p, W + 2p)
        rows = (torch.arange(h).view(1, h) + pad - dy.view(b, 1)).view(b, 1, h, 1).expand(b, c, h, w + 2 * pad)
        x = padded.gather(2, rows)
        cols = (torch.arange(w).view(1, w) + pad - dx.view(b, 1)).view(b, 1, 1, w).expand(b, c, h, w)
        x = x.gather(3, cols)
    if "cutout" in policies:  # blank one square of half the side, anywhere
        ch, cw = h // 2, w // 2
        cy = (u() * (h + 1 - ch % 2)).long()
        cx = (u() * (w + 1 - cw % 2)).long()
        yy = torch.arange(h).view(1, h, 1)
        xx = torch.arange(w).view(1, 1, w)
        hole = ((yy - cy.view(b, 1, 1)).abs() <= ch // 2) & ((xx - cx.view(b, 1, 1)).abs() <= cw // 2)  # (B, H, W)
        x = x * (~hole).unsqueeze(1).to(x)
    return x


def minibatch_std(h: torch.Tensor, group: int = 4) -> torch.Tensor:
    """(B, C, H, W) -> (B, C + 1, H, W): one more channel holding the standard deviation of the features across
    a group of images (Karras et al., 2018, ProGAN). A batch of near-identical fakes then looks different from
    a batch of real images, which a discriminator that sees one image at a time cannot tell."""
    b, c, hh, ww = h.shape
    g = group if b % group == 0 else b
    spread = h.view(g, b // g, c, hh, ww).var(0, unbiased=False).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / g,)
    return torch.cat([h, spread.view(b // g, 1, 1, 1).repeat(g, 1, hh, ww)], dim=1)


# -- the two networks --------------------------------------------------------------------------------


class Generator(nn.Module):
    """z (B, latent) [+ label embedding (B, embed)] -> image (B, C, S, S) in [-1, 1].

    A linear layer makes a 4x4 map of widths[0] channels; each stage doubles the side by nearest-neighbour
    upsampling and a 3x3 convolution, with batch norm and ReLU; a last 3x3 convolution gives C channels, tanh.
    """

    def __init__(self, config: GANConfig, conditional: bool):
        super().__init__()
        widths = config.widths
        self.embed = nn.Embedding(len(config.class_names), config.embed_dim) if conditional else None
        z_in = config.latent_dim + (config.embed_dim if conditional else 0)
        self.project = nn.Sequential(nn.Linear(z_in, widths[0] * 16, bias=False), nn.BatchNorm1d(widths[0] * 16),
                                     nn.ReLU(inplace=True))
        stages = []
        for c_in, c_out in zip(widths, widths[1:] + widths[-1:]):
            # nearest-neighbour upsampling then a 3x3 convolution: no checkerboard (Odena et al., 2016)
            stages += [nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True)]
        stages += [nn.Conv2d(widths[-1], config.in_channels, 3, 1, 1), nn.Tanh()]
        self.stages = nn.Sequential(*stages)
        self.width = widths[0]

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)  # (B, latent + embed)
        h = self.project(z).view(len(z), self.width, 4, 4)  # (B, widths[0], 4, 4)
        return self.stages(h)  # (B, C, 4 * 2^len(widths), ...)


class Discriminator(nn.Module):
    """Image (B, C, S, S) in [-1, 1] -> real/fake score (B,) and, for ACGAN, class logits (B, K) (and the
    twin head's (B, K) with a `twin_weight`; otherwise None).

    Strided convolutions (kernel 4, stride 2) halve the side down to 4x4 through the generator's widths
    in reverse; the minibatch standard deviation joins them, a 3x3 convolution, then the features are summed
    over space (B, widths[0]) and the heads read them. Spectral norm on every layer, no batch norm (WGAN-GP's penalty is per sample).
    """

    def __init__(self, config: GANConfig, conditioning: str | None):
        super().__init__()
        widths = list(reversed(config.widths))  # e.g. [64, 128, 256] for a 32-px image
        norm = spectral_norm if config.discriminator_norm == "spectral" else lambda layer: layer
        layers, c_in = [], config.in_channels
        for i, c_out in enumerate(widths):
            layers += [norm(nn.Conv2d(c_in, c_out, 4, 2, 1)),
                       nn.BatchNorm2d(c_out) if config.discriminator_norm == "batch" and i else nn.Identity(),
                       nn.LeakyReLU(0.2, inplace=True)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.minibatch_std = config.minibatch_std
        self.last = nn.Sequential(norm(nn.Conv2d(c_in + config.minibatch_std, c_in, 3, 1, 1)),
                                  nn.LeakyReLU(0.2, inplace=True))
        k = len(config.class_names)
        self.score = norm(nn.Linear(c_in, 1))
        self.project = norm(nn.Embedding(k, c_in)) if conditioning == "projection" else None
        self.classify = norm(nn.Linear(c_in, k)) if conditioning == "auxiliary" else None
        self.twin = norm(nn.Linear(c_in, k)) if conditioning == "auxiliary" and config.twin_weight else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        h = self.body(x)  # (B, widths[0], 4, 4)
        h = self.last(minibatch_std(h) if self.minibatch_std else h).mean(dim=(2, 3))  # (B, widths[0])
        score = self.score(h).squeeze(1)  # (B,)
        if self.project is not None and labels is not None:  # CGAN: + <embed(y), h>
            score = score + (self.project(labels) * h).sum(1)
        logits = self.classify(h) if self.classify is not None else None  # (B, K) or None
        twin = self.twin(h) if self.twin is not None else None  # (B, K) or None
        return score, logits, twin


# -- the families ------------------------------------------------------------------------------------


class GAN(MedLabModel):
    """What the three families share; each sets `conditioning` (None, "projection" or "auxiliary")."""

    Config = GANConfig
    conditioning: str | None = None
    usage = "images = model.sample([0, 0, 1])  # one image per class index (or name) -> (B, C, S, S) in [0, 1]"

    def __init__(self, config: GANConfig):
        super().__init__(config)
        if config.image_size != 4 * 2 ** len(config.widths):
            raise ValueError(f"image_size {config.image_size} must be 4 * 2^len(widths) = {4 * 2 ** len(config.widths)}")
        if config.loss not in gan_losses.LOSSES:
            raise ValueError(f"unknown GAN loss {config.loss!r}; choose one of {', '.join(gan_losses.LOSSES)}")
        if config.discriminator_norm not in ("spectral", "batch"):
            raise ValueError(f"discriminator_norm must be 'spectral' or 'batch', got {config.discriminator_norm!r}")
        if config.discriminator_norm == "batch" and config.loss == "wgan-gp":
            raise ValueError("wgan-gp penalises each sample's gradient: use discriminator_norm 'spectral', not 'batch'")
        if (config.twin_weight or config.class_weight != 1) and self.conditioning != "auxiliary":
            raise ValueError(f"twin_weight and class_weight are ACGAN's (its discriminator names classes); "
                             f"{self.family} has no class head")
        if set(config.diff_augment) - set(DIFF_AUGMENT):
            raise ValueError(f"unknown DiffAugment policy in {config.diff_augment}; choose from {', '.join(DIFF_AUGMENT)}")
        self.generator = Generator(config, conditional=self.conditional)
        self.discriminator = Discriminator(config, self.conditioning)

    @property
    def conditional(self) -> bool:
        return self.conditioning is not None

    @property
    def class_names(self) -> list[str]:
        return list(self.config.class_names)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    # -- sampling: same seed, same image, on any machine ---------------------------------------------

    def noise(self, n: int, generator: torch.Generator | None = None, *, truncation: float | None = None) -> torch.Tensor:
        """z ~ N(0, I), (n, latent_dim), drawn on the CPU. With `truncation` t, every entry with |z| > t
        is drawn again until it is not (the truncation trick of BigGAN: less variety, more typical images)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        if truncation is not None:
            if truncation <= 0:
                raise ValueError(f"truncation must be positive, got {truncation}")
            while (outside := z.abs() > truncation).any():
                z[outside] = torch.randn(int(outside.sum()), generator=generator)
        return z

    def labels(self, labels) -> torch.Tensor | None:
        """Class indices (B,) from indices or class names, checked; None for DCGAN."""
        if not self.conditional:
            return None
        if isinstance(labels, int):
            raise ValueError(f"a {self.family} model generates a class you name: pass class labels "
                             f"(of {', '.join(self.class_names)}), not a count")
        labels = [self.class_names.index(c) if isinstance(c, str) and c in self.class_names else c for c in labels] \
            if not isinstance(labels, torch.Tensor) else labels
        bad = [c for c in (labels.tolist() if isinstance(labels, torch.Tensor) else labels)
               if not isinstance(c, int) or not 0 <= c < len(self.class_names)]
        if bad:
            raise ValueError(f"unknown class {bad[0]!r}; this model knows {', '.join(self.class_names)}")
        return torch.as_tensor(labels, dtype=torch.long)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """Latents (B, latent_dim) [and labels (B,)] -> images (B, C, S, S) in [0, 1]."""
        labels = self.labels(labels) if self.conditional else None
        if labels is not None and len(labels) != len(z):
            raise ValueError(f"got {len(z)} latents and {len(labels)} labels")
        if self.conditional and labels is None:
            raise ValueError(f"a {self.family} model needs a label for every latent")
        return (self.generator(z, labels) + 1) / 2

    @torch.no_grad()
    def sample(self, labels_or_n, generator: torch.Generator | None = None, *,
               truncation: float | None = None) -> torch.Tensor:
        """Images (B, C, S, S) in [0, 1]: one per label (CGAN, ACGAN; a tensor or list of indices or names),
        or `n` of them (DCGAN, an int)."""
        if self.conditional:
            labels = self.labels(labels_or_n)
            return self.decode(self.noise(len(labels), generator, truncation=truncation), labels)
        if not isinstance(labels_or_n, int) or labels_or_n < 1:
            raise ValueError(f"a dcgan model is unconditional: pass a number of images, got {labels_or_n!r}")
        return self.decode(self.noise(labels_or_n, generator, truncation=truncation))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The discriminator's raw real/fake score (B, 1) for images (B, C, S, S) in [0, 1] (higher: more real;
        CGAN: its label-free part); for ACGAN also its class logits: (B, 1 + K), the score first.
        Not a calibrated probability."""
        score, logits, _ = self.discriminator(images * 2 - 1, None)
        return score.unsqueeze(1) if logits is None else torch.cat([score.unsqueeze(1), logits], dim=1)

    # -- training --------------------------------------------------------------------------------------

    def configure_optimizers(self, lr: float):
        """Adam with beta1 0.5, as DCGAN: one optimiser for G, one for D."""
        return [torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999)),
                torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))]

    def _augment(self, x: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
        return diff_augment(x, self.config.diff_augment, rng) if self.config.diff_augment else x

    def training_step(self, batch, optimizers) -> dict[str, float]:
        """batch: (real images (B, C, S, S) in [0, 1], their labels (B,), a torch.Generator for noise and
        augmentation). Generated images take the labels of the first half of the real batch, twice."""
        real, labels, rng = batch
        g_optimizer, d_optimizer = optimizers
        kind, half = self.config.loss, len(real) // 2
        y = labels if self.conditional else None
        real = real * 2 - 1  # [-1, 1], as G's tanh
        # Generated images come in two halves with the same labels, pairs (i, i + B/2) for mode seeking.
        fake_labels = torch.cat([labels[:half], labels[:half]])  # (2 * (B // 2),)
        y_fake = fake_labels if self.conditional else None
        z = self.noise(2 * half, rng)
        fake = self.generator(z, y_fake)  # (B, C, S, S)

        # ---------------------
        #  Train Discriminator
        # ---------------------
        real_score, real_logits, _ = self.discriminator(self._augment(real, rng), y)
        fake_score, _, fake_twin = self.discriminator(self._augment(fake.detach(), rng), y_fake)
        d_loss = gan_losses.discriminator_loss(kind, real_score, fake_score)
        logs = {}
        if kind == "wgan-gp":
            paired = torch.cat([real[:half], real[:half]])  # real images with the generated images' labels
            penalty = gan_losses.gradient_penalty(lambda x: self.discriminator(x, y_fake)[0],
                                                  self._augment(paired, rng), self._augment(fake.detach(), rng),
                                                  generator=rng)
            d_loss = d_loss + penalty
            logs["gradient_penalty"] = penalty.item()
        if self.conditioning == "auxiliary":  # D learns the classes of real images only
            d_class = F.cross_entropy(real_logits, labels)
            d_loss = d_loss + self.config.class_weight * d_class
            logs["d_class_loss"] = d_class.item()
            logs["d_real_accuracy"] = (real_logits.argmax(1) == labels).float().mean().item()
        if fake_twin is not None:  # TAC-GAN: the twin learns the classes of generated images
            d_twin = F.cross_entropy(fake_twin, fake_labels)
            d_loss = d_loss + self.config.class_weight * d_twin
            logs["d_twin_loss"] = d_twin.item()
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()

        # -----------------
        #  Train Generator
        # -----------------
        score, logits, twin = self.discriminator(self._augment(fake, rng), y_fake)
        g_loss = gan_losses.generator_loss(kind, score)
        if self.config.mode_seeking:  # image distance over noise distance, pair by pair; G pushes it up
            ratio = ((fake[:half] - fake[half:]).abs().flatten(1).mean(1) / (z[:half] - z[half:]).abs().mean(1)).mean()
            g_loss = g_loss + self.config.mode_seeking / (ratio + 1e-5)
            logs["mode_seeking_ratio"] = ratio.item()
        if self.conditioning == "auxiliary":  # G: "D should read my image as the class I was asked for"
            g_class = F.cross_entropy(logits, fake_labels)
            g_loss = g_loss + self.config.class_weight * g_class
            logs["g_class_loss"] = g_class.item()
        if twin is not None:  # TAC-GAN: "... and the twin, which learns my images' classes, should fail"
            g_loss = g_loss - self.config.twin_weight * F.cross_entropy(twin, fake_labels)
        g_optimizer.zero_grad(set_to_none=True)
        d_optimizer.zero_grad(set_to_none=True)  # D's gradients from this pass are not used
        g_loss.backward()
        g_optimizer.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_real_score": real_score.mean().item(), "d_fake_score": fake_score.mean().item(), **logs}


@register("dcgan")
class DCGAN(GAN):
    """Unconditional: `sample(n)`; the class names are the training data's, for the judge's verdicts."""

    conditioning = None
    usage = "images = model.sample(16)  # 16 images (B, C, S, S) in [0, 1]; generator=torch.Generator() for a seed"


@register("cgan")
class CGAN(GAN):
    """Class-conditional: label embedding beside z in G, projection of the label in D."""

    conditioning = "projection"


@register("acgan")
class ACGAN(GAN):
    """Class-conditional with an auxiliary classifier head in D."""

    conditioning = "auxiliary"
