"""Every limit the hosted lab enforces, in one place: what one visitor may send and what the server runs at once.

Each is enforced where the work happens and tested (tests/test_reliability.py), and RELIABILITY.md
says what was measured under load with these values:

- REQUEST_MEMORY_MB: WORK_PIXELS in images.read_image, VIEW_SIDE in inference.explain, saliency.overlay and the
  Classify page; tests/test_memory.py, and scripts/large_image_memory.py measures each page.
- MAX_UPLOAD_BYTES, MAX_PIXELS, MIN_SIDE, FRAMES_COUNTED, and the slots for large images: images.read_image, for every surface (pages, predict.py, the
  Gradio API); Streamlit (.streamlit/config.toml, the uploader) and Gradio (`max_file_size`) refuse a
  larger upload before it reaches read_image.
- MAX_FILES_PER_RUN: the Classify page judges at most this many files of one upload and says so.
  predict.py reads its files one at a time (a local user's own machine), the Gradio API takes one file a call.
- INFERENCE_THREADS, MAX_CONCURRENT_INFERENCES, MAX_CONCURRENT_LONG: inference.py, around every model call of
  the app and the API (`inference.computing`; super-resolution and live training take the long slots).
- LIVE_TRAINING_SECONDS: the GAN lab page stops a visitor's run when its training has taken this long
  (tests/test_gan_lab.py); it trains in turns of a fraction of a second, each inside one of the long slots.

The two CPU settings can be changed per deployment with MEDLAB_THREADS and MEDLAB_MAX_INFERENCES (a
bigger machine); the others are the lab's promise to its visitors and are constants.
"""
import os


def _whole_number_from_env(name: str, default: int, *, minimum: int) -> int:
    """The whole number `name` sets, else `default`; anything else stops the import, naming the variable: a
    count of 0 would leave every model call waiting for a slot forever, a typo would be a bare traceback."""
    given = os.environ.get(name)
    if given is None:
        return default
    try:
        value = int(given.strip())
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {given!r}")
    return value

MAX_UPLOAD_BYTES: int = 32 * 1024 * 1024  # largest file accepted; .streamlit/config.toml says the same 32 MB
MAX_PIXELS: int = 40_000_000  # width*height limit, checked from the header before decoding (decompression bombs)
MIN_SIDE: int = 8  # smaller images carry too little to classify or to look at

# Images over LARGE_IMAGE_PIXELS are decoded at most MAX_CONCURRENT_LARGE_READS at a time (images.read_image): even
# reduced to WORK_PIXELS, a large colour image takes a few hundred MB while it becomes floats; 8 at once would not fit.
LARGE_IMAGE_PIXELS: int = 4_000_000  # above a 2000 x 2000 X-ray
MAX_CONCURRENT_LARGE_READS: int = 2

# Memory per request: no request may take the server more than REQUEST_MEMORY_MB over its idle footprint (measured
# for the largest upload on every page: RELIABILITY.md). 40 megapixels as floats are 480 MB a copy, so the work is
# bounded where it happens:
# - images.read_image reduces an image over WORK_PIXELS as it decodes it (a JPEG by libjpeg's own scaling, others by
#   block means): every model, map and mask then works on at most that many pixels. 4096 x 4096 is the most any page
#   uses (super-resolution's "downscale then restore"), so none loses what it needs;
# - what is drawn for the eye (Grad-CAM maps, overlays, masks drawn over the frame) has no side over VIEW_SIDE, in
#   8-bit colour: Streamlit shows at most 1460 px wide anyway;
# - images over LARGE_IMAGE_PIXELS are decoded at most MAX_CONCURRENT_LARGE_READS at a time (below).
REQUEST_MEMORY_MB: int = 1536
WORK_PIXELS: int = 4096 * 4096
VIEW_SIDE: int = 1536

# A multi-page TIFF or an animated GIF is refused (the lab reads still images); its pages are counted, for the
# message, up to this many. Pillow's own count reads every page, a TIFF's in quadratic time: 300k pages took minutes.
FRAMES_COUNTED: int = 64

# A class uploading a folder each would queue everyone else behind them; 16 is a generous handful to compare.
MAX_FILES_PER_RUN: int = 16

# The hosted machine has 2 cores. Each model call runs on INFERENCE_THREADS torch threads and at most
# MAX_CONCURRENT_INFERENCES calls run at once, the rest wait their turn: 1 x 2 keeps both cores busy without
# oversubscribing them (8 visitors x 2 threads each would time-slice 16 threads on 2 cores, every request
# slower). RELIABILITY.md has the measurements behind the choice.
INFERENCE_THREADS: int = _whole_number_from_env("MEDLAB_THREADS", 1, minimum=1)
MAX_CONCURRENT_INFERENCES: int = _whole_number_from_env("MEDLAB_MAX_INFERENCES", 2, minimum=1)
# Long work (a super-resolution upscale, up to minutes for a megapixel; the GAN lab's training turns) runs in slots
# of its own, never in the ones above: two visitors upscaling once held both, and every classification waited
# minutes. Half as many as the short slots (one on this machine): the rest of the cores stay with short calls.
MAX_CONCURRENT_LONG: int = max(1, MAX_CONCURRENT_INFERENCES // 2)

# Seconds of training one run of the GAN lab may use (its own steps, timed); Reset starts a new run. In the long
# slots above, a class training at once shares them in turns of WORK_PER_TICK, each turn (training and drawing)
# followed by a rest as long (app_pages/gan_lab.py): the lab takes at most half of one core, however many train.
LIVE_TRAINING_SECONDS: int = 120
