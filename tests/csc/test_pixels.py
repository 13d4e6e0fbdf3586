"""Reading valid pixels, strip budgets, scale resolution and strip-wise prediction
(``csc.pixels``)."""
import numpy as np
import pytest
from affine import Affine

from csc.errors import BandError, EmptyTileSetError
from csc.pixels import (auto_strip_rows, predict_scene, read_pixels, read_valid,
                        resolve_scaling, scaling_sample)
from csc.classes import ClassInfo, ClassSchema
from csc.rasters import write_image
from csc.scaling import Scaling
from raster_factory import UTM_24N


def _per_row(width, n_bands=4, n_classes=7):
    """Bytes of one strip row: scaled input and its padded copy, probabilities, class ids."""
    return width * (4 * n_bands * 2 + 4 * n_classes + 8)


def test_auto_strip_rows_fills_the_budget():
    budget = 256 << 20
    rows = auto_strip_rows(10980, n_bands=4, n_classes=7, halo=7, budget=budget)
    per_row = _per_row(10980)
    assert rows == 345                                      # README: 345-row strips at K = 15
    assert (rows + 14) * per_row <= budget < (rows + 15) * per_row    # the most that fits


def test_auto_strip_rows_scale_with_budget_and_width():
    rows = auto_strip_rows(10980, n_bands=4, n_classes=7, budget=128 << 20)
    assert auto_strip_rows(10980, n_bands=4, n_classes=7, budget=256 << 20) in (2 * rows,
                                                                                 2 * rows + 1)
    assert auto_strip_rows(5490, n_bands=4, n_classes=7, budget=128 << 20) in (2 * rows,
                                                                               2 * rows + 1)
    # more bands or classes per pixel: fewer rows for the same budget
    assert auto_strip_rows(10980, n_bands=12, n_classes=7, budget=128 << 20) < rows
    assert auto_strip_rows(10980, n_bands=4, n_classes=20, budget=128 << 20) < rows


def test_auto_strip_rows_limits():
    # a budget below 16 rows still gives 16 rows; a narrow image is not read in one huge strip
    assert auto_strip_rows(10980, n_bands=4, n_classes=7, budget=1) == 16
    assert auto_strip_rows(10, n_bands=4, n_classes=7, budget=256 << 20) == 8192


@pytest.mark.parametrize("available, budget", [(1 << 40, 256 << 20), (1 << 20, 64 << 20),
                                               (1 << 30, (1 << 30) // 10)])
def test_default_budget_is_a_tenth_of_free_memory_within_64_to_256_mb(monkeypatch, available,
                                                                        budget):
    import types

    import psutil

    monkeypatch.setattr(psutil, "virtual_memory",
                        lambda: types.SimpleNamespace(available=available))
    got = auto_strip_rows(10980, n_bands=4, n_classes=7, halo=2)
    assert got == auto_strip_rows(10980, n_bands=4, n_classes=7, halo=2, budget=budget)
    assert got == budget // _per_row(10980) - 4


def test_feature_learners_get_shorter_strips():
    plain = auto_strip_rows(10980, n_bands=4, n_classes=7, budget=128 << 20)
    assert auto_strip_rows(10980, n_bands=4, n_classes=7, n_features=30,
                           budget=128 << 20) < plain / 3


class _MeanOfBand:
    """A 1×1 'learner' with a known answer: class index 1 where band 1 > 0.5, else 0."""

    halo = 0

    def predict_proba(self, strip):
        p = (strip[..., 0] > 0.5).astype(np.float32)
        return np.stack([1 - p, p], axis=-1)


def test_prediction_from_the_file_equals_the_prediction_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 10000, (70, 33, 2)).astype(np.uint16)
    data[5:9, 3:7] = 0
    path = write_image(tmp_path / "i.tif", data, crs=UTM_24N,
                       transform=Affine(10, 0, 5e5, 0, -10, 7.4e6), nodata=0)
    schema = ClassSchema(classes=(ClassInfo(3, "a", "#000000"), ClassInfo(7, "b", "#ffffff")))
    scaling = Scaling.fixed(10000)
    in_memory = read_pixels(path, bands=(1, 2))
    expected = np.where(data[..., 0] > 5000, 7, 3).astype(np.uint8)
    expected[5:9, 3:7] = 0
    for rows in (None, 1, 16):
        from_file, valid = predict_scene(_MeanOfBand(), path, bands=(1, 2), scaling=scaling,
                                         schema=schema, strip_rows=rows)
        np.testing.assert_array_equal(from_file, expected)
        assert (~valid).sum() == 16 and not valid[5:9, 3:7].any()
        mem, _ = predict_scene(_MeanOfBand(), in_memory, bands=(1, 2), scaling=scaling,
                               schema=schema, strip_rows=rows)
        np.testing.assert_array_equal(mem, expected)
    np.testing.assert_array_equal(read_valid(path, bands=(1, 2)), valid)


class _Unsure:
    """A 3×3 learner that knows nothing: 0.6 / 0.4 everywhere."""

    halo = 1

    def predict_proba(self, strip):
        out = np.empty((strip.shape[0] - 2, strip.shape[1] - 2, 2), dtype=np.float32)
        out[...] = (0.6, 0.4)
        return out


def test_local_prior_moves_each_pixel_and_strips_do_not_matter(tmp_path):
    data = np.full((40, 30, 1), 8000, dtype=np.uint16)
    schema = ClassSchema(classes=(ClassInfo(3, "a", "#000000"), ClassInfo(7, "b", "#ffffff")))
    scaling = Scaling.fixed(10000)
    image = read_pixels(write_image(tmp_path / "i.tif", data), bands=(1,))
    seen = []

    def prior(start, stop, width):    # the lower right quarter favours class index 1 by 1 nat
        seen.append((start, stop, width))
        out = np.zeros((stop - start, width, 2), dtype=np.float32)
        out[max(20 - start, 0):, 15:, 1] = 1.0
        return out

    expected = np.full((40, 30), 3, dtype=np.uint8)
    expected[20:, 15:] = 7
    for rows in (None, 7):
        seen.clear()
        got, _, pct = predict_scene(_Unsure(), image, bands=(1,), scaling=scaling, schema=schema,
                                    strip_rows=rows, confidence=True, local_prior=prior)
        np.testing.assert_array_equal(got, expected)
        # confidence after the prior: 0.4·e / (0.6 + 0.4·e) on the right, 0.6 on the left
        assert pct[30, 20] == round(100 * 0.4 * np.e / (0.6 + 0.4 * np.e)) and pct[0, 20] == 60
        assert sum(stop - start for start, stop, _ in seen) == 40 and seen[0][2] == 30
    plain, _ = predict_scene(_Unsure(), image, bands=(1,), scaling=scaling, schema=schema)
    assert (plain == 3).all()


def test_local_prior_gets_shorter_strips():
    plain = auto_strip_rows(10980, n_bands=4, n_classes=7, budget=128 << 20)
    assert auto_strip_rows(10980, n_bands=4, n_classes=7, budget=128 << 20,
                           local_prior=True) < plain


def test_one_scale_rule(tmp_path):
    assert resolve_scaling(None, dtypes={"uint16"}).scale == 10000
    assert resolve_scaling(None, dtypes={"uint8"}).scale == 255
    assert resolve_scaling(255.0, offset=-1.0).offset == -1.0
    with pytest.raises(BandError, match="different data types.*give one --scale"):
        resolve_scaling(None, dtypes={"uint8", "uint16"})
    with pytest.raises(EmptyTileSetError, match="no valid pixels"):
        resolve_scaling("percentile", sample=np.empty((0, 3)))
    # the percentile stretch is fitted over every image given, not the first one only
    a = write_image(tmp_path / "a.tif", np.full((20, 20, 1), 100, np.uint16))
    b = write_image(tmp_path / "b.tif", np.full((20, 20, 1), 900, np.uint16))
    sample = scaling_sample([a, b], bands=(1,))
    assert len(sample) == 800 and set(np.unique(sample)) == {100, 900}
    fitted = resolve_scaling("percentile", sample=sample)
    assert fitted.low[0] == pytest.approx(100) and fitted.high[0] == pytest.approx(900)
