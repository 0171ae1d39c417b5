"""train.py refuses a flag the chosen family does not use, before anything is loaded, and still takes every
command the shipped models were trained with (their cards' front matter quotes them)."""
import re
import shlex
from pathlib import Path

import pytest

import cards
import tasks
import train

ROOT = Path(__file__).resolve().parent.parent


def refusal(argv: list[str], capsys) -> str:
    """parse_args' error line for `argv` (below the usage), after checking it is argparse's: exit code 2."""
    with pytest.raises(SystemExit) as exit_:
        train.parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_flags_the_family_does_not_use_are_named_with_the_ones_it_takes(capsys):
    err = refusal(["unet", "--per-image-norm", "--latent-dim", "7", "--loss", "l2", "--mode-seeking", "3",
                   "--widths", "8", "16", "--out", "w"], capsys)
    refused, takes = err.split("its own flags are")
    assert "unet does not use --latent-dim, --loss, --mode-seeking, --per-image-norm;" in refused
    assert "--widths" not in refused  # a unet flag, typed alongside
    for own in ("--augment", "--encoder", "--flip-average", "--image-size", "--widths", "--pretrained"):
        assert own in takes
    assert "--data-root" in takes and "--epochs" in takes  # every family's


@pytest.mark.parametrize("argv, refused", [
    (["vae", "--augment", "standard"], "--augment"),  # typed, though it is the default: still not the VAE's
    (["dcgan", "--twin-weight", "1"], "--twin-weight"),  # ACGAN's: only its discriminator names classes
    (["ensemble", "--members", "a", "b", "--image-size", "64"], "--image-size"),  # its members' size
    (["srresnet", "--channels", "1"], "--channels"),
    (["kmeans", "--widths", "8", "16"], "--widths"),
])
def test_a_flag_is_refused_for_the_families_that_ignore_it(argv, refused, capsys):
    assert f"does not use {refused};" in refusal([*argv, "--out", "w"], capsys)


def test_flags_the_family_uses_and_every_family_takes_are_accepted():
    args = train.parse_args(["acgan", "--image-size", "16", "--widths", "8", "4", "--twin-weight", "0.5", "--epochs",
                             "2", "--data-root", "d", "--threads", "1", "--seed", "3", "--title", "t", "--out", "w"])
    assert args.twin_weight == 0.5 and args.seed == 3
    train.parse_args(["classifier", "--out", "w"])  # defaults are not typed flags: --augment, --freeze ...


def test_nothing_is_loaded_or_written_before_the_refusal(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        train.main(["unet", "--latent-dim", "7", "--data-root", str(tmp_path / "missing"), "--out",
                    str(tmp_path / "w"), "--run-dir", str(tmp_path / "run")])
    assert exit_.value.code == 2 and "--latent-dim" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_every_option_is_some_familys_and_every_declared_flag_is_an_option():
    options = set(vars(train.parse_args(["classifier", "--out", "w"]))) - {"family"}
    declared = set(train.RUN_FLAGS).union(*(task.flags for task in tasks.TASKS.values()))
    assert declared == options


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from strings(item)


def shipped_commands() -> list[str]:
    """Every `python train.py ...` in the shipped cards' front matter: train_command, and the stages' and
    ensemble members' commands quoted in the summary and settings (each up to a backquote, a semicolon or the
    string's end)."""
    found = []
    for card in sorted(ROOT.glob("weights/*/README.md")):
        for text in strings(cards.read_meta(card.parent)):
            found += [c.strip() for c in re.findall(r"python train\.py [^`;]*", text)]
    # One prose mention elides a member's folder and the rest ("--members <previous covid-ct> ... ..."): not a command.
    return [c for c in found if "<" not in c and not c.endswith("...")]


COMMANDS = shipped_commands()


def test_the_cards_quote_commands_for_every_family_shipped():
    shipped = {cards.read_meta(card.parent)["family"] for card in ROOT.glob("weights/*/README.md")}
    assert {shlex.split(c)[2] for c in COMMANDS} >= shipped | {"efficientnet"}  # efficientnet: an ensemble's member
    assert len(COMMANDS) >= 50  # train_command of each of the 22 cards, and the stages and members they quote


@pytest.mark.parametrize("command", COMMANDS)
def test_every_shipped_command_still_parses(command):
    argv = shlex.split(command)
    assert argv[:2] == ["python", "train.py"]
    train.parse_args(argv[2:])
