"""Publishing weights on the Hub and loading them back, offline: a stand-in for the Hub.

`FakeHub` takes the place of the few Hub client calls MedLab makes (whoami, create_repo, create_branch,
file_exists, create_commit, upload_folder; hf_hub_download and snapshot_download for loading). Each stand-in first
checks its arguments against the real function's signature, so a call the real client would refuse
fails here too. The offline and no-network cases use the real client, against nothing.
"""
import fnmatch
import functools
import hashlib
import inspect
import logging
import subprocess
import threading
import time
from pathlib import Path

import pytest
import streamlit as st
import torch
from huggingface_hub import CommitInfo, CommitOperationAdd, CommitOperationDelete, HfApi, constants, get_token
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, LocalTokenNotFoundError
from huggingface_hub.utils import filter_repo_objects
from streamlit.testing.v1 import AppTest

import cards
import hub
import inference
import models
import models.base
import weights_dir
from browser import free_port
from conftest import tiny_model
import evaluate
from images import read_image
from models import WeightsError
from models.base import HubUnavailable
from tests.test_app import png_bytes, write_tiny_weights

ROOT = Path(__file__).resolve().parent.parent
SECRET = "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0123"  # what HF_TOKEN holds in these tests
WEIGHTS_FILES = {"config.json", "model.safetensors", "README.md", "eval.json"}


def honest(real, fake):
    """`fake` in place of `real`, refusing a call that `real` itself would refuse (unknown or missing arguments)."""
    signature = inspect.signature(real)

    @functools.wraps(real)
    def check(*args, **kwargs):
        signature.bind(*args, **kwargs)
        return fake(*args, **kwargs)
    return check


class FakeHub:
    """Repositories as {repo_id: {branch: {file: bytes}}}; every call recorded in `calls`, every file
    handed to a loader in `fetched`."""

    def __init__(self, cache: Path):
        self.repos: dict[str, dict[str, dict[str, bytes]]] = {}
        self.kinds: dict[str, tuple] = {}  # repo_id: (repo_type, space_sdk) as created
        self.calls: list[tuple] = []
        self.fetched: list[tuple[str, str]] = []
        self.cache = cache
        self.user = {"name": "me", "orgs": [{"name": "medlab-org"}], "auth": {"accessToken": {"role": "write"}}}
        self.reachable = True
        self.tokens = []  # the token argument of each download: None lets the client use HF_TOKEN

    # -- what hub.push calls ----------------------------------------------------------------------

    def whoami(self, api, token=None, *, cache=False):
        assert api.token is None, "MedLab must let the Hub client find the token, never pass it"
        if get_token() is None:  # as the real client: HF_TOKEN, else the stored login
            raise LocalTokenNotFoundError("Token is required to call the /whoami-v2 endpoint, but no token found.")
        self.calls.append(("whoami",))
        return self.user

    def create_repo(self, api, repo_id, *, private=None, exist_ok=False, repo_type=None, space_sdk=None, **_):
        self.calls.append(("create_repo", repo_id, private))
        self.kinds.setdefault(repo_id, (repo_type, space_sdk))
        self.repos.setdefault(repo_id, {"main": {".gitattributes": b"*.safetensors filter=lfs\n"}})

    def create_branch(self, api, repo_id, *, branch, exist_ok=False, **_):
        self.calls.append(("create_branch", repo_id, branch, exist_ok))
        branches = self.repos[repo_id]
        branches.setdefault(branch, dict(branches["main"]))

    def file_exists(self, api, repo_id, filename, *, revision=None, **_):
        return filename in self.repos[repo_id][revision or "main"]

    def create_commit(self, api, repo_id, operations, *, commit_message, revision=None, **_):
        files = self.repos[repo_id][revision or "main"]
        added, deleted = {}, []
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                added[op.path_in_repo] = Path(op.path_or_fileobj).read_bytes()
            else:
                assert isinstance(op, CommitOperationDelete)
                deleted.append(op.path_in_repo)
        files.update(added)
        for name in deleted:
            del files[name]
        self.calls.append(("create_commit", repo_id, revision, commit_message, added, deleted))
        oid = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
        return CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/{oid}", commit_message=commit_message,
                          commit_description="", oid=oid)

    def upload_folder(self, api, *, repo_id, folder_path, repo_type=None, allow_patterns=None, ignore_patterns=None,
                      delete_patterns=None, commit_message=None, revision=None, **_):
        """As the real client: the folder's files that the patterns allow, and the remote files that
        delete_patterns match deleted unless uploaded again (.gitattributes always kept)."""
        root = Path(folder_path)
        local = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*")) if p.is_file()]
        added = {name: (root / name).read_bytes()
                 for name in filter_repo_objects(local, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns)}
        files = self.repos[repo_id][revision or "main"]
        deleted = [name for name in filter_repo_objects(list(files), allow_patterns=delete_patterns)
                   if name not in added and name != ".gitattributes"] if delete_patterns is not None else []
        for name in deleted:
            del files[name]
        files.update(added)
        self.calls.append(("upload_folder", repo_id, repo_type, commit_message, added, deleted))
        oid = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
        return CommitInfo(commit_url=f"https://huggingface.co/spaces/{repo_id}/commit/{oid}",
                          commit_message=commit_message, commit_description="", oid=oid)

    # -- what models.load calls -------------------------------------------------------------------

    def _files(self, repo_id, revision):
        if not self.reachable:  # what the real client raises when it cannot connect and has nothing cached
            raise LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub and we "
                                          "cannot find the requested files in the local cache.")
        return self.repos[repo_id][revision or "main"]

    def _write(self, repo_id, revision, name, data) -> Path:
        path = self.cache / repo_id / (revision or "main") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.fetched.append((repo_id, name))
        return path

    def hf_hub_download(self, repo_id, filename, *, revision=None, token=None, **_):
        self.tokens.append(token)
        files = self._files(repo_id, revision)
        if filename not in files:
            raise EntryNotFoundError(f"{filename} not found in {repo_id}")
        return str(self._write(repo_id, revision, filename, files[filename]))

    def snapshot_download(self, repo_id, *, revision=None, allow_patterns=None, token=None, **_):
        self.tokens.append(token)
        for name, data in self._files(repo_id, revision).items():
            if allow_patterns is None or any(fnmatch.fnmatch(name, p) for p in allow_patterns):
                self._write(repo_id, revision, name, data)
        return str(self.cache / repo_id / (revision or "main"))


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    fake = FakeHub(tmp_path / "hub-cache")
    for name in ("whoami", "create_repo", "create_branch", "file_exists", "create_commit", "upload_folder"):
        monkeypatch.setattr(HfApi, name, honest(getattr(HfApi, name), getattr(fake, name)))
    for name in ("hf_hub_download", "snapshot_download"):
        monkeypatch.setattr(models.base, name, honest(getattr(models.base, name), getattr(fake, name)))
    monkeypatch.setattr(models.base, "hub_reachable", lambda: True)  # the stand-in is always there
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-login" / "token"))
    monkeypatch.setenv("HF_TOKEN", SECRET)
    inference.load_model.cache_clear()
    yield fake
    inference.load_model.cache_clear()


def weights_folder(folder: Path, family: str = "classifier", *, evaluated: bool = True, history: bool = False,
                   **config) -> Path:
    """A weights folder as train.py and evaluate.py leave it, plus what must never be uploaded. `history`: with the
    rows train.py now writes beside the weights (the shipped weights trained before it have none)."""
    model = tiny_model(family, **config)
    model.save_pretrained(folder)
    cards.write(folder, {"name": folder.name, "family": family, "dataset": "chest_xray", "title": "Tiny",
                         "summary": "An untrained model for tests."})
    if evaluated:
        (folder / "eval.json").write_text('{"split": "test", "n": 0}\n')
    if history:
        (folder / "history.json").write_text('[\n{"epoch": 1, "loss": 0.69, "val_ROC-AUC": 0.5, "lr": 0.002, '
                                             '"seconds": 1.0}\n]\n')
    (folder / "last.pt").write_bytes(b"a training checkpoint")
    (folder / "train.log").write_text("epoch 1: loss 0.69\n")
    (folder / "runs").mkdir()
    (folder / "runs" / "events.out").write_bytes(b"tensorboard")
    return folder


def chest_image():
    return read_image(png_bytes(48), name="chest.png")


def commits(fake: FakeHub) -> list[tuple]:
    return [call for call in fake.calls if call[0] == "create_commit"]


# -- push -----------------------------------------------------------------------------------------


def test_push_uploads_exactly_the_weights_files_and_never_shows_the_token(fake_hub, tmp_path, capsys, caplog):
    folder = weights_folder(tmp_path / "cxr-pneumonia")
    caplog.set_level(logging.DEBUG)

    hub.main(["push", str(folder), "me/cxr", "--private", "--message", "first weights"])

    (_, repo, revision, message, added, deleted), = commits(fake_hub)
    assert (repo, revision, message, deleted) == ("me/cxr", None, "first weights", [])
    assert set(added) == WEIGHTS_FILES
    assert all(added[name] == (folder / name).read_bytes() for name in added)
    assert ("create_repo", "me/cxr", True) in fake_hub.calls
    out = capsys.readouterr()
    assert out.out.strip().startswith("https://huggingface.co/me/cxr/commit/")
    assert SECRET not in out.out + out.err + caplog.text


def test_push_to_a_branch_creates_it_and_drops_eval_json_of_earlier_weights(fake_hub, tmp_path):
    hub.push(weights_folder(tmp_path / "old"), "medlab-org/cxr")
    assert "eval.json" in fake_hub.repos["medlab-org/cxr"]["main"]

    url = hub.push(weights_folder(tmp_path / "new", evaluated=False), "medlab-org/cxr", revision="retrained")

    assert ("create_branch", "medlab-org/cxr", "retrained", True) in fake_hub.calls
    _, _, revision, _, added, deleted = commits(fake_hub)[-1]
    assert (revision, set(added), deleted) == ("retrained", WEIGHTS_FILES - {"eval.json"}, ["eval.json"])
    assert "eval.json" not in fake_hub.repos["medlab-org/cxr"]["retrained"]
    assert url.startswith("https://huggingface.co/medlab-org/cxr/commit/")


def test_push_uploads_the_history_where_there_is_one_and_drops_that_of_earlier_weights(fake_hub, tmp_path):
    trained = weights_folder(tmp_path / "trained", history=True)
    hub.push(trained, "me/cxr")
    (*_, added, deleted), = commits(fake_hub)
    assert (set(added), deleted) == (WEIGHTS_FILES | {"history.json"}, [])
    assert added["history.json"] == (trained / "history.json").read_bytes()

    hub.push(weights_folder(tmp_path / "older"), "me/cxr")  # weights made before train.py wrote a history

    *_, added, deleted = commits(fake_hub)[-1]
    assert (set(added), deleted) == (WEIGHTS_FILES, ["history.json"])
    assert set(fake_hub.repos["me/cxr"]["main"]) == WEIGHTS_FILES | {".gitattributes"}


@pytest.mark.parametrize("spoil, message", [
    (lambda f: (f / "README.md").unlink(), "has no README.md"),
    (lambda f: (f / "README.md").write_text("# My model\n\nTrust me.\n"), "lacks a licence"),
    (lambda f: (f / "README.md").write_text((f / "README.md").read_text().replace("## Data\n", "")),
     "lacks a '## Data' section"),
    (lambda f: (f / "model.safetensors").write_bytes(b"\x80\x04 a pickle"), "not a valid safetensors file"),
])
def test_push_refuses_a_folder_that_is_not_ready_and_uploads_nothing(fake_hub, tmp_path, spoil, message):
    folder = weights_folder(tmp_path / "cxr")
    spoil(folder)
    with pytest.raises((hub.HubError, WeightsError), match=message):
        hub.push(folder, "me/cxr")
    assert fake_hub.calls == []


def test_push_refuses_someone_elses_repository(fake_hub, tmp_path):
    with pytest.raises(hub.HubError, match="belongs to 'someone', and you are logged in as 'me'"):
        hub.push(weights_folder(tmp_path / "cxr"), "someone/cxr")
    assert [call[0] for call in fake_hub.calls] == ["whoami"]


def test_push_when_not_logged_in_says_how(fake_hub, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(SystemExit, match=r"run `hf auth login` or set HF_TOKEN"):
        hub.main(["push", str(weights_folder(tmp_path / "cxr")), "me/cxr"])
    assert fake_hub.calls == []


def test_push_without_network_says_so(tmp_path, monkeypatch, capsys, caplog):
    """The real client, against a port nobody listens on."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(constants, "ENDPOINT", nowhere)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SystemExit, match="cannot reach the Hugging Face Hub"):
        hub.main(["push", str(weights_folder(tmp_path / "cxr")), "me/cxr"])
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err + caplog.text


def test_an_unreachable_hub_is_not_asked_five_times(monkeypatch):
    """A typed repository while offline: straight to the local cache, not ~25 s of the client's retries."""
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nobody listens there
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    asked, real = [], models.base.hf_hub_download
    monkeypatch.setattr(models.base, "hf_hub_download",
                        lambda *a, **k: asked.append(k.get("local_files_only")) or real(*a, **k))
    with pytest.raises(HubUnavailable, match="cannot reach the Hugging Face Hub"):
        models.base.resolve("someone/not-cached-here")
    assert asked == [True]


def test_push_with_hf_hub_offline_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    with pytest.raises(hub.HubError, match="HF_HUB_OFFLINE is set"):
        hub.push(weights_folder(tmp_path / "cxr"), "me/cxr")


# -- the Space -------------------------------------------------------------------------------------


def checkout(root: Path, files: dict[str, bytes]) -> Path:
    """A git repository at `root` with `files` committed, and what git does not track beside them."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    (root / "runs").mkdir()
    (root / "runs" / "last.pt").write_bytes(b"a training checkpoint")  # never tracked, never uploaded
    (root / ".venv").mkdir()
    (root / ".venv" / "torch.so").write_bytes(b"\0" * 100)
    return root


SPACE = {"README.md": b"---\ntitle: MedLab\nsdk: docker\napp_port: 8501\n---\n# MedLab\n",
         "Dockerfile": b"FROM python:3.11-slim\n", "app.py": b"import streamlit\n",
         "weights/m/model.safetensors": b"\x00\x01 binary", "examples/chest [1].png": b"\x89PNG binary"}


def test_space_creates_a_docker_space_with_exactly_the_tracked_files(fake_hub, tmp_path, capsys, caplog, monkeypatch):
    root = checkout(tmp_path / "repo", SPACE)
    monkeypatch.setattr(hub, "ROOT", root)
    caplog.set_level(logging.DEBUG)

    hub.main(["space", "medlab-org/lab"])

    assert fake_hub.kinds["medlab-org/lab"] == ("space", "docker")
    (_, repo, repo_type, message, added, deleted), = [c for c in fake_hub.calls if c[0] == "upload_folder"]
    assert (repo, repo_type, deleted) == ("medlab-org/lab", "space", [])
    assert added == SPACE  # names with brackets too; nothing untracked (runs/, .venv/), no .git
    assert message.startswith("MedLab at ")
    out = capsys.readouterr()
    assert out.out.strip().startswith("https://huggingface.co/spaces/medlab-org/lab/commit/")
    assert SECRET not in out.out + out.err + caplog.text


def test_space_update_deletes_what_is_no_longer_tracked_and_keeps_gitattributes(fake_hub, tmp_path):
    root = checkout(tmp_path / "repo", SPACE)
    hub.space("me/lab", root=root)
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "rm", "-q", "app.py"],
                   check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "rm"],
                   check=True)

    hub.space("me/lab", root=root)

    assert set(fake_hub.repos["me/lab"]["main"]) == (set(SPACE) - {"app.py"}) | {".gitattributes"}


@pytest.mark.parametrize("spoil, message", [
    (lambda root: (root / "app.py").write_text("changed"), "changes not committed .*app.py"),
    (lambda root: (root / "README.md").write_text("# no front matter"), "not a Docker Space"),
    (lambda root: subprocess.run(["rm", "-rf", str(root / ".git")], check=True), "not a git checkout"),
])
def test_space_refuses_a_checkout_it_cannot_deploy_and_uploads_nothing(fake_hub, tmp_path, spoil, message):
    root = checkout(tmp_path / "repo", SPACE)
    spoil(root)
    with pytest.raises(hub.HubError, match=message):
        hub.space("me/lab", root=root)
    assert [c for c in fake_hub.calls if c[0] != "whoami"] == []


def test_space_refuses_someone_elses_space(fake_hub, tmp_path):
    with pytest.raises(hub.HubError, match="belongs to 'someone'"):
        hub.space("someone/lab", root=checkout(tmp_path / "repo", SPACE))
    assert [call[0] for call in fake_hub.calls] == ["whoami"]


def test_every_binary_file_of_the_repository_is_marked_for_lfs():
    """A `git push` to the Hub refuses binary files not stored with LFS: .gitattributes must cover each one."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split("\0")
    binary = [name for name in tracked if name and b"\0" in (ROOT / name).read_bytes()[:8000]]
    assert binary, "the weights at least are binary"
    lfs = subprocess.run(["git", "check-attr", "filter", "--", *binary], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert [line for line in lfs if not line.endswith(": filter: lfs")] == []


# -- load -----------------------------------------------------------------------------------------


def test_a_pushed_repository_loads_strictly_by_repo_id_and_revision(fake_hub, tmp_path):
    hub.push(weights_folder(tmp_path / "v1"), "me/cxr")
    retrained = weights_folder(tmp_path / "v2", class_names=["A", "B"])
    hub.push(retrained, "me/cxr", revision="v2")

    main = models.load("me/cxr", family="classifier")
    v2 = models.load("me/cxr", family="classifier", revision="v2")

    assert main.class_names == ["NORMAL", "PNEUMONIA"] and v2.class_names == ["A", "B"]
    expected = models.load(retrained).state_dict()
    assert all(torch.equal(v2.state_dict()[k], expected[k]) for k in expected)
    assert {name for _, name in fake_hub.fetched} == {"config.json", "model.safetensors", "README.md", "eval.json"}
    # The command lines pass a repo id straight through: evaluate.py and inference.load_model (predict.py).
    assert weights_dir.locate("me/cxr") == "me/cxr"
    assert inference.load_model("me/cxr").class_names == ["NORMAL", "PNEUMONIA"]


def test_evaluate_py_takes_a_repo_id_and_writes_nothing_into_the_hub_cache(fake_hub, tmp_path, data_root, capsys):
    hub.push(weights_folder(tmp_path / "cxr", evaluated=False), "me/cxr")
    result = evaluate.main(["me/cxr", "--data-root", str(data_root), "--split", "test", "--json"])
    assert result["n"] == 12 and result["split"] == "test"
    assert not list(fake_hub.cache.rglob("eval.json"))


def test_a_repositorys_other_files_are_never_fetched(fake_hub, tmp_path):
    hub.push(weights_folder(tmp_path / "v1"), "me/cxr")
    files = fake_hub.repos["me/cxr"]["main"]
    files.update({"huge.safetensors": b"0" * 1000, "notes/extra.json": b"{}", "docs/paper.md": b"# paper"})
    models.load("me/cxr", family="classifier")
    assert {name for _, name in fake_hub.fetched} == {"config.json", "model.safetensors", "README.md", "eval.json"}


def test_a_repository_of_the_wrong_family_is_refused_before_its_weights_are_fetched(fake_hub, tmp_path):
    hub.push(weights_folder(tmp_path / "polyp-unet", "unet"), "me/polyp")
    with pytest.raises(WeightsError, match="me/polyp holds a 'unet' model, not a 'classifier' model"):
        models.load("me/polyp", family="classifier")
    assert fake_hub.fetched == [("me/polyp", "config.json")]


def test_a_repository_that_is_not_medlab_weights_is_refused(fake_hub):
    fake_hub.repos["me/bert"] = {"main": {"pytorch_model.bin": b"pickle"}}
    with pytest.raises(WeightsError, match="has no config.json: it is not a MedLab weights repository"):
        models.load("me/bert")
    assert fake_hub.fetched == []


def test_offline_loading_says_so_and_suggests_the_bundled_weights(tmp_path, monkeypatch):
    """The real client with HF_HUB_OFFLINE and an empty cache."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(HubUnavailable, match=r"cannot reach the Hugging Face Hub \(HF_HUB_OFFLINE is set\) and "
                                             r"'medlab/not-cached' is not in the local Hub cache; use the bundled"):
        models.load("medlab/not-cached")


def test_no_network_loading_says_so(tmp_path, monkeypatch):
    """The real client, against a port nobody listens on (its back-off between retries skipped)."""
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(constants, "ENDPOINT", nowhere)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", nowhere + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(HubUnavailable, match=r"\(no network, or the Hub is down\).*use the bundled weights"):
        models.load("medlab/not-cached", revision="v1")


# -- sources: the routed models from the Hub --------------------------------------------------------


def test_a_source_replaces_a_routed_model_only_inside_use_sources(fake_hub, weights_dir, tmp_path, monkeypatch):
    hub.push(weights_folder(tmp_path / "hub-cxr", class_names=["HUB_NORMAL", "HUB_PNEUMONIA"]), "me/cxr")
    hub.push(weights_folder(tmp_path / "polyp", "unet"), "me/polyp")
    hub.push(weights_folder(tmp_path / "not-a-router"), "me/not-a-router")
    image = chest_image()

    with inference.use_sources({"cxr-pneumonia": inference.Source("me/cxr")}):
        result = inference.classify(image)
    assert result.label.startswith("HUB_") and result.to_json()["source"] == "me/cxr"
    assert inference.classify(image).label in ("NORMAL", "PNEUMONIA")  # outside: the bundled weights again
    seen = {}
    with inference.use_sources({"cxr-pneumonia": inference.Source("me/cxr")}):  # meanwhile, another visitor's thread
        other = threading.Thread(target=lambda: seen.update(other=inference.source_of("cxr-pneumonia")))
        other.start()
        other.join()
    assert seen == {"other": None}
    assert "source" not in inference.classify(image).to_json()

    assert fake_hub.tokens and set(fake_hub.tokens) == {False}  # never the Space's HF_TOKEN for a visitor's choice

    with inference.use_sources({"cxr-pneumonia": inference.Source("me/polyp")}):
        with pytest.raises(WeightsError, match="holds a 'unet' model, not a 'classifier', 'efficientnet', 'ensemble' or 'kmeans' model"):
            inference.classify(image)
    with inference.use_sources({"modality": inference.Source("me/not-a-router")}):
        with pytest.raises(WeightsError, match="not a modality recognizer"):
            inference.recognize(image)
    (tmp_path / "local" / "cxr").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    for not_a_repo in ("local/cxr", str(weights_dir / "cxr-pneumonia"), "../etc", "me/cxr/extra"):
        with inference.use_sources({"cxr-pneumonia": inference.Source(not_a_repo)}):
            with pytest.raises(WeightsError, match="is not a Hub repository id"):
                inference.classify(image)


@pytest.fixture
def app_weights(tmp_path, monkeypatch, fake_hub):
    folder = write_tiny_weights(tmp_path / "weights", evaluated=False)
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(folder))
    st.cache_resource.clear()
    st.cache_data.clear()
    hub.push(weights_folder(tmp_path / "hub-cxr", class_names=["HUB_NORMAL", "HUB_PNEUMONIA"]), "me/cxr")
    hub.push(weights_folder(tmp_path / "polyp", "unet"), "me/polyp")
    yield folder
    st.cache_resource.clear()
    st.cache_data.clear()


def shown(at: AppTest) -> str:
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "header", "subheader")
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def test_app_model_source_sidebar_runs_this_visitors_classifier_from_the_hub(app_weights):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.text_input(key="source-repo-cxr-pneumonia").input("me/cxr").run()
    assert not at.exception, at.exception
    assert "Chest X-ray classifier: `me/cxr` from the Hub" in shown(at)

    at.switch_page("app_pages/classify.py").run()
    at.file_uploader[0].set_value([("chest.png", png_bytes(48), "image/png")])
    at.run()
    assert not at.exception, at.exception
    assert "HUB_PNEUMONIA" in shown(at)
    assert inference.source_of("cxr-pneumonia") is None  # the choice stayed in that visitor's run

    other = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()  # a second visitor
    other.switch_page("app_pages/classify.py").run()
    other.file_uploader[0].set_value([("chest.png", png_bytes(48), "image/png")])
    other.run()
    assert "HUB_" not in shown(other) and "PNEUMONIA" in shown(other)


@pytest.mark.parametrize("repo, reachable, kind, reason", [
    ("me/polyp", True, "error", "holds a 'unet' model, not a 'classifier', 'efficientnet', 'ensemble' or 'kmeans' model"),
    ("me/cxr", False, "warning", "cannot reach the Hugging Face Hub"),
])
def test_app_model_source_falls_back_to_the_bundled_weights_and_says_why(app_weights, fake_hub, repo, reachable,
                                                                         kind, reason):
    fake_hub.reachable = reachable
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.text_input(key="source-repo-cxr-pneumonia").input(repo).run()
    assert not at.exception, at.exception
    (message,) = [str(e.value) for e in getattr(at, kind) if "classifier" in str(e.value)]
    assert message.startswith(f"Chest X-ray classifier: using the bundled weights `cxr-pneumonia`, because `{repo}` "
                              "cannot be used: ")
    assert reason in message
    assert "from the Hub" not in shown(at)
