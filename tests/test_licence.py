"""What a visitor may do with the lab: the code's licence, and the terms the weights inherit from their data."""
from pathlib import Path

import yaml

import cards

ROOT = Path(__file__).resolve().parent.parent


def test_the_licence_file_is_the_mit_licence_the_front_matter_names():
    front = yaml.safe_load((ROOT / "README.md").read_text().split("---\n", 2)[1])
    assert front["license"] == "mit"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_every_model_card_says_its_weights_inherit_the_data_sets_terms():
    folders = [f for f in sorted((ROOT / "weights").iterdir()) if (f / "README.md").is_file()]
    assert folders
    for folder in folders:
        card = (folder / "README.md").read_text()
        dataset = cards.read_meta(folder)["dataset"]
        assert f"licence: {cards.DATA_LICENCES[dataset]}." in card and cards.INHERITED in card, folder.name
    assert cards.INHERITED in cards.render({"name": "new", "dataset": "covid_ct"})
    readme = (ROOT / "README.md").read_text()
    assert "inherits its data set's terms (COVID-CT: research use; Kvasir-SEG: research and" in readme
