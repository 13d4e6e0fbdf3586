"""Temperature scaling helpers shared by every phase-two learner."""
import numpy as np
import pytest

from csc.calibration import frequency_weights, prior_shift, tempered, temperature_of


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


def test_prior_shift_turns_a_balanced_posterior_into_the_image_s():
    """Two 1-D Gaussian classes: the exact posterior under equal priors, shifted to a map that
    is 90 % class 0, is the exact posterior under that prior (Bayes' rule)."""
    x = np.linspace(-3, 4, 201)
    likelihood = np.stack([np.exp(-0.5 * x ** 2), np.exp(-0.5 * (x - 1.0) ** 2)], axis=1)
    balanced = likelihood / likelihood.sum(axis=1, keepdims=True)
    image = likelihood * [0.9, 0.1]
    image /= image.sum(axis=1, keepdims=True)
    shift = prior_shift([9000, 1000], None)
    np.testing.assert_allclose(tempered(balanced.astype(np.float32), 1.0, shift), image,
                               atol=1e-5)
    # a sample drawn 500/500 from a 9000/1000 map needs the same shift
    np.testing.assert_allclose(prior_shift([9000, 1000], [500, 500]), shift)
    # half the shift: the geometric mean of the two priors
    half = tempered(balanced.astype(np.float32), 1.0, prior_shift([9000, 1000], None, 0.5))
    mean = likelihood * np.sqrt([0.9 * 0.5, 0.1 * 0.5])
    np.testing.assert_allclose(half, mean / mean.sum(axis=1, keepdims=True), atol=1e-5)
    # trained at the image's own shares: nothing to move
    np.testing.assert_allclose(prior_shift([9000, 1000], [90, 10]), [0.0, 0.0], atol=1e-12)
    # a class the map lacks counts as one pixel: rare, not impossible
    assert np.isfinite(prior_shift([100, 0], None)).all()
    with pytest.raises(ValueError, match="3 training counts for 2 class frequencies"):
        prior_shift([1, 2], [1, 2, 3])


def test_temperature_with_a_prior_shift_recovers_the_one_that_made_the_labels():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (20000, 3))
    shift = np.log([0.7, 0.2, 0.1])
    true_t = 2.0
    z = logits / true_t + shift
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    targets = (rng.random(20000)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert abs(temperature_of(logp, targets, shift=shift) - true_t) < 0.15
