"""MedLab: a hands-on teaching lab for deep learning on medical images.

    streamlit run app.py

The router only: every page is a short script in app_pages/. To add a page, write
app_pages/<name>.py and add its line to ui.PAGES (the sidebar and the Home page list them in that order).

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

page = st.navigation([st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True)]
                     + [st.Page(f"app_pages/{p.name}.py", title=p.title, icon=f":material/{p.icon}:") for p in ui.PAGES])

with st.sidebar:
    ui.presentation_toggle()
    page_settings = st.container()  # while presenting, the page's settings (ui.settings), first under the switch
    sources = ui.model_sources()
    st.caption(ui.DISCLAIMER)

with inference.use_sources(sources), ui.settings_in(page_settings):  # this visitor's choices, for this run only
    page.run()
