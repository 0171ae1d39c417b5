"""What every MedLab model family shares: config, safetensors persistence, strict loading, the Hub.

A weights folder is exactly what `save_pretrained` writes:

    config.json        {"family": "classifier", ...the family's config dataclass...}
    model.safetensors  the state dict (parameters stored as float16 to halve the size)
    README.md          the model card (written by the training command)

plus `eval.json`, written by `evaluate.py`. `load` accepts a folder or a Hub repository id, checks
that config.json names a known family (and the expected one, if given) and that each setting has its
field's type and is in range, builds the model from its config (first on the meta device, to refuse one too big) and
loads the weights with `strict=True`, refusing NaN or infinite values. Nothing is ever unpickled.
"""
import json
import math
import socket
from dataclasses import asdict, fields
from itertools import chain
from pathlib import Path
from types import UnionType
from typing import ClassVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlparse

import torch
from huggingface_hub import PyTorchModelHubMixin, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, LocalEntryNotFoundError,
                                    OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError)
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from . import registry

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
REPOSITORY_FILES = [CONFIG_FILE, WEIGHTS_FILE, "README.md", "eval.json"]  # what a Hub repository is loaded from
# Parameters and buffers. The largest shipped model holds about 5.2M (no model may take over 12 MB: about 6M in
# float16); eight times that is room to grow, and refuses a config.json of a few bytes whose widths would take
# gigabytes.
MAX_PARAMETERS = 50_000_000
# Ranges checked before anything is built. MAX_PARAMETERS bounds the widths, but not what makes the build itself slow,
# one module per stage or block even on the meta device (64 stages of 64 blocks: 4 s; larger counts, minutes), nor
# the memory of every call (each image is resized to image_size). The shipped configs stay well inside.
RANGES = {"image_size": (8, 1024), "stages": (1, 7), "depths": (0, 16), "blocks": (0, 32), "generator_blocks": (0, 32)}
MAX_ITEMS = 16  # in any list of numbers or of models (stages, widths, an ensemble's members)
MAX_CLASSES = 1000  # class names
MAX_MODELS = 8  # in one config: itself and its members, members' members included
# What a family's constructor raises on settings it cannot build: the config's fault, reported in one line.
CONFIG_ERRORS = (TypeError, ValueError, LookupError, ArithmeticError, RuntimeError)


class WeightsError(ValueError):
    """A weights folder or Hub repository that cannot be loaded as what it claims to be."""


class HubUnavailable(WeightsError):
    """A Hub repository that cannot be fetched because the Hub cannot be reached (offline, no network)."""


class MedLabModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="medlab",
    tags=["medlab", "medical-imaging", "teaching"],
    repo_url="https://github.com/medlab/medlab",
):
    """Base class of every family. Subclasses set `Config` and are decorated with `@register(name)`."""

    family: ClassVar[str] = ""  # set by @register
    Config: ClassVar[type]
    # The model card's line of Python after `model = models.load(folder)` (cards.py): this family's inference call,
    # what goes in and what comes out. A family whose call says more than this overrides it.
    usage: ClassVar[str] = "outputs = model.predict(images)  # images: (B, C, H, W) floats in [0, 1]"

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} takes a {self.Config.__name__}, got {type(config).__name__}")
        self.config = config

    # -- persistence -------------------------------------------------------------------------------

    def _save_pretrained(self, save_directory: Path) -> None:
        """Called by the mixin's `save_pretrained` (and so by `push_to_hub`)."""
        # Parameters go to float16 (half the size, no measurable change in outputs); buffers such as
        # batch-norm statistics and the fitted temperature and threshold keep full precision.
        parameters = {name for name, _ in self.named_parameters()}
        state = {k: (v.half() if k in parameters and v.is_floating_point() else v).contiguous()
                 for k, v in self.state_dict().items()}
        save_file(state, str(Path(save_directory) / WEIGHTS_FILE), metadata={"family": self.family})
        config = {"family": self.family, **asdict(self.config)}
        (Path(save_directory) / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def _from_pretrained(cls, *, model_id, revision=None, **_hub_options):
        """The mixin's `from_pretrained` lands here: always safetensors, always strict."""
        return load(model_id, family=cls.family, revision=revision)

    def weights_from(self, source: "MedLabModel") -> dict[str, torch.Tensor]:
        """`source`'s tensors under the names this network gives them (train.py --init-from copies those
        whose names and shapes match). A family whose shape can change in training overrides it."""
        return source.state_dict()

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def resolve(path_or_repo_id: str | Path, *, revision: str | None = None,
            family: str | tuple[str, ...] | None = None, token: bool | None = None) -> Path:
    """A local folder as it is, or a Hub repository id downloaded through the Hub client's cache.

    For a repository, config.json comes first, alone: a repository of another family (or not a MedLab
    one) is refused before its weights are downloaded. `token`: the Hub client's (None: HF_TOKEN, else the
    stored login), or False to fetch anonymously.
    """
    path = Path(path_or_repo_id)
    if path.is_dir():
        return path
    name = str(path_or_repo_id)
    if path.exists() or name.count("/") != 1 or name.startswith((".", "/")):
        raise WeightsError(f"{name!r} is neither a weights folder nor a Hub repository id (owner/name)")
    offline = not hub_reachable()  # then the local Hub cache only, at once, not after the client's retries
    try:
        config = Path(hf_hub_download(name, CONFIG_FILE, revision=revision, token=token, local_files_only=offline))
    except Exception as error:  # the Hub client raises many kinds; _fetch_error says which in words
        raise _fetch_error(name, revision, error) from error
    check_family(read_config(config.parent), family, name)
    try:
        # Exactly the files a weights folder holds: a repository's other files (however large) are never fetched.
        return Path(snapshot_download(name, revision=revision, allow_patterns=REPOSITORY_FILES, token=token,
                                      local_files_only=offline))
    except Exception as error:
        raise _fetch_error(name, revision, error) from error


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub's host takes a connection within `timeout` seconds (False with HF_HUB_OFFLINE). Without
    this, a machine with no network waits about 25 s for the Hub client's five retries before it falls back."""
    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return True
    except OSError:
        return False


def _fetch_error(name: str, revision: str | None, error: Exception) -> WeightsError:
    at = f" at revision {revision!r}" if revision else ""
    if isinstance(error, (OfflineModeIsEnabled, LocalEntryNotFoundError)):  # the client's "cannot reach the Hub"
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "no network, or the Hub is down"
        return HubUnavailable(f"cannot reach the Hugging Face Hub ({why}) and {name!r}{at} is not in the local "
                              "Hub cache; use the bundled weights in weights/ instead")
    if isinstance(error, GatedRepoError):
        return WeightsError(f"{name!r} is gated: accept its conditions on the Hub and log in (`hf auth login`)")
    if isinstance(error, RepositoryNotFoundError):
        return WeightsError(f"there is no Hub repository {name!r} (or it is private and you are not logged in "
                            "with access to it)")
    if isinstance(error, RevisionNotFoundError):
        return WeightsError(f"the Hub repository {name!r} has no revision {revision!r}")
    if isinstance(error, EntryNotFoundError):
        return WeightsError(f"the Hub repository {name!r}{at} has no {CONFIG_FILE}: it is not a MedLab weights "
                            "repository")
    return WeightsError(f"could not fetch {name!r}{at} from the Hugging Face Hub ({type(error).__name__}: "
                        f"{error}). Offline? Use the bundled weights in weights/ instead.")


def read_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise WeightsError(f"{folder} has no {CONFIG_FILE}; a MedLab weights folder has config.json and model.safetensors") from None
    except json.JSONDecodeError as error:
        raise WeightsError(f"{folder / CONFIG_FILE} is not valid JSON: {error}") from None
    if not isinstance(config, dict) or "family" not in config:
        raise WeightsError(f"{folder / CONFIG_FILE} does not name a MedLab model family (no \"family\" key)")
    return config


def check_family(config: dict, family: str | tuple[str, ...] | None, source) -> None:
    """Refuse a model of another family than `family` (one name, or a tuple of the names allowed)."""
    allowed = (family,) if isinstance(family, str) else family
    if allowed is not None and config["family"] not in allowed:
        names = [repr(name) for name in allowed]
        either = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise WeightsError(f"{source} holds a {config['family']!r} model, not a {either} model")


def family_class(name, source) -> type:
    """The registered class of a config's "family", or a WeightsError."""
    if not isinstance(name, str):
        raise WeightsError(f"{source}: \"family\" must be a family's name, got {name!r:.40}")
    try:
        return registry.get(name)
    except KeyError as error:
        raise WeightsError(f"{source}: {error.args[0]}") from None


def fits(value, kind) -> bool:
    """Whether a JSON value has a config field's annotated type. bool is not an int (JSON's true is not 1);
    an int is a float; no int is negative (each is a size, a count or an index); no float is NaN or infinite."""
    if get_origin(kind) in (Union, UnionType):  # e.g. int | None
        return any(fits(value, option) for option in get_args(kind))
    if get_origin(kind) is list:
        return isinstance(value, list) and all(fits(item, get_args(kind)[0]) for item in value)
    if isinstance(value, bool):
        return kind is bool
    if kind is int:
        return isinstance(value, int) and value >= 0
    if kind is float:
        return isinstance(value, int) or isinstance(value, float) and math.isfinite(value)
    return isinstance(value, get_origin(kind) or kind)  # str, dict, None


def check_settings(cls: type, settings: dict, source, models: list | None = None) -> None:
    """Refuse settings `cls.Config` does not have, of another type than its field's annotation, or out of RANGES
    and the list limits. A dict with a "family" inside a list is a nested model's config (an ensemble's members):
    checked the same way, at most MAX_MODELS in all (`models` counts them)."""
    models = [source] if models is None else models
    hints = get_type_hints(cls.Config)
    types = {f.name: hints[f.name] for f in fields(cls.Config)}
    if set(settings) - set(types):
        raise WeightsError(f"{source} has settings a {cls.family!r} model does not know: "
                           f"{', '.join(sorted(set(settings) - set(types)))}")
    for key, value in settings.items():
        if not fits(value, types[key]):
            kind = types[key].__name__ if isinstance(types[key], type) else str(types[key])  # int, list[int]
            raise WeightsError(f"{source}: {key!r} must be {kind} (integers >= 0, numbers finite), got {value!r:.40}")
        check_range(key, value, source)
        for i, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, dict) and "family" in item:
                where, nested = f"{source} {key}[{i}]", dict(item)
                models.append(where)
                if len(models) > MAX_MODELS:
                    raise WeightsError(f"{source} holds more than {MAX_MODELS} models, members' members included")
                check_settings(family_class(nested.pop("family"), where), nested, where, models)


def check_range(key: str, value, source) -> None:
    """Refuse a list longer than MAX_ITEMS (class names: MAX_CLASSES), or a number (or list item) out of RANGES."""
    if isinstance(value, list):
        most = MAX_CLASSES if all(isinstance(item, str) for item in value) else MAX_ITEMS
        if len(value) > most:
            raise WeightsError(f"{source}: {key!r} has {len(value):,} items; MedLab loads at most {most}")
    low, high = RANGES.get(key, (None, None))
    for number in value if isinstance(value, list) else [value]:
        if low is not None and isinstance(number, int) and not low <= number <= high:
            raise WeightsError(f"{source}: {key!r} must be from {low} to {high}, got {number}")


def build(cls: type, settings: dict, source, *, trusted: bool = False) -> MedLabModel:
    """The model `settings` describe. Unless `trusted`, built first on the meta device, which allocates nothing,
    to count its numbers: a config that would not build, or would build one too big, is refused before any memory
    is taken. (The first meta build in a process costs about 1.5 s while PyTorch loads its meta kernels: the app's
    own bundled weights skip it, and a test checks every shipped config instead.)"""
    try:
        config = cls.Config(**settings)
        if trusted:
            return cls(config)
        with torch.device("meta"):
            meta = cls(config)
    except CONFIG_ERRORS as error:
        reason = (str(error).splitlines() or [""])[0]
        raise WeightsError(f"{source} does not describe a {cls.family!r} model that can be built "
                           f"({type(error).__name__}: {reason})") from None
    size = sum(t.numel() for t in chain(meta.parameters(), meta.buffers()))
    if size > MAX_PARAMETERS:
        raise WeightsError(f"{source} describes a {cls.family!r} model of {size:,} parameters; MedLab loads at most "
                           f"{MAX_PARAMETERS:,} (see models/base.py): check its widths and counts")
    return cls(config)


def load(path_or_repo_id: str | Path, *, family: str | tuple[str, ...] | None = None,
         revision: str | None = None, trusted: bool = False, token: bool | None = None) -> MedLabModel:
    """Build a model from a weights folder or Hub repository and load its weights strictly; eval mode.
    `family`: the family it must be (or a tuple of the families it may be). `trusted`: weights the project
    ships, whose size need not be checked before building (see `build`); every other check still runs.
    `token=False`: fetch a Hub repository without any token (one a hosted app's visitor named)."""
    folder = resolve(path_or_repo_id, revision=revision, family=family, token=token)
    config = read_config(folder)
    check_family(config, family, path_or_repo_id)
    cls = family_class(config.pop("family"), folder / CONFIG_FILE)
    check_settings(cls, config, folder / CONFIG_FILE)
    model = build(cls, config, folder / CONFIG_FILE, trusted=trusted)
    name = cls.family
    try:
        state = load_file(str(folder / WEIGHTS_FILE))
    except FileNotFoundError:
        raise WeightsError(f"{folder} has no {WEIGHTS_FILE}") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"{folder / WEIGHTS_FILE} is not a valid safetensors file ({error}); "
                           "MedLab never unpickles weights") from None
    # A diverged training run saves NaN; such a network answers the same class for every image.
    for key, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f"{folder / WEIGHTS_FILE} holds NaN or infinite values in {key!r}: the run that "
                               "wrote it diverged; retrain, or restore the weights from a good copy")
    # Compare the names ourselves too: batch norm quietly forgives a missing `num_batches_tracked`.
    missing, unexpected = sorted(set(model.state_dict()) - set(state)), sorted(set(state) - set(model.state_dict()))
    if missing or unexpected:
        raise WeightsError(f"the weights in {folder} do not fit a {name!r} model built from its config: "
                           f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:  # mis-shaped tensors
        raise WeightsError(f"the weights in {folder} do not fit a {name!r} model built from its config: {error}") from None
    model.folder = folder
    return model.eval()
