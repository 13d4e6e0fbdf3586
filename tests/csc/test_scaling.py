import numpy as np
import pytest

from csc.scaling import Scaling, default_scaling


def test_fixed_scale_with_sentinel2_offset():
    s = Scaling.fixed(10000, offset=-1000)
    out = s.apply(np.array([[[1000, 3000, 500]]], np.uint16))
    np.testing.assert_allclose(out, [[[0.0, 0.2, 0.0]]])
    assert out.dtype == np.float32


def test_apply_never_modifies_input():
    data = np.array([[[0.5, 2.0]]], np.float32)
    Scaling.fixed(2).apply(data)
    assert data.tolist() == [[[0.5, 2.0]]]


def test_percentile_round_trips_through_dict():
    rng = np.random.default_rng(0)
    data = rng.normal(100, 10, (50, 50, 3))
    s = Scaling.percentile(data)
    s2 = Scaling.from_dict(s.to_dict())
    np.testing.assert_allclose(s.apply(data), s2.apply(data))
    out = s.apply(data)
    assert np.mean(out <= 1) == pytest.approx(0.98, abs=0.01)
    assert np.mean(out == 0) == pytest.approx(0.02, abs=0.01)     # below the 2nd percentile


def test_percentile_stretch_values():
    # band 1 holds 0..100, band 2 holds 1000..1200: the 2nd/98th percentiles are 2/98, 1004/1196
    data = np.stack([np.arange(101.0), 1000 + 2 * np.arange(101.0)], axis=-1)[None]
    s = Scaling.percentile(data)
    np.testing.assert_allclose(s.low, [2.0, 1004.0])
    np.testing.assert_allclose(s.high, [98.0, 1196.0])
    out = s.apply(np.array([[[0.0, 1000.0], [2.0, 1004.0], [50.0, 1100.0], [98.0, 1196.0],
                              [100.0, 1200.0]]]))
    # below the low percentile clamps to 0; above the high one is not clipped
    np.testing.assert_allclose(out[0], [[0.0, 0.0], [0.0, 0.0], [0.5, 0.5], [1.0, 1.0],
                                        [98 / 96, 196 / 192]], rtol=1e-6)


def test_defaults_by_type():
    assert default_scaling(np.uint8).scale == 255
    assert default_scaling(np.uint16).scale == 10000


def test_bad_scaling_is_a_clear_error():
    from csc.errors import BandError, ScalingError

    with pytest.raises(ScalingError, match="--scale must be a positive number"):
        Scaling.fixed(0)
    fitted = Scaling.percentile(np.ones((4, 4, 3)))
    with pytest.raises(BandError, match="fitted on 3 bands but the data has 4"):
        fitted.apply(np.ones((2, 2, 4)))
