"""The supervised baseline on labelled folders: ``csc baseline`` and ``run_baseline``."""
import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from rasterio.crs import CRS

from baselines.supervised import run_baseline
from csc.classes import GLACIER
from csc.cli import cli
from csc.errors import ClassificationError, MissingLabelError
from csc.rasters import write_class_raster, write_image
from csc.sampling import balanced_sample

TRANSFORM = Affine(10, 0, 500000, 0, -10, 7400000)
UTM_24N = CRS.from_epsg(32624)


def block_labels(shape, n_classes):
    """Vertical bands of classes 1..n_classes."""
    cols = shape[1]
    labels = (np.arange(cols) // int(np.ceil(cols / n_classes)) + 1).astype(np.uint8)
    return np.broadcast_to(labels, shape).copy()


def image_from_labels(labels, *, seed, bands=4, noise=200):
    """Each class has its own mean spectrum, plus noise: a learnable image."""
    rng = np.random.default_rng(seed)
    means = 1000 + 1500 * np.arange(int(labels.max()) + 1)[:, None] * np.linspace(1, 1.6, bands)
    image = means[labels] + rng.normal(0, noise, labels.shape + (bands,))
    return np.clip(image, 1, 65535).astype(np.uint16)


def scene(folder, stem, *, seed, shape=(60, 90), n_classes=3, nodata_rows=0, labels=None):
    """A 4-band image whose classes have their own mean spectra (a learnable answer), with
    SCLS_ labels; optionally the first ``nodata_rows`` rows are nodata (0)."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = block_labels(shape, n_classes) if labels is None else labels
    image = image_from_labels(labels, seed=seed)
    if nodata_rows:
        image[:nodata_rows] = 0
    write_image(folder / f"{stem}.tif", image, crs=UTM_24N, transform=TRANSFORM,
                nodata=0 if nodata_rows else None)
    write_class_raster(folder / f"SCLS_{stem}.tif", labels, schema=GLACIER, crs=UTM_24N,
                       transform=TRANSFORM)
    return folder / f"{stem}.tif"


@pytest.fixture
def folders(tmp_path):
    train, test = tmp_path / "train", tmp_path / "test"
    scene(train, "a", seed=1)
    scene(train, "b", seed=2)
    scene(test, "c", seed=3, nodata_rows=5)
    return train, test, tmp_path / "out"


@pytest.mark.parametrize("learner", ["lightgbm", "rf"])
def test_cli_baseline_writes_maps_reports_and_summary(folders, learner):
    train, test, out = folders
    result = CliRunner().invoke(cli, ["baseline", str(train), str(test), "--out", str(out),
                                      "--learner", learner, "--samples-per-class", "300",
                                      "--window", "3", "--strip-rows", "16"])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "baseline_summary.csv")
    assert summary["image"].tolist() == ["c"]
    assert summary.loc[0, "learner"] == learner
    assert summary.loc[0, "macro_f1"] >= 0.9           # chance is 1/3
    report = pd.read_csv(out / f"BASE_c_{learner}.csv")
    assert list(report.columns) == ["Class", "Precision", "Recall", "F1_score", "Support"]
    assert report["Class"].tolist()[:3] == ["open water", "iceberg water", "melange"]
    with rasterio.open(out / "c_classified.tif") as src, \
            rasterio.open(test / "c.tif") as image:
        classes = src.read(1)
        assert src.crs == image.crs and src.transform == image.transform
        assert src.shape == image.shape
    assert (classes[:5] == 0).all()                   # nodata rows stay unlabelled
    assert set(np.unique(classes[5:])) <= {1, 2, 3}
    pixels = np.load(out / "c_base_{}_k3_pixels.npz".format(learner))
    assert len(pixels["truth"]) == len(pixels["csc"]) == int(pixels["labelled_pixels"])
    assert int(pixels["labelled_pixels"]) == 55 * 90
    assert (pixels["truth"] > 0).all()
    assert "cnn" not in pixels                          # a baseline has no phase one
    from CSC_Application.summary import summarize

    pooled = summarize([out])
    assert set(pooled["method"]) == {"csc"}
    weighted = pooled.set_index("class").loc["weighted avg", "f1"]
    assert weighted == pytest.approx(summary.loc[0, "weighted_f1"], abs=1e-6)
    assert json.loads(str(pixels["schema"]))["name"] == "glacier"


def test_illumination_features_classify_a_shadowed_scene(tmp_path):
    """Trained on sunlit scenes, tested on the same ground in shade (every band × 0.3): with
    ``--illumination`` the band ratios carry over; the raw bands do not."""
    train, test = tmp_path / "train", tmp_path / "test"
    labels = block_labels((60, 90), 3)
    rng = np.random.default_rng(0)
    shape = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.5, 1.0], [1.0, 1.0, 0.6, 1.0]])
    for folder, stem, light in ((train, "a", (0.5, 1.0)), (test, "c", (0.1, 0.2))):
        folder.mkdir()
        level = rng.uniform(*light, size=labels.shape + (1,))
        image = 6000 * shape[labels - 1] * level * rng.normal(1, 0.02, labels.shape + (4,))
        write_image(folder / f"{stem}.tif", image.astype(np.uint16), crs=UTM_24N,
                    transform=TRANSFORM)
        write_class_raster(folder / f"SCLS_{stem}.tif", labels, schema=GLACIER, crs=UTM_24N,
                           transform=TRANSFORM)
    f1 = {}
    for flag in ("--illumination", "--no-illumination"):
        out = tmp_path / flag
        result = CliRunner().invoke(cli, ["baseline", str(train), str(test), "--out", str(out),
                                          "--samples-per-class", "300", "--window", "1", flag])
        assert result.exit_code == 0, result.output
        info = json.loads((out / "baseline_run.json").read_text())
        assert info["illumination"] is (flag == "--illumination")
        f1[flag] = pd.read_csv(out / "baseline_summary.csv").loc[0, "macro_f1"]
    assert f1["--illumination"] >= 0.95
    assert f1["--no-illumination"] < 0.7


def test_results_do_not_depend_on_the_strip_height(folders):
    train, test, out = folders
    maps = []
    for rows in (7, 1000):
        run_baseline(train, test, out_dir=out / str(rows), schema=GLACIER, window=5,
                     samples_per_class=200, strip_rows=rows,
                     learner_options={"n_estimators": 30})
        with rasterio.open(out / str(rows) / "c_classified.tif") as src:
            maps.append(src.read(1))
    np.testing.assert_array_equal(maps[0], maps[1])


def test_same_seed_same_map(folders):
    train, test, out = folders
    maps = []
    for run in ("x", "y"):
        run_baseline(train, test, out_dir=out / run, schema=GLACIER, samples_per_class=100,
                     seed=4, learner="rf", learner_options={"n_estimators": 20})
        with rasterio.open(out / run / "c_classified.tif") as src:
            maps.append(src.read(1))
    np.testing.assert_array_equal(maps[0], maps[1])


def test_balanced_sample_never_draws_unlabelled_or_nodata_pixels():
    labels = block_labels((40, 60), 3)
    labels[:, :5] = 0                     # unlabelled
    valid = np.ones(labels.shape, bool)
    valid[:10] = False                    # nodata
    maps = [np.where(valid, labels, 0).astype(np.uint8),
            np.where(valid, labels[::-1], 0).astype(np.uint8)]
    sample = balanced_sample(maps, schema=GLACIER, samples_per_class=150, seed=0)
    assert sample.drawn == {1: 150, 2: 150, 3: 150, 4: 0, 5: 0, 6: 0, 7: 0}
    for m, class_map in enumerate(maps):
        rows, cols, y = sample.of_map(m)
        assert len(y) and (class_map[rows, cols] == y).all()   # never 0: unlabelled or nodata
    assert np.bincount(sample.labels, minlength=4)[1:].tolist() == [150, 150, 150]
    assert len(set(zip(sample.maps, sample.rows, sample.cols))) == 450   # no repeats


def test_training_images_need_labels(tmp_path):
    scene(tmp_path / "train", "a", seed=1)
    (tmp_path / "train" / "SCLS_a.tif").unlink()
    scene(tmp_path / "test", "c", seed=3)
    with pytest.raises(MissingLabelError, match="SCLS_a.tif"):
        run_baseline(tmp_path / "train", tmp_path / "test", out_dir=tmp_path / "out",
                     schema=GLACIER)


def test_single_labelled_class_is_explained(tmp_path):
    scene(tmp_path / "train", "a", seed=1, labels=np.full((60, 90), 2, np.uint8))
    scene(tmp_path / "test", "c", seed=3)
    with pytest.raises(ClassificationError, match=r"only class 2 \(iceberg water\) is present"):
        run_baseline(tmp_path / "train", tmp_path / "test", out_dir=tmp_path / "out",
                     schema=GLACIER)


def test_cli_error_is_one_line(tmp_path):
    scene(tmp_path / "train", "a", seed=1, labels=np.full((60, 90), 2, np.uint8))
    scene(tmp_path / "test", "c", seed=3)
    result = CliRunner().invoke(cli, ["baseline", str(tmp_path / "train"),
                                      str(tmp_path / "test"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "needs at least two classes" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("scale", ["lots", "0"])
def test_cli_bad_scale_is_a_usage_error(tmp_path, scale):
    scene(tmp_path / "train", "a", seed=1)
    scene(tmp_path / "test", "c", seed=3)
    result = CliRunner().invoke(cli, ["baseline", str(tmp_path / "train"),
                                      str(tmp_path / "test"), "--out", str(tmp_path / "out"),
                                      "--scale", scale])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--scale" in result.output and not (tmp_path / "out").exists()


def test_cli_help_lists_the_learners():
    result = CliRunner().invoke(cli, ["baseline", "--help"])
    assert result.exit_code == 0
    for text in ("--learner", "lightgbm", "rf", "--samples-per-class", "--window",
                 "--band-roles"):
        assert text in result.output
