"""The one registry of pixel learners, and the contract they follow.

Learner contract
----------------
A learner is a scikit-learn style estimator::

    learner = Learner(*, patch_size, n_classes, random_state=0, **params)

- ``__init__`` only stores its keyword parameters (``patch_size`` odd ≥ 1, ``n_classes`` ≥ 2,
  ``random_state`` an int seed, plus its own options such as ``n_bands``, ``epochs`` …).
- ``halo``: ``patch_size // 2``, the context a pixel's prediction needs on each side.
- ``fit(patches, y) -> self``: ``patches`` is a patch set (``len``, ``patch_size``,
  ``n_bands``, ``take(index) -> (n, K, K, bands) float32`` scaled patches gathered on demand,
  ``pixels(index) -> (n, bands)`` the centre pixels, ``labels``); ``y`` the class INDEXES
  0..n_classes-1; keywords ``frequencies=`` (labelled pixels per class index in the image,
  for calibration and the prior shift) and ``sample_weight=`` (one weight per sample, for
  ``--tile-weights``). Learned state goes into attributes ending in ``_`` (``history_`` a dict
  of per-epoch lists, possibly empty). ``sklearn.base.clone`` must give an untrained copy
  (``--clean`` trains copies on spatial folds).
- optionally ``fit_map(training)`` on a whole labelled image (a ``csc.blocks.LabelledImage``),
  which the scene pipeline uses with ``--dense`` (the neural learner trains densely);
- ``predict_proba(strip) -> (rows, cols, n_classes) float32`` for a scaled float32 strip
  reflect-padded by ``halo`` on every side (true neighbouring rows as the top/bottom halo);
  columns follow the class indexes.

Learners register themselves under the names of ``--phase2`` (``csc.options.PHASE2_LEARNERS``):
the neural learner of ``CSC_Application.learners`` as ``nn`` (alias ``mlp``), the baselines of
``baselines.learners`` as ``lightgbm`` and ``rf``.
"""
import inspect

from csc.errors import ClassificationError
from csc.options import PHASE2_LEARNERS, check_patch_size

#: Options the scene pipeline passes to every learner; a learner that has no use for one
#: (a random forest has no epochs) ignores it. Any other option must be one the learner takes.
COMMON_OPTIONS = ("n_bands", "epochs", "patience", "batch_size", "progress",
                  "illumination", "band_roles", "prior")

_REGISTRY = {}


def register_learner(name, cls, *, aliases=()):
    """Register ``cls`` under ``name`` (and ``aliases``); returns ``cls``."""
    for key in (name, *aliases):
        if key not in PHASE2_LEARNERS:
            raise ValueError(f"learner name {key!r} is not one of {PHASE2_LEARNERS}; add it to "
                             "csc.options.PHASE2_LEARNERS first")
        _REGISTRY[key] = cls
    return cls


def learner_class(name):
    """The class registered under ``name``, or ``ClassificationError`` naming the choices."""
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ClassificationError(f"unknown phase-two learner {name!r}; choose one of "
                                  f"{', '.join(sorted(_REGISTRY) or PHASE2_LEARNERS)}")
    return _REGISTRY[key]


def make_learner(name, *, patch_size, n_bands, n_classes, seed, **opts):
    """A learner by name. ``opts`` are its options; the :data:`COMMON_OPTIONS` go to every
    learner that takes them, any other must be a parameter of the learner (a misspelt
    ``epoch=`` is an error, never dropped)."""
    k = check_patch_size(patch_size)
    cls = learner_class(name)
    accepted = inspect.signature(cls).parameters
    unknown = sorted(key for key in opts if key not in accepted and key not in COMMON_OPTIONS)
    if unknown:
        own = sorted(p for p in accepted if p not in ("patch_size", "n_classes", "random_state"))
        raise ClassificationError(f"unknown option(s) {', '.join(unknown)} for the {name} "
                                  f"learner; it takes {', '.join(own)}")
    kwargs = {key: value for key, value in dict(opts, n_bands=n_bands).items()
              if key in accepted}
    return cls(patch_size=k, n_classes=int(n_classes), random_state=int(seed), **kwargs)
