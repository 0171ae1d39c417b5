"""Home: what the lab is, its pages in the sidebar's order, one line each, and the shipped models' measured figures."""
import streamlit as st

import results
import ui
import weights_dir

st.title("MedLab")
st.write("A hands-on lab for deep learning on medical images: what small networks make of an image, where they "
         "looked, and how far to trust them. Projecting it? **Presentation**, in the sidebar, puts each page's result "
         "first.")
st.warning("**A teaching tool, not a medical device.** Never use it to diagnose, triage or treat anyone: its models "
           "are small, and wrong in ways this lab is built to show.", icon=":material/school:")

for page in ui.PAGES:
    link, does = st.columns([1, 4], vertical_alignment="center")
    link.page_link(f"app_pages/{page.name}.py", label=f"**{page.title}**", icon=f":material/{page.icon}:")
    does.write(page.does)

names = ui.shipped_models()
if not names:
    st.info(f"No trained weights in `{weights_dir.root()}` yet. Train them with `train.py` (see the README); the "
            "pages say what they need.")
    st.stop()
with st.expander(f"The {len(names)} shipped models and what they measured", icon=":material/model_training:"):
    for name in names:
        st.markdown(f"**{ui.model_title(name)}** (`weights/{name}`)")
        evaluation = ui.read_eval(name)
        if evaluation is None:
            st.caption(f"Not evaluated yet: run `python evaluate.py {name} --split test`.")
        else:
            st.caption(f"{results.headline(evaluation)} Measured by `{evaluation.get('command', 'evaluate.py')}`.")
