"""Publish a weights folder, or the whole app as a Space, on the Hugging Face Hub.

    python hub.py push weights/cxr-pneumonia OWNER/NAME [--private] [--revision BRANCH] [--message M]
    python hub.py space OWNER/NAME [--private]

Pushes exactly the files a MedLab weights folder is made of (config.json, model.safetensors,
README.md and, if present, eval.json and history.json), after checking that the folder loads strictly and that its
model card has the sections a reader needs. Nothing else is uploaded: no checkpoints, no logs.
Load it back anywhere with `models.load("OWNER/NAME")`, or choose it in the app's "Model source".

`space` creates (or updates) a Docker Space from this checkout: the files git tracks, as committed, uploaded
through the Hub client's upload API, which stores the weights and images as large files (a `git push` of them
without LFS is refused); files no longer tracked are deleted from the Space. README.md's front matter and the
Dockerfile tell the Hub how to build and serve it.

The token is the Hub client's: `HF_TOKEN`, else what `hf auth login` stored. This module never reads,
prints or logs it.
"""
import argparse
import contextlib
import glob
import subprocess
import sys
from pathlib import Path

import httpx2  # the Hub client's HTTP library: its TransportError is "could not connect"
import yaml
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

import models
from models.base import CONFIG_FILE, WEIGHTS_FILE

CARD_FILE = "README.md"
EVAL_FILE = "eval.json"
HISTORY_FILE = "history.json"  # train.py's rows per epoch; weights trained before it wrote them have none
REQUIRED = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)
OPTIONAL = (EVAL_FILE, HISTORY_FILE)
UPLOADED = (*REQUIRED, *OPTIONAL)  # the whole list: anything else in the folder stays at home
CARD_SECTIONS = ("## Intended use", "## Data", "## Results")  # as cards.render writes them


ROOT = Path(__file__).resolve().parent


class HubError(RuntimeError):
    """A push the Hub (or the folder) refuses; the text says what to do."""


def check_folder(folder: Path) -> list[str]:
    """The files to upload, after checking the folder loads strictly and has a complete model card."""
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder; push a weights folder such as weights/cxr-pneumonia")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise HubError(f"{folder} has no {' or '.join(missing)}; a weights folder to publish has {', '.join(REQUIRED)} "
                       "(train.py writes all three: the README.md is the model card)")
    models.load(folder)  # a WeightsError says what does not fit
    card = (folder / CARD_FILE).read_text()
    front = yaml.safe_load(card.split("---", 2)[1]) if card.startswith("---") and card.count("---") >= 2 else None
    lacks = [] if isinstance(front, dict) and front.get("license") else ["a licence (`license:` in its front matter)"]
    lacks += [f"a '{heading}' section" for heading in CARD_SECTIONS
              if not any(line.strip() == heading for line in card.splitlines())]
    if lacks:
        raise HubError(f"the model card {folder / CARD_FILE} lacks {', '.join(lacks)}; regenerate it with "
                       "train.py and evaluate.py (cards.py) before publishing")
    return [name for name in UPLOADED if (folder / name).is_file()]


def push(folder: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
         message: str | None = None) -> str:
    """Upload the weights folder's files to the Hub model repository `repo_id` (created if missing) on
    branch `revision` (created if missing; default main) as one commit. Returns the commit's URL."""
    folder = Path(folder)
    files = check_folder(folder)
    check_repo_id(repo_id)
    api = HfApi()  # finds the token itself: HF_TOKEN, else the stored login
    with hub_errors(repo_id):
        check_owner(api, repo_id)
        api.create_repo(repo_id, private=private, exist_ok=True)  # an existing repository keeps its visibility
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(folder / f)) for f in files]
        for name in OPTIONAL:
            if name not in files and api.file_exists(repo_id, name, revision=revision):
                # The figures of earlier weights must not stay beside new weights as if they were theirs.
                operations.append(CommitOperationDelete(path_in_repo=name))
        commit = api.create_commit(repo_id, operations, revision=revision,
                                   commit_message=message or f"Upload {folder.name} ({', '.join(files)}) with MedLab")
    return commit.commit_url


def tracked_files(root: Path) -> tuple[list[str], str]:
    """The files git tracks in the checkout at `root`, and its commit; refused if a tracked file has changes
    not committed, so that a Space is always exactly one commit."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            raise HubError(f"{root} is not a git checkout (git {' '.join(args)} failed): a Space is built from the "
                           "files git tracks, so run this in a clone of the repository") from None
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    if changed:
        raise HubError(f"{len(changed)} tracked file(s) have changes not committed ({changed[0][3:]}, ...): commit "
                       "or stash them first, so that the Space is exactly one commit")
    return [name for name in git("ls-files", "-z").split("\0") if name], git("rev-parse", "--short", "HEAD").strip()


def check_space_settings(root: Path) -> None:
    """The Space is built by the Hub from README.md's front matter (sdk: docker) and the Dockerfile."""
    readme = root / CARD_FILE
    text = readme.read_text() if readme.is_file() else ""
    front = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") and text.count("---") >= 2 else None
    if not isinstance(front, dict) or front.get("sdk") != "docker" or not (root / "Dockerfile").is_file():
        raise HubError(f"{root} is not a Docker Space: it needs a Dockerfile and `sdk: docker` in README.md's "
                       "front matter")


def space(repo_id: str, *, root: str | Path | None = None, private: bool = False) -> str:
    """Create the Docker Space `repo_id` if missing and make its files those git tracks at `root` (one commit:
    new and changed files uploaded, large ones as LFS/Xet objects; files no longer tracked deleted). Returns the
    commit's URL. `root`: the checkout, by default this one."""
    root = Path(root or ROOT)
    check_repo_id(repo_id)
    check_space_settings(root)
    files, commit_id = tracked_files(root)
    api = HfApi()  # finds the token itself: HF_TOKEN, else the stored login
    with hub_errors(repo_id):
        check_owner(api, repo_id)
        api.create_repo(repo_id, repo_type="space", space_sdk="docker", private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=root,
                                   allow_patterns=[glob.escape(name) for name in files], delete_patterns="*",
                                   commit_message=f"MedLab at {commit_id}")
    return commit.commit_url


def check_repo_id(repo_id: str) -> None:
    owner, _, name = repo_id.partition("/")
    if not owner or not name or "/" in name:
        raise HubError(f"{repo_id!r} is not a Hub repository id: expected OWNER/NAME")


@contextlib.contextmanager
def hub_errors(repo_id: str):
    """The Hub client's errors as a HubError that says what to do."""
    try:
        yield
    except LocalTokenNotFoundError:
        raise HubError("not logged in to the Hugging Face Hub: run `hf auth login` or set HF_TOKEN") from None
    except OfflineModeIsEnabled:
        raise HubError("HF_HUB_OFFLINE is set, so nothing can be pushed: unset it and try again") from None
    except httpx2.TransportError as error:
        raise HubError(f"cannot reach the Hugging Face Hub ({type(error).__name__}); check the network "
                       "connection and try again") from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 401:
            raise HubError("the Hub refused the token (401): log in again with `hf auth login` or set a valid "
                           "HF_TOKEN") from None
        if status == 403:
            raise HubError(f"no write access to {repo_id}: use a token with write permission, on a repository "
                           "of your own or of an organisation you write to") from None
        raise HubError(f"the Hub refused the push to {repo_id}: {error}") from None


def check_owner(api: HfApi, repo_id: str) -> None:
    """Refuse a repository of someone else before anything is created or uploaded."""
    owner = repo_id.partition("/")[0]
    me = api.whoami(cache=True)  # raises LocalTokenNotFoundError when not logged in
    mine = [me.get("name"), *(org.get("name") for org in me.get("orgs", []))]
    if owner not in mine:
        raise HubError(f"{repo_id} belongs to {owner!r}, and you are logged in as {me.get('name')!r}"
                       f"{' (organisations: ' + ', '.join(mine[1:]) + ')' if mine[1:] else ''}: push to "
                       f"{me.get('name')}/{repo_id.partition('/')[2]} or to an organisation you belong to")
    if (me.get("auth", {}).get("accessToken") or {}).get("role") == "read":
        raise HubError("your Hub token is read-only: create one with write permission "
                       "(https://huggingface.co/settings/tokens), then `hf auth login`")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("push", help="upload a weights folder to a Hub model repository")
    p.add_argument("folder", help="a weights folder, e.g. weights/cxr-pneumonia")
    p.add_argument("repo_id", metavar="OWNER/NAME", help="the Hub model repository (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repository private (an existing one keeps "
                                                          "its visibility)")
    p.add_argument("--revision", metavar="BRANCH", help="push to this branch (created if missing; default main)")
    p.add_argument("--message", metavar="M", help="the commit message")
    s = verbs.add_parser("space", help="create or update a Docker Space with this checkout's tracked files")
    s.add_argument("repo_id", metavar="OWNER/NAME", help="the Space (created if missing)")
    s.add_argument("--private", action="store_true", help="create the Space private (an existing one keeps its "
                                                          "visibility)")
    args = parser.parse_args(argv)
    try:
        if args.verb == "space":
            url = space(args.repo_id, private=args.private)
        else:
            url = push(args.folder, args.repo_id, private=args.private, revision=args.revision, message=args.message)
    except (HubError, models.WeightsError) as error:
        sys.exit(f"error: {error}")
    print(url)


if __name__ == "__main__":
    main()
