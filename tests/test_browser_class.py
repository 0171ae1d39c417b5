"""The app in a real browser as a class meets it: offline (no request leaves the server), and on a projector
(1920x1080 at 150% zoom: a 1280x720 CSS viewport) each page's main result in view without scrolling.

Debian's Chromium driven by Playwright, as in test_browser.py; skipped, with the reason, without it. Screenshots go
to the test's tmp folder (pytest --basetemp=DIR keeps them where you can look).
"""
import re
from pathlib import Path

import pytest

from browser import CHROMIUM, StreamlitServer, launch_chromium
from tests.test_app import write_tiny_weights

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (Playwright's own browsers are never downloaded)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

ROOT = Path(__file__).resolve().parent.parent
PROJECTOR = dict(viewport={"width": 1280, "height": 720}, device_scale_factor=1.5)  # 1920x1080 at 150%


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on the shipped weights (the examples must route as a class would see them), no data root."""
    tmp = tmp_path_factory.mktemp("class")
    with StreamlitServer(log=tmp / "streamlit.log", env={"OMP_NUM_THREADS": "1", "MEDLAB_THREADS": "1",
                                                         "MEDLAB_DATA": str(tmp / "no-data-root")}) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


def test_no_request_leaves_the_server_and_the_icon_is_drawn_locally(server, browser):
    page = browser.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(server, timeout=60_000)
    page.get_by_test_id("stSidebar").get_by_text("teaching tool, not a medical device").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the favicon is set after the page config arrives
    icon = page.evaluate("document.querySelector(\"link[rel='shortcut icon']\").href")
    assert icon.startswith("data:image/svg+xml") and "🩻" in icon.replace("%F0%9F%A9%BB", "🩻"), icon[:120]
    outside = [url for url in requests if not url.startswith((server, "data:", "blob:"))]
    assert outside == []
    page.close()
