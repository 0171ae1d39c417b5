"""Home: what the lab is, who it is for, its pages, and the shipped models with their measured figures."""
import streamlit as st

import inference
import ui

st.title("MedLab")
st.write("A hands-on lab for deep learning on medical images: upload an image, see what a small network "
         "(trained from scratch, or started from ImageNet photos) makes of it, where it looked, and how far its numbers can be trusted.")
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
PAGES = [  # (page, title, icon, what it does): shown two to a row
    ("classify", "Classify", "image_search",
     f"Upload a {ui.routed_modalities()} (PNG, JPEG, DICOM with CT windows, ...). A modality recognizer checks what "
     "each image is and sends it to the model for its kind: a classifier gives calibrated probabilities and a "
     "Grad-CAM map of where it looked, the polyp segmenter outlines the polyp. Anything else is refused, with the "
     "reason."),
    ("evaluate", "Evaluate", "analytics",
     "How each shipped model measures on held-out test images: accuracy, sensitivity and specificity at two "
     "thresholds, confusion matrices, ROC and precision-recall curves, and whether its probabilities can be taken "
     "at face value (calibration); for the segmenter, Dice per image and its worst images."),
    ("super_resolution", "Super-resolution", "zoom_in",
     "Any image four times larger: bicubic, SRResNet and SRGAN side by side under one zoom window, or an image you "
     "have at high resolution downscaled and restored, with PSNR and SSIM against the original."),
    ("adapt", "Domain adaptation", "transform",
     "Why a model that is near-perfect on its own data fails on data that merely looks different, and how a GAN "
     "(PixelDA) closes that gap without a single label from the new domain: digits from MNIST turned into "
     "MNIST-M's photo style, before and after accuracy, and where each classifier puts the two domains."),
    ("generate", "Generate", "auto_awesome",
     "New images from the shipped GANs by class label and seed, each with what an independent classifier reads in "
     "it, and how well each generator measured: is the class recognisable, is there variety."),
    ("latent_space", "Latent space", "scatter_plot",
     "What a VAE's few numbers hold: walk between two images or two random codes, see a whole test set laid out by "
     "the encoder, move one slider per dimension of an endoscopy VAE, and see how well an image of yours is "
     "redrawn from its code."),
    ("gan_lab", "GAN lab", "model_training",
     "Train a small GAN live: points learning a ring, a spiral or a shape you paint, or digits appearing out of "
     "noise; change the loss and learning rates while it runs and watch both players."),
]
for row in range(0, len(PAGES), 2):
    for column, (page, title, icon, text) in zip(st.columns(2), PAGES[row:row + 2]):
        with column.container(border=True):
            st.page_link(f"app_pages/{page}.py", label=f"**{title}**", icon=f":material/{icon}:")
            st.write(text)

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
