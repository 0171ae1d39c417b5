"""Peak server memory of the largest accepted upload, page by page, over the server's idle footprint.

    python scripts/large_image_memory.py [--data-root ../shared/data] [--cases classify-xray-jpeg,...]

Each case runs in a fresh process, as a Streamlit server would run the page (AppTest, the same script): first
the page with the data set's own small image (models loaded, caches warm: the idle footprint, VmRSS), then the
peak is reset (/proc/self/clear_refs) and the page runs with the large file; printed are the peak over idle
(VmHWM - idle) and what stays after the visitor has gone (VmRSS - idle, after garbage collection: the cached
maps of ui.CACHED_MAPS are part of it, and memory the C allocator keeps for reuse), then again after a second
visitor uploads the same file (what stays must not grow with each upload). limits.REQUEST_MEMORY_MB is the bound. The large files are made from
real images: a chest X-ray and a colonoscopy frame resized to 6324 x 6324 (40 megapixels, limits.MAX_PIXELS), and
Set14's first image at 1024 x 1024 (the most super-resolution takes).
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SIDE = 6324  # 6324 x 6324 = 39,992,976 pixels: just under limits.MAX_PIXELS

# case -> page, (small file, large file) maker, widget steps before the upload (AppTest calls), expected text
CASES = {
    "classify-xray-jpeg": ("app_pages/classify.py", "xray", "JPEG", [], "calibrated;"),
    "classify-xray-png": ("app_pages/classify.py", "xray", "PNG", [], "calibrated;"),
    "classify-colonoscopy-jpeg": ("app_pages/classify.py", "frame", "JPEG", [], "olyp"),
    "super-resolution-1024": ("app_pages/super_resolution.py", "sr", "PNG", [], "pixels;"),
    "super-resolution-40mp-refused": ("app_pages/super_resolution.py", "xray", "JPEG", [], "super-resolution takes"),
    "adapt-40mp": ("app_pages/adapt.py", "xray", "JPEG", ["radio[0].set_value('Upload')"], "source only"),
    "latent-space-40mp": ("app_pages/latent_space.py", "frame", "JPEG", ["radio[0].set_value('Reconstruct')"], "PSNR"),
}

MEASURE = """
import gc, json, re, sys
sys.path[:0] = [{root!r}]
import inference
inference.configure_server()
from streamlit.testing.v1 import AppTest

def mib(field):
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024

def visit(path):
    at = AppTest.from_file({page!r}, default_timeout=1800).run()
    for step in {steps!r}:
        eval("at." + step).run()
    at.file_uploader[0].set_value([(path.rsplit("/", 1)[-1], open(path, "rb").read(), "application/octet-stream")])
    at.run()
    kinds = ("markdown", "caption", "error", "warning", "info", "subheader")
    shown = " ".join(str(e.value) for kind in kinds for e in getattr(at, kind))
    return [str(e.value) for e in at.exception], {expect!r} in shown, shown[:300]

visit({small!r})
gc.collect()
idle = mib("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # VmHWM := VmRSS
exceptions, answered, shown = visit({large!r})
peak = mib("VmHWM")
gc.collect()
after = mib("VmRSS")
visit({large!r})  # the same upload again: what stays must not grow with every upload
gc.collect()
print(json.dumps(dict(idle=idle, peak_over_idle=peak - idle, after_over_idle=after - idle,
                      again_over_idle=mib("VmRSS") - idle, answered=answered, exceptions=exceptions, shown=shown)))
"""


def sources(root: Path) -> dict[str, Path]:
    return {"xray": sorted((root / "chest_xray/test/NORMAL").glob("*.jpeg"))[0],
            "frame": root / "kvasir_seg/images" / f"{(root / 'kvasir_seg/splits/val.txt').read_text().split()[0]}.jpg",
            "sr": root / "sr/Set14/x4/img_001_SRF_4_HR.png"}


def make(source: Path, kind: str, fmt: str, folder: Path) -> tuple[Path, Path]:
    """(the small original, the large copy in `fmt`)."""
    im = Image.open(source)
    im = im.convert("L" if im.mode in ("L", "I;16") else "RGB")
    side = 1024 if kind == "sr" else SIDE
    large = folder / f"{kind}-{side}.{fmt.lower()}"
    if not large.exists():
        im.resize((side, side), Image.BICUBIC).save(large, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return source, large


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", help="data root (default: $MEDLAB_DATA)")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from: {', '.join(CASES)}")
    args = p.parse_args()
    sys.path[:0] = [str(ROOT)]
    from data import data_root
    from limits import REQUEST_MEMORY_MB

    found = sources(data_root(args.data_root))
    print("| page and upload | file | idle (MiB) | peak over idle (MiB) | left after (MiB) | after a second upload (MiB) | answered |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for case in args.cases.split(","):
            page, kind, fmt, steps, expect = CASES[case]
            small, large = make(found[kind], kind, fmt, Path(folder))
            code = MEASURE.format(root=str(ROOT), page=str(ROOT / page), steps=steps, expect=expect,
                                  small=str(small), large=str(large))
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                print(f"| {case} | failed: {out.stderr.strip().splitlines()[-1]} |")
                continue
            m = json.loads(out.stdout.strip().splitlines()[-1])
            size = f"{Image.open(large).size[0]} x {Image.open(large).size[1]} {fmt}, {large.stat().st_size / 2**20:.1f} MiB"
            ok = "yes" if m["answered"] and not m["exceptions"] else f"no: {m['exceptions'] or m['shown']}"
            print(f"| {case} | {size} | {m['idle']} | {m['peak_over_idle']} | {m['after_over_idle']} | "
                  f"{m['again_over_idle']} | {ok} |")
    print(f"\nbound: limits.REQUEST_MEMORY_MB = {REQUEST_MEMORY_MB}")


if __name__ == "__main__":
    main()
