"""The k-means network: filters fitted without labels, a linear layer trained on top, Grad-CAM on its codes."""
import torch

import models
import saliency
import train
from tests.conftest import tiny_model


def textures(n: int, generator: torch.Generator, size: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: horizontal stripes; class 1: vertical stripes; random phase, brightness and noise."""
    labels = torch.arange(n) % 2
    coordinate = torch.arange(size).float()
    phase = torch.rand(n, 1, 1, generator=generator) * 6
    stripes = torch.sin(coordinate.view(1, -1, 1) * 1.5 + phase).expand(n, size, size).clone()
    stripes[labels == 1] = stripes[labels == 1].transpose(1, 2)
    brightness = 0.3 + 0.4 * torch.rand(n, 1, 1, generator=generator)
    images = brightness + 0.2 * stripes + 0.05 * torch.randn(n, size, size, generator=generator)
    return images.clamp(0, 1).unsqueeze(1), labels


def test_fit_learns_unit_prototypes_and_whitens_the_windows():
    model = tiny_model("kmeans", image_size=24)
    images, _ = textures(40, torch.Generator().manual_seed(0))
    model.fit(images, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.prototypes.norm(dim=1), torch.ones(model.config.centroids))
    white = model.windows(model.prepare(images))  # (N*L, D)
    covariance = torch.cov(white.T)
    # Whitened windows are decorrelated: the off-diagonal covariance is small beside the diagonal.
    assert covariance.diagonal().mean() > 10 * (covariance - torch.diag(covariance.diagonal())).abs().mean()
    assert model.head[1].std.min() > 0


def test_fit_is_reproducible_from_its_generator():
    images, _ = textures(20, torch.Generator().manual_seed(0))
    a, b = tiny_model("kmeans"), tiny_model("kmeans")
    a.fit(images, generator=torch.Generator().manual_seed(3))
    b.fit(images, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.prototypes, b.prototypes)


def test_only_the_linear_layer_learns_and_it_separates_two_textures():
    generator = torch.Generator().manual_seed(0)
    model = tiny_model("kmeans", image_size=24, centroids=16, dropout=0.0)
    images, labels = textures(64, generator)
    model.fit(images, generator=generator)
    filters = model.prototypes.clone()
    optimizers = model.configure_optimizers(1e-2, weight_decay=0.0)
    model.train()
    for _ in range(40):
        model.training_step((images, labels), optimizers)
    torch.testing.assert_close(model.prototypes, filters)  # the filters are fitted, never trained
    test_images, test_labels = textures(32, torch.Generator().manual_seed(1))
    model.eval()
    accuracy = (model.decide(model.predict(test_images)) == test_labels).float().mean()
    assert accuracy >= 0.9


def test_grad_cam_explains_the_code_map_where_its_windows_are():
    model = tiny_model("kmeans", image_size=24).eval()  # windows of 4: centres from pixel 1.5 to 21.5
    images, _ = textures(2, torch.Generator().manual_seed(0), size=24)
    heat = saliency.grad_cam(model, images)
    assert heat.shape == (2, 24, 24) and 0 <= float(heat.min()) and float(heat.max()) <= 1
    assert float(heat.max()) > 0
    # No window is centred on the outermost pixels: the map is padded there, not stretched over them.
    assert float(heat[:, 0].abs().max()) == 0 and float(heat[:, :, -1].abs().max()) < float(heat.max())


def test_train_fits_the_filters_once_and_a_resumed_run_keeps_them(data_root, tmp_path, caplog):
    args = ["kmeans", "--dataset", "chest_xray", "--data-root", str(data_root), "--out", str(tmp_path / "w"),
            "--run-dir", str(tmp_path / "run"), "--image-size", "24", "--batch-size", "8", "--threads", "1", "--epochs", "1"]
    caplog.set_level("INFO", logger="train")
    out = train.main(args)
    assert caplog.text.count("k-means filters") == 1
    model = models.load(out)
    assert not torch.equal(model.whitening, torch.eye(model.config.patch ** 2))  # fitted, not the untrained identity
    card = (out / "README.md").read_text()
    assert "k-means" in card and "linear layer only" in card
    caplog.clear()
    resumed = models.load(train.main(args[:-1] + ["2"]))
    assert "resumed" in caplog.text and "k-means filters" not in caplog.text
    torch.testing.assert_close(resumed.prototypes, model.prototypes)


def test_a_kmeans_network_can_judge_generated_images():
    import evaluators

    model = tiny_model("kmeans", image_size=24).eval()
    images, _ = textures(6, torch.Generator().manual_seed(0))
    probabilities, features = evaluators.judge(model, images, batch=4)
    assert probabilities.shape == (6, 2) and features.shape == (6, model.config.centroids)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(6))


def test_ct_shortcuts_script_reports_each_split_and_class_and_the_baselines(tmp_path, monkeypatch, capsys):
    """A miniature covid_ct tree whose COVID slices are brighter: the script's table must show it."""
    import csv
    import importlib.util
    import sys
    from pathlib import Path

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for split in ("train", "val", "test"):
        for label, level in (("CT_NonCOVID", 80), ("CT_COVID", 160)):
            (tmp_path / "covid_ct" / split / label).mkdir(parents=True)
            for i in range(6):
                size = (40, 30) if i else (80, 60)  # every slice under 96 px on its shorter side
                pixels = np.clip(rng.normal(level, 20, size[::-1]), 0, 255).astype(np.uint8)
                path = f"{split}/{label}/s{i}.png"
                Image.fromarray(pixels).save(tmp_path / "covid_ct" / path)
                rows.append({"path": path, "split": split, "label": label, "width": size[0], "height": size[1]})
    with open(tmp_path / "covid_ct" / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    script = Path(__file__).resolve().parent.parent / "scripts/ct_shortcuts.py"
    spec = importlib.util.spec_from_file_location("ct_shortcuts", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["ct_shortcuts.py", "--data-root", str(tmp_path)])
    module.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "slices under 96 px on their shorter side: 36 of 36"
    table = {tuple(c.strip() for c in line.split("|")[:2]): float(line.split("|")[3]) for line in lines[2:8]}
    assert table[("train", "CT_COVID")] > table[("train", "CT_NonCOVID")] + 0.2  # 160 vs 80 grey levels
    assert [line.split(":")[0] for line in lines[8:]] == [
        "logistic regression on 32x32 pixels, fitted on train", "logistic regression on 32-bin grey histogram, fitted on train"]
    assert float(lines[-1].split()[-1]) > 0.9  # brightness alone separates these classes
