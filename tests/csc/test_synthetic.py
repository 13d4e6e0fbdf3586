"""Synthetic glacier scenes: reproducibility, georeferencing, label rasters, and the design
that makes them a fair test of CSC (texture and context matter, single pixels do not suffice)."""
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.crs import CRS
from scipy import ndimage
from skimage.morphology import thin
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score

from csc import spectra, synthetic
from csc.classes import GLACIER
from csc.cli import cli
from csc.errors import CscError, SceneSizeError
from csc.rasters import raster_info, read_image, read_labels
from csc.tiling import tile_grid, window_sums

CLASSES = set(range(1, 8))
OCEAN = (1, 2, 3)
CROSS = ndimage.generate_binary_structure(2, 1)


@pytest.fixture(scope="module")
def scene():
    return synthetic.make_scene(192, seed=3)


def _touches(mask, other):
    """Pixels of ``mask`` with a 4-neighbour in ``other``."""
    return mask & ndimage.binary_dilation(other, structure=CROSS)


# --- reproducibility and layout ----------------------------------------------------------

def test_same_seed_gives_identical_scene():
    first, second = (synthetic.make_scene(128, seed=5) for _ in range(2))
    for name in ("image", "labels", "truth", "edge", "margins"):
        assert getattr(first, name).tobytes() == getattr(second, name).tobytes(), name
    assert first.transform == second.transform


def test_different_seeds_give_different_scenes_at_different_places():
    first, second = synthetic.make_scene(128, seed=5), synthetic.make_scene(128, seed=6)
    assert not np.array_equal(first.image, second.image)
    assert not np.array_equal(first.truth, second.truth)
    assert (first.transform.c, first.transform.f) != (second.transform.c, second.transform.f)


def test_layout_orientation_varies_with_seed():
    # The glacier enters from different image sides (the layout is rotated and flipped).
    sides = set()
    for seed in range(8):
        truth = synthetic.make_scene(128, seed=seed).truth
        glacier = np.argwhere(np.isin(truth, (4, 5))).mean(0)
        ocean = np.argwhere(np.isin(truth, OCEAN)).mean(0)
        dy, dx = glacier - ocean
        sides.add(("south" if dy > 0 else "north") if abs(dy) > abs(dx)
                  else ("east" if dx > 0 else "west"))
    assert len(sides) >= 3


def test_shapes_types_and_bands(scene):
    assert scene.image.shape == (192, 192, 4) and scene.image.dtype == np.uint16
    for name in ("labels", "truth", "edge", "margins"):
        array = getattr(scene, name)
        assert array.shape == (192, 192) and array.dtype == np.uint8, name
    assert scene.image.min() >= 1
    assert set(np.unique(scene.edge)) == {0, 1} and set(np.unique(scene.margins)) == {0, 1}
    assert scene.crs == CRS.from_epsg(32624)
    assert (scene.transform.a, scene.transform.e) == (10.0, -10.0)


@pytest.mark.parametrize("size,seed", [(128, 0), (128, 11), (256, 2), (256, 9)])
def test_every_class_is_present(size, seed):
    truth = synthetic.make_scene(size, seed=seed).truth
    assert set(np.unique(truth).tolist()) == CLASSES


@pytest.mark.parametrize("seed", [0, 1])
def test_snow_on_rock_forms_fields_that_hold_pure_tiles(seed):
    # Phase one needs whole 50x50 tiles of snow on rock: from 512 px the walls carry a few
    # snowfields, each holding tiles that pass phase one's rules, besides small patches; the
    # class stays a plausible share of the scene and meets the snow on ice somewhere.
    scene = synthetic.make_scene(512, seed=seed)
    truth, labels = scene.truth, scene.labels
    snow_on_rock = truth == 6
    assert 0.05 <= snow_on_rock.mean() <= 0.13
    # Tiles phase one keeps: >= 95 % of the labelled pixels one class, <= 10 % unlabelled.
    rows, cols = tile_grid(truth.shape, 50, 25)
    labelled = window_sums(labels > 0, 50, rows, cols)
    pure = ((window_sums(labels == 6, 50, rows, cols) >= 0.95 * labelled)
            & (labelled >= 0.9 * 50 * 50))
    assert pure.sum() >= 8
    fields, n = ndimage.label(snow_on_rock)
    per_field = np.bincount([np.bincount(fields[r:r + 50, c:c + 50].ravel())[1:].argmax() + 1
                             for r, c in zip(rows[pure], cols[pure])])
    assert np.count_nonzero(per_field >= 2) >= 2, per_field
    assert _touches(snow_on_rock, truth == 5).sum() >= 10
    assert n >= 6                                  # and small scattered patches


def test_spectra_order_like_sentinel2(scene):
    # Band order B4, B3, B2, B8: snow brighter than ice, ice brighter than rock in the
    # visible; water darkest in the near infrared.
    image, truth = scene.image.astype(float), scene.truth
    visible = image[..., :3].sum(-1)
    assert (np.median(visible[truth == 5]) > np.median(visible[truth == 4])
            > np.median(visible[truth == 7]))
    nir = image[..., 3]
    open_water = np.median(nir[truth == 1])
    assert open_water < 0.5 * min(np.median(nir[truth == c]) for c in (4, 5, 6, 7))


def test_spectra_constants_are_matched_by_the_lognormal_draws():
    for material in spectra.MEANS:
        log_mean, log_cov = spectra.lognormal_parameters(material)
        mean = np.exp(log_mean + np.diag(log_cov) / 2)
        cov = np.outer(mean, mean) * np.expm1(log_cov)
        np.testing.assert_allclose(mean, spectra.MEANS[material], rtol=1e-9)
        np.testing.assert_allclose(cov, spectra.COVARIANCES[material], rtol=1e-9)
        assert np.all(np.linalg.eigvalsh(log_cov) > 0)


# --- line rasters and labels ----------------------------------------------------------------

def test_edge_is_a_thin_line_between_glacier_ice_and_ocean(scene):
    edge = scene.edge.astype(bool)
    assert edge.sum() > 0.3 * 192
    assert np.all(scene.truth[edge] == 4)
    assert np.all(_touches(edge, np.isin(scene.truth, OCEAN))[edge])
    assert np.array_equal(thin(edge), edge)
    assert ndimage.label(edge, structure=np.ones((3, 3)))[1] == 1


def test_valley_margins_lie_between_glacier_and_rock(scene):
    margins = scene.margins.astype(bool)
    assert margins.sum() > 0.3 * 192
    assert np.all(np.isin(scene.truth[margins], (4, 5)))
    assert np.all(_touches(margins, np.isin(scene.truth, (6, 7)))[margins])
    assert np.array_equal(thin(margins), margins)


def test_labels_have_thin_gaps_along_some_boundaries(scene):
    labels, truth = scene.labels, scene.truth
    gaps = labels == 0
    assert 0 < gaps.mean() < 0.10
    assert np.array_equal(labels[~gaps], truth[~gaps])
    # Gaps hug class boundaries (within 3 px of another class) ...
    change = np.zeros(truth.shape, bool)
    for c in CLASSES:
        change |= _touches(truth == c, truth != c)
    assert np.all(ndimage.distance_transform_cdt(~change, metric="taxicab")[gaps] <= 3)
    # ... of some class pairs but not all (a strip may graze another pair at a junction).
    shares = []
    for a, b in synthetic.adjacent_pairs(truth):
        boundary = _touches(truth == a, truth == b) | _touches(truth == b, truth == a)
        if boundary.sum() >= 50:
            shares.append(gaps[boundary].mean())
    assert max(shares) > 0.2 and min(shares) < 0.05, shares


# --- hard in the right way -----------------------------------------------------------------

def test_context_separates_what_single_pixels_cannot():
    """Iceberg water, melange, snow on ice and snow on rock share spectra with other classes;
    a random forest on 9x9 mean/std features must beat one on single pixels clearly."""
    scene = synthetic.make_scene(256, seed=0)
    pixels = np.log(scene.image.astype(np.float32))
    mean = ndimage.uniform_filter(pixels, size=(9, 9, 1))
    std = np.sqrt(np.maximum(ndimage.uniform_filter(pixels ** 2, size=(9, 9, 1)) - mean ** 2, 0))
    truth = scene.truth.ravel()
    rng = np.random.default_rng(0)
    train, test = [], []
    for c in sorted(CLASSES):
        chosen = rng.permutation(np.flatnonzero(truth == c))[:500]
        train.append(chosen[:250])
        test.append(chosen[250:])
    train, test = np.concatenate(train), np.concatenate(test)
    hard = [2, 3, 5, 6]
    scores = {}
    for name, features in (("pixel", pixels), ("context", np.concatenate([mean, std], -1))):
        features = features.reshape(truth.size, -1)
        forest = RandomForestClassifier(n_estimators=40, max_depth=10, random_state=0, n_jobs=1)
        forest.fit(features[train], truth[train])
        scores[name] = f1_score(truth[test], forest.predict(features[test]), labels=hard,
                                average=None)
    assert np.all(scores["pixel"] < 0.75), scores
    assert np.all(scores["context"] - scores["pixel"] > 0.10), scores


# --- files and command line ----------------------------------------------------------------

def test_write_scenes_writes_georeferenced_rasters_on_one_grid(tmp_path):
    paths = synthetic.write_scenes(tmp_path, scenes=2, size=128, seed=4)
    assert [p.name for p in paths] == ["scene_000.tif", "scene_001.tif"]
    origins = set()
    for i, path in enumerate(paths):
        info = raster_info(path)
        assert info.crs == CRS.from_epsg(32624)
        assert info.pixel_size == (10.0, 10.0)
        assert (info.count, info.dtype, info.shape) == (4, "uint16", (128, 128))
        origins.add((info.transform.c, info.transform.f))
        expected = synthetic.make_scene(128, seed=4 + i)
        np.testing.assert_array_equal(read_image(path).data, expected.image)
        for prefix, array in (("SCLS_", expected.labels), ("EDGE_", expected.edge),
                              ("VM_", expected.margins)):
            companion = path.with_name(prefix + path.name)
            other = raster_info(companion)
            assert (other.crs, other.transform, other.shape) == (info.crs, info.transform,
                                                                 info.shape), prefix
            with rasterio.open(companion) as src:
                np.testing.assert_array_equal(src.read(1), array)
        labels = read_labels(path.with_name("SCLS_" + path.name), schema=GLACIER,
                             shape=info.shape, image_path=path)
        assert set(np.unique(labels).tolist()) <= CLASSES | {0}
        with rasterio.open(path.with_name("SCLS_" + path.name)) as src:
            assert src.colormap(1)[4][:3] == GLACIER.classes[3].rgb
    assert len(origins) == 2


@pytest.mark.parametrize("call", [lambda: synthetic.make_scene(100, seed=0),
                                  lambda: synthetic.write_scenes("unused", scenes=1, size=64,
                                                                 seed=0)])
def test_too_small_scenes_are_refused(call):
    with pytest.raises(SceneSizeError, match="at least 128 pixels.*got size"):
        call()
    assert issubclass(SceneSizeError, CscError) and issubclass(SceneSizeError, ValueError)


def test_write_scenes_refuses_zero_scenes(tmp_path):
    with pytest.raises(SceneSizeError, match="at least one"):
        synthetic.write_scenes(tmp_path, scenes=0, size=128, seed=0)


def test_cli_synth_writes_scenes(tmp_path):
    out = tmp_path / "synthetic"
    result = CliRunner().invoke(cli, ["synth", str(out), "--scenes", "2", "--size", "128",
                                      "--seed", "3"])
    assert result.exit_code == 0, result.output
    for i in range(2):
        for prefix in ("", "SCLS_", "EDGE_", "VM_"):
            assert (out / f"{prefix}scene_{i:03d}.tif").exists()
        assert f"scene_{i:03d}.tif" in result.output
    np.testing.assert_array_equal(read_image(out / "scene_001.tif").data,
                                  synthetic.make_scene(128, seed=4).image)


def test_cli_synth_rejects_small_size(tmp_path):
    result = CliRunner().invoke(cli, ["synth", str(tmp_path), "--size", "64"])
    assert result.exit_code == 2
    assert "at least 128" in result.output
    assert not list(tmp_path.iterdir())
