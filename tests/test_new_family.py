"""A new classifier family needs nothing outside its own file (issue 27, item 7).

TinyNet below is a whole family, written here and nowhere else: no line in models/__init__.py, train.py, evaluate.py,
predict.py, inference.py or the Classify page names it. Registered for one test (models.registry.registered), it is
trained by train.py, measured by evaluate.py, takes the routed chest X-ray classifier's place for predict.py, and
answers on the Classify page, with Grad-CAM.
"""
import json
import shutil
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

import evaluate
import inference
import predict
import train
from models.base import MedLabModel
from models.classifier import CalibratedClassifier, prepare_images
from models.registry import names, registered
from test_app import run, text, upload, write_tiny_weights


@dataclass
class TinyNetConfig:
    class_names: list[str] = field(default_factory=lambda: ["NORMAL", "PNEUMONIA"])
    in_channels: int = 1
    image_size: int = 32
    width: int = 8  # channels of its one convolution
    per_image_norm: bool = False  # these three: how prepare_images normalises
    mean: float = 0.5
    std: float = 0.25


class TinyNet(CalibratedClassifier):
    """One convolution, a max-pool and a linear head: the least a CalibratedClassifier needs."""

    Config = TinyNetConfig

    def __init__(self, config: TinyNetConfig):
        super().__init__(config)
        self.body = nn.Sequential(nn.Conv2d(config.in_channels, config.width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(config.width, len(config.class_names)))
        self.add_calibration()

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return prepare_images(images, self.config)  # (B, in_channels, S, S), normalised

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, width, S/2, S/2): the map Grad-CAM explains

    def configure_optimizers(self, lr: float):
        return [torch.optim.AdamW(self.parameters(), lr=lr)]


@pytest.fixture
def tinynet():
    """TinyNet registered as "tinynet" for one test; gone after it, whatever happened."""
    with registered("tinynet", TinyNet):
        yield "tinynet"
    assert "tinynet" not in names()


def test_a_classifier_family_defined_here_trains_evaluates_predicts_and_answers_on_the_classify_page(
        tinynet, data_root, tmp_path, use_weights, capsys):
    # 1. A weights folder as the app's, but with the routed chest X-ray classifier's place empty: ours goes there.
    weights = write_tiny_weights(tmp_path / "weights", router_says="chest_xray", evaluated=False)
    shutil.rmtree(weights / "cxr-pneumonia")
    use_weights(weights)

    # 2. Train: train.py finds its task by its class (a CalibratedClassifier), and writes config, weights and card.
    out = train.main([tinynet, "--dataset", "chest_xray", "--data-root", str(data_root), "--out",
                      str(weights / "cxr-pneumonia"), "--run-dir", str(tmp_path / "run"), "--epochs", "2",
                      "--image-size", "32", "--batch-size", "8", "--threads", "1"])
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "README.md", "history.json"}
    assert json.loads((out / "config.json").read_text())["family"] == tinynet
    card = (out / "README.md").read_text()
    assert "tinynet" in card and "cross-entropy, label smoothing 0.05" in card and "AdamW" in card  # the recipe
    assert "threshold (Youden's J on val)" in card  # calibrated on validation, as every classifier

    # 3. Evaluate on the test split: evaluate.py's classifier branch, eval.json beside the weights.
    result = evaluate.main(["cxr-pneumonia", "--data-root", str(data_root), "--split", "test", "--threads", "1"])
    assert json.loads((out / "eval.json").read_text()) == json.loads(json.dumps(result))
    assert result["n"] == 12 and result["class_names"] == ["NORMAL", "PNEUMONIA"]
    assert {"roc_auc", "average_precision", "at_threshold", "at_0.5", "ece", "roc"} <= set(result)

    # 4. Predict: routed to the chest X-ray classifier, which is now ours.
    image = next((data_root / "chest_xray/test/PNEUMONIA").iterdir())
    capsys.readouterr()
    predict.main(["classify", str(image), "--model", "cxr-pneumonia", "--json"])
    line = json.loads(capsys.readouterr().out)
    assert line["modality"] == "chest_xray" and line["model"] == "cxr-pneumonia"
    assert line["label"] in ("NORMAL", "PNEUMONIA") and sum(line["probabilities"].values()) == pytest.approx(1)
    assert inference.load_model("cxr-pneumonia").family == tinynet

    # 5. The Classify page: its label, its measured figures, and Grad-CAM of its `features`, without an exception.
    at = upload(run("app_pages/classify.py"), (image.name, image.read_bytes()))
    shown = text(at)
    assert f"### {line['label']}" in shown
    assert "How often `cxr-pneumonia` is right: On the test split of `chest_xray`, 12 images" in shown
    assert at.toggle[0].value and f"Grad-CAM for {line['label']}" in at.image[0].captions[0]


def test_a_classifier_family_is_refused_the_flags_its_config_lacks(tinynet, capsys):
    """TinyNet's Config has no widths or depths: train.py says so rather than drop --depths silently."""
    with pytest.raises(SystemExit):
        train.parse_args([tinynet, "--depths", "1", "1", "--out", "w"])
    assert "tinynet does not use --depths;" in capsys.readouterr().err
    assert train.parse_args([tinynet, "--image-size", "48", "--augment", "none", "--val-crops", "1", "0.8",
                             "--out", "w"]).image_size == 48


def test_a_family_registered_for_a_test_is_gone_after_it():
    with registered("passing", TinyNet):
        assert "passing" in names()
    assert "passing" not in names()
    with pytest.raises(RuntimeError), registered("failing", TinyNet):
        raise RuntimeError("a test that fails")
    assert "failing" not in names()


def test_a_family_that_is_not_a_classifier_still_needs_its_task_named(capsys):
    class Untrainable(MedLabModel):  # a family, but not a classifier
        Config = TinyNetConfig

    with registered("untrainable", Untrainable), pytest.raises(SystemExit):
        train.parse_args(["untrainable", "--out", "w"])
    assert "is not a classifier and has no Task: add its entry to its task's TASKS" in capsys.readouterr().err
