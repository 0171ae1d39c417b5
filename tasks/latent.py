"""Latent-variable models: an image in, a code out and back (the VAEs, EndoVAE-style or residual,
optionally conditional on the class).

Training takes the labelled-image default's split (masks unused, frames flipped for Kvasir-SEG) and the
model's own ELBO step; validation scores the ELBO; nothing is fitted after training. Its card's
limitations replace the data set's own where a generative model of it says more.
"""
import torch

from evaluate import vae_elbo
from tasks.base import LIMITATIONS, Task


VAE_LIMITATIONS = {  # (family, data set): replaces the data set's own list for generative models of it
    ("vae", "kvasir_seg"): [
        "Trained on 792 Kvasir-SEG frames at 96x96, every one with a polyp: six numbers keep the colour, lighting "
        "and layout of a frame, not its fine texture; reconstructions are blurry and small polyps vanish.",
        "A decoded image is not a patient's image: never read a finding into it.",
        "The shipped latent map holds the codes and polyp areas of the 120 test frames, not the frames "
        "(Kvasir-SEG's terms are for research and education).",
    ],
    ("vae", "mnist"): [
        "Digits, not medical images: in the lab to show what a latent space is.",
        "The shipped latent map holds 2,000 MNIST test digits' codes with their 28-px thumbnails.",
    ],
    ("vae", "chest_xray"): [
        "Pediatric (1 to 5 years) chest X-rays from one hospital, squashed to 224x224 by the source and seen at "
        "64x64 grayscale: a decoded X-ray is a blurry summary, not a patient, and never evidence of anything.",
        "Generated X-rays are not a substitute for real data in training or testing a diagnostic model.",
        "The shipped latent map holds test images' codes and labels only, not the images.",
    ],
}


# -- VAEs: images (and their classes, for a conditional VAE), scored by the validation ELBO -----------


def vae_order(split, generator: torch.Generator) -> torch.Tensor:
    return torch.randperm(len(split), generator=generator)


def vae_batch(split, index: torch.Tensor, generator: torch.Generator, args):
    """(images, class indices or None, the generator for the reparameterisation noise)."""
    images, labels = split.batch(index)
    if args.dataset == "kvasir_seg":  # a mirrored colonoscopy frame is still a colonoscopy frame
        flip = torch.rand(2, len(images), generator=generator) < 0.5
        images = torch.where(flip[0].view(-1, 1, 1, 1), images.flip(-1), images)
        images = torch.where(flip[1].view(-1, 1, 1, 1), images.flip(-2), images)
    return images, None if split.is_segmentation else labels, generator


def vae_score(model, split) -> tuple[str, float]:
    return "ELBO", float(vae_elbo(model, split).mean())


def vae_config(args, split) -> dict:
    steps_per_epoch = -(-len(split) // args.batch_size)
    return {"class_names": ["polyp frame"] if split.is_segmentation else split.class_names,
            "image_size": args.image_size, "in_channels": args.channels, "latent_dim": args.latent_dim,
            "architecture": args.architecture, "widths": args.widths, "strides": args.strides,
            "blocks": args.depths, "dense": args.dense,
            "conditional": args.conditional or None, "reconstruction": args.reconstruction, "beta": args.beta,
            "ssim_weight": args.ssim_weight, "kl_warmup_steps": round(args.kl_warmup * steps_per_epoch) or None}


def vae_card(args, split, config) -> dict:
    kind = f"conditional on ({', '.join(config.class_names)})" if config.conditional else "unconditional"
    return {"data": f"{config.image_size} px {'grayscale' if config.in_channels == 1 else 'colour'}; "
                    f"{config.architecture} architecture, {config.latent_dim}-dimensional latent, {kind}, "
                    f"{config.reconstruction} likelihood, beta {config.beta}",
            "augmentation": "random horizontal and vertical flips" if args.dataset == "kvasir_seg" else "none"}


TASKS = {
    "vae": Task(vae_score, order=vae_order, batch=vae_batch, config=vae_config, card=vae_card,
                flags=("image_size", "channels", "latent_dim", "architecture", "widths", "strides", "depths", "dense",
                       "conditional", "reconstruction", "beta", "ssim_weight", "kl_warmup"),
                limitations=lambda args: VAE_LIMITATIONS.get((args.family, args.dataset))
                or LIMITATIONS.get(args.dataset, [])),
}

SETTINGS = {  # what the model card says about the training recipe
    "vae": {"optimiser": "Adam, cosine schedule with warm-up",
            "loss": "negative ELBO per image: -log p(x | z) under the config's likelihood (one reparameterised draw) "
                    "+ beta x KL(q(z | x) || N(0, I)), the KL weight rising linearly from 0 over the warm-up; "
                    "plus ssim_weight x (1 - SSIM) x pixels when set",
            "model selection": "best validation ELBO (nats per image, beta 1, one draw of z with a fixed seed)"},
}
