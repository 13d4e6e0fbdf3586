"""Temperature scaling of class probabilities (Guo et al. 2017), for every phase-two learner.

The neural learner divides its logits by a temperature fitted on held-out pixels; the tree
learners (LightGBM, random forest) divide the log of their probabilities by one, which is the
one-parameter multiclass form of Platt scaling. Numpy and scipy only.
"""
import numpy as np

#: Fewest held-out pixels a temperature is fitted on: the neural learner fits on every
#: held-out pixel when fewer have confirmed labels; the tree learners hold nothing out, and
#: stay uncalibrated, when a fifth of their pixels is fewer.
MIN_CALIBRATION_PIXELS = 200


def frequency_weights(y, frequencies, n_classes):
    """One weight per held-out label ``y`` (class indexes) that brings a class-balanced sample
    back to the image's class ``frequencies`` (labelled pixels per class index): the
    temperature is to match how often the map is right where it is used. All ones without
    ``frequencies`` (or when none of the held-out classes has a frequency)."""
    y = np.asarray(y, dtype=np.int64)
    if frequencies is None:
        return np.ones(len(y))
    frequencies = np.asarray(frequencies, dtype=np.float64)
    if frequencies.shape != (int(n_classes),):
        raise ValueError(f"{frequencies.size} class frequencies for {n_classes} classes")
    held = np.bincount(y, minlength=int(n_classes)).astype(np.float64)
    per_class = np.divide(frequencies, held, out=np.zeros_like(held), where=held > 0)
    weights = per_class[y]
    return weights if weights.sum() > 0 else np.ones(len(y))


def prior_shift(frequencies, trained, strength=1.0):
    """``log(π_c / q_c)`` per class index: the image's class shares ``π`` (``frequencies``,
    labelled pixels per class) over the shares ``q`` the learner was trained on (``trained``,
    training pixels per class, or None for a class-balanced sample). Added to the log of a
    learner's probabilities it turns a posterior under the training prior into one under the
    image's (Saerens et al. 2002, Neural Computation 14, 21): a class-balanced sample teaches a
    class that phase one gave a few tiles as often as the whole background, and without the
    shift the learner spreads it far beyond those tiles. A class without pixels counts as one
    pixel (its training share, when it has none, as one sample), so it is rare, never
    impossible. ``strength`` scales the shift: 1 moves all the way to the image's shares, 0.5
    to their geometric mean with the training shares (a prior estimated from phase one's
    tiles is itself biased where phase one under-maps a class), 0 not at all."""
    pi = np.maximum(np.asarray(frequencies, dtype=np.float64), 1.0)
    q = (np.ones_like(pi) if trained is None
         else np.maximum(np.asarray(trained, dtype=np.float64), 1.0))
    if q.shape != pi.shape:
        raise ValueError(f"{q.size} training counts for {pi.size} class frequencies")
    return float(strength) * (np.log(pi / pi.sum()) - np.log(q / q.sum()))


def tempered(proba, temperature, shift=None):
    """Probabilities ``softmax(log(proba) / temperature + shift)`` (the softmax of the logits
    divided by the temperature, then moved to another class prior by :func:`prior_shift`), in
    place for float32 arrays; unchanged at temperature 1 without a shift."""
    if temperature == 1.0 and shift is None:
        return proba
    logits = np.log(np.maximum(proba, 1e-12), out=proba)
    logits /= np.float32(temperature)
    if shift is not None:
        logits += np.asarray(shift, dtype=np.float32)
    logits -= logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits


def temperature_of(logp, targets, *, weights=None, shift=None):
    """The temperature minimising the (``weights``-weighted) negative log-likelihood of
    ``targets`` under ``softmax(logp / T + shift)`` (``shift``: :func:`prior_shift`, or none),
    searched over exp(−3)..exp(3); 1 without pixels."""
    from scipy.optimize import minimize_scalar

    if len(targets) == 0:
        return 1.0
    weights = (np.ones(len(targets)) if weights is None
               else np.asarray(weights, dtype=np.float64))
    if len(weights) != len(targets) or not weights.sum() > 0:
        raise ValueError(f"{len(weights)} weights for {len(targets)} labelled pixels")
    weights = weights / weights.sum()

    offset = 0.0 if shift is None else np.asarray(shift, dtype=np.float64)

    def nll(log_t):
        z = logp / np.exp(log_t) + offset
        z -= z.max(axis=1, keepdims=True)
        return float(np.sum(weights * (np.log(np.exp(z).sum(axis=1))
                                       - z[np.arange(len(z)), targets])))

    best = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded",
                           options={"xatol": 1e-3})
    return float(np.exp(best.x))
