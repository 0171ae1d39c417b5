"""Load test: a class of students using the hosted lab at once, in real browsers or through the API.

    python scripts/loadtest.py streamlit --sessions 8 --duration 120 --actions classify,segment
    python scripts/loadtest.py gradio --sessions 8 --duration 120 --actions classify,segment
    python scripts/loadtest.py streamlit --sessions 2 --duration 20        # a quick check of the harness
    python scripts/loadtest.py streamlit --sessions 4 --trainers 4 --actions classify   # with GAN-lab trainers
    python scripts/loadtest.py gradio --sessions 4 --upscalers 2 --actions classify      # with megapixel upscales

streamlit: starts `streamlit run app.py` on a free local port (browser.StreamlitServer) and opens
--sessions browser contexts in one headless Debian Chromium (Playwright). Each is a visitor of its own
(own cookies, own Streamlit session) who, until --duration seconds are up, opens the action's page, uploads
an image through the browser's file input and waits for the answer, then starts again with the next action.
gradio: starts `python gradio_app.py` on a free local port; --sessions threads, each its own gradio_client,
call the action's endpoint in the same loop.

Images are real: the chest_xray test split and the Kvasir-SEG validation list under --data-root
($MEDLAB_DATA). The action `hostile` uploads the files of tests/hostile.py and counts an answer as right
when it is the file's own error message. Everything stays on 127.0.0.1; both loops end by themselves.

Printed at the end: requests and latency (p50, p95, max; from upload to answer shown) per action, errors,
the server's peak resident memory (VmHWM, /proc), and how often each model was loaded (the server's
"loaded model" log lines; every model must be loaded once). The exit status is 1 if there was an error or
a model loaded twice. Copy the output into RELIABILITY.md, with the command.

--trainers K (streamlit only) adds K more visitors who train on the GAN lab page the whole time (Train,
and Reset + Train whenever a run has spent its LIVE_TRAINING_SECONDS): what a class training GANs costs the
visitors who are classifying. The report adds the training steps the trainers made. --background-nice N runs
the trainers' and upscalers' browser (a second Chromium) at that niceness: here the browsers share the server's
cores, while on a hosted Space each visitor's browser is on their own machine; at 19 it gets what the server
and the measured visitors' browser leave. --warmup S starts the trainers and upscalers S seconds before the
measured visitors (eight GAN-lab pages loading at once is a burst of its own, not the steady load).

--upscalers K adds K more visitors who upscale the largest image super-resolution accepts (1024 x 1024, made
from Set14's first high-resolution image) the whole time, on the Super-resolution page or the API's /upscale
(SRResNet); an upscale still running at the end is abandoned. The report adds how many each finished.

To add an action (e.g. the SR page's "upscale"), add one `Action` to ACTIONS.
"""
import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
import limits  # noqa: E402
from browser import CHROMIUM_ARGS, CHROMIUM, StreamlitServer, free_port  # noqa: E402

LOADED = re.compile(r"loaded model (\S+) \((\S+)\)")  # inference.py's log line, one per model load
TIMEOUT_S = 180  # one request; far beyond any p95 here: a request this slow counts as an error


@dataclass(frozen=True)
class Action:
    """One thing a visitor does: a page (browser) or endpoint (API), its inputs, and how its answer looks."""
    page: str  # the app's URL path, e.g. "classify"
    endpoint: str  # the Gradio API's api_name
    inputs: Callable[[Path], list[Path]]  # data root -> the image files to upload, in turn
    answer: str  # regular expression for the page's text once the answer is shown


def chest_xrays(root: Path) -> list[Path]:
    return sorted((root / "chest_xray/test/NORMAL").glob("*.jpeg"))[:10] + \
           sorted((root / "chest_xray/test/PNEUMONIA").glob("*.jpeg"))[:10]


def colonoscopy_frames(root: Path) -> list[Path]:
    ids = (root / "kvasir_seg/splits/val.txt").read_text().split()[:20]
    return [root / "kvasir_seg/images" / f"{i}.jpg" for i in ids]


def small_images(root: Path) -> list[Path]:
    return sorted((root / "sr/Set14/x4").glob("*_LR.png"))


def largest_upscale(root: Path) -> Path:
    """Set14's first high-resolution image resized to 1024 x 1024: the most pixels super-resolution accepts."""
    from PIL import Image

    path = Path(tempfile.mkdtemp(prefix="medlab-largest-")) / "largest-1024.png"
    Image.open(root / "sr/Set14/x4/img_001_SRF_4_HR.png").convert("RGB").resize((1024, 1024), Image.BICUBIC).save(path)
    return path


def hostile_files(_root: Path, folder: Path | None = None) -> list[Path]:
    from tests.hostile import refused

    folder = folder or Path(tempfile.mkdtemp(prefix="medlab-hostile-"))
    for case in refused():
        (folder / case.name).write_bytes(case.data)
    return [folder / case.name for case in refused()]


ACTIONS = {
    "classify": Action("classify", "/classify", chest_xrays, r"P\(\w+\) = \d+\.\d%"),
    "segment": Action("classify", "/segment", colonoscopy_frames, r"^(Polyp found|No polyp found)$"),
    "upscale": Action("super_resolution", "/upscale", small_images, r"^\d+x\d+ (->|→) \d+x\d+ pixels; .+\.$"),  # Streamlit draws -> as an arrow
    "hostile": Action("classify", "/classify", hostile_files, ""),  # the answer is the file's own error
}


@dataclass
class Tally:
    latencies: dict = field(default_factory=dict)  # action -> [seconds]
    errors: list = field(default_factory=list)  # (action, file, what went wrong)
    trained: list = field(default_factory=list)  # GAN-lab training steps, one entry per trainer
    upscaled: list = field(default_factory=list)  # finished upscales of the largest image, one entry per upscaler
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, action: str, seconds: float) -> None:
        with self.lock:
            self.latencies.setdefault(action, []).append(seconds)

    def error(self, action: str, file: Path, what: str) -> None:
        with self.lock:
            self.errors.append((action, file.name, what[:300]))


# The file past the upload limit never reaches the lab's code: Streamlit's uploader and gradio_client refuse it.
TOO_BIG = {"streamlit": f"File must be {limits.MAX_UPLOAD_BYTES / 2**20:.1f}MB or smaller.",
           "gradio": f"exceeds the maximum file size of {limits.MAX_UPLOAD_BYTES} bytes"}


def expected_error(file: Path, surface: str) -> str:
    """What the visitor must be told about a hostile file: its own error message."""
    from tests.hostile import corpus

    if file.name == "huge.png":
        return TOO_BIG[surface]
    return next(case.expect for case in corpus() if case.name == file.name)


# -- the browser sessions ---------------------------------------------------------------------------------


async def browser_visitor(context, url: str, plan: list[tuple[str, Path]], deadline: float, tally: Tally) -> None:
    from playwright.async_api import Error as PlaywrightError

    page = await context.new_page()
    i = 0
    while time.monotonic() < deadline:
        name, file = plan[i % len(plan)]
        i += 1
        action = ACTIONS[name]
        try:
            await page.goto(f"{url}/{action.page}", timeout=TIMEOUT_S * 1000)
            uploader = page.locator('input[type="file"]')
            await uploader.wait_for(state="attached", timeout=TIMEOUT_S * 1000)
            started = time.monotonic()
            await uploader.set_input_files(file, timeout=TIMEOUT_S * 1000)
            if name == "hostile" and file.name == "huge.png":
                shown = page.get_by_text(expected_error(file, "streamlit"))
            elif name == "hostile":
                shown = page.locator('[data-testid="stAlertContentError"]').filter(
                    has_text=expected_error(file, "streamlit"))
            else:
                shown = page.get_by_text(re.compile(action.answer))
            # Anything else the page may end with: a crash, or (for a real image) a refusal or a read error.
            other = page.locator('[data-testid="stException"]')
            if name != "hostile":
                other = other.or_(page.locator('[data-testid="stAlertContentError"]')).or_(
                    page.locator('[data-testid="stAlertContentWarning"]'))
            await shown.or_(other).first.wait_for(timeout=TIMEOUT_S * 1000)
            if await shown.count():
                tally.ok(name, time.monotonic() - started)
            else:
                tally.error(name, file, "the page shows: " + (await other.first.inner_text()))
        except PlaywrightError as error:
            tally.error(name, file, f"{type(error).__name__}: {str(error).splitlines()[0]}")
    await page.close()


STEPS = re.compile(r"step ([\d,]+) ·")  # the GAN lab's progress text


async def gan_trainer(context, url: str, deadline: float, tally: Tally) -> None:
    """A visitor training on the GAN lab until the deadline; their steps are added to tally.trained."""
    from playwright.async_api import Error as PlaywrightError

    page = await context.new_page()
    steps = 0
    try:
        await page.goto(f"{url}/gan_lab", timeout=TIMEOUT_S * 1000)
        while time.monotonic() < deadline:
            train = page.get_by_role("button", name="Train")
            await train.wait_for(timeout=TIMEOUT_S * 1000)
            if await train.is_disabled():  # this run's training time is spent: a new run
                steps += await shown_steps(page)
                await page.get_by_role("button", name="Reset").click()
                await page.wait_for_function("() => /step 0 ·/.test(document.body.innerText)",
                                             timeout=TIMEOUT_S * 1000)
                continue
            await train.click()
            pause = page.get_by_role("button", name="Pause")
            await pause.wait_for(timeout=TIMEOUT_S * 1000)
            while time.monotonic() < deadline and await pause.count():
                await asyncio.sleep(1)
        steps += await shown_steps(page)
    except PlaywrightError as error:
        tally.error("gan_lab", Path("gan_lab"), f"{type(error).__name__}: {str(error).splitlines()[0]}")
    with tally.lock:
        tally.trained.append(steps)
    await page.close()


async def shown_steps(page) -> int:
    found = STEPS.search(await page.get_by_test_id("stProgress").inner_text())
    return int(found.group(1).replace(",", "")) if found else 0


async def browser_upscaler(context, url: str, file: Path, tally: Tally) -> None:
    """A visitor upscaling `file` on the Super-resolution page, again and again, until cancelled at the deadline."""
    page = await context.new_page()
    done = 0
    try:
        while True:
            await page.goto(f"{url}/super_resolution", timeout=TIMEOUT_S * 1000)
            uploader = page.locator('input[type="file"]')
            await uploader.wait_for(state="attached", timeout=TIMEOUT_S * 1000)
            await uploader.set_input_files(file)
            await page.get_by_text(re.compile(ACTIONS["upscale"].answer)).wait_for(timeout=3600_000)
            done += 1
    finally:
        with tally.lock:
            tally.upscaled.append(done)


async def until(deadline: float, work) -> None:
    """Run `work` until the deadline, then cancel it: background load, not measured."""
    try:
        await asyncio.wait_for(work, timeout=max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        pass


async def run_browsers(url: str, plans: list[list[tuple[str, Path]]], duration: float, tally: Tally,
                       trainers: int = 0, upscalers: list[Path] = (), nice: int | None = None,
                       warmup: float = 0) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        background = browser if nice is None else await p.chromium.launch(executable_path=niced(nice), args=CHROMIUM_ARGS)
        contexts = [await browser.new_context(viewport={"width": 1280, "height": 900}) for _ in plans]
        extra = [await background.new_context(viewport={"width": 1280, "height": 900})
                 for _ in range(trainers + len(upscalers))]
        deadline = time.monotonic() + warmup + duration  # the background visitors start `warmup` seconds early
        started = [asyncio.ensure_future(work) for work in (
            *(gan_trainer(c, url, deadline, tally) for c in extra[:trainers]),
            *(until(deadline, browser_upscaler(c, url, f, tally)) for c, f in zip(extra[trainers:], upscalers)))]
        if started:
            await asyncio.sleep(warmup)
        await asyncio.gather(*(browser_visitor(c, url, plan, deadline, tally) for c, plan in zip(contexts, plans)),
                             *started)
        await browser.close()
        if background is not browser:
            await background.close()


def niced(nice: int) -> str:
    """A Chromium that starts at niceness `nice` (a wrapper script; Playwright takes one executable)."""
    wrapper = Path(tempfile.mkdtemp(prefix="medlab-nice-")) / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {nice} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def streamlit_run(args, plans, tally: Tally, log: Path) -> int:
    env = {"MEDLAB_THREADS": str(args.threads), "MEDLAB_MAX_INFERENCES": str(args.max_inferences)}
    with StreamlitServer(log=log, env=env, timeout_s=120) as server:
        asyncio.run(run_browsers(server.url, plans, args.duration, tally, args.trainers, args.upscaler_files,
                                 args.background_nice, args.warmup))
        return peak_rss_mb(server.process.pid)


# -- the API callers ----------------------------------------------------------------------------------------


def api_caller(url: str, plan: list[tuple[str, Path]], deadline: float, tally: Tally) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, analytics_enabled=False, download_files=tempfile.mkdtemp(prefix="medlab-"))
    i = 0
    while time.monotonic() < deadline:
        name, file = plan[i % len(plan)]
        i += 1
        started = time.monotonic()
        try:
            answer = client.predict(handle_file(str(file)), api_name=ACTIONS[name].endpoint)
        except Exception as error:  # noqa: BLE001 (the API's refusals arrive as exceptions)
            if name == "hostile" and expected_error(file, "gradio") in str(error):
                tally.ok(name, time.monotonic() - started)
            else:
                tally.error(name, file, f"{type(error).__name__}: {error}")
            continue
        result = answer[0] if isinstance(answer, (list, tuple)) else answer
        if name == "hostile" or "error" in result:
            tally.error(name, file, f"unexpected answer {json.dumps(result)[:200]}")
        else:
            tally.ok(name, time.monotonic() - started)


def api_upscaler(url: str, file: Path, deadline: float, tally: Tally) -> None:
    """A caller upscaling `file` through /upscale again and again; a daemon thread, abandoned at the deadline."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, analytics_enabled=False, download_files=tempfile.mkdtemp(prefix="medlab-"))
    with tally.lock:
        tally.upscaled.append(0)
        mine = len(tally.upscaled) - 1
    while time.monotonic() < deadline:
        try:
            client.predict(handle_file(str(file)), api_name="/upscale")
        except Exception:  # noqa: BLE001 (the server stopped at the end of the run)
            return
        if time.monotonic() < deadline:
            with tally.lock:
                tally.upscaled[mine] += 1


def gradio_run(args, plans, tally: Tally, log: Path) -> int:
    port = free_port()
    env = {**os.environ, "MEDLAB_THREADS": str(args.threads), "MEDLAB_MAX_INFERENCES": str(args.max_inferences),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "gradio_app.py", "--port", str(port)], cwd=ROOT, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, server)
        deadline = time.monotonic() + (args.warmup if args.upscaler_files else 0) + args.duration
        for file in args.upscaler_files:
            threading.Thread(target=api_upscaler, args=(url, file, deadline, tally), daemon=True).start()
        time.sleep(args.warmup if args.upscaler_files else 0)
        threads = [threading.Thread(target=api_caller, args=(url, plan, deadline, tally)) for plan in plans]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return peak_rss_mb(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the process group we started, nothing else
        server.wait(timeout=30)


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the Gradio API did not start within {timeout_s:.0f} s")


# -- figures --------------------------------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in MiB; read before it is stopped."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) // 1024


def machine() -> str:
    """What else was running: the load average and the busiest other processes, for the record."""
    load = Path("/proc/loadavg").read_text().split()[:3]
    ps = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu", "--no-headers"], capture_output=True, text=True)
    busy = [line.strip()[:110] for line in ps.stdout.splitlines() if float(line.split()[0]) >= 20]
    return f"load average {' '.join(load)}; {os.cpu_count()} cores; busy processes: " + ("; ".join(busy) or "none")


def report(args, tally: Tally, peak_mb: int, log: Path, seconds: float, before: str) -> int:
    loads = Counter(LOADED.findall(log.read_text()))
    print(f"## {args.surface}: {args.sessions} {'browser sessions' if args.surface == 'streamlit' else 'API callers'}, "
          f"{args.duration:.0f} s, actions {','.join(args.actions)}"
          + (f", and {args.trainers} GAN-lab trainers" if args.trainers else "")
          + (f", and {args.upscalers} visitors upscaling a 1024 x 1024 image" if args.upscalers else "")
          + (f" (their browser at niceness {args.background_nice})" if args.background_nice is not None else ""))
    print(f"command: python scripts/loadtest.py {' '.join(sys.argv[1:])}")
    print(f"server: {args.threads} torch thread(s) per model call, at most {args.max_inferences} model calls at once")
    print(f"machine at the start: {before}")
    print()
    print("| action | answers | p50 (s) | p95 (s) | max (s) | errors |")
    print("|---|---|---|---|---|---|")
    everything = []
    for name in args.actions:
        ms = tally.latencies.get(name, [])
        everything += ms
        errors = sum(1 for e in tally.errors if e[0] == name)
        figures = f"{np.percentile(ms, 50):.2f} | {np.percentile(ms, 95):.2f} | {max(ms):.2f}" if ms else "- | - | -"
        print(f"| {name} | {len(ms)} | {figures} | {errors} |")
    if everything:
        print(f"| all | {len(everything)} | {np.percentile(everything, 50):.2f} | {np.percentile(everything, 95):.2f} | "
              f"{max(everything):.2f} | {len(tally.errors)} |")
    print()
    print(f"throughput: {len(everything) / args.duration * 60:.0f} answers a minute; server peak RSS {peak_mb} MiB; "
          f"{seconds:.0f} s from server start to stop")
    if args.trainers:
        print(f"GAN-lab training steps per trainer: {', '.join(f'{n:,}' for n in tally.trained)} "
              f"(each run stops after {limits.LIVE_TRAINING_SECONDS} s of its own training)")
    if args.upscalers:
        print(f"upscales of the 1024 x 1024 image finished per upscaler: {', '.join(map(str, tally.upscaled))} "
              "(one still running at the end is not counted)")
    print("model loads: " + (", ".join(f"{name} ({source}) x{n}" for (name, source), n in sorted(loads.items()))
                             or "none logged"))
    for action, file, what in tally.errors[:20]:
        print(f"error: {action} {file}: {what}")
    twice = [key for key, n in loads.items() if n > 1]
    return 1 if tally.errors or twice or not loads else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("surface", choices=["streamlit", "gradio"])
    p.add_argument("--sessions", type=int, default=8, help="visitors at once: browser contexts or API clients")
    p.add_argument("--duration", type=float, default=120, help="seconds of load")
    p.add_argument("--actions", default="classify,segment", help=f"comma-separated, from: {', '.join(ACTIONS)}")
    p.add_argument("--trainers", type=int, default=0, help="streamlit only: visitors training on the GAN lab meanwhile")
    p.add_argument("--upscalers", type=int, default=0, help="visitors upscaling the largest accepted image meanwhile")
    p.add_argument("--warmup", type=float, default=0, help="seconds the trainers and upscalers start before the "
                                                              "measured visitors (their pages' first loads)")
    p.add_argument("--background-nice", type=int, help="streamlit only: the trainers' and upscalers' browser at "
                                                          "this niceness (their own machines, on a Space)")
    p.add_argument("--data-root", help="data root (default: $MEDLAB_DATA)")
    p.add_argument("--threads", type=int, default=limits.INFERENCE_THREADS, help="the server's MEDLAB_THREADS")
    p.add_argument("--max-inferences", type=int, default=limits.MAX_CONCURRENT_INFERENCES,
                   help="the server's MEDLAB_MAX_INFERENCES")
    p.add_argument("--log", help="the server's log (default: a temporary file)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.actions = args.actions.split(",")
    unknown = [a for a in args.actions if a not in ACTIONS]
    if unknown:
        p.error(f"unknown action {', '.join(unknown)}; known: {', '.join(ACTIONS)}")

    from data import data_root

    root = data_root(args.data_root)
    inputs = {name: ACTIONS[name].inputs(root) for name in args.actions}
    missing = [str(f) for files in inputs.values() for f in files if not f.exists()] or \
              [name for name, files in inputs.items() if not files]
    if missing:
        raise SystemExit(f"input images missing under {root}: {', '.join(missing[:5])}; pass --data-root")
    args.upscaler_files = [largest_upscale(root)] * args.upscalers
    rng = random.Random(args.seed)
    plans = []  # each visitor: the actions in turn, starting at a different one, each with a random file
    for s in range(args.sessions):
        order = args.actions[s % len(args.actions):] + args.actions[:s % len(args.actions)]
        plans.append([(name, rng.choice(inputs[name])) for _ in range(200) for name in order])

    log = Path(args.log or tempfile.mkstemp(prefix=f"medlab-{args.surface}-", suffix=".log")[1])
    before = machine()
    tally = Tally()
    started = time.monotonic()
    peak = (streamlit_run if args.surface == "streamlit" else gradio_run)(args, plans, tally, log)
    return report(args, tally, peak, log, time.monotonic() - started, before)


if __name__ == "__main__":
    sys.exit(main())
