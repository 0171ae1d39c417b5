"""Latent space: walk between two codes, see a test set laid out by the encoder, move one slider per
dimension, and reconstruct an image through a VAE. Works for every model with the latent interface
(VAEs and GANs: noise, decode; VAEs also encode)."""
import time

import numpy as np
import streamlit as st
import torch

import charts
import latent
import ui
from cards import read_meta
from images import to_tensor
from metrics import psnr, ssim

DEFAULT = "endovae-kvasir"
SHOWN = 192  # pixels: small decoded images are enlarged (nearest) to this width for the eye

ui.intro("Latent space",
         "A VAE compresses an image into a few numbers, its **code** z, and decodes any code back into an image; "
         "a GAN decodes codes drawn at random. Walk from one code to another, see where a whole test set lands, "
         "and move each number by hand to see what it controls.")

names = latent.latent_models()
if not names:
    ui.require_models(DEFAULT)  # says what to do (train it), then stops
with ui.settings():
    name = st.selectbox("Model", names, index=names.index(DEFAULT) if DEFAULT in names else 0,
                        format_func=lambda n: f"{ui.model_title(n)} ({n})")
ui.require_models(name)
model = ui.load_model(name)
size = latent.latent_size(model)
conditional = model.conditional
can_encode = hasattr(model, "encode")
label = None
with ui.settings():
    if conditional:
        label = st.selectbox("Class", range(len(model.class_names)), format_func=lambda k: model.class_names[k],
                             help="A conditional model is told the class: the class to draw, or the class of your "
                                  "image")
    view = st.radio("View", ["Interpolate", "Map", "Sliders", "Reconstruct"], horizontal=True)
st.caption(f"{size}-dimensional latent space" + (f", conditional on the class ({', '.join(model.class_names)})"
                                                 if conditional else "") + ".")


def labels_of(n: int):
    return None if label is None else torch.full((n,), label, dtype=torch.long)


def enlarge(images: torch.Tensor) -> np.ndarray:
    """(N, C, h, w) -> one strip (uint8), each frame scaled up by a whole factor (nearest) for display."""
    factor = max(1, SHOWN // images.shape[-1])
    return latent.strip(torch.nn.functional.interpolate(images, scale_factor=factor, mode="nearest"))


def read_image_input(key: str, caption: str) -> torch.Tensor | None:
    uploaded = ui.upload_or_example(caption, key=key)
    image = ui.read_upload(uploaded[0]) if uploaded else None
    return None if image is None else to_tensor(image, channels=model.config.in_channels)


@st.cache_data(show_spinner="Projecting the test set ...")
def projected_map(model_name: str, folder: str) -> dict | None:
    """The shipped map's codes in 2-D: the latent itself when it is 2-D, else PCA (mean and axes kept)."""
    found = latent.load_map(folder)
    if found is None:
        return None
    points, mean, components = latent.pca(found["codes"])
    d = found["codes"].shape[1]
    method = "the 2-D latent itself" if d == 2 else f"PCA of the {d}-D codes (2 principal components)"
    return {**found, "points": points, "mean": mean, "components": components, "method": method}


# -- interpolate ---------------------------------------------------------------------------------------
if view == "Interpolate":
    ends = st.radio("Between", ["two seeds", "two images"] if can_encode else ["two seeds"], horizontal=True)
    left, right = st.columns(2)
    if ends == "two seeds":
        a = latent.seed_code(model, left.number_input("First seed", 0, 2 ** 31 - 1, 0))
        b = latent.seed_code(model, right.number_input("Second seed", 0, 2 ** 31 - 1, 1))
    else:
        with left:
            first = read_image_input("first", "First image")
        with right:
            second = read_image_input("second", "Second image")
        if first is None or second is None:
            st.info("Upload two images, or pick two examples: each goes through the encoder, and the walk runs "
                    "between their codes.")
            st.stop()
        a, b = latent.encode(model, first, labels_of(1))[0], latent.encode(model, second, labels_of(1))[0]
    method = st.radio("Path", list(latent.METHODS), index=1, horizontal=True,
                      help="spherical follows the arc between the codes, where a Gaussian prior keeps its codes; "
                           "linear cuts through the middle, where codes are rare")
    frames = st.slider("Frames (both ends included)", 2, 24, 10)
    walked = latent.walk(model, a, b, frames, method, label)  # one model call: every frame in one batch
    st.image(enlarge(walked), caption=f"{method} interpolation, {frames} frames: the first and last are the two "
                                      "codes themselves", width="stretch")
    gif = latent.gif_bytes(walked, scale=max(1, SHOWN // walked.shape[-1]))
    st.image(gif, caption="the same walk, animated (forth and back)", width=SHOWN)
    st.download_button("Download the animation (GIF)", gif, file_name=f"{name}-{method}.gif", mime="image/gif")
    st.download_button("Download the strip (PNG)", ui.png(latent.strip(walked)), file_name=f"{name}-{method}.png",
                       mime="image/png")

# -- the map of a test set ----------------------------------------------------------------------------
elif view == "Map":
    found = projected_map(name, str(model.folder)) if can_encode else None
    if not can_encode:
        st.info("A GAN has no encoder, so no test set can be laid out in its latent space; interpolate between "
                "seeds or move the sliders instead.")
    elif found is None:
        st.info(f"`{name}` ships no latent map: `python evaluate.py {name}` writes one (the test set's codes).")
    else:
        values = found.get("values")
        chosen = st.plotly_chart(
            charts.latent_map(found["points"], found["labels"], found["class_names"], method=found["method"],
                              values=values, value_name=found["value_name"]),
            key="map", on_select="rerun", selection_mode=("points", "box"))
        st.caption(f"{found['description']}. Click a point to decode its code, or pick *Box Select* in the chart's "
                   "tool bar (top right) and drag a box: the first point in it is decoded.")
        picked = [p["customdata"] for p in (chosen.selection.points if chosen else []) if "customdata" in p]
        if picked:
            k = int(picked[0])
            code = torch.from_numpy(found["codes"][k])[None]
            given = None if not conditional else torch.tensor([int(found["labels"][k])])
            columns = st.columns(2)
            if "thumbnails" in found:
                columns[0].image(found["thumbnails"][k], caption=f"test image {k}", width=SHOWN)
            else:
                columns[0].caption("The test images themselves are not shipped (not ours to redistribute): only "
                                   "their codes and classes.")
            decoded = latent.decode(model, code, given)
            columns[1].image(enlarge(decoded), caption=f"decoded from image {k}'s code", width=SHOWN)
        st.subheader("Decode any point of the map")
        lo, hi = found["points"].min(0), found["points"].max(0)
        left, right = st.columns(2)
        x = left.slider("across (" + ("z1" if size == 2 else "PC 1") + ")", float(lo[0]), float(hi[0]),
                        float(np.clip(0.0, lo[0], hi[0])))
        y = right.slider("up (" + ("z2" if size == 2 else "PC 2") + ")", float(lo[1]), float(hi[1]),
                         float(np.clip(0.0, lo[1], hi[1])))
        code = torch.tensor(found["mean"] + np.array([x, y]) @ found["components"], dtype=torch.float32)[None]
        decoded = latent.decode(model, code, labels_of(1))
        st.image(enlarge(decoded), width=SHOWN,
                 caption="the code at that point" + ("" if size == 2 else ": the mean code moved along the two "
                                                     "principal axes, the other directions at the mean"))
    if size == 2:
        st.subheader("The decoded manifold")
        steps = st.slider("Grid", 5, 25, 15)
        image = latent.grid(model, steps=steps, labels=label)
        st.image(latent.to_uint8(image[None])[0], width="stretch",
                 caption=f"{steps} x {steps} codes evenly spaced over [-2.5, 2.5] in each dimension (z1 across, "
                         "z2 up), each decoded: the whole 2-D latent space at a glance")

# -- one slider per dimension ------------------------------------------------------------------------
elif view == "Sliders":
    start = latent.seed_code(model, st.number_input("Start from the code of seed", 0, 2 ** 31 - 1, 0))
    shown = min(size, 16)
    if shown < size:
        st.caption(f"Sliders for the first {shown} of {size} dimensions; the others stay at the seed's values.")
    code = start.clone()
    columns = st.columns(2)
    for i in range(shown):
        value = min(3.0, max(-3.0, round(float(start[i]), 1)))  # a seed's code may reach past 3 standard deviations
        code[i] = columns[i % 2].slider(f"z{i + 1}", -3.0, 3.0, value, 0.1, key=f"z{i}")
    started = time.perf_counter()
    decoded = latent.decode(model, code[None], labels_of(1))
    took = (time.perf_counter() - started) * 1000
    st.image(enlarge(decoded), width=SHOWN * 2)
    st.caption(f"Decoded in {took:.0f} ms on this server.")

# -- reconstruct an upload ----------------------------------------------------------------------------
else:
    if not can_encode:
        st.info("A GAN has no encoder: it cannot take an image in. Pick a VAE to reconstruct images.")
        st.stop()
    trained_on = read_meta(model.folder).get("dataset")
    st.caption(f"The model has only ever seen {f'`{trained_on}`' if trained_on else 'its training'} images: anything "
               "else comes back as the nearest thing it knows, and the PSNR says how far that is.")
    image = read_image_input("reconstruct", "An image to reconstruct")
    if image is None:
        st.info("Upload an image, or pick an example: the encoder gives its code, the decoder redraws the image "
                "from it.")
        st.stop()
    seen = model.prepare(image)  # (1, C, S, S): the input as the model sees it
    mu = latent.encode(model, image, labels_of(1))  # (1, D): the encoder's mean
    redrawn = latent.decode(model, mu, labels_of(1))
    st.image(enlarge(torch.cat([seen, redrawn])), width=SHOWN * 2,
             caption=f"left: your image at {seen.shape[-1]} px; right: decoded from its code")
    st.markdown(f"PSNR **{float(psnr(redrawn, seen)[0]):.2f} dB**, SSIM **{float(ssim(redrawn, seen)[0]):.3f}** "
                f"(at {seen.shape[-1]} px).")
    st.caption("Code: " + ", ".join(f"{v:+.2f}" for v in mu[0].tolist()))
    found = projected_map(name, str(model.folder))
    if found is not None:
        star = (mu[0].numpy() - found["mean"]) @ found["components"].T
        st.plotly_chart(charts.latent_map(found["points"], found["labels"], found["class_names"], method=found["method"],
                                          values=found.get("values"), value_name=found["value_name"], highlight=star),
                        key="where")
    st.download_button("Download the reconstruction (PNG)", ui.png(latent.to_uint8(redrawn)[0]),
                       file_name=f"{name}-reconstruction.png", mime="image/png")
ui.disclaimer()
