"""Publish a weights folder on the Hugging Face Hub.

    python hub.py push weights/cxr-pneumonia OWNER/NAME [--private] [--revision BRANCH] [--message M]

Pushes exactly the files a MedLab weights folder is made of (config.json, model.safetensors,
README.md and, if present, eval.json), after checking that the folder loads strictly and that its
model card has the sections a reader needs. Nothing else is uploaded: no checkpoints, no logs.
Load it back anywhere with `models.load("OWNER/NAME")`, or choose it in the app's "Model source".

The token is the Hub client's: `HF_TOKEN`, else what `hf auth login` stored. This module never reads,
prints or logs it.
"""
import argparse
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
REQUIRED = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)
UPLOADED = (*REQUIRED, EVAL_FILE)  # the whole list: anything else in the folder stays at home
CARD_SECTIONS = ("## Intended use", "## Data", "## Results")  # as cards.render writes them


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
    owner, _, name = repo_id.partition("/")
    if not owner or not name or "/" in name:
        raise HubError(f"{repo_id!r} is not a Hub repository id: expected OWNER/NAME")
    api = HfApi()  # finds the token itself: HF_TOKEN, else the stored login
    try:
        check_owner(api, owner, repo_id)
        api.create_repo(repo_id, private=private, exist_ok=True)  # an existing repository keeps its visibility
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(folder / f)) for f in files]
        if EVAL_FILE not in files and api.file_exists(repo_id, EVAL_FILE, revision=revision):
            # The figures of earlier weights must not stay beside new weights as if they were theirs.
            operations.append(CommitOperationDelete(path_in_repo=EVAL_FILE))
        commit = api.create_commit(repo_id, operations, revision=revision,
                                   commit_message=message or f"Upload {folder.name} ({', '.join(files)}) with MedLab")
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
    return commit.commit_url


def check_owner(api: HfApi, owner: str, repo_id: str) -> None:
    """Refuse a repository of someone else before anything is created or uploaded."""
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
    args = parser.parse_args(argv)
    try:
        url = push(args.folder, args.repo_id, private=args.private, revision=args.revision, message=args.message)
    except (HubError, models.WeightsError) as error:
        sys.exit(f"error: {error}")
    print(url)


if __name__ == "__main__":
    main()
