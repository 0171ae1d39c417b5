"""Screenshots of the Classify and Evaluate pages, for the README: docs/screenshot-classify.png and
docs/screenshot-evaluate.png.

    python scripts/screenshots.py                       # the shipped weights in weights/
    python scripts/screenshots.py --image chest.jpeg    # a chest X-ray of your choice
    python scripts/screenshots.py --tiny                # tiny untrained test models: checks the script only

Starts `streamlit run app.py` on a free port (MEDLAB_WEIGHTS=--weights), drives Debian's Chromium
(`apt-get install chromium`; Playwright's own browsers are never downloaded) through Playwright,
uploads the image on Classify (default: the first pneumonia image of the chest_xray test split under
$MEDLAB_DATA or ../shared/data) and saves each page whole. Run it again after retraining: the
pictures then show the new figures.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
import weights_dir  # noqa: E402
from browser import CHROMIUM, StreamlitServer, classify_in_browser, launch_chromium  # noqa: E402

WIDTH = 1440  # a projector's width; the wide layout uses it


def default_image() -> Path | None:
    root = Path(os.environ.get("MEDLAB_DATA", ROOT.parent / "shared" / "data"))
    found = sorted((root / "chest_xray" / "test" / "PNEUMONIA").glob("*.jpeg"))
    return found[0] if found else None


def whole_page(page, path: Path) -> None:
    """Streamlit scrolls inside its main block, not the window: grow the window to fit, then shoot."""
    time.sleep(1.5)  # let the charts finish their transitions
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": max(900, int(height) + 40)})
    time.sleep(1.0)
    page.screenshot(path=str(path))
    print(f"wrote {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=weights_dir.root())
    parser.add_argument("--image", type=Path, help="the image to classify (default: a chest_xray test image)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--tiny", action="store_true", help="use tiny untrained test models instead of --weights")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    args.image = args.image or default_image()
    if args.image is None:
        sys.exit("no chest X-ray found under $MEDLAB_DATA or ../shared/data: pass --image")
    with tempfile.TemporaryDirectory(prefix="medlab-screenshots-") as work:
        shoot(args, Path(work))


def shoot(args, work: Path) -> None:
    from playwright.sync_api import sync_playwright

    from inference import CLASSIFIERS, ROUTER

    if args.tiny:
        from tests.test_app import write_tiny_weights

        args.weights = write_tiny_weights(work / "weights")
    missing = [name for name in (ROUTER, *CLASSIFIERS.values()) if not (args.weights / name / "config.json").is_file()]
    if missing:
        sys.exit(f"{args.weights} lacks {', '.join(missing)}: train them first (or try --tiny)")
    args.out.mkdir(parents=True, exist_ok=True)

    with StreamlitServer(weights=args.weights.resolve(), log=work / "streamlit.log") as server, \
            sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})

        classify_in_browser(page, server.url, args.image)
        page.locator('[data-testid="stImage"] img').first.wait_for(timeout=30_000)
        whole_page(page, args.out / "screenshot-classify.png")

        page.set_viewport_size({"width": WIDTH, "height": 900})
        page.goto(f"{server.url}/evaluate")  # shows the first evaluated model: cxr-pneumonia
        page.locator(".js-plotly-plot").last.wait_for(timeout=60_000)
        whole_page(page, args.out / "screenshot-evaluate.png")
        browser.close()


if __name__ == "__main__":
    main()
