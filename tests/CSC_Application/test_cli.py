"""``csc classify`` and ``csc summarize`` from the command line."""
import pandas as pd
from click.testing import CliRunner

from csc.cli import cli
from phase2_data import image_for, wavy_labels, write_scene


def _classify(*args):
    return CliRunner().invoke(cli, ["classify", *map(str, args)])


def test_classify_folder_then_summarize(tmp_path, phase_one):
    folder = tmp_path / "glacier"
    write_scene(folder, "one", wavy_labels((64, 80)))
    write_scene(folder, "two", wavy_labels((64, 80), seed=1))
    common = ["--model", phase_one, "--samples-per-class", 200, "--epochs", 2,
              "--batch-size", 32, "--despeckle", 1, "--no-front"]
    first = _classify(folder, "--patch-size", 1, "--out", tmp_path / "a", *common)
    assert first.exit_code == 0, first.output
    assert "2 image(s) classified, 0 failed" in first.output
    summary = pd.read_csv(tmp_path / "a" / "summary.csv")
    assert list(summary["status"]) == ["ok", "ok"]
    second = _classify(folder, "--patch-size", 3, "--out", tmp_path / "b", "--exp", "x",
                       "--whole-image", *common)
    assert second.exit_code == 0, second.output
    assert (tmp_path / "b" / "one_x_k3_pixels.npz").exists()

    out = tmp_path / "pooled.csv"
    result = CliRunner().invoke(cli, ["summarize", str(tmp_path / "a"), str(tmp_path / "b"),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert set(frame["run"]) == {"a/k1", "b/x_k3"}
    assert set(frame["images"]) == {2}
    assert out.with_suffix(".png").exists()


def test_classify_error_is_one_line_exit_2(tmp_path, phase_one):
    path = write_scene(tmp_path, "rgb", wavy_labels((64, 64)),
                       image=image_for(wavy_labels((64, 64)), bands=3))
    result = _classify(path, "--model", phase_one, "--patch-size", 1, "--out", tmp_path / "o")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("csc: error: model ") and "has 3 band(s)" in lines[-1]
    assert "Traceback" not in result.output


def test_even_patch_size_rejected(tmp_path, phase_one):
    path = write_scene(tmp_path, "s", wavy_labels((64, 64)))
    result = _classify(path, "--model", phase_one, "--patch-size", 4, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert ("Invalid value for --patch-size: must be an odd whole number ≥ 1 (1, 3, 5, 7, 15 …), "
            "got 4") in result.output


def test_illumination_with_dense_is_one_line_exit_2(tmp_path, phase_one):
    path = write_scene(tmp_path, "s", wavy_labels((64, 64)))
    result = _classify(path, "--model", phase_one, "--patch-size", 1, "--out", tmp_path / "o",
                       "--dense", "--illumination")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "csc: error: --illumination trains the neural phase two by patch sampling; drop "
        "--dense or --illumination")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_band_roles_are_checked_before_anything_runs(tmp_path, phase_one):
    path = write_scene(tmp_path, "s", wavy_labels((64, 64)))
    result = _classify(path, "--model", phase_one, "--patch-size", 1, "--out", tmp_path / "o",
                       "--illumination", "--band-roles", "red,green,blue")
    assert result.exit_code == 2
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("csc: error: --band-roles 'red,green,blue' names 3 band(s) but the "
                           "model reads 4 ("), last
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_illumination_run_records_its_features(tmp_path, phase_one):
    import json

    path = write_scene(tmp_path, "s", wavy_labels((64, 64)))
    result = _classify(path, "--model", phase_one, "--patch-size", 1, "--out", tmp_path / "o",
                       "--illumination", "--band-roles", "red,green,-,nir",
                       "--samples-per-class", 200, "--epochs", 2, "--batch-size", 32,
                       "--no-front")
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "o" / "s_run.json").read_text())
    assert info["options"]["illumination"] is True
    assert info["options"]["band_roles"] == "red,green,-,nir"
    assert info["scores"]["csc_weighted_f1"] > 0.5
