"""The app served for real and opened in a real browser: used by the browser test, the screenshot
script and the benchmark, so all three start, drive and stop it the same way.

Chromium is Debian's (`apt-get install chromium`), driven by Playwright; Playwright's own browsers
are never downloaded.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach Google, which a closed
# network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RESULT = re.compile(r"P\(\w+\) = \d+\.\d%")  # what the Classify page shows once a prediction is in


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`streamlit run app.py` on a free local port; a context manager that waits until it answers.

    args: more `streamlit run` options, after ours (e.g. the Dockerfile's `--server.enableXsrfProtection false`).
    """

    def __init__(self, *, weights: Path | None = None, log: Path | None = None, env: dict | None = None,
                 timeout_s: float = 60, args: list[str] | None = None):
        self.port = free_port()
        self.args = list(args or [])
        self.url = f"http://127.0.0.1:{self.port}"
        self.weights, self.timeout_s = weights, timeout_s
        self.log_path = log or Path(os.devnull)
        self.env = {**os.environ, **(env or {}), **({"MEDLAB_WEIGHTS": str(weights)} if weights else {})}

    def __enter__(self) -> "StreamlitServer":
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             *self.args],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout_s
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        tail = Path(self.log_path).read_text()[-3000:] if self.log_path != Path(os.devnull) else ""
        raise RuntimeError(f"streamlit did not start within {self.timeout_s:.0f} s\n{tail}")

    def __exit__(self, *_) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)  # the process group we started, nothing else
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def classify_in_browser(page, url: str, image: Path, timeout_ms: int = 60_000) -> None:
    """Open Classify, upload `image` through the browser's own file input, wait for the result."""
    page.goto(f"{url}/classify", timeout=timeout_ms)
    page.locator('input[type="file"]').set_input_files(image, timeout=timeout_ms)
    page.get_by_text(RESULT).first.wait_for(timeout=timeout_ms)  # an ensemble also shows its members' P(...)
