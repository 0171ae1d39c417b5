"""predict.py's output files: never one input's result over another's, never over an input, and a file
that cannot be written is that file's error line while the batch goes on."""
import errno
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import inference
import predict
from tests.conftest import tiny_model


def png(path: Path, size: tuple[int, int], value: int = 0, mode: str = "L") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size[1], size[0]) + ((3,) if mode == "RGB" else ()), value, np.uint8)
    Image.fromarray(pixels, mode).save(path)
    return str(path)


def lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A weights folder with a tiny PixelDA model and a tiny polyp U-Net."""
    folder = tmp_path / "weights"
    tiny_model("pixelda").save_pretrained(folder / "mnist-m-pixelda")
    tiny_model("unet").save_pretrained(folder / "polyp-unet")
    monkeypatch.setenv("MEDLAB_WEIGHTS", str(folder))
    inference.load_model.cache_clear()
    yield folder
    inference.load_model.cache_clear()


# -- two inputs with one name -----------------------------------------------------------------------


def test_upscale_gives_two_inputs_of_one_name_two_outputs(tmp_path, capsys):
    first, second = png(tmp_path / "a/small.png", (10, 8)), png(tmp_path / "b/small.png", (12, 12))
    predict.main(["upscale", first, second, "--model", "bicubic", "--out", str(tmp_path / "out"), "--json"])
    one, two = lines(capsys)
    assert one["output"] == str(tmp_path / "out/small-bicubic-x4.png")
    assert two["output"] == str(tmp_path / "out/small-bicubic-x4-2.png")
    assert Image.open(one["output"]).size == (40, 32) and Image.open(two["output"]).size == (48, 48)


def test_adapt_gives_two_inputs_of_one_name_two_outputs(weights, tmp_path, capsys):
    dark, bright = png(tmp_path / "a/one.png", (28, 28), 0), png(tmp_path / "b/one.png", (28, 28), 255)
    predict.main(["adapt", dark, bright, "--out", str(tmp_path / "out"), "--json"])
    one, two = lines(capsys)
    assert [one["translated"], two["translated"]] == [str(tmp_path / "out/one-seed0.png"),
                                                      str(tmp_path / "out/one-seed0-2.png")]
    predict.main(["adapt", dark, "--out", str(tmp_path / "alone"), "--json"])  # the dark digit on its own
    (alone,) = lines(capsys)
    assert np.array_equal(np.asarray(Image.open(one["translated"])), np.asarray(Image.open(alone["translated"])))
    assert not np.array_equal(np.asarray(Image.open(one["translated"])), np.asarray(Image.open(two["translated"])))


def test_segment_gives_two_inputs_of_one_name_two_masks(weights, tmp_path, capsys):
    first = png(tmp_path / "a/frame.png", (40, 30), 120, "RGB")
    second = png(tmp_path / "b/frame.png", (20, 16), 120, "RGB")
    predict.main(["segment", first, second, "--force", "--masks", str(tmp_path / "masks"), "--json"])
    one, two = lines(capsys)
    assert [one["mask"], two["mask"]] == [str(tmp_path / "masks/frame.png"), str(tmp_path / "masks/frame-2.png")]
    assert Image.open(one["mask"]).size == (40, 30) and Image.open(two["mask"]).size == (20, 16)


def test_a_name_already_given_a_suffix_is_not_given_twice(weights, tmp_path, capsys):
    files = [png(tmp_path / f"{folder}/{stem}.png", (8, 8), 120, "RGB") for folder, stem in
             [("a", "x"), ("b", "x"), ("c", "x-2")]]  # the third's own mask name is the second's suffixed one
    predict.main(["segment", *files, "--force", "--masks", str(tmp_path / "masks"), "--json"])
    assert [Path(line["mask"]).name for line in lines(capsys)] == ["x.png", "x-2.png", "x-2-2.png"]


# -- never over an input ------------------------------------------------------------------------------


def test_segment_refuses_a_masks_folder_where_a_mask_would_replace_a_frame(weights, tmp_path, capsys):
    frame = png(tmp_path / "frames/frame.png", (20, 16), 120, "RGB")
    before = Path(frame).read_bytes()
    with pytest.raises(SystemExit, match=r"--masks .*frames: a result named frame.png would replace the input"):
        predict.main(["segment", frame, "--force", "--masks", str(tmp_path / "frames"), "--json"])
    assert Path(frame).read_bytes() == before and capsys.readouterr().out == ""


def test_upscale_refuses_to_replace_an_input_named_like_a_result(tmp_path):
    files = [png(tmp_path / "x.png", (8, 8)), png(tmp_path / "x-bicubic-x4.png", (8, 8))]
    with pytest.raises(SystemExit, match="would replace the input"):
        predict.main(["upscale", *files, "--model", "bicubic", "--out", str(tmp_path), "--json"])


def test_upscale_may_write_beside_its_inputs(tmp_path, capsys):
    predict.main(["upscale", png(tmp_path / "x.png", (8, 8)), "--model", "bicubic", "--out", str(tmp_path), "--json"])
    assert lines(capsys)[0]["output"] == str(tmp_path / "x-bicubic-x4.png")


# -- a file that cannot be written is its own error line ------------------------------------------------


def test_a_name_too_long_is_that_files_error_and_the_batch_goes_on(tmp_path, capsys):
    long = png(tmp_path / ("n" * 245 + ".png"), (8, 8))  # its result, n...n-bicubic-x4.png, is over 255 bytes
    short = png(tmp_path / "short.png", (8, 8))
    predict.main(["upscale", long, short, "--model", "bicubic", "--out", str(tmp_path / "out"), "--json"])
    failed, done = lines(capsys)
    assert failed.keys() == {"file", "error"} and failed["file"] == long
    assert "could not write" in failed["error"] and "rename the input to something shorter" in failed["error"]
    assert Image.open(done["output"]).size == (32, 32)


def test_a_file_where_the_output_folder_should_be_is_each_files_error(tmp_path, capsys):
    (tmp_path / "out").write_text("not a folder")
    files = [png(tmp_path / "a.png", (8, 8)), png(tmp_path / "b.png", (8, 8))]
    predict.main(["upscale", *files, "--model", "bicubic", "--out", str(tmp_path / "out"), "--json"])
    for line, file in zip(lines(capsys), files, strict=True):
        assert line["file"] == file and "a file stands where its folder should be" in line["error"]
    predict.main(["upscale", files[0], "--model", "bicubic", "--out", str(tmp_path / "out/deeper")])  # plain text
    assert "a file stands where its folder should be" in capsys.readouterr().out


def test_a_read_only_output_folder_is_that_files_error_and_the_batch_goes_on(tmp_path, monkeypatch, capsys):
    """Simulated: the tests may run as root, whom file permissions do not stop."""
    locked = tmp_path / "locked"
    write_bytes = Path.write_bytes

    def refuse(self, data):
        if self.parent == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse)
    files = [png(tmp_path / "a/x.png", (8, 8)), png(tmp_path / "b/y.png", (8, 8))]
    predict.main(["upscale", *files, "--model", "bicubic", "--out", str(locked), "--json"])
    for line, file in zip(lines(capsys), files, strict=True):
        assert line == {"file": file, "error": f"could not write {locked / Path(file).stem}-bicubic-x4.png "
                                              "(Permission denied): choose an output folder you can write to"}


def test_decode_says_why_it_could_not_write_without_a_traceback(tmp_path):
    tiny_model("vae").save_pretrained(tmp_path / "vae")
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(SystemExit, match="could not write .*a file stands where its folder should be"):
        predict.main(["decode", "--model", str(tmp_path / "vae"), "--code", "0.5", "-1", "--out", str(tmp_path / "out")])


def test_help_states_the_naming_rule(capsys):
    with pytest.raises(SystemExit):
        predict.main(["--help"])
    assert "the later gets -2, -3" in capsys.readouterr().out


# -- sample's --truncation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["1e-9", "0", "-1", "nan", "inf", "one"])
def test_sample_refuses_a_truncation_that_would_hang_or_be_ignored(given, tmp_path, monkeypatch, capsys):
    tiny_model("dcgan").save_pretrained(tmp_path / "dcgan")
    import generators

    def never(*args, **kwargs):  # 1e-9 would redraw the noise for ever; nan would be ignored silently
        raise AssertionError(f"sampled with --truncation {given}")

    monkeypatch.setattr(generators, "sample", never)
    with pytest.raises(SystemExit) as stopped:
        predict.main(["sample", str(tmp_path / "dcgan"), "--truncation", given, "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert f"--truncation: must be a finite number >= 0.05 (e.g. 1.0), got '{given}'" in capsys.readouterr().err


def test_sample_with_the_smallest_truncation_is_fast_and_holds(tmp_path, capsys):
    tiny_model("dcgan", latent_dim=128).save_pretrained(tmp_path / "dcgan")
    predict.main(["sample", str(tmp_path / "dcgan"), "--n", "64", "--truncation", "0.05",
                  "--out", str(tmp_path / "out"), "--json"])
    assert len(lines(capsys)) == 64
