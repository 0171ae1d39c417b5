"""The hosted Space: what can be checked without Docker. The Dockerfile's instructions, README.md's Space
front matter, and the Dockerfile's own `streamlit run` command line serving the app here, uploads allowed
without the XSRF cookie a Space's iframe does not send.
"""
import json
import shlex
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from browser import StreamlitServer
from tests.test_app import write_tiny_weights

ROOT = Path(__file__).resolve().parent.parent
SPACE_COLOURS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}  # what Spaces accept


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with comments dropped and continued lines joined."""
    joined, parts = [], []
    for line in dockerfile.read_text().splitlines():
        if not parts and (not line.strip() or line.lstrip().startswith("#")):
            continue
        parts.append(line.rstrip().removesuffix("\\").strip())
        if not line.rstrip().endswith("\\"):
            joined.append(" ".join(parts))
            parts = []
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def docker() -> dict[str, list[str]]:
    found = {}
    for name, args in instructions(ROOT / "Dockerfile"):
        found.setdefault(name, []).append(args)
    return found


def cmd() -> list[str]:
    (args,) = docker()["CMD"]
    return json.loads(args)  # the exec form: no shell between Docker's stop signal and Streamlit


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "a Space reads its settings from front matter at the very top of README.md"
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_dockerfile_builds_a_cpu_image_run_by_uid_1000_with_a_healthcheck():
    d = docker()
    assert d["FROM"][0].startswith("python:3.11")
    assert any("--index-url https://download.pytorch.org/whl/cpu" in run and "torch" in run for run in d["RUN"])
    assert any("useradd" in run and "--uid 1000" in run for run in d["RUN"])
    assert d["USER"][-1] not in ("root", "0")
    assert d["EXPOSE"] == ["8501"]
    (health,) = d["HEALTHCHECK"]
    assert "/_stcore/health" in health and "8501" in health
    command = cmd()
    assert command[:3] == ["streamlit", "run", "app.py"]
    options = dict(zip(command[3::2], command[4::2]))
    assert options["--server.port"] == "8501" and options["--server.address"] == "0.0.0.0"
    assert options["--server.enableXsrfProtection"] == "false" and options["--server.enableCORS"] == "false"


def test_readme_front_matter_describes_a_docker_space_on_the_dockerfiles_port():
    meta = front_matter()
    assert {"title", "emoji", "colorFrom", "colorTo", "sdk", "app_port", "pinned", "license"} <= set(meta)
    assert meta["title"] == "MedLab" and meta["sdk"] == "docker" and meta["license"] == "mit"
    assert meta["app_port"] == int(docker()["EXPOSE"][0]) == int(cmd()[cmd().index("--server.port") + 1])
    assert {meta["colorFrom"], meta["colorTo"]} <= SPACE_COLOURS
    assert len(meta.get("short_description", "")) <= 60


def test_dockerignore_keeps_environments_runs_and_history_out():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", "runs", ".git", ".pytest_cache", "**/__pycache__"} <= ignored
    assert "weights" not in ignored  # the bundled weights are the app


def upload_without_xsrf_cookie(url: str) -> tuple[int, str]:
    """What a Space's iframe sends: an upload with no XSRF cookie (to a session that does not exist)."""
    request = urllib.request.Request(f"{url}/_stcore/upload_file/no-session/no-file", data=b"x", method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("space") / "weights", evaluated=False)


def test_the_dockerfiles_command_serves_the_app_and_takes_uploads_without_the_xsrf_cookie(weights, tmp_path):
    # The Dockerfile's options, except where to listen: StreamlitServer picks a free local port.
    command = cmd()
    options = [(k, v) for k, v in zip(command[3::2], command[4::2]) if k not in ("--server.port", "--server.address")]
    args = [part for option in options for part in option]
    with StreamlitServer(weights=weights, log=tmp_path / "space.log", env={"OMP_NUM_THREADS": "1"}, args=args) as s:
        status, body = upload_without_xsrf_cookie(s.url)
    assert (status, "XSRF" in body) == (400, False), body  # past the XSRF check: refused only for the fake session
    with StreamlitServer(weights=weights, env={"OMP_NUM_THREADS": "1"}) as default:  # Streamlit's defaults
        assert upload_without_xsrf_cookie(default.url) == (403, "XSRF token missing or invalid")
    assert "Error" not in (tmp_path / "space.log").read_text(), shlex.join(command)
