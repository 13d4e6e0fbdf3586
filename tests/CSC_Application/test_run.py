"""End-to-end phase two: ``classify_path`` on tiny scenes, its outputs and its errors."""
import json
import logging
import os
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

import CSC_Application.run as run_module
from CSC_Application.run import SUMMARY_COLUMNS, ClassifyOptions, classify_path
from csc.classes import ClassInfo, ClassSchema
from csc.errors import (BandError, ClassificationError, LabelMismatchError, ModelError,
                        OptionError, OutputError, PatchSizeError)
from phase2_data import (SCHEMA, image_for, manifest_matches_folder, nearest_mean_model,
                         save_model, wavy_labels, write_scene)

SHAPE = (64, 96)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1), src.crs, src.transform, src.colormap(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory, phase_one):
    """One K=3 run (dense phase-two training) on a georeferenced scene with a nodata block."""
    tmp = tmp_path_factory.mktemp("run")
    labels = wavy_labels(SHAPE)
    image = image_for(labels)
    image[20:30, 40:50] = 0
    path = write_scene(tmp / "in", "scene", labels, image=image, nodata=0)
    # (after 4 epochs the network's outputs were still nearly tied on a seventh of the pixels)
    opts = ClassifyOptions(patch_size=3, samples_per_class=3000, epochs=6, patience=3, dense=True,
                           batch_size=32, despeckle=1, front=False)
    frame = classify_path(path, phase_one, tmp / "out", opts).frame
    return types.SimpleNamespace(input=path, out=tmp / "out", frame=frame, labels=labels)


def test_outputs_named_as_published(run):
    names = {p.name for p in run.out.iterdir()}
    assert {"scene_classified.tif", "CNN_scene_k3.csv", "CSC_scene_k3.csv",
            "CSC_scene_k3_confusion.png", "CSC_k3_scene.png", "scene_run.json",
            "scene_k3_pixels.npz"} <= names
    assert not (run.out / "summary.csv").exists()       # single image: no summary file


def test_class_map_on_the_input_grid(run):
    classes, crs, transform, cmap = _read(run.out / "scene_classified.tif")
    with rasterio.open(run.input) as src:
        assert classes.shape == (src.height, src.width)
        assert crs == src.crs and transform == src.transform
    assert (classes[20:30, 40:50] == 0).all()                       # nodata stays 0
    valid = np.ones(SHAPE, dtype=bool)
    valid[20:30, 40:50] = False
    assert set(np.unique(classes[valid])) <= {1, 2, 3} and (classes[valid] > 0).all()
    for edge in (classes[0], classes[-1], classes[:, 0], classes[:, -1]):
        assert (edge > 0).all()                                     # borders classified
    assert cmap[1][:3] == (0x1f, 0x78, 0xb4)                        # colour table
    # the left edge is water, the right edge vegetation, like the labels
    assert (classes[:, 0] == 1).mean() > 0.9 and (classes[:, -1] == 3).mean() > 0.9


def test_reports_score_labelled_valid_pixels(run):
    for name in ("CNN_scene_k3.csv", "CSC_scene_k3.csv"):
        report = pd.read_csv(run.out / name)
        assert list(report.columns) == ["Class", "Precision", "Recall", "F1_score", "Support"]
        assert list(report["Class"]) == ["water", "sediment", "vegetation", "accuracy",
                                         "macro avg", "weighted avg"]
        assert report["Support"].iloc[-1] == SHAPE[0] * SHAPE[1] - 100   # nodata excluded
    row = run.frame.iloc[0]
    csc = pd.read_csv(run.out / "CSC_scene_k3.csv").set_index("Class")
    assert row["csc_weighted_f1"] == pytest.approx(csc.loc["weighted avg", "F1_score"], abs=1e-6)


def test_summary_row(run):
    assert list(run.frame.columns) == SUMMARY_COLUMNS and len(run.frame) == 1
    row = run.frame.iloc[0]
    assert row["status"] == "ok" and row["image"] == str(run.input)
    cnn = pd.read_csv(run.out / "CNN_scene_k3.csv").set_index("Class")
    assert row["cnn_weighted_f1"] == pytest.approx(cnn.loc["weighted avg", "F1_score"], abs=1e-6)
    assert row["cnn_weighted_f1"] > 0.8 and row["csc_weighted_f1"] > 0.8   # chance is 1/3
    assert np.isnan(row["csc_glacier_f1"]) and np.isnan(row["front_median_error_m"])
    assert row["seconds"] > 0


def test_run_json(run):
    info = json.loads((run.out / "scene_run.json").read_text())
    assert {"options", "versions", "class_pixels", "absent_classes", "learner", "pixels",
            "timings", "front", "scores", "samples", "grid"} <= set(info)
    assert {"phase1_s", "phase2_train_s", "phase2_predict_s", "total_s"} <= set(info["timings"])
    assert info["options"]["patch_size"] == 3 and info["options"]["experiment"] == "k3"
    assert {"glacier-csc", "numpy", "keras", "rasterio"} <= set(info["versions"])
    assert info["pixels"] == {"total": 6144, "valid": 6044, "labelled": 6044,
                              "pooled_sample": 6044}
    assert sum(info["class_pixels"].values()) == 6044
    assert info["absent_classes"] == []
    samples = info["samples"]
    assert samples["training"] == "dense"
    assert info["options"]["prior"] == 0.5 and samples["prior_shift"] is True
    # under the cap of 3000 every labelled pixel of the map either trains or validates, once
    for name, n in samples["training_pixels"].items():
        assert 0 < n <= 3000, samples
        assert n + samples["validation_pixels"].get(name, 0) == info["class_pixels"][name]
    assert samples["validation_cells"] > 0 and sum(samples["validation_pixels"].values()) > 0
    history = info["learner"]["history"]
    assert len(history["loss"]) == info["learner"]["epochs_run"] >= 1
    assert info["front"] is None


def test_run_json_lists_every_output_with_its_hash(run):
    import hashlib

    info = json.loads((run.out / "scene_run.json").read_text())
    listed = {entry["name"]: entry for entry in info["outputs"]}
    on_disk = {p.name for p in run.out.iterdir()} - {"scene_run.json"}
    assert set(listed) == on_disk                       # nothing unlisted, nothing missing
    for name, entry in listed.items():
        data = (run.out / name).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_pixel_sample_for_pooling(run):
    with np.load(run.out / "scene_k3_pixels.npz") as z:
        truth, cnn, csc = z["truth"], z["cnn"], z["csc"]
        assert str(z["exp"]) == "k3" and str(z["stem"]) == "scene"
    assert len(truth) == len(cnn) == len(csc) == 6044       # all labelled valid pixels
    assert (truth > 0).all()
    classes, *_ = _read(run.out / "scene_classified.tif")
    valid = np.ones(SHAPE, dtype=bool)
    valid[20:30, 40:50] = False
    np.testing.assert_array_equal(np.sort(truth), np.sort(run.labels[valid]))


def test_csc_beats_the_tile_map(tmp_path, phase_one, options):
    path = write_scene(tmp_path / "in", "wavy", wavy_labels(SHAPE))
    row = classify_path(path, phase_one, tmp_path / "out",
                        options(patch_size=1, epochs=12, patience=12)).frame.iloc[0]
    # the tile map cuts the wavy borders; per-pixel phase two follows them
    assert row["cnn_weighted_f1"] < 0.93
    assert row["csc_weighted_f1"] > 0.95
    assert row["csc_weighted_f1"] > row["cnn_weighted_f1"] + 0.05


def test_seed_repeatable_and_strips_equal_whole_image(tmp_path, phase_one, options):
    path = write_scene(tmp_path / "in", "s", wavy_labels(SHAPE))
    maps = []
    for name, extra in (("a", dict(strip_rows=7)), ("b", dict(whole_image=True)),
                        ("c", dict(strip_rows=7))):
        classify_path(path, phase_one, tmp_path / name, options(patch_size=3, epochs=2, **extra))
        maps.append(_read(tmp_path / name / "s_classified.tif")[0])
    np.testing.assert_array_equal(maps[0], maps[1])
    np.testing.assert_array_equal(maps[0], maps[2])


def test_exp_prefix_names_outputs(tmp_path, phase_one, options):
    path = write_scene(tmp_path / "in", "s", wavy_labels(SHAPE))
    classify_path(path, phase_one, tmp_path / "out", options(patch_size=1, epochs=1, exp="trial"))
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"CSC_s_trial_k1.csv", "CNN_s_trial_k1.csv", "CSC_trial_k1_s.png",
            "s_trial_k1_pixels.npz"} <= names


def test_image_without_labels_or_georeferencing(tmp_path, phase_one, options, caplog):
    path = write_scene(tmp_path / "in", "plain", wavy_labels(SHAPE), crs=None, with_labels=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        row = classify_path(path, phase_one, tmp_path / "out", options(epochs=1)).frame.iloc[0]
    classes, crs, transform, _ = _read(tmp_path / "out" / "plain_classified.tif")
    assert crs is None and classes.shape == SHAPE
    plain = [r.getMessage() for r in caplog.records if "not georeferenced" in r.getMessage()]
    assert len(plain) == 1 and plain[0].startswith(str(path))   # once, naming the input
    assert np.isnan(row["csc_weighted_f1"])
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert "CSC_k3_plain.png" in names and not any(n.endswith(".csv") for n in names)


def test_folder_run_goes_on_after_a_failed_image(tmp_path, phase_one, options):
    folder = tmp_path / "glacier"
    write_scene(folder, "a_good", wavy_labels(SHAPE))
    write_scene(folder, "b_threeband", wavy_labels(SHAPE),
                image=image_for(wavy_labels(SHAPE), bands=3))
    write_scene(folder, "c_good", wavy_labels(SHAPE, seed=2))
    frame = classify_path(folder, phase_one, tmp_path / "out",
                          options(patch_size=1, epochs=1)).frame
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert list(summary["status"]) == ["ok", "failed", "ok"]
    assert "BandError" in summary["error"][1] and "has 3 band(s)" in summary["error"][1]
    assert summary["csc_weighted_f1"][[0, 2]].notna().all()
    assert list(frame["status"]) == list(summary["status"])
    assert (tmp_path / "out" / "c_good_classified.tif").exists()


# --- errors -------------------------------------------------------------------------------------

def test_band_mismatch(tmp_path, phase_one, options):
    path = write_scene(tmp_path, "rgb", wavy_labels(SHAPE),
                       image=image_for(wavy_labels(SHAPE), bands=3))
    with pytest.raises(BandError, match=r"reads bands \(1, 2, 3, 4\) but image .*rgb\.tif has 3"):
        classify_path(path, phase_one, tmp_path / "out", options())


@pytest.mark.parametrize("k", [0, 4])
def test_bad_patch_size(tmp_path, phase_one, options, k):
    path = write_scene(tmp_path, "s", wavy_labels(SHAPE))
    with pytest.raises(PatchSizeError, match=f"odd whole number.*got {k}"):
        classify_path(path, phase_one, tmp_path / "out", options(patch_size=k))


def test_model_without_sidecar(tmp_path, options):
    path = write_scene(tmp_path, "s", wavy_labels(SHAPE))
    model = tmp_path / "bare.keras"
    nearest_mean_model().save(model)
    with pytest.raises(ModelError, match="bare.keras has no sidecar bare.json"):
        classify_path(path, model, tmp_path / "out", options())


def test_image_smaller_than_patch(tmp_path, phase_one, options):
    labels = wavy_labels((33, 40))
    path = write_scene(tmp_path, "small", labels)
    with pytest.raises(PatchSizeError, match=r"small\.tif is 33x40 pixels, smaller than the "
                                             r"35x35 patch"):
        classify_path(path, phase_one, tmp_path / "out", options(patch_size=35))


def test_image_smaller_than_tile(tmp_path, phase_one, options):
    path = write_scene(tmp_path, "tiny", wavy_labels((20, 40)))
    with pytest.raises(ClassificationError, match="smaller than the model's 32x32 tiles"):
        classify_path(path, phase_one, tmp_path / "out", options(patch_size=1))


def test_all_nodata_image(tmp_path, phase_one, options):
    labels = wavy_labels(SHAPE)
    path = write_scene(tmp_path, "empty", labels, image=np.zeros(SHAPE + (4,), np.uint16),
                       nodata=0)
    with pytest.raises(ClassificationError, match=r"empty\.tif: every pixel is nodata"):
        classify_path(path, phase_one, tmp_path / "out", options())


def test_single_class_phase_one_map(tmp_path, phase_one, options):
    path = write_scene(tmp_path, "flat", np.full(SHAPE, 2, dtype=np.uint8))
    with pytest.raises(ClassificationError,
                       match=r"phase-one map of .*flat\.tif only class 2 \(sediment\) is present"):
        classify_path(path, phase_one, tmp_path / "out", options())


def test_unwritable_out_dir(tmp_path, phase_one, options):
    path = write_scene(tmp_path, "s", wavy_labels(SHAPE))
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="not writable.*choose another output folder"):
        classify_path(path, phase_one, blocker / "out", options())


def test_out_dir_under_a_folder_that_cannot_be_entered(tmp_path, phase_one, options,
                                                        monkeypatch):
    """A parent folder without search permission (simulated: the tests may run as root, whom
    permissions do not stop) gives the one-line output-folder error, not an unexpected one."""
    path = write_scene(tmp_path, "s", wavy_labels(SHAPE))
    locked = tmp_path / "locked"
    exists = Path.exists

    def guarded(self, *args, **kwargs):
        if self != locked and self.is_relative_to(locked):
            raise PermissionError(13, "Permission denied", str(self))
        return exists(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", guarded)
    with pytest.raises(OutputError, match="not writable .Permission denied.; choose another"):
        classify_path(path, phase_one, locked / "out", options())


def test_bad_options():
    with pytest.raises(OptionError, match="--phase2 must be one of nn, mlp, lightgbm, rf, got 'svm'"):
        ClassifyOptions(phase2="svm")
    with pytest.raises(OptionError, match="--min-confidence must be between 0 and 1, got 2"):
        ClassifyOptions(min_confidence=2)
    with pytest.raises(OptionError, match="--exp must be a plain name"):
        ClassifyOptions(exp="../x")
    assert ClassifyOptions(patch_size=5, exp="NAME").experiment == "NAME_k5"


# --- calving front -------------------------------------------------------------------------------

ROLES = ClassSchema(classes=(ClassInfo(1, "open water", "#08306b", "ocean"),
                             ClassInfo(2, "glacier ice", "#41b6c4", "glacier"),
                             ClassInfo(3, "rock", "#8c510a", "rock")),
                    front=ClassInfo(8, "calving front", "#e31a1c", "front"), name="fjord")


@pytest.fixture(scope="module")
def roles_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("roles") / "fjord.keras"
    return save_model(path, nearest_mean_model(ROLES), ROLES)


def test_front_results_flow_into_outputs(tmp_path, roles_model, options, monkeypatch):
    calls = {}

    def front_outputs(class_map, *, schema, info, stem, out_dir, edge_path=None,
                      margins_path=None, **kw):
        calls.update(shape=class_map.shape, stem=stem, edge=edge_path)
        out = class_map.copy()
        out[:, 30] = schema.front_id
        return out, {"front_found": True, "reason": None, "median_error_m": 12.5}

    monkeypatch.setattr(run_module, "front_outputs", front_outputs)
    path = write_scene(tmp_path / "in", "fjord", wavy_labels(SHAPE), schema=ROLES)
    row = classify_path(path, roles_model, tmp_path / "out",
                        options(patch_size=1, front=None)).frame.iloc[0]
    assert calls == {"shape": SHAPE, "stem": "fjord", "edge": None}
    classes, *_ = _read(tmp_path / "out" / "fjord_classified.tif")
    assert (classes[:, 30] == 8).all()
    info = json.loads((tmp_path / "out" / "fjord_run.json").read_text())
    assert info["front"]["front_found"] is True
    assert row["front_median_error_m"] == 12.5
    for method in ("cnn", "csc"):   # the glacier F1 is the report's glacier-ice row
        report = pd.read_csv(tmp_path / "out" / f"{method.upper()}_fjord_k1.csv")
        glacier = report.set_index("Class").loc["glacier ice", "F1_score"]
        assert row[f"{method}_glacier_f1"] == pytest.approx(glacier, abs=1e-6)
        assert row[f"{method}_glacier_f1"] > 0.5, method    # the middle band of three


def test_no_front_option_skips_it(tmp_path, roles_model, options, monkeypatch):
    monkeypatch.setattr(run_module, "front_outputs",
                        lambda *a, **k: pytest.fail("front must not run with front=False"))
    path = write_scene(tmp_path / "in", "fjord", wavy_labels(SHAPE), schema=ROLES)
    classify_path(path, roles_model, tmp_path / "out", options(patch_size=1, epochs=1))
    info = json.loads((tmp_path / "out" / "fjord_run.json").read_text())
    assert info["front"] is None


def test_lightgbm_phase_two(tmp_path, phase_one, options):
    import baselines.learners  # noqa: F401  (a broken import fails, it never skips)
    import lightgbm  # noqa: F401

    path = write_scene(tmp_path / "in", "s", wavy_labels(SHAPE))
    row = classify_path(path, phase_one, tmp_path / "out",
                        options(patch_size=3, phase2="lightgbm",
                                samples_per_class=300)).frame.iloc[0]
    assert row["status"] == "ok" and row["csc_weighted_f1"] > row["cnn_weighted_f1"]
    info = json.loads((tmp_path / "out" / "s_run.json").read_text())
    assert info["learner"]["class"] == "LightGBMPixelClassifier"
    assert info["learner"]["params"]["patch_size"] == 3
    # trees draw without replacement: a class with fewer pixels than asked gives all of them
    samples = info["samples"]
    assert samples["training"] == "sampled pixels, without replacement"
    assert samples["per_class"] == {name: min(n, 300) for name, n in
                                    info["class_pixels"].items() if n}


def test_label_raster_of_another_size(tmp_path, phase_one, options):
    from csc.rasters import write_class_raster

    path = write_scene(tmp_path, "s", wavy_labels(SHAPE))
    write_class_raster(tmp_path / "SCLS_s.tif", wavy_labels((64, 64)), schema=SCHEMA)
    with pytest.raises(LabelMismatchError, match=r"SCLS_s\.tif is 64x64 pixels, but "
                                                 r".*s\.tif is 64x96"):
        classify_path(path, phase_one, tmp_path / "out", options())
    assert not (tmp_path / "out" / "s_classified.tif").exists()


# --- the output set: re-runs and kills -----------------------------------------------------------

FJORD_TRANSFORM = Affine(40, 0, 500000, 0, -40, 7400000)   # 40 m pixels: the ocean is > 1 km²


def test_rerun_without_front_removes_the_front_outputs(tmp_path, roles_model, options):
    path = write_scene(tmp_path / "in", "fjord", wavy_labels((96, 96)), schema=ROLES,
                       transform=FJORD_TRANSFORM)
    out = tmp_path / "out"
    classify_path(path, roles_model, out, options(patch_size=1, epochs=2, front=True))
    first = manifest_matches_folder(out, "fjord")
    assert first["front"]["front_found"] is True
    assert {"fjord_front.geojson", "fjord_front.json"} <= {p.name for p in out.iterdir()}
    assert first["front"]["files"]["geojson"] == str(out / "fjord_front.geojson")
    classify_path(path, roles_model, out, options(patch_size=1, epochs=2, front=False))
    second = manifest_matches_folder(out, "fjord")
    assert second["front"] is None
    assert not any(p.name.startswith("fjord_front") for p in out.iterdir())


KILL_AT_COMMIT = """
import os, signal, sys, types
import csc.outputs as outputs
from csc.cli import main

proxy = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})
moved = []

def replace(src, dst):
    os.replace(src, dst)
    moved.append(dst)
    if len(moved) == 2:    # two files of the new set in place, the rest still staged
        os.kill(os.getpid(), signal.SIGKILL)

proxy.replace = replace
outputs.os = proxy
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_sigkill_mid_commit_then_rerun_gives_one_complete_set(tmp_path, roles_model):
    import subprocess

    path = write_scene(tmp_path / "in", "fjord", wavy_labels((96, 96)), schema=ROLES,
                       transform=FJORD_TRANSFORM)
    out = tmp_path / "out"
    args = ["classify", str(path), "--model", str(roles_model), "--out", str(out),
            "--patch-size", "1", "--epochs", "2", "--samples-per-class", "300",
            "--batch-size", "32"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "csc", *args, "--front"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # at the default verbosity stderr holds only the project's own lines, no TensorFlow noise
    for line in done.stderr.splitlines():
        assert line.startswith(("WARNING CSC_Application", "WARNING csc", "ERROR")), line
    before = manifest_matches_folder(out, "fjord")
    killed = subprocess.run([sys.executable, "-c", KILL_AT_COMMIT, *args, "--no-front",
                             "--seed", "1"], env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    # killed mid-commit: the folder is a mix until the next run completes the commit
    assert any(p.name.endswith(".commit.json") for p in out.iterdir())
    again = subprocess.run([sys.executable, "-m", "csc", *args, "--no-front", "--seed", "1"],
                           env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    after = manifest_matches_folder(out, "fjord")       # one complete set, nothing stale
    assert after["options"]["seed"] == 1 and after["front"] is None
    assert before["options"]["seed"] == 0
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


# --- NaN is nodata ---------------------------------------------------------------------------------

def test_nan_masked_float_image_gives_the_map_of_its_nodata_valued_twin(tmp_path, phase_one,
                                                                         options):
    labels = wavy_labels(SHAPE)
    image = image_for(labels).astype(np.float32)
    hole = (slice(20, 30), slice(40, 52))
    nan_image, twin = image.copy(), image.copy()
    nan_image[hole] = np.nan
    nan_image[5, 5, 2] = np.inf                    # one bad band is enough to be nodata
    twin[hole] = -9999.0
    twin[5, 5, :] = -9999.0
    a = write_scene(tmp_path / "nan", "s", labels, image=nan_image)            # no nodata value
    b = write_scene(tmp_path / "twin", "s", labels, image=twin, nodata=-9999.0)
    opts = options(patch_size=3, epochs=2)
    rows = [classify_path(p, phase_one, tmp_path / f"out_{p.parent.name}", opts).frame.iloc[0]
            for p in (a, b)]
    maps = [_read(tmp_path / f"out_{name}" / "s_classified.tif")[0] for name in ("nan", "twin")]
    np.testing.assert_array_equal(maps[0], maps[1])
    assert (maps[0][hole] == 0).all() and maps[0][5, 5] == 0
    valid = np.ones(SHAPE, bool)
    valid[hole], valid[5, 5] = False, False
    assert (maps[0][valid] > 0).all()                 # every other pixel is classified
    assert rows[0]["csc_weighted_f1"] == rows[1]["csc_weighted_f1"]    # the same reports
    assert rows[0]["cnn_weighted_f1"] == rows[1]["cnn_weighted_f1"] > 0.8
    for row in rows:
        assert np.isfinite(row["csc_weighted_f1"])


def test_confidence_map_beside_the_class_map(run):
    with rasterio.open(run.out / "scene_confidence.tif") as src, \
            rasterio.open(run.out / "scene_classified.tif") as classes:
        conf = src.read(1)
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        assert (src.crs, src.transform, src.shape) == (classes.crs, classes.transform,
                                                       classes.shape)
        assert src.overviews(1) == classes.overviews(1)        # a COG like the class map
    assert (conf[20:30, 40:50] == 255).all()                    # nodata
    valid = np.ones(SHAPE, dtype=bool)
    valid[20:30, 40:50] = False
    # a top-class probability of three classes is at least a third
    assert conf[valid].min() >= 33 and conf[valid].max() <= 100


def test_calibration_is_reported_on_labelled_pixels(run):
    info = json.loads((run.out / "scene_run.json").read_text())
    bins = pd.read_csv(run.out / "CSC_scene_k3_calibration.csv")
    assert len(bins) == 15 and bins["pixels"].sum() == 6044      # every labelled valid pixel
    used = bins[bins["pixels"] > 0]
    ece = float((used["pixels"] * (used["accuracy"] - used["confidence"]).abs()).sum()
                / used["pixels"].sum())
    assert info["scores"]["csc_ece"] == pytest.approx(ece, abs=1e-5)
    assert info["confidence"]["ece"]["pixels"] == 6044
    assert 0.0 < info["samples"]["temperature"] < 20.0
    assert (run.out / "CSC_scene_k3_reliability.png").stat().st_size > 1000


def test_patch_training_calibrates_on_held_out_pixels(tmp_path, phase_one, options):
    path = write_scene(tmp_path / "in", "s", wavy_labels(SHAPE))
    classify_path(path, phase_one, tmp_path / "out", options())
    samples = json.loads((tmp_path / "out" / "s_run.json").read_text())["samples"]
    assert samples["training"].startswith("sampled patches")
    assert 0.0 < samples["temperature"] < 20.0 and samples["temperature"] != 1.0


@pytest.mark.parametrize("dense", [False, True])
def test_temperature_on_confirmed_labels_calibrates_against_the_truth(tmp_path, phase_one,
                                                                      dense):
    """Phase one errs along its class boundaries (a tile holds one class, the ground two):
    a temperature fitted on every held-out pixel learns those errors and leaves the map
    under-confident; fitted on pixels whose label the tile map confirms all round (half a
    tile away), the confidence matches how often the map is right."""
    from CSC_Application.learners import make_learner
    from CSC_Application.run import PhaseOne, TileMapLabels, train_phase_two
    from csc.metrics import calibration
    from csc.pixels import predict_scene, read_pixels

    labels = wavy_labels((192, 288))
    path = write_scene(tmp_path, "s", labels)
    model = PhaseOne.of(phase_one)
    card = model.card
    image = read_pixels(path, bands=card.bands)
    tile_map = TileMapLabels(model).class_map(image)
    ece = {}
    for tile_size in (0, card.tile_size):
        learner = make_learner("nn", patch_size=1, n_bands=card.n_bands,
                               n_classes=SCHEMA.n_classes, seed=0, epochs=6, batch_size=256)
        record = train_phase_two(learner, image, tile_map, schema=SCHEMA, scaling=card.scaling,
                                 samples_per_class=3000, seed=0, path=path, dense=dense,
                                 tile_size=tile_size)
        pred, valid, confidence = predict_scene(learner, image, bands=card.bands,
                                                scaling=card.scaling, schema=SCHEMA,
                                                confidence=True)
        ece[tile_size] = calibration(labels, pred, confidence, valid=valid)["ece"]
        assert record["calibration_pixels"] > 0
    assert ece[card.tile_size] < 0.05
    assert ece[card.tile_size] < ece[0] - 0.02


@pytest.mark.parametrize("dense", [False, True])
def test_the_calibration_distance_reaches_both_training_paths(tmp_path, phase_one, dense,
                                                              monkeypatch):
    """Held-out pixels calibrate the temperature when the tile map confirms their label
    half a tile away (``csc.sampling.calibration_distance``), on the sampled and the dense path
    alike: at a whole tile (the rule before) fewer of them count."""
    import csc.sampling
    from CSC_Application.learners import make_learner
    from CSC_Application.run import PhaseOne, TileMapLabels, train_phase_two
    from csc.pixels import read_pixels

    path = write_scene(tmp_path, "s", wavy_labels((192, 288)))
    model = PhaseOne.of(phase_one)
    card = model.card
    image = read_pixels(path, bands=card.bands)
    tile_map = TileMapLabels(model).class_map(image)
    used = {}
    for tiles in (csc.sampling.CALIBRATION_TILES, 1.0):
        monkeypatch.setattr(csc.sampling, "CALIBRATION_TILES", tiles)
        learner = make_learner("nn", patch_size=1, n_bands=card.n_bands,
                               n_classes=SCHEMA.n_classes, seed=0, epochs=2, batch_size=256)
        used[tiles] = train_phase_two(learner, image, tile_map, schema=SCHEMA,
                                      scaling=card.scaling, samples_per_class=3000, seed=0,
                                      path=path, dense=dense,
                                      tile_size=card.tile_size)["calibration_pixels"]
    assert used[0.5] > used[1.0] >= 200


def test_no_confidence_leaves_the_confidence_outputs_out(tmp_path, phase_one, options):
    path = write_scene(tmp_path / "in", "s", wavy_labels(SHAPE))
    classify_path(path, phase_one, tmp_path / "out", options(confidence=False))
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert "s_classified.tif" in names
    assert not {n for n in names if "confidence" in n or "calibration" in n
                or "reliability" in n}


def test_phase_one_from_given_tile_probabilities(tmp_path, phase_one, options):
    """Tile probabilities given in the network's place (the ideal phase one of
    benchmarks/csc_accuracy.py): no network is loaded, phase two learns from their tile map,
    and run.json says where the labels came from."""
    from CSC_Application.run import PhaseOne
    from csc.modelcard import load_card

    labels = wavy_labels(SHAPE)
    path = write_scene(tmp_path / "in", "given", labels)

    def shares(image_path, rows, cols, tile):
        assert Path(image_path) == path
        out = np.zeros((len(rows), 3), dtype=np.float32)
        for i, (r, c) in enumerate(zip(rows, cols)):
            out[i] = np.bincount(labels[r:r + tile, c:c + tile].ravel(), minlength=4)[1:]
        return out

    given = PhaseOne(card=load_card(phase_one), tile_probabilities=shares)
    row = classify_path(path, given, tmp_path / "out",
                        options(patch_size=1, epochs=12, patience=12)).frame.iloc[0]
    assert given.network is None
    assert row["csc_weighted_f1"] > 0.95
    assert row["csc_weighted_f1"] > row["cnn_weighted_f1"] + 0.03
    info = json.loads((tmp_path / "out" / "given_run.json").read_text())
    assert info["label_source"] == "tile map of the given tile probabilities"
    assert info["model"]["path"] is None


def test_an_empty_line_raster_is_refused_before_work_only_when_the_front_runs(tmp_path):
    """The front step reads EDGE_ and VM_: a run that will use them refuses one without a
    line when the scene is opened; a run without the front step does not read them."""
    from CSC_Application.run import open_for
    from csc.classes import GLACIER
    from csc.modelcard import ModelCard
    from csc.scaling import Scaling
    from csc.scenes import scene_for

    path = write_scene(tmp_path, "s", wavy_labels(SHAPE))
    with rasterio.open(path.with_name("SCLS_s.tif")) as src:
        profile = src.profile
    with rasterio.open(path.with_name("EDGE_s.tif"), "w", **profile) as dst:
        dst.write(np.zeros((1, *SHAPE), profile["dtype"]))
    card = ModelCard(tile_size=32, bands=(1, 2, 3, 4), scaling=Scaling.fixed(10000),
                     schema=GLACIER)
    phase_one = types.SimpleNamespace(card=card, description="model m.keras")
    with pytest.raises(LabelMismatchError, match="EDGE_ raster .*EDGE_s.tif holds no line"):
        open_for(scene_for(path), phase_one, ClassifyOptions(patch_size=1))
    opened = open_for(scene_for(path), phase_one, ClassifyOptions(patch_size=1, front=False))
    assert opened.shape == SHAPE
