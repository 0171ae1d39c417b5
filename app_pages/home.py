"""Home: what the lab is, who it is for, its pages, and the shipped models with their measured figures."""
import streamlit as st

import inference
import ui

st.title("MedLab")
st.write("A hands-on lab for deep learning on medical images: upload an image, see what a small network "
         "trained from scratch makes of it, where it looked, and how far its numbers can be trusted.")
st.warning("**A teaching tool, not a medical device.** Never use it to diagnose, triage or treat anyone. "
           "The models are small, trained on one public data set each, and are wrong in ways this lab is "
           "built to show.", icon=":material/school:")

st.header("Who it is for")
st.markdown(
    "- **Instructors**, projecting it in a lecture: every page works from one screen, top to bottom, "
    "with large figures.\n"
    "- **Students**, opening it as a hosted Space: try your own images, including ones the models were "
    "never meant for, and see how the lab refuses them.")

st.header("The pages")
classify, evaluate = st.columns(2)
super_resolution, adapt = st.columns(2)
with classify.container(border=True):
    st.page_link("app_pages/classify.py", label="**Classify**", icon=":material/image_search:")
    st.write(f"Upload a {ui.routed_modalities()} (PNG, JPEG, DICOM with CT windows, ...). A modality recognizer "
             "checks what each image is and sends it to the model for its kind: a classifier gives calibrated "
             "probabilities and a Grad-CAM map of where it looked, the polyp segmenter outlines the polyp. "
             "Anything else is refused, with the reason.")
with evaluate.container(border=True):
    st.page_link("app_pages/evaluate.py", label="**Evaluate**", icon=":material/analytics:")
    st.write("How each shipped model measures on held-out test images: accuracy, sensitivity and specificity "
             "at two thresholds, confusion matrices, ROC and precision-recall curves, and whether its "
             "probabilities can be taken at face value (calibration); for the segmenter, Dice per image and "
             "its worst images.")
with super_resolution.container(border=True):
    st.page_link("app_pages/super_resolution.py", label="**Super-resolution**", icon=":material/zoom_in:")
    st.write("Any image four times larger: bicubic, SRResNet and SRGAN side by side under one zoom window, or an "
             "image you have at high resolution downscaled and restored, with PSNR and SSIM against the original.")

with adapt.container(border=True):
    st.page_link("app_pages/adapt.py", label="**Domain adaptation**", icon=":material/transform:")
    st.write("Why a model that is near-perfect on its own data fails on data that merely looks different, and how "
             "a GAN (PixelDA) closes that gap without a single label from the new domain: digits from MNIST "
             "turned into MNIST-M's photo style, before and after accuracy, and where each classifier puts the "
             "two domains.")

generate, latent_space = st.columns(2)
with generate.container(border=True):
    st.page_link("app_pages/generate.py", label="**Generate**", icon=":material/auto_awesome:")
    st.write("New images from the shipped GANs by class label and seed, each with what an independent classifier "
             "reads in it, and how well each generator measured: is the class recognisable, is there variety.")
with latent_space.container(border=True):
    st.page_link("app_pages/latent_space.py", label="**Latent space**", icon=":material/scatter_plot:")
    st.write("What a VAE's few numbers hold: walk between two images or two random codes, see a whole test set "
             "laid out by the encoder, move one slider per dimension of an endoscopy VAE, and see how well an "
             "image of yours is redrawn from its code.")

gan_lab, _ = st.columns(2)
with gan_lab.container(border=True):
    st.page_link("app_pages/gan_lab.py", label="**GAN lab**", icon=":material/model_training:")
    st.write("Train a small GAN live: points learning a ring, a spiral or a shape you paint, or digits appearing "
             "out of noise; change the loss and learning rates while it runs and watch both players.")

st.header("The shipped models")
names = ui.shipped_models()
if not names:
    st.info(f"No trained weights in `{inference.WEIGHTS}` yet. Train them with `train.py` (see the README); "
            "the pages say what they need.")
for name in names:
    with st.container(border=True):
        st.markdown(f"**{ui.model_title(name)}** (`weights/{name}`)")
        evaluation = ui.read_eval(name)
        if evaluation is None:
            st.caption(f"Not evaluated yet: run `python evaluate.py {name} --split test`.")
        else:
            st.write(ui.headline(evaluation))
            st.caption(f"Measured by `{evaluation.get('command', 'evaluate.py')}`.")
