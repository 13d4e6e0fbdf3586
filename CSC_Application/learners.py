"""Phase-two learners: one interface for every pixel classifier CSC can train per image.

Learner contract (every phase-two learner, including ``baselines.learners``)
------------------------------------------------------------------------------
A learner is a scikit-learn style estimator::

    learner = Learner(*, patch_size, n_classes, random_state=0, **params)

- ``__init__`` only stores its keyword parameters (``patch_size`` odd ≥ 1, ``n_classes`` ≥ 2,
  ``random_state`` an int seed, plus learner-specific options such as ``n_bands``, ``epochs``,
  ``patience``, ``batch_size`` …). Unknown keyword options may be accepted and ignored.
- ``halo``: attribute/property equal to ``patch_size // 2`` — the context a pixel's prediction
  needs on each side.
- ``fit(patches, y) -> self``

  * ``patches`` is a :class:`CSC_Application.sampling.PatchSet`:

    - ``len(patches)`` – number of training samples ``n``;
    - ``patches.patch_size`` – K (odd); ``patches.n_bands`` – number of bands;
    - ``patches.take(index) -> ndarray (len(index), K, K, bands) float32`` – the scaled
      patches centred on samples ``index`` (any int array into ``0..n-1``; gathered on demand
      with reflect indexing at the image borders, so never materialise all of them at K > 1);
    - ``patches.pixels(index) -> ndarray (len(index), bands) float32`` – the centre pixels only
      (== ``take(index)[:, K//2, K//2]``; cheap, for pixel learners);
    - ``patches.labels`` – the class indexes ``y`` of all samples (same as the ``y`` passed).

  * ``y``: int array (n,) of class INDEXES ``0..n_classes-1`` (not class ids).
  * learned state goes into attributes ending in ``_`` (``model_``, ``classes_``,
    ``history_`` — a dict of per-epoch lists, may be empty — …).

- ``predict_proba(strip) -> ndarray (rows, cols, n_classes) float32``

  * ``strip``: scaled float32 ``(rows + 2*halo, cols + 2*halo, bands)`` array, already
    reflect-padded by ``halo`` on every side (strip-wise prediction passes true neighbouring
    rows as the top/bottom halo). Output pixel ``(r, c)`` is the class-probability vector of
    the patch ``strip[r:r+K, c:c+K]``.
  * columns of the output follow class indexes ``0..n_classes-1``.

``make_learner(name, *, patch_size, n_bands, n_classes, seed, **opts)`` builds one:
``"nn"`` (MLP at K=1, compact CNN at K≥3), ``"mlp"`` (alias of ``"nn"``), ``"lightgbm"`` and
``"rf"`` (``baselines.learners.LightGBMPixelClassifier`` / ``RandomForestPixelClassifier``,
imported lazily; they receive ``patch_size, n_classes, random_state=seed`` and ``**opts``
filtered to the parameters their ``__init__`` accepts).
"""
