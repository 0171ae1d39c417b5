"""One real browser test: `streamlit run app.py`, Debian's Chromium driven by Playwright, a real upload.

What AppTest cannot see: the page served over HTTP, the navigation, and the browser's own file
upload. Skipped (with the reason) when /usr/bin/chromium is missing; never downloads a browser.
"""
import re
from pathlib import Path

import pytest

from browser import CHROMIUM, StreamlitServer, classify_in_browser, launch_chromium
from tests.test_app import png_bytes, write_tiny_weights

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (Playwright's own browsers are never downloaded)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


@pytest.fixture
def server(tmp_path):
    """The app on a free port, with tiny weights; one torch thread, as a training run may share the machine."""
    with StreamlitServer(weights=write_tiny_weights(tmp_path / "weights"), log=tmp_path / "streamlit.log",
                         env={"OMP_NUM_THREADS": "1"}) as running:
        yield running.url


def test_upload_a_chest_xray_in_a_real_browser(server, tmp_path):
    image = tmp_path / "chest.png"
    image.write_bytes(png_bytes(64))

    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server}/classify", timeout=30_000)  # a deep link, as the server's first visitor
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_text("teaching tool, not a medical device").wait_for(timeout=30_000)
            # app.py's router is in charge, not Streamlit's legacy pages/ discovery (see app.py)
            assert sidebar.get_by_role("link", name=re.compile("Classify")).count() == 1
            page.locator('input[type="file"]').set_input_files(image, timeout=30_000)
            result = page.get_by_text(re.compile(r"P\(PNEUMONIA\) = \d+\.\d%"))
            result.wait_for(timeout=30_000)
            assert page.get_by_role("heading", name=re.compile(r"^(NORMAL|PNEUMONIA)$")).count() == 1
            assert page.get_by_text(re.compile(r"^Modality recognizer: chest X-ray \(\d+%\)$")).count() == 1
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()


def test_classify_in_browser_waits_for_an_ensembles_answer(tmp_path):
    """benchmark.py --app times this helper. An ensemble's answer shows its members' P(...) as well as its own."""
    image = tmp_path / "slice.png"
    image.write_bytes(png_bytes(64))
    weights = write_tiny_weights(tmp_path / "weights", router_says="ct")  # the tiny CT model is an ensemble
    with StreamlitServer(weights=weights, log=tmp_path / "streamlit.log", env={"OMP_NUM_THREADS": "1"}) as running, \
            sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            classify_in_browser(page, running.url, image)
            # The members' line is drawn after the answer, and while the script reruns Streamlit can show the
            # previous run's copy beside the new one: `expect` retries until there is exactly one, where a
            # count() read once (or a strict wait_for meeting two copies) failed on a busy machine.
            members = page.get_by_text(re.compile(r"is an ensemble of 2 models\. On their own they gave "
                                                  r"P\(\w+\) = \d+\.\d%, \d+\.\d%;"))
            sync_api.expect(members).to_have_count(1, timeout=30_000)
            # The page's last element (after Grad-CAM): once it is drawn the run is over, so an exception
            # cannot appear after we looked for it.
            sync_api.expect(page.get_by_role("button", name="Result (JSON)")).to_be_visible(timeout=30_000)
            sync_api.expect(page.get_by_test_id("stException")).to_have_count(0)
        finally:
            browser.close()


def test_the_gan_lab_trains_on_its_own_until_paused(server):
    """The live loop is a timed fragment: only a real browser session runs it."""
    steps = re.compile(r"step ([\d,]+) ·")

    def step_count(page) -> int:
        return int(steps.search(page.get_by_test_id("stProgress").inner_text()).group(1).replace(",", ""))

    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server}/gan_lab", timeout=30_000)
            page.get_by_role("button", name="Train").click(timeout=30_000)
            page.get_by_role("button", name="Pause").wait_for(timeout=30_000)
            page.wait_for_function("() => /step [1-9]/.test(document.body.innerText)", timeout=30_000)
            first = step_count(page)
            page.wait_for_function(f"() => {{ const m = document.body.innerText.match(/step ([\\d,]+) ·/);"
                                   f" return m && parseInt(m[1].replace(/,/g, '')) > {first}; }}", timeout=30_000)
            page.get_by_role("button", name="Pause").click()
            page.get_by_role("button", name="Train").wait_for(timeout=30_000)
            # The tick that was running when Pause was pressed may still draw its count, late on a busy
            # machine; after that the count must stay put (a running loop would add steps every 0.5 s).
            counts = [step_count(page)]
            for _ in range(8):
                page.wait_for_timeout(1500)
                counts.append(step_count(page))
                if counts[-1] == counts[-2]:
                    break
            assert counts[-1] == counts[-2], f"still training after Pause: step counts {counts}"
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
