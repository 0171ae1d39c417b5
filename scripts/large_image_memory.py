"""Peak memory of one large upload: a photo at the pixel limit, read and routed as the app does.

    python scripts/large_image_memory.py [--megapixels 40] [--format JPEG]

Writes a synthetic colour photo of about --megapixels (limits.MAX_PIXELS is the most the lab reads) to a
temporary file, then in a fresh process reads it (images.read_image) and asks the shipped models
(inference.classify), printing the resident memory before, after reading and the peak (ru_maxrss).
The figures behind limits.LARGE_IMAGE_PIXELS and MAX_CONCURRENT_LARGE_READS (RELIABILITY.md).
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

MEASURE = """
import resource, sys, time
sys.path[:0] = [{root!r}]
import torch
torch.set_num_threads(1)
import inference
from images import read_image
mb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"peak after imports: {{mb()}} MiB")
started = time.perf_counter()
image = read_image({path!r})
print(f"read {{image.width}} x {{image.height}} ({{image.format}}) in {{time.perf_counter() - started:.1f}} s; peak {{mb()}} MiB")
started = time.perf_counter()
result = inference.classify(image)
print(f"routed in {{time.perf_counter() - started:.1f}} s ({{'refused: ' + result.refusal.split(';')[0].split(' ', 1)[1] if result.refusal else result.label}}); peak {{mb()}} MiB")
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--megapixels", type=float, default=40)
    p.add_argument("--format", default="JPEG", choices=["JPEG", "PNG"])
    args = p.parse_args()
    side = int((args.megapixels * 1e6) ** 0.5)
    rng = np.random.default_rng(0)
    # Smooth colour with a little noise: compresses like a photo, not like random bytes.
    small = rng.integers(0, 256, (side // 64 + 1, side // 64 + 1, 3), dtype=np.uint8)
    photo = np.asarray(Image.fromarray(small).resize((side, side), Image.BILINEAR))
    photo = (photo + rng.integers(0, 8, photo.shape, dtype=np.uint8)).astype(np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"photo.{args.format.lower()}"
        Image.fromarray(photo).save(path, args.format, **({"quality": 90} if args.format == "JPEG" else {}))
        print(f"{args.format} of {side} x {side} = {side * side / 1e6:.1f} MP, {path.stat().st_size / 2**20:.1f} MiB")
        subprocess.run([sys.executable, "-c", MEASURE.format(root=str(ROOT), path=str(path))], check=True)


if __name__ == "__main__":
    main()
