"""Adapt: the domain gap between MNIST and MNIST-M, and PixelDA closing it without a target label."""
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

import adaptation
import charts
import ui
from images import to_tensor

SOURCE_ONLY, ADAPTED = "mnist-source-only", "mnist-m-pixelda"
SEEDS = [0, 1, 2, 3, 4]  # noise vectors shown: the same digit in several target styles
PROJECTED = 300  # images per domain in the feature projection

ui.intro("Domain adaptation",
         "A digit classifier trained on MNIST reads MNIST test digits almost perfectly and MNIST-M digits (the "
         "same kind of digits blended into photos) poorly: the **domain gap**. PixelDA (Bousmalis et al., 2017) "
         "learns to turn MNIST digits into MNIST-M-style images without a single MNIST-M label, and a classifier "
         "trained on those translations closes most of the gap.")
ui.require_models(SOURCE_ONLY, ADAPTED)
source_only, adapted = ui.load_model(SOURCE_ONLY), ui.load_model(ADAPTED)

# -- before and after: what evaluate.py measured --------------------------------------------------
st.subheader("Before and after adaptation")
rows, commands = [], []
for name, label in ((SOURCE_ONLY, "Source only: trained on labelled MNIST"),
                    (ADAPTED, "PixelDA: labelled MNIST + unlabelled MNIST-M-style images")):
    evaluation = ui.read_eval(name)
    if evaluation and "source" in evaluation:
        rows.append({"classifier": label, "MNIST test": evaluation["source"]["accuracy"],
                     "MNIST-M test": evaluation["accuracy"]})
        commands.append(evaluation["command"])
if rows:
    percent = st.column_config.NumberColumn(format="percent")
    st.dataframe(pd.DataFrame(rows), hide_index=True,
                 column_config={"MNIST test": percent, "MNIST-M test": percent})
    st.caption(f"Accuracy on MNIST test (10,000 digits) and the real MNIST-M test split (9,001 images, never "
               f"seen in training), measured by `{'` and `'.join(commands)}`.")
else:
    st.info(f"Not evaluated yet: run `python evaluate.py {SOURCE_ONLY}` and `python evaluate.py {ADAPTED}`.")


# -- one digit, translated ---------------------------------------------------------------------------
@st.cache_data(show_spinner="Reading MNIST-M ...")
def mnist_m_test(root: str | None) -> np.ndarray | None:
    """The real MNIST-M test images (image i is MNIST test digit i in a photo), if the data root has them."""
    path = Path(root or ".") / "mnist_m/mnist_m_test.npz"
    return np.load(path)["images"] if root and path.is_file() else None


st.subheader("Translate a digit")
root = ui.data_root()
images, labels, digits_from = ui.mnist_digits("t10k")  # the data root's, else the ones bundled in examples/
mnist_m = mnist_m_test(str(root) if root else None)
choices = ["A test digit", "Upload"] + (["Draw"] if ui.HAS_CANVAS else [])
how = st.radio("Digit", choices, horizontal=True, label_visibility="collapsed")

digit, truth, real_target = None, None, None  # (1, 3, H, W) in [0, 1]; its label and real MNIST-M image if known
if how == "A test digit":
    index = int(st.number_input("MNIST test digit number", 0, len(images) - 1, 0, step=1, help=f"From {digits_from}."))
    digit = torch.tensor(images[index]).float().div(255)[None, None].expand(1, 3, -1, -1)
    truth = str(labels[index])
    real_target = mnist_m[index] if mnist_m is not None and index < len(mnist_m) else None
elif how == "Upload":
    uploaded = ui.upload_or_example("A digit, light on a dark background as in MNIST", key="digit-upload",
                                    examples=["mnist-digit-7.png", "mnist-digit-2.png"])
    invert = st.checkbox("My digit is dark on light paper: invert it first")
    image = ui.read_upload(uploaded[0]) if uploaded else None
    if image is not None:
        digit = to_tensor(image, channels=3)
        digit = 1 - digit if invert else digit
else:
    drawn = ui.draw_digit()  # (28, 28) in [0, 1], framed as MNIST digits are
    if drawn is not None:
        digit = torch.from_numpy(drawn)[None, None].expand(1, 3, -1, -1)

if digit is None:
    st.info("Pick, upload or draw a digit to see it translated.")
else:
    # One model call: the digit with each seed's noise vector, as a batch.
    noise = torch.cat([adapted.noise(1, torch.Generator().manual_seed(s)) for s in SEEDS])
    translated = adaptation.translate(adapted, digit, noise)  # (n, 3, 32, 32)
    shown = torch.cat([adapted.prepare(digit) * 0.5 + 0.5, translated])  # the input as the models see it, first
    readings = adaptation.read({SOURCE_ONLY: source_only, ADAPTED: adapted}, shown)
    pixels = (shown.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)

    def reading(i: int) -> str:
        return "  \n".join(f"{who}: **{int(p[i].argmax())}** ({float(p[i].max()):.0%})"  # two spaces: a line break
                          for who, p in (("source only", readings[SOURCE_ONLY]), ("PixelDA", readings[ADAPTED])))

    columns = st.columns(len(shown) + (real_target is not None))
    columns[0].image(pixels[0], width="stretch", caption="input" + (f" (label {truth})" if truth else ""))
    columns[0].markdown(reading(0))
    for i, seed in enumerate(SEEDS, start=1):
        columns[i].image(pixels[i], width="stretch", caption=f"translated, seed {seed}")
        columns[i].markdown(reading(i))
    if real_target is not None:
        real = torch.tensor(real_target).permute(2, 0, 1)[None].float() / 255
        columns[-1].image(real_target, width="stretch", caption="the real MNIST-M image of this digit")
        read = {who: int(p.argmax()) for who, p in adaptation.read({"source only": source_only, "PixelDA": adapted},
                                                                    real).items()}
        columns[-1].markdown("  \n".join(f"{who}: **{value}**" for who, value in read.items()))
    st.caption("Each seed is another noise vector z: the generator keeps the digit and changes the photo and colours. "
               "Percentages: the classifier's softmax, uncalibrated.")
    st.download_button("Download the translations (PNG)", ui.png(np.concatenate(list(pixels), axis=1)),
                       file_name="pixelda-translations.png", mime="image/png")


# -- the features: where each classifier puts the two domains ---------------------------------------
@st.cache_data(show_spinner="Projecting features ...")
def projection(root: str, n: int) -> dict:
    """PCA (2 components) of each classifier's last hidden layer on n MNIST test and n MNIST-M test images."""
    images, labels, _ = ui.mnist_digits("t10k")
    mnist_m = mnist_m_test(root)
    available = min(len(images), len(mnist_m))
    pick = np.random.default_rng(0).choice(available, min(n, available), replace=False)
    n = len(pick)
    source = torch.tensor(images[pick]).float().div(255)[:, None].expand(-1, 3, -1, -1)
    target = torch.tensor(mnist_m[pick]).permute(0, 3, 1, 2).float() / 255
    result = {}
    for name, model in ((SOURCE_ONLY, source_only), (ADAPTED, adapted)):
        features = torch.cat([adaptation.features(model, source), adaptation.features(model, target)])  # (2n, 100)
        centred = features - features.mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        result[name] = (centred @ v[:2].T).numpy()  # (2n, 2)
    return {"points": result, "labels": np.concatenate([labels[pick], labels[pick]]),
            "domains": ["MNIST"] * n + ["MNIST-M"] * n}


st.subheader("Where the classifiers put the two domains")
if mnist_m is None:
    st.info("The projection needs the MNIST-M test images (`MEDLAB_DATA`), which cannot be bundled here.")
else:
    projected = projection(str(root), PROJECTED)
    st.plotly_chart(charts.domain_projection(projected, {SOURCE_ONLY: "Source only", ADAPTED: "PixelDA"}),
                    key="projection")
    st.caption(f"PCA of each classifier's last hidden layer (100 features) for {PROJECTED} MNIST test and "
               f"{PROJECTED} MNIST-M test images (the same digits). Before adaptation the MNIST-M images crowd "
               "together apart from the MNIST clusters; after, they fall into the digit clusters.")
ui.disclaimer()
