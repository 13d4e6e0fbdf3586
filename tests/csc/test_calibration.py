"""Temperature scaling helpers shared by every phase-two learner."""
import numpy as np
import pytest

from csc.calibration import frequency_weights, tempered, temperature_of


def test_frequency_weights_restore_the_map_s_class_shares():
    y = np.array([0] * 50 + [1] * 50 + [2] * 50)              # a balanced held-out sample
    weights = frequency_weights(y, [900, 90, 10], 3)          # the map is mostly class 0
    share = np.bincount(y, weights=weights) / weights.sum()
    np.testing.assert_allclose(share, [0.9, 0.09, 0.01])
    np.testing.assert_array_equal(frequency_weights(y, None, 3), np.ones(150))
    with pytest.raises(ValueError, match="2 class frequencies for 3 classes"):
        frequency_weights(y, [1, 2], 3)


def test_temperature_recovers_the_one_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 4))
    true_t = 2.5                                              # the model is over-confident
    p = np.exp(logits / true_t)
    p /= p.sum(axis=1, keepdims=True)
    targets = (rng.random(20000)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    t = temperature_of(logp, targets)
    assert abs(t - true_t) < 0.15
    calibrated = tempered(np.exp(logp).astype(np.float32), t)
    np.testing.assert_allclose(calibrated, p, atol=0.02)
