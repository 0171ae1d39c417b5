"""GAN lab: train a small GAN live, on a 2-D distribution or on MNIST digits, and watch both players learn."""
import io

import numpy as np
import pandas as pd
import streamlit as st
import torch

import charts
import limits
import ui
from live_gan import TOYS, Digits, Drawn, LabSettings, LiveGAN
from models.gan_losses import LOSSES

TICK = 0.5  # seconds between two redraws while training runs
WORK_PER_TICK = 0.3  # seconds of training per redraw, inside one of the server's long slots
DRAW, DIGITS = "Draw your own", "MNIST digits"
RATES = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3]

ui.intro("GAN lab",
         "A generator turns random noise into samples and a discriminator tries to tell them from real "
         "data; each learns from the other. Pick the real data, a loss and learning rates, press **Train**, and "
         "watch the generated samples (purple) move onto the real ones (green) while the discriminator's verdict "
         "(the background) changes under them.")


@st.cache_resource
def training_digits() -> Digits:
    """MNIST's 60,000 training digits (uint8, 47 MB), else the 2,000 bundled in examples/: read once per server
    and shared by every visitor."""
    return Digits(ui.mnist_digits("train")[0])


# -- the real data and the settings ---------------------------------------------------------------------
choices = list(TOYS) + ([DRAW] if ui.HAS_CANVAS else []) + [DIGITS]
with ui.settings():
    left, right = ui.side_by_side([3, 2])
    data_choice = left.radio("Real data", choices, horizontal=True)
    loss = right.selectbox("Loss", LOSSES, help="non-saturating: the original GAN; least-squares: LSGAN; wgan-gp: "
                           "Wasserstein with gradient penalty (a critic, 5 updates per generator update is usual); "
                           "hinge: SAGAN's.")
    a, b, c = ui.side_by_side(3)
    lr_generator = a.select_slider("Generator learning rate", RATES, value=1e-3, format_func=lambda r: f"{r:g}")
    lr_discriminator = b.select_slider("Discriminator learning rate", RATES, value=1e-3,
                                       format_func=lambda r: f"{r:g}")
    discriminator_steps = c.number_input("Discriminator steps per generator step", 1, 5,
                                         value=5 if loss == "wgan-gp" else 1, key=f"d-steps-{loss}")
    st.caption(f"Everything here trains from scratch in your browser session, for at most "
               f"{limits.LIVE_TRAINING_SECONDS} seconds of computing per run, sharing the server's processors with "
               "other visitors in short turns.")
settings = LabSettings(loss=loss, lr_generator=lr_generator, lr_discriminator=lr_discriminator,
                       discriminator_steps=int(discriminator_steps))

if data_choice == DIGITS:
    real, dim, identity = training_digits(), 784, DIGITS
    st.caption(f"Real data: {ui.mnist_digits('train')[2]}.")
elif data_choice == DRAW:
    painted = ui.draw_distribution()
    if painted is None:
        st.stop()
    try:
        real = Drawn(painted)
    except ValueError as error:
        st.warning(str(error))
        st.stop()
    dim, identity = 2, f"{DRAW}-{hash(painted.tobytes())}"  # a new drawing is new data: a new GAN
else:
    real, dim, identity = TOYS[data_choice], 2, data_choice

# -- this visitor's GAN: a new one for new data or on Reset, else the one they were training ------------
state = st.session_state
if state.get("lab-identity") != identity:
    state["lab"], state["lab-identity"], state["lab-running"] = LiveGAN(real, dim=dim), identity, False
lab: LiveGAN = state["lab"]
lab.configure(settings)
spent = lab.seconds >= limits.LIVE_TRAINING_SECONDS

play, step, reset, _ = st.columns([1, 1, 1, 3])
if play.button("Pause" if state["lab-running"] else "Train", icon=":material/pause:" if state["lab-running"]
               else ":material/play_arrow:", type="primary", disabled=spent and not state["lab-running"]):
    state["lab-running"] = not state["lab-running"]
    st.rerun()
if step.button("One step", icon=":material/skip_next:", disabled=spent or state["lab-running"]):
    lab.train(steps=1)
if reset.button("Reset", icon=":material/restart_alt:"):
    state["lab"], state["lab-running"] = LiveGAN(real, dim=dim), False
    st.rerun()


@st.fragment(run_every=TICK if state["lab-running"] else None)
def live() -> None:
    """Train a little (while running), then draw where the GAN stands."""
    if not state["lab-running"]:
        return draw()
    lab.turn(WORK_PER_TICK, show=after_training)  # train, draw, rest: one turn in one of the long slots


def after_training() -> None:
    if lab.seconds >= limits.LIVE_TRAINING_SECONDS:
        state["lab-running"] = False
        st.rerun()  # the whole page: the timer stops and the buttons show the budget is spent
    draw()


def draw() -> None:
    st.progress(min(1.0, lab.seconds / limits.LIVE_TRAINING_SECONDS),
                text=f"step {lab.steps:,} · {lab.seconds:.0f} of {limits.LIVE_TRAINING_SECONDS} s of training")
    if lab.seconds >= limits.LIVE_TRAINING_SECONDS:
        st.info("This run has used its training time. **Reset** starts a new one.")
    picture, curves = st.columns([3, 2])
    with picture:
        if dim == 2:
            axis, field = lab.field()
            shown_real = real(512, torch.Generator().manual_seed(0)).numpy()  # the same real points each time
            st.plotly_chart(charts.gan_field(axis, field, shown_real, lab.shown().numpy(),
                                             caption="Real and generated samples over the discriminator's verdict"),
                            key="lab-field")
        else:
            digits = lab.shown().numpy()  # (36, 28, 28) in [0, 1]
            sheet = np.concatenate([np.concatenate(list(digits[r * 6:(r + 1) * 6]), axis=1) for r in range(6)])
            st.image((sheet * 255).astype(np.uint8), width=420,
                     caption="36 generated digits, the same noise every time: they change as the generator learns")
            st.download_button("Download these digits (PNG)", ui.png((sheet * 255).astype(np.uint8)),
                               file_name=f"gan-lab-step-{lab.steps}.png", mime="image/png")
    with curves:
        if lab.steps:
            st.plotly_chart(charts.gan_losses(lab.history, lab.settings.loss), key="lab-losses")
            buffer = io.StringIO()
            pd.DataFrame(lab.history).to_csv(buffer, index=False)
            st.download_button("Download the losses (CSV)", buffer.getvalue(), file_name="gan-lab-losses.csv",
                               mime="text/csv")
        else:
            st.caption("The losses appear here once training starts.")


live()
