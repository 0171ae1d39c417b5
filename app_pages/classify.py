"""Classify: each uploaded image is routed by the modality recognizer, then classified or refused."""
import io
import json
from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image

import charts
import inference
import ui
from images import MAX_UPLOAD_BYTES, ImageReadError, read_image, to_pil
from saliency import overlay


def png(pixels) -> bytes:
    """(H, W, 3) uint8 -> PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def show(upload) -> dict:
    """One uploaded file: the image, the modality route, then the result or the refusal; returns its summary row."""
    st.subheader(upload.name)
    try:
        image = read_image(upload, name=upload.name)
    except ImageReadError as error:  # says what is wrong with the file; the other files go on
        st.error(str(error))
        return {"file": upload.name, "error": str(error)}

    left, right = st.columns([2, 3], gap="large")
    picture = left.empty()  # the image now; the Grad-CAM overlay replaces it below if the user wants it
    picture.image(to_pil(image), caption=f"{image.format}, {image.width} x {image.height} px", width="stretch")

    with right:
        # 1. What is this image? All four modality probabilities, because the refusal depends on them.
        seen = inference.recognize(image)
        best = max(seen, key=seen.get)
        st.markdown(f"**Modality recognizer:** {inference.MODALITY_NAMES[best]} ({seen[best]:.0%})")
        st.caption(" · ".join(f"{inference.MODALITY_NAMES[m]} {p:.0%}" for m, p in seen.items()))
        names = {None: "what the recognizer says", **inference.MODALITY_NAMES}
        modality = st.selectbox("Treat the image as", list(names), format_func=names.get,
                                key=f"modality-{upload.file_id}")

        # 2. The model call: the recognizer routes (or the user overrides), the classifier judges or refuses.
        result = inference.classify(image, modality=modality, seen=seen)

        if result.refusal:
            st.warning(result.refusal, icon=":material/block:")
            return {"file": upload.name, "modality": inference.MODALITY_NAMES[result.modality], "error": result.refusal}
        if modality not in (None, best):
            st.warning(f"You overrode the recognizer (it says {inference.MODALITY_NAMES[best]}). A classifier answers "
                       "for any image, even one unlike anything it was trained on: that is why the lab routes first.")

        # 3. The result: the label, and the calibrated probability against the threshold that decided it.
        positive = list(result.probabilities)[-1]  # the second class, e.g. PNEUMONIA
        p = result.probabilities[positive]
        st.markdown(f"### {result.label}")
        st.markdown(f"P({positive}) = **{p:.1%}**, calibrated; the decision threshold {result.threshold:.2f} was "
                    f"chosen on validation data (model `{result.model}`).")
        st.plotly_chart(charts.probability_bar(p, result.threshold, positive), key=f"bar-{upload.file_id}",
                        config={"displayModeBar": False})

        # 4. Where it looked.
        show_cam = st.toggle("Grad-CAM overlay", value=True, key=f"cam-{upload.file_id}",
                             help="Where the network looked for its decision; not why a clinician would decide.")
        opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.45, 0.05, key=f"opacity-{upload.file_id}",
                            disabled=not show_cam)
        cam = overlay(image.pixels, ui.explain(image, result.model, upload.file_id), opacity)
        if show_cam:
            picture.image(cam, caption=f"Grad-CAM for {result.label}: brighter pushed the network more towards it",
                          width="stretch")

        stem = Path(upload.name).stem
        one, two = st.columns(2)
        one.download_button("Overlay (PNG)", lambda: png(cam), f"{stem}-gradcam.png", "image/png",
                            key=f"png-{upload.file_id}", on_click="ignore", icon=":material/download:")
        two.download_button("Result (JSON)", json.dumps({"note": ui.DISCLAIMER, **result.to_json()}, indent=1),
                            f"{stem}-result.json", "application/json", key=f"json-{upload.file_id}",
                            on_click="ignore", icon=":material/download:")
    return {"file": upload.name, "modality": inference.MODALITY_NAMES[result.modality], "label": result.label,
            f"P({positive.lower()})": round(p, 4), "error": None}


st.title("Classify")
st.write("Upload chest X-rays and see what a small network trained from scratch makes of them. A modality "
         "recognizer checks each image first: only a frontal chest X-ray reaches the pneumonia classifier, "
         "anything else is refused with the reason.")
ui.disclaimer()
ui.require_models(inference.ROUTER, *inference.CLASSIFIERS.values())

# No `type=` filter: DICOM files from a PACS often have no extension, and read_image tells a
# PDF, a HEIC photo or a NIfTI volume apart by content and says so, which a type filter cannot.
uploads = st.file_uploader("Images: PNG, JPEG, BMP, TIFF, WebP, GIF or DICOM (with or without an extension)",
                           accept_multiple_files=True, max_upload_size=MAX_UPLOAD_BYTES // 2**20)
if not uploads:
    st.info("Upload one or more images to begin. Try a chest X-ray, then something that is not one.",
            icon=":material/upload:")
    st.stop()

rows = []
for upload in uploads:
    with st.container(border=True):
        rows.append(show(upload))

if len(uploads) > 1:
    st.subheader("Summary")
    table = pd.DataFrame(rows)
    first = ["file", "modality", "label"]  # then the probabilities, then the errors
    table = table.reindex(columns=first + [c for c in table if c not in (*first, "error")] + ["error"])
    st.dataframe(table, hide_index=True)
    st.download_button("Summary (CSV)", table.to_csv(index=False), "medlab-classify.csv", "text/csv",
                       on_click="ignore", icon=":material/download:")
