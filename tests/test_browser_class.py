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


def titles(links) -> list[str]:
    return [text.split("\n")[-1] for text in links.all_inner_texts()]  # each link's text after its icon's name


def test_home_shows_every_page_in_the_sidebars_order_on_one_screen(server, browser, tmp_path):
    """A newcomer sees what each page does at a glance, in the order of the sidebar (it was a 5,200-px scroll, in
    another order), on a laptop's screen."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server, timeout=60_000)
    links = page.get_by_test_id("stMain").get_by_test_id("stPageLink")
    links.last.wait_for(timeout=60_000)
    page.screenshot(path=tmp_path / "home.png")
    sidebar = titles(page.get_by_test_id("stSidebarNavLink"))
    assert sidebar[0] == "Home" and titles(links) == sidebar[1:]
    last = links.last.bounding_box()
    assert last["y"] + last["height"] <= 800, f"the last page's line is at {last['y']:.0f} px"
    page.close()


def open_map(browser, server):
    page = browser.new_page(**PROJECTOR)
    page.goto(f"{server}/latent_space", timeout=60_000)
    page.get_by_text("Map", exact=True).click(timeout=60_000)
    page.locator(".js-plotly-plot .scatterlayer path.point").first.wait_for(timeout=60_000)
    return page


@pytest.mark.parametrize("how", ["click", "box"])
def test_a_point_of_the_latent_map_chosen_by_click_or_box_is_decoded(server, browser, how, tmp_path):
    """The caption promises both; the endoscopy VAE's shipped map (its default model)."""
    page = open_map(browser, server)
    area = page.locator(".js-plotly-plot .nsewdrag").first
    area.scroll_into_view_if_needed()
    plot = area.bounding_box()
    if how == "click":
        point = page.locator(".js-plotly-plot .scatterlayer path.point").nth(5)
        point.scroll_into_view_if_needed()
        box = point.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    else:  # the box tool, then a box over the whole plot area in view, from corner to corner
        page.locator(".js-plotly-plot").first.hover()  # the tool bar shows on hover
        page.locator('.modebar-btn[data-title="Box Select"]').first.click()
        top, bottom = max(plot["y"], 0) + 5, min(plot["y"] + plot["height"], PROJECTOR["viewport"]["height"]) - 5
        page.mouse.move(plot["x"] + 5, top)
        page.mouse.down()
        page.mouse.move(plot["x"] + plot["width"] - 5, bottom, steps=8)
        page.mouse.up()
    decoded = page.get_by_text(re.compile(r"^decoded from image \d+'s code$"))
    try:
        decoded.wait_for(timeout=30_000)
    finally:
        page.screenshot(path=tmp_path / f"latent-map-{how}.png", full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
