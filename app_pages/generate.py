"""Generate: new images from the shipped GANs by class and seed, each with an independent classifier's verdict."""
import pandas as pd
import streamlit as st

import generators
import ui

ui.intro("Generate",
         "A generative adversarial network (GAN) learned to make new images of each class from random "
         "noise: pick a model, a class and a seed, and see what it makes. Below each image, an independently trained "
         "classifier (the *judge*) says which class it sees: the same seed always gives the same images.")

names = generators.shipped()
if not names:
    st.info("No generator is shipped yet. Train one, for example\n\n"
            "`python train.py acgan --dataset mnist --image-size 32 --widths 128 64 32 --out weights/acgan-mnist ...`"
            "\n\n(see the README), then `python evaluate.py acgan-mnist`; then reload this page.")
    st.stop()

with ui.settings():
    name = st.selectbox("Generator", names, format_func=ui.model_title)
ui.require_models(name)
model = ui.load_model(name)
meta, measured = generators.facts(name)
judge_name = generators.judge_of(name)
judge = ui.load_model(judge_name) if judge_name and judge_name in ui.shipped_models() else None

with ui.settings():
    left, middle, right, last = ui.side_by_side(4)
    if model.conditional:
        label = left.selectbox("Class", model.class_names)
    else:
        label = None
        left.caption("Unconditional (DCGAN): it cannot be asked for a class; the judge says what each image shows.")
    count = middle.slider("Images", 1, generators.MAX_IMAGES, 16)
    seed = int(right.number_input("Seed", 0, 2**31 - 1, 0, step=1))
    truncate = last.toggle("Truncation", help="Redraw every noise entry beyond the limit: more typical, less varied "
                                              "images.")
    truncation = last.slider("Limit |z|", 0.25, 3.0, 1.0, 0.25) if truncate else None

try:
    made = generators.sample(model, label, count, seed, truncation=truncation, judge=judge)  # the one model call
except ValueError as error:
    st.error(str(error))
    st.stop()

columns = st.columns(8)
scale = max(1, 96 // model.config.image_size)
for i, image in enumerate(made.images):
    caption = f"#{i}"
    if made.verdicts:
        seen, p = made.verdicts[i]
        mark = "" if label is None else (" ✓" if seen == label else " ✗")
        caption = f"{seen} {p:.0%}{mark}"
    columns[i % 8].image(generators.png(image, scale=scale), caption=caption, width="stretch")
if made.verdicts:
    st.caption(f"Under each image: the class the judge `{made.judge}` reads in it and its probability"
               + (" (✓: the class asked for)." if label is not None else "."))
else:
    st.caption("No judge is shipped for this data set, so the images go without a verdict.")

stem = f"{name}-{label or 'any'}-seed{seed}"
down_grid, down_zip = st.columns(2)
down_grid.download_button("Download the grid (PNG)", generators.png(generators.grid(made.images)), file_name=f"{stem}.png",
                          mime="image/png")
down_zip.download_button("Download the images (ZIP of PNGs)", generators.zip_of_pngs(made.images, stem),
                         file_name=f"{stem}.zip", mime="application/zip")

# -- how it was trained and what its numbers mean: read from the model card and eval.json ---------------
st.subheader("How this generator was trained, and how good it is")
settings = meta.get("settings", {})
st.markdown(f"{meta.get('summary', '')}  \nTrained with `{meta.get('train_command', 'not recorded')}`; "
            f"{settings.get('epochs run', '?')} epochs, loss: {model.config.loss}; "
            f"{settings.get('model selection', '')}")
if not measured:
    st.info(f"Not measured yet: run `python evaluate.py {name}`.")
else:
    st.dataframe(pd.DataFrame(generators.measured_rows(measured)), hide_index=True,
                 column_config=generators.measured_columns())
    st.markdown(generators.MEANINGS)
    st.caption(f"Measured by `{measured['command']}`. {measured['protocol']}")
with st.expander("Model card", icon=":material/description:"):
    st.markdown(ui.model_card(name))
ui.disclaimer()
