"""Super-resolution x4: an upload made four times larger by bicubic and three networks, side by side
under one synchronised zoom window; or, for an image already at high resolution, downscaled x4 first
and restored, with PSNR and SSIM against the original. Every result can be downloaded."""
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

import superres
import ui
from degradations import PROTOCOL
from images import LoadedImage

METHODS = {"bicubic": "Bicubic", "srresnet-real": "SRResNet (real)", "srresnet": "SRResNet", "srgan": "SRGAN"}
EXAMPLES = ("photo-grace-hopper.jpg", "chest-xray-normal.jpeg", "ct-covid.png", "colonoscopy-polyp.jpg")
# The restore table's columns: label and format. Shown as text, so that the original (measured against itself)
# has a dash where Streamlit would write "None".
SCORES = {"psnr_y": ("PSNR-Y (dB)", "{:.2f}"), "ssim_y": ("SSIM-Y", "{:.4f}"), "psnr_rgb": ("PSNR-RGB (dB)", "{:.2f}"),
          "ssim_rgb": ("SSIM-RGB", "{:.4f}"), "sharpness": ("Sharpness", "{:.2f}")}
SCORE_HELP = {"sharpness": "Mean gradient magnitude: no reference needed; higher means more edges, real or invented."}

ui.intro("Super-resolution x4",
         "Make an image four times larger and compare bicubic interpolation with three networks, all trained on "
         "photographs, not on medical images. **SRResNet (real)** learned from images made small in many ways (blur, "
         "resize modes, noise, JPEG): use it for real small images. **SRResNet** learned one way only, the benchmark's "
         "antialiased bicubic: sharper there, worse than bicubic on most others. **SRGAN**, an early, shallower SRResNet "
         "fine-tuned against a discriminator, draws sharper, more photo-like detail, some of it invented.")
ui.require_models(*superres.MODELS.values())
with ui.settings():
    with st.expander("Which network for which image: measured on Set5 and Set14"):
        for line in filter(None, map(ui.sr_fit, superres.MODELS.values())):
            st.markdown(f"- {line}")
    mode = st.radio("What to do", ["upscale", "restore"], horizontal=True, format_func={
        "upscale": "Upscale my image x4",
        "restore": "Downscale x4, then restore (for an image you have at high resolution: measures against it)"}.get)
    if mode == "restore":
        way = st.selectbox("How to make it small", PROTOCOL, format_func=lambda way: f"{way.name}: {way.describe()}",
                           help="Real small images were made in many ways. A network trained on one way can do "
                                "worse than bicubic on another: try the plain (non-antialiased) resizes and JPEG to "
                                "see it.")
    upload = next(iter(ui.upload_or_example("An image (PNG, JPEG, TIFF, DICOM, ...; 16-bit and grayscale are fine)",
                                            key="sr-upload", examples=EXAMPLES)), None)
    passes = {method: superres.passes(ui.load_model(name)) for method, name in superres.MODELS.items()}
    by_default = ", ".join(f"{METHODS[method]} in {n} pass{'es' if n > 1 else ''}" for method, n in passes.items())
    self_ensemble = st.toggle("Self-ensemble (8 passes)", key="sr-self-ensemble", help=(
        "Each network upscales the image's 8 rotations and mirror images; the 8 answers, turned back, are averaged. "
        "Slightly more accurate (the model cards give the measured gain); each pass takes as long as the first. "
        f"Without it: {by_default} (a network's default number of passes was chosen on validation; see its model "
        "card)."))
if upload is None:
    st.info(f"Upload an image of at most {superres.MAX_INPUT_PIXELS:,} pixels (e.g. 1024x1024) to upscale it; "
            "for 'downscale then restore', up to four times that per side.")
    st.stop()
image = ui.read_upload(upload)
if image is None:
    st.stop()

original = None
try:
    if mode == "restore":
        original, small = superres.shrink(image, way)
        image = LoadedImage(pixels=small, name=image.name, format=image.format, grayscale=image.grayscale,
                            bit_depth=8, info=image.info)
    superres.check_size(image.height, image.width, image.name)
except ValueError as error:  # too small to shrink, or too large to upscale: the message says the limit
    st.error(str(error))
    st.stop()
for note in superres.notes(image):
    st.caption(f":material/info: {note}")


def compact(pixels: np.ndarray) -> np.ndarray:
    """8-bit for 8-bit sources (a 4096x4096 result is 50 MB, not 200), full precision for deeper ones."""
    return pixels if image.bit_depth > 8 else superres.eight_bit(pixels)


# The three results (and the scores), once per upload and mode: the zoom sliders rerun the page.
key = f"{upload.file_id}-{mode}-{self_ensemble}-{way.name if mode == 'restore' else ''}"
if st.session_state.get("sr-key") != key:
    results, scores, bar = {}, [], st.progress(0.0, text="Upscaling ...")
    for i, method in enumerate(METHODS):
        model = None if method == "bicubic" else ui.load_model(superres.MODELS[method])
        pixels = superres.upscale(image, model, self_ensemble=self_ensemble, progress=lambda done, total: bar.progress(
            (i + done / total) / len(METHODS), text=f"{METHODS[method]}: tile {done} of {total}"))
        if original is not None:
            scores.append({"method": METHODS[method], **superres.compare(pixels, original)})
        results[method] = compact(pixels)
    if original is not None:
        scores.append({"method": "Original", "sharpness": superres.compare(original, original)["sharpness"]})
    bar.empty()
    st.session_state.update({"sr-key": key, "sr-results": results, "sr-scores": scores})
results, scores = st.session_state["sr-results"], st.session_state["sr-scores"]
shown = ({"original": compact(original)} if original is not None else {}) | results
height, width = results["bicubic"].shape[:2]
how = "each network averaged 8 passes (the self-ensemble)" if self_ensemble else by_default
st.caption(f"{image.width}x{image.height} -> {width}x{height} pixels; {how}.")

# The synchronised zoom window: the same region of every result, enlarged with nearest-neighbour so
# pixels show as pixels.
st.subheader("Zoom")
comparison = st.container()  # first, with its window's sliders under it: in view on a projector
size = st.select_slider("Window (pixels of the x4 result)", [32, 64, 128, 256, 512],
                        value=min(128, 2 ** int(np.log2(min(width, height)))))
size = min(size, width, height)
left, right = st.columns(2)
x = left.slider("Horizontal position", 0, width - size, (width - size) // 2, key="sr-x") if width > size else 0
y = right.slider("Vertical position", 0, height - size, (height - size) // 2, key="sr-y") if height > size else 0
magnify = max(1, 384 // size)
by = {row["method"]: row for row in scores}  # restoring: each result against the original
for column, (method, pixels) in zip(comparison.columns(len(shown)), shown.items()):
    crop = pixels[y:y + size, x:x + size]
    name = METHODS.get(method, "Original")
    column.image(np.repeat(np.repeat(crop, magnify, 0), magnify, 1), width="stretch",
                 caption=f"{name}: {by[name]['psnr_y']:.2f} dB" if "psnr_y" in by.get(name, {}) else name)

with st.expander("Whole images"):
    for column, (method, pixels) in zip(st.columns(len(shown)), shown.items()):
        column.image(pixels, caption=METHODS.get(method, "Original"), width="stretch")

if original is not None:
    st.subheader("Against the original")
    st.dataframe(ui.as_text(pd.DataFrame(scores), {key: form for key, (_, form) in SCORES.items()}), hide_index=True,
                 column_config={key: st.column_config.Column(label, alignment="right", help=SCORE_HELP.get(key))
                                for key, (label, _) in SCORES.items()})
    said = [f"{'lower' if by['SRGAN'][k] < by['SRResNet'][k] else 'higher'} {label}" for k, label in
            (("psnr_y", "PSNR-Y"), ("ssim_y", "SSIM-Y"))]
    st.caption(f"PSNR and SSIM on Y with a 4-pixel border removed (the literature's protocol) and on RGB. Here SRGAN "
               f"has a {said[0]} and a {said[1]} than SRResNet, and {'more' if by['SRGAN']['sharpness'] > by['SRResNet']['sharpness'] else 'less'} "
               "sharpness: it is built to look photo-like, not to match the pixels, so PSNR usually drops.")

stem = Path(upload.name).stem
for column, (method, pixels) in zip(st.columns(len(results)), results.items()):
    column.download_button(f"{METHODS[method]} (PNG)",
                           lambda p=pixels: superres.png_bytes(p, sixteen_bit=image.bit_depth > 8),
                           f"{stem}-{method}-x4.png", "image/png", key=f"download-{method}")
ui.disclaimer()
