"""Speed and memory of the shipped classifier paths on this machine; prints figures as Markdown.

    python benchmark.py --data-root ../shared/data [--repeats 50] [--app]

Measures, on the CPU with 2 threads: one prediction (the classifier alone, and the whole routed
path: read the file, recognise the modality, classify), a batch of 32, Grad-CAM, and peak memory.
With --sr, only super-resolution instead: a 512x512 photo (a crop of Set14's img_002) made
2048x2048 by bicubic, srresnet-x4 and srgan-x4 through `superres.upscale`, tiles and all (and SRResNet
with its x8 self-ensemble, the page's option).
With --sr-memory MODEL ..., the peak memory of one upscale at 512x512 and at the largest accepted inputs.
With --ct, the same figures for the COVID CT path (covid-ct) instead; with --segment, the polyp segmenter's.
With --latent MODEL ..., only the decoding of one code by each latent model (the Latent page's sliders).
With --app it also starts `streamlit run app.py`, opens it in headless Chromium, uploads an image
and times start to first shown prediction. Copy the output into BENCHMARKS.md.
"""
import argparse
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

import data
import inference
from images import read_image, to_tensor


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: first calls allocate and pick kernels
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def row(name: str, ms: list[float]) -> str:
    p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
    return f"| {name} | {p50:.1f} | {p95:.1f} | {len(ms)} |"


# What each classifier path is timed on: its model, and the first test image of one class (real, so that the
# routed path goes all the way through the recognizer to the classifier, as a user's upload does).
PATHS = {"chest_xray": ("cxr-pneumonia", "chest_xray/test/PNEUMONIA", "*.jpeg", "chest X-ray"),
         "ct": ("covid-ct", "covid_ct/test/CT_COVID", "*.png", "CT slice")}


def sample_image(data_root: str | None, modality: str = "chest_xray") -> bytes:
    folder, pattern = PATHS[modality][1:3]
    found = sorted((data.data_root(data_root) / folder).glob(pattern))
    if not found:
        raise SystemExit(f"no {folder} images under the data root: pass --data-root")
    return found[0].read_bytes()


def app_start_to_first_prediction(png: bytes) -> float:
    """Seconds from `streamlit run` to the first prediction shown in a browser (a cold server)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from browser import StreamlitServer, classify_in_browser, launch_chromium

    with tempfile.TemporaryDirectory() as work, sync_playwright() as p:
        image = Path(work) / "sample.jpeg"
        image.write_bytes(png)
        browser = launch_chromium(p)  # started first: the browser's own start-up is not the app's
        page = browser.new_page()
        start = time.perf_counter()
        with StreamlitServer() as server:
            classify_in_browser(page, server.url, image, timeout_ms=120_000)
            seconds = time.perf_counter() - start
        browser.close()
    return seconds


def super_resolution(data_root: str | None, repeats: int) -> None:
    """Seconds for a 512x512 input to become 2048x2048, as the page and predict.py do it (target <= 10 s)."""
    import superres

    found = data.data_root(data_root) / "sr/Set14/x4/img_002_SRF_4_HR.png"
    if not found.is_file():
        raise SystemExit(f"{found} is missing: pass --data-root")
    image = read_image(found)
    image.pixels = image.pixels[:512, :512]
    print(f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; {repeats} repeats after one warm-up; input 512x512 RGB -> 2048x2048.\n")
    # CPU seconds (all threads) as well as wall-clock: on a machine shared with other jobs the wall
    # clock measures the queue; CPU time / threads is what the same work takes on idle cores.
    print("| what | p50 s (wall) | max s (wall) | p50 CPU s, all threads | runs |\n|---|---|---|---|---|")
    ways = [("bicubic", False), *((method, False) for method in superres.MODELS), ("srresnet", True)]
    for method, self_ensemble in ways:  # the self-ensemble (8 passes) once, for SRResNet: the page's option
        model = None if method == "bicubic" else inference.load_model(superres.MODELS[method])
        tiles = ""
        if model is not None:
            passes = superres.passes(model)
            tiles = f", {model.config.tile}-px tiles + {model.config.overlap}-px overlap" + (
                ", x8 self-ensemble" if self_ensemble else f", its default of {passes} passes" if passes > 1 else "")
        cpu = []

        def run():
            start = time.process_time()
            superres.upscale(image, model, self_ensemble=self_ensemble)
            cpu.append(time.process_time() - start)

        seconds = [ms / 1000 for ms in timed(run, repeats)]
        print(f"| {method}{tiles} | {np.percentile(seconds, 50):.2f} | {max(seconds):.2f} | "
              f"{np.percentile(cpu[1:], 50):.2f} | {len(seconds)} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak resident memory of this process: {peak:.0f} MB.")


SR_MEMORY = """
import resource, sys, time
sys.path[:0] = [{root!r}]
import numpy as np, torch
torch.set_num_threads(1)
import inference, superres
from images import LoadedImage
def resident():  # MB now (not the peak)
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2 ** 20
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
yy, xx = np.mgrid[:{height}, :{width}].astype(np.float32)
pixels = np.stack([0.5 + 0.4 * np.sin(xx / 7), 0.5 + 0.4 * np.cos(yy / 5), 0.5 + 0.3 * np.sin((xx + yy) / 11)], -1)
image = LoadedImage(pixels=pixels.astype(np.float32), name="photo", format="PNG", grayscale=False, bit_depth=8)
model = inference.load_model({model!r})
superres.upscale(LoadedImage(pixels=pixels[:64, :64], name="warm", format="PNG", grayscale=False, bit_depth=8), model)
before, started = resident(), time.perf_counter()
if {restore!r}:
    original, small = superres.shrink(image)
    image = LoadedImage(pixels=small, name="photo", format="PNG", grayscale=False, bit_depth=8)
out = superres.upscale(image, model)
png = superres.png_bytes(out)
if {restore!r}:
    scores = superres.compare(out, original)
seconds = time.perf_counter() - started
del out
print(f"{{max(peak() - before, 0):.0f}} {{resident() - before:.0f}} {{seconds:.1f}}")
"""


def super_resolution_memory(names: list[str]) -> None:
    """Peak memory of one upscale, above the process's footprint with the model loaded and warm: the
    page's work for the largest inputs (upscale, the PNG download; for 'downscale then restore' also
    the scores against the original), each case in a fresh process so one peak does not hide another."""
    import subprocess
    import sys

    import superres

    print(f"Machine: {platform.processor() or platform.machine()}, 1 torch thread, torch {torch.__version__}; a "
          "synthetic colour photo; one run per case in a fresh process.\n")
    print("| model | input | what | peak above idle (MB) | left allocated after (MB) | seconds |\n|---|---|---|---|---|---|")
    side = int(superres.MAX_INPUT_PIXELS ** 0.5)
    cases = [(512, 512, False), (side, side, False), (2 * side, side // 2, False), (4 * side, 4 * side, True)]
    for name in names:
        model = inference.load_model(name)
        tiles = f"{model.config.tile}-px tiles, {superres.passes(model)} pass(es)"
        for width, height, restore in cases:
            code = SR_MEMORY.format(root=str(Path(__file__).resolve().parent), height=height, width=width,
                                    model=name, restore=restore)
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            peak, left, seconds = done.stdout.split()
            what = (f"restore: {width}x{height} original, x4 smaller, upscaled, scored" if restore
                    else f"upscale to {4 * width}x{4 * height}, PNG")
            print(f"| {name} ({tiles}) | {width}x{height} | {what} | {peak} | {left} | {seconds} |")


def latent_decode(repeats: int, names: list[str]) -> None:
    """Milliseconds to decode one code, as the Latent page's sliders do on every move (target < 100 ms), on
    the torch threads the app's server uses (limits.INFERENCE_THREADS)."""
    import limits

    torch.set_num_threads(limits.INFERENCE_THREADS)
    print(f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; {repeats} repeats after one warm-up; one code decoded per call.\n")
    print("| what | p50 ms | p95 ms | runs |\n|---|---|---|---|")
    for name in names:
        model = inference.load_model(name)
        code = model.noise(1, generator=torch.Generator().manual_seed(0))
        labels = torch.zeros(1, dtype=torch.long) if getattr(model.config, "conditional", False) else None
        size = model.decode(code, labels).shape[-1]
        print(row(f"{name}: decode one {code.shape[1]}-D code to {size}x{size}",
                  timed(lambda: model.decode(code, labels), repeats)))


def segmentation(data_root: str | None, repeats: int) -> None:
    """Milliseconds to segment one Kvasir-SEG test frame with the shipped polyp segmenter (target <= 300 ms),
    the network alone and the routed path (read, recognise, segment)."""
    name = inference.SEGMENTERS["endoscopy"]
    frames = sorted((data.data_root(data_root) / "kvasir_seg/images").glob("*.jpg"))
    if not frames:
        raise SystemExit("no kvasir_seg/images under the data root: pass --data-root")
    raw = frames[0].read_bytes()
    image = read_image(raw, name=frames[0].name)
    model = inference.load_model(name)
    x = to_tensor(image, channels=3)
    print(f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; {repeats} repeats after one warm-up.\n")
    print("| what | p50 ms | p95 ms | runs |\n|---|---|---|---|")
    print(row(f"{name}, one {image.pixels.shape[1]}x{image.pixels.shape[0]} frame", timed(lambda: model.predict(x), repeats)))
    print(row("routed path: read the file, recognise modality, segment", timed(
        lambda: inference.segment(read_image(raw, name=frames[0].name)), repeats)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak resident memory of this process: {peak:.0f} MB.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--app", action="store_true", help="also time app start to first prediction (needs chromium)")
    parser.add_argument("--data-root", help="where chest_xray/ is (default: $MEDLAB_DATA)")
    parser.add_argument("--sr", action="store_true",
                        help="benchmark super-resolution x4 instead (a tenth of --repeats, at least 1: each run takes seconds)")
    parser.add_argument("--sr-memory", nargs="+", metavar="MODEL",
                        help="peak memory of one upscale by these super-resolution models at 512x512, the largest "
                             "accepted inputs, and 'downscale then restore' of the largest original")
    parser.add_argument("--ct", action="store_true", help="the COVID CT path (covid-ct) instead of the chest X-ray one")
    parser.add_argument("--segment", action="store_true", help="the polyp segmenter instead (one colonoscopy frame)")
    parser.add_argument("--latent", nargs="+", metavar="MODEL",
                        help="benchmark decoding one code with these latent models instead (the Latent page's sliders)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.latent:
        return latent_decode(args.repeats, args.latent)
    if args.sr_memory:
        return super_resolution_memory(args.sr_memory)
    if args.sr:
        return super_resolution(args.data_root, max(1, args.repeats // 10))
    if args.segment:
        return segmentation(args.data_root, args.repeats)

    modality = "ct" if args.ct else "chest_xray"
    name, _, pattern, what = PATHS[modality]
    png, filename = sample_image(args.data_root, modality), "sample" + pattern[1:]
    image = read_image(png, name=filename)
    model = inference.load_model(name)
    x = to_tensor(image, channels=1)
    batch = x.expand(32, -1, -1, -1).contiguous()
    if inference.classify(image).refusal:  # also loads the recognizer
        raise SystemExit(f"the sample {what} was refused: the routed path would not reach the classifier")

    print(f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; {args.repeats} repeats after one warm-up.\n")
    print("| what | p50 ms | p95 ms | runs |\n|---|---|---|---|")
    print(row(f"{name}, one {image.pixels.shape[1]}x{image.pixels.shape[0]} {what}", timed(lambda: model.predict(x), args.repeats)))
    print(row("routed path: read the file, recognise modality, classify", timed(
        lambda: inference.classify(read_image(png, name=filename)), args.repeats)))
    ms = timed(lambda: model.predict(batch), max(5, args.repeats // 5))
    print(row(f"{name}, batch of 32", ms))
    print(f"| (per image in the batch) | {np.percentile(ms, 50) / 32:.1f} | | |")
    print(row("Grad-CAM, one image", timed(lambda: inference.explain(image, name), args.repeats)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak resident memory of this process: {peak:.0f} MB.")
    if args.app:
        seconds = app_start_to_first_prediction(png)
        print(f"App start to first prediction (streamlit run, headless Chromium, upload, result shown): {seconds:.1f} s.")


if __name__ == "__main__":
    main()
