"""Model cards: each shipped card is what cards.py renders from its front matter, and says how to use the model."""
import re
import shlex
from pathlib import Path

import pytest

import cards
import inference
import models
import predict
import superres

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.parent.name for p in (ROOT / "weights").glob("*/README.md"))
CALL = re.compile(r"^[\w, ]+ = model\.(\w+)\(")  # e.g. "probabilities = model.predict(images)  # ..."


def section(card: str, heading: str) -> str:
    """The text under `heading` up to the next heading of its level."""
    start = card.index(f"\n{heading}\n")
    end = card.find("\n## ", start + 1)
    return card[start:end if end != -1 else None]


@pytest.mark.parametrize("family", models.names())
def test_every_family_says_how_to_use_it_with_a_method_it_has(family):
    call = CALL.match(models.get(family).usage)
    assert call, f"{family}'s usage is not one line `outputs = model.method(...)`"
    assert callable(getattr(models.get(family), call.group(1), None)), call.group(1)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_card_is_rendered_from_its_own_front_matter(name):
    """`python cards.py weights/*` re-renders them after a change to cards.render."""
    folder = ROOT / "weights" / name
    written = (folder / "README.md").read_text().split("---", 2)[2]
    assert written == cards.render(cards.read_meta(folder), folder).split("---", 2)[2]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_card_says_how_to_use_the_model_after_its_summary(name):
    card = (ROOT / "weights" / name / "README.md").read_text()
    meta = cards.read_meta(ROOT / "weights" / name)
    assert card.index(meta["summary"]) < card.index("\n## How to use\n") < card.index("\n## Intended use\n")
    how = section(card, "## How to use")

    # Three lines of Python, whose call is a method of the model's registered family.
    python = re.search(r"```python\n(.*?)\n```", how, re.S).group(1).splitlines()
    assert python[:2] == ["import models", f'model = models.load("weights/{name}")  # or a Hub repository id']
    assert len(python) == 3
    method = CALL.match(python[2]).group(1)
    assert hasattr(models.get(meta["family"]), method), f"{meta['family']} has no {method}"

    # The predict.py line parses, and runs this model; or the card says no verb does.
    command = re.search(r"```bash\n(.*?)\n```", how, re.S)
    if command is None:
        assert "No `predict.py` command runs this model." in how
        return
    words = shlex.split(command.group(1), comments=True)
    assert words[:2] == ["python", "predict.py"]
    args = predict.parser().parse_args(words[2:])
    if args.verb in ("classify", "segment") and not getattr(args, "model", None):
        assert name in (inference.ROUTER, *inference.SEGMENTERS.values())
    else:
        assert superres.MODELS.get(args.model, args.model) == name


def test_the_readmes_results_table_is_what_results_py_prints(capsys, monkeypatch):
    # Every figure in the README comes from an eval.json by a rerunnable command: the table is pasted from
    # `python results.py`, and a model re-evaluated without re-pasting it fails here.
    import results

    monkeypatch.delenv("MEDLAB_WEIGHTS", raising=False)
    results.main()
    table = capsys.readouterr().out.strip().splitlines()
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index(table[0])
    assert readme[start:start + len(table)] == table
    assert not readme[start + len(table)].startswith("|"), "the README's table has rows results.py does not print"
    for row in table[2:]:  # each model's row links its card
        name = re.match(r"\| \[`([\w-]+)`\]\(weights/([\w-]+)/README\.md\)", row)
        assert name and name.group(1) == name.group(2) and (ROOT / "weights" / name.group(1) / "README.md").is_file()
