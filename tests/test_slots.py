"""Compute slots: every model call the app makes holds one, taken by the serving layer (never by a page), and a
slot taken inside another never deadlocks."""
import re
import threading
from pathlib import Path

import pytest
import streamlit as st
import torch

import cards
import inference
import models
from conftest import tiny_model
from test_app import png_bytes, run, upload, write_tiny_weights

ROOT = Path(__file__).resolve().parent.parent
# The methods that run a family's networks for an answer (STYLE.md, "the one interface every model family exposes").
MODEL_CALLS = ("predict", "predict_with_members", "sample", "encode", "decode", "translate", "features", "embedding")


@pytest.fixture
def one_slot_each(monkeypatch):
    """One short and one long slot: a second acquisition by the same thread would block for good."""
    monkeypatch.setattr(inference, "_COMPUTE", threading.BoundedSemaphore(1))
    monkeypatch.setattr(inference, "_LONG", threading.BoundedSemaphore(1))


def finishes(work, seconds: float = 10) -> bool:
    """Whether `work()` returns within `seconds`, run in a thread of its own (a deadlock would hang the test)."""
    done = threading.Event()
    threading.Thread(target=lambda: (work(), done.set()), daemon=True).start()
    return done.wait(seconds)


def free() -> bool:
    """Whether both slots are free again (none was leaked)."""
    taken = [slots.acquire(blocking=False) for slots in (inference._COMPUTE, inference._LONG)]
    for slots, ok in zip((inference._COMPUTE, inference._LONG), taken):
        if ok:
            slots.release()
    return all(taken)


def test_a_slot_taken_inside_another_goes_on_in_the_outer_one(one_slot_each):
    kinds = []

    def nested():
        with inference.computing():
            with inference.computing():  # e.g. generators.sample inside another helper's slot
                kinds.append(inference.holding())
        with inference.computing("long"):
            with inference.computing("short"):  # a short call within long work: the long slot bounds it
                kinds.append(inference.holding())
        kinds.append(inference.holding())

    assert finishes(nested), "a nested slot deadlocked"
    assert kinds == ["short", "long", None] and free()


def test_long_work_inside_a_short_slot_is_refused(one_slot_each):
    with inference.computing():
        with pytest.raises(RuntimeError, match="take the long slot first"):
            with inference.computing("long"):
                pass
    assert free()


def test_the_guard_is_per_thread_another_visitor_still_waits(one_slot_each):
    with inference.computing():  # this thread holds the only short slot
        assert not finishes(lambda: inference.computing().__enter__(), seconds=0.3)  # another thread waits for it


def test_no_page_takes_a_slot_or_runs_a_network_itself():
    """Pages call the serving layer (inference, generators, superres, latent, adaptation, LiveGAN), which takes the
    slots: a page with a model call of its own could forget one."""
    call = re.compile(r"\b(\w+)\.(" + "|".join(MODEL_CALLS) + r")\(")
    serving = {"inference", "generators", "superres", "latent", "adaptation", "ui"}
    for page in sorted((ROOT / "app_pages").glob("*.py")):
        source = page.read_text()
        assert "computing(" not in source, f"{page.name} takes a compute slot itself"
        direct = [f"{who}.{method}" for who, method in call.findall(source) if who not in serving]
        assert not direct, f"{page.name} calls {', '.join(direct)} itself, outside the serving layer"


# -- each page, run: every model call it makes is inside a slot ------------------------------------------------


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, str | None]]:
    """(family.method, the slot held) for every call of a family's MODEL_CALLS while the test runs."""
    seen = []

    def recording(real, name):
        def call(self, *args, **kwargs):
            seen.append((name, inference.holding()))
            return real(self, *args, **kwargs)
        return call

    for family in models.names():
        cls = models.get(family)
        for method in MODEL_CALLS:
            if hasattr(cls, method):
                monkeypatch.setattr(cls, method, recording(getattr(cls, method), f"{family}.{method}"))
    return seen


def use(monkeypatch, folder: Path) -> None:
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(folder))
    inference.load_model.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()


def test_the_generate_page_samples_and_judges_in_a_slot(tmp_path, monkeypatch, calls):
    torch.manual_seed(0)
    tiny_model("acgan", class_names=["NORMAL", "PNEUMONIA"]).save_pretrained(tmp_path / "acgan-cxr")
    cards.write(tmp_path / "acgan-cxr", {"name": "acgan-cxr", "family": "acgan", "dataset": "chest_xray"})
    tiny_model("classifier").save_pretrained(tmp_path / "cxr-pneumonia")  # its judge (evaluators.EVALUATORS)
    use(monkeypatch, tmp_path)
    run("app_pages/generate.py")
    assert ("acgan.sample", "short") in calls and ("classifier.predict", "short") in calls  # the judge's verdicts
    assert all(held for _, held in calls), calls


def test_the_latent_page_decodes_and_encodes_in_slots(tmp_path, monkeypatch, calls):
    torch.manual_seed(0)
    tiny_model("vae", in_channels=1, class_names=["0", "1"]).save_pretrained(tmp_path / "endovae-kvasir")  # 2-D latent
    use(monkeypatch, tmp_path)
    at = run("app_pages/latent_space.py")
    for view in ("Map", "Sliders", "Reconstruct"):  # Interpolate first, then each other view
        at.radio[0].set_value(view).run()
        assert not at.exception, at.exception
    upload(at, ("digit.png", png_bytes(28)))
    assert {"vae.decode", "vae.encode"} <= {name for name, _ in calls}
    assert all(held == "short" for _, held in calls), calls


def test_the_adapt_page_translates_and_reads_in_slots(tmp_path, monkeypatch, calls):
    torch.manual_seed(0)
    tiny_model("pixelda", adapt=False).save_pretrained(tmp_path / "mnist-source-only")
    tiny_model("pixelda").save_pretrained(tmp_path / "mnist-m-pixelda")
    use(monkeypatch, tmp_path)
    run("app_pages/adapt.py")  # a bundled MNIST test digit, translated and read by both classifiers
    assert {"pixelda.translate", "pixelda.predict"} <= {name for name, _ in calls}
    assert all(held == "short" for _, held in calls), calls


def test_the_classify_page_and_its_maps_run_in_slots(tmp_path, monkeypatch, calls):
    use(monkeypatch, write_tiny_weights(tmp_path / "weights", evaluated=False))
    at = run("app_pages/classify.py")
    upload(at, ("chest.png", png_bytes(48)))
    assert calls and all(held == "short" for _, held in calls), calls
