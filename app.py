"""MedLab: a hands-on teaching lab for deep learning on medical images.

    streamlit run app.py

The router only: every page is a short script in app_pages/. To add a page, write
app_pages/<name>.py and add one st.Page line below.

Why app_pages/ and not pages/: a folder named pages/ beside app.py switches Streamlit into its
legacy auto-discovery, and then a server's first visitor who follows a link straight to a page
(say /classify) gets that page without this router: no sidebar note, no layout, a wrong menu.
"""
import streamlit as st

import inference
import ui

inference.configure_server()  # torch threads for many visitors on 2 cores (limits.py); logs each model load
# An emoji icon is drawn by the browser itself: a ":material/...:" page icon is fetched from a font CDN, offline too.
st.set_page_config(page_title="MedLab", page_icon="🩻", layout="wide")

page = st.navigation([
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/classify.py", title="Classify", icon=":material/image_search:"),
    st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("app_pages/super_resolution.py", title="Super-resolution", icon=":material/zoom_in:"),
    st.Page("app_pages/adapt.py", title="Domain adaptation", icon=":material/transform:"),
    st.Page("app_pages/gan_lab.py", title="GAN lab", icon=":material/model_training:"),
    st.Page("app_pages/latent_space.py", title="Latent space", icon=":material/scatter_plot:"),
    st.Page("app_pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
])

with st.sidebar:
    st.caption(ui.DISCLAIMER)
    sources = ui.model_sources()

with inference.use_sources(sources):  # this visitor's choice, for this run of the page only
    page.run()
