"""Classify: each upload is routed by the modality recognizer to the model for its modality, or refused.

A chest X-ray or a CT slice gets its classifier's label, calibrated probabilities and Grad-CAM; a
colonoscopy frame gets the polyp segmenter's mask; anything else is refused with the reason.
"""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

import charts
import inference
import results
import ui
from images import ImageReadError, read_image, to_pil
from limits import MAX_FILES_PER_RUN
from saliency import overlay

CLASSIFY_EXAMPLES = ["chest-xray-normal.jpeg", "chest-xray-pneumonia.jpeg", "ct-covid.png", "ct-covid-uncertain.png",
                     "ct-small.dcm", "colonoscopy-polyp.jpg", "photo-grace-hopper.jpg"]  # the photograph: refused


def literal(name: str) -> str:
    """A file name as Markdown that shows it as typed: a visitor's `[click](http://...).png` must not become a
    link. CommonMark lets a backslash escape any ASCII punctuation, which also stops GFM autolinks (www., @)."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", " ".join(name.splitlines()))


def show(upload) -> dict:
    """One uploaded file: the image, the modality route, then the model's answer or the refusal; returns its summary row."""
    name = literal(upload.name)  # for Markdown (headings, errors, warnings); the table and downloads take it as is
    st.subheader(name)
    try:
        image = read_image(upload, name=upload.name)
    except ImageReadError as error:  # says what is wrong with the file; the other files go on
        st.error(str(error).replace(upload.name, name))
        return {"file": upload.name, "error": str(error)}

    left, right = st.columns([2, 3], gap="large")
    picture = left.empty()  # the image now; an overlay replaces it below if the user wants it
    if ui.is_ct_dicom(image):  # Hounsfield units: the user picks the window, the models see what is shown
        with left:
            window = ui.ct_window(image, key=upload.file_id)
        if window is not None:
            image = read_image(upload, name=upload.name, window=window)
    view = to_pil(image, view=True)  # what is shown and drawn on: no side over limits.VIEW_SIDE
    picture.image(view, caption=ui.image_caption(image), width="stretch")
    key = f"{upload.file_id}-{image.info.get('window')}"  # for the caches: this file, in this window

    with right:
        # 1. What is this image? All four modality probabilities, because the refusal depends on them.
        seen = inference.recognize(image)
        best = max(seen, key=seen.get)
        header = inference.dicom_header(image)  # a DICOM file's own word on what it is, beside the recognizer's
        st.markdown(f"**Modality recognizer:** {inference.MODALITY_NAMES[best]} ({seen[best]:.0%})"
                    + (f" · **DICOM header:** {header[0]} ({header[1]})" if header else ""))
        st.caption(" · ".join(f"{inference.MODALITY_NAMES[m]} {p:.0%}" for m, p in seen.items()))
        names = {None: "what the recognizer says", **inference.MODALITY_NAMES}  # under the image: the answer
        modality = left.selectbox("Treat the image as", list(names), format_func=names.get,  # stays near the top
                                  key=f"modality-{upload.file_id}")

        # 2. The route: the user's override, or the recognizer's confident answer; else a refusal with the reason.
        try:
            chosen = inference.route(image, seen, modality)
        except inference.Refusal as refusal:
            st.warning(str(refusal).replace(upload.name, name), icon=":material/block:")
            return {"file": upload.name, "modality": inference.MODALITY_NAMES[modality or best], "error": str(refusal)}
        if modality not in (None, best):
            st.warning(f"You overrode the recognizer (it says {inference.MODALITY_NAMES[best]}). A model answers "
                       "for any image, even one unlike anything it was trained on: that is why the lab routes first.")
        row = {"file": upload.name, "modality": inference.MODALITY_NAMES[chosen]}
        stem = Path(upload.name).stem
        if chosen in inference.SEGMENTERS:
            return row | show_segmentation(upload, image, np.asarray(view), picture, key, stem, chosen)
        result = inference.classify(image, modality=chosen, seen=seen)
        return row | show_classification(upload, image, np.asarray(view), picture, key, stem, result)


def show_classification(upload, image, view: np.ndarray, picture, key: str, stem: str,
                        result: inference.Classification) -> dict:
    # 3. The label, and the calibrated probabilities against the threshold that decided it; the threshold is
    # on P(second class), so the rule names that class.
    classes = list(result.probabilities)
    if result.uncertain:  # too close to the threshold for the model's answer to mean much: said first, plainly
        st.markdown(f"### Uncertain (leaning {result.label})")
        st.warning(f"P({classes[1]}) is within {inference.uncertain_margin(result.model):.2f} of the threshold. On "
                   f"validation data, fewer than {inference.UNCERTAIN_TARGET:.0%} of `{result.model}`'s answers this "
                   "close were right, so this one says little either way.", icon=":material/help:")
    else:
        st.markdown(f"### {result.label}")
    rule = ("the most probable class is the answer" if result.threshold is None else
            f"the model says {classes[1]} when P({classes[1]}) reaches the decision threshold "
            f"{result.threshold:.2f}, chosen on validation data, and {classes[0]} below it")
    st.markdown(", ".join(f"P({c}) = **{p:.1%}**" for c, p in result.probabilities.items())
                + f", calibrated; {rule} (model `{result.model}`).")
    st.plotly_chart(charts.class_probabilities(result.probabilities, result.threshold, result.label),
                    key=f"bar-{upload.file_id}", config={"displayModeBar": False})
    if result.members:  # an ensemble: how far its networks agree, each on its own
        said = ", ".join(f"{member[classes[-1]]:.1%}" for member in result.members)
        st.caption(f"`{result.model}` is an ensemble of {len(result.members)} models. On their own they gave "
                   f"P({classes[-1]}) = {said}; the answer above is their mean, calibrated again on validation data.")
    if evaluation := ui.read_eval(result.model):  # how far to trust it, as measured by evaluate.py
        st.caption(f"How often `{result.model}` is right: {results.headline(evaluation)}")

    # 4. Where it looked.
    show_cam = st.toggle("Grad-CAM overlay", value=True, key=f"cam-{upload.file_id}",
                         help="Where the network looked for its decision; not why a clinician would decide.")
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.45, 0.05, key=f"opacity-{upload.file_id}",
                        disabled=not show_cam)
    cam = overlay(view, ui.explain(image, result.model, key), opacity)
    if show_cam:
        picture.image(cam, width="stretch", caption=f"{ui.image_caption(image)}. Grad-CAM for {result.label}: "
                                                    "brighter pushed the network more towards it")

    one, two = st.columns(2)
    one.download_button("Overlay (PNG)", lambda: ui.png(cam), f"{stem}-gradcam.png", "image/png",
                        key=f"png-{upload.file_id}", on_click="ignore", icon=":material/download:")
    two.download_button("Result (JSON)", json.dumps({"note": ui.DISCLAIMER, **result.to_json()}, indent=1),
                        f"{stem}-result.json", "application/json", key=f"json-{upload.file_id}",
                        on_click="ignore", icon=":material/download:")
    return {"label": result.label, **{f"P({c})": p for c, p in result.probabilities.items()}, "error": None}


def show_segmentation(upload, image, view: np.ndarray, picture, key: str, stem: str, modality: str) -> dict:
    # 3. The polyp mask, its share of the frame, and the verdict by a rule stated in full.
    found = ui.segment(image, key, modality)
    verdict = "polyp found" if found.found else "no polyp found"
    st.markdown(f"### {verdict.capitalize()}")
    st.markdown(f"The mask covers **{found.area:.2%}** of the frame. A polyp counts as found when the mask covers "
                f"at least {inference.FOUND_AREA:.1%} of the frame; mask = polyp probability ≥ "
                f"{found.threshold:.2f}, a threshold chosen on validation data (model `{found.model}`).")

    # 4. Where: the mask over the frame.
    show_mask = st.toggle("Mask overlay", value=True, key=f"mask-{upload.file_id}")
    opacity = st.slider("Mask opacity", 0.0, 1.0, 0.4, 0.05, key=f"mask-opacity-{upload.file_id}",
                        disabled=not show_mask, help="The outline stays at any opacity.")
    drawn = ui.mask_overlay(view, found.mask, opacity)
    if show_mask:
        picture.image(drawn, width="stretch",
                      caption=f"{ui.image_caption(image)}. The model's polyp mask: green, outlined in yellow")

    one, two, three = st.columns(3)
    one.download_button("Mask (PNG)", lambda: ui.png(found.mask.astype(np.uint8) * 255), f"{stem}-mask.png",
                        "image/png", key=f"mask-png-{upload.file_id}", on_click="ignore", icon=":material/download:",
                        help="White (255) where the polyp is, black (0) elsewhere; the frame's own size.")
    two.download_button("Overlay (PNG)", lambda: ui.png(drawn), f"{stem}-overlay.png", "image/png",
                        key=f"png-{upload.file_id}", on_click="ignore", icon=":material/download:")
    three.download_button("Result (JSON)", json.dumps({"note": ui.DISCLAIMER, **found.to_json()}, indent=1),
                          f"{stem}-result.json", "application/json", key=f"json-{upload.file_id}",
                          on_click="ignore", icon=":material/download:")
    return {"label": verdict, "polyp share": round(found.area, 4), "error": None}


ui.intro("Classify",
         f"Upload a {ui.routed_modalities()} and see what small networks make of it (trained from scratch, "
         "or started from ImageNet photos: each model card says which). "
         "A modality recognizer checks each image first and sends it to the model for its kind; anything else "
         "is refused with the reason.")
ui.disclaimer()
ui.require_models(inference.ROUTER, *inference.CLASSIFIERS.values(), *inference.SEGMENTERS.values())

# No `type=` filter: DICOM files from a PACS often have no extension, and read_image tells a
# PDF, a HEIC photo or a NIfTI volume apart by content and says so, which a type filter cannot.
with ui.settings():
    uploads = ui.upload_or_example("Images: PNG, JPEG, BMP, TIFF, WebP, GIF or DICOM (with or without an extension)",
                                   key="classify-upload", multiple=True, examples=CLASSIFY_EXAMPLES)
if not uploads:
    st.info(f"Upload one or more images, or try an example. Try a {ui.routed_modalities()}, then something that is "
            "none of these.", icon=":material/upload:")
    st.stop()

if len(uploads) > MAX_FILES_PER_RUN:  # one visitor's folder must not hold up the class
    st.warning(f"{len(uploads)} files uploaded; the lab judges at most {MAX_FILES_PER_RUN} at a time, so only the "
               f"first {MAX_FILES_PER_RUN} are shown. Remove some to see the others.", icon=":material/block:")
    uploads = uploads[:MAX_FILES_PER_RUN]

rows = []
for upload in uploads:
    with st.container(border=True):
        rows.append(show(upload))

if len(uploads) > 1:
    st.subheader("Summary")
    table = pd.DataFrame(rows).rename(columns={"error": "refused because"})
    first = ["file", "modality", "label", "refused because"]  # the reason in view, then probabilities, polyp shares
    table = table.reindex(columns=first + [c for c in table if c not in first])
    shown = ui.as_text(table, {c: "{:.1%}" for c in table.columns[4:]}, missing="")  # the CSV keeps numbers
    st.dataframe(shown.fillna(""), hide_index=True,
                 column_config={"refused because": st.column_config.TextColumn(width="large")})
    st.download_button("Summary (CSV)", table.to_csv(index=False), "medlab-classify.csv", "text/csv",
                       on_click="ignore", icon=":material/download:")
