"""The supervised pixel baseline: a LightGBM or random-forest classifier trained on the manual
labels (``SCLS_``) of training images and applied to every test image strip by strip.

For each test image ``<stem>`` the outputs in ``out_dir`` are ``<stem>_classified.tif`` and,
when the test image has ``SCLS_<stem>``, ``BASE_<stem>_<learner>.csv`` (per-class report) and
``<stem>_<exp>_pixels.npz`` (a seeded sample of labelled pixels, in the layout ``csc
summarize`` pools, with ``exp`` = ``base_<learner>_k<window>``: the baseline's classes are
stored as ``csc``, with no ``cnn`` since a baseline has no phase one, so a summary lists the
run ``<out>/base_lightgbm_k5`` beside the CSC runs); ``baseline_summary.csv`` holds
one row per test image.

Training samples are balanced: up to ``samples_per_class`` labelled pixels of every class,
drawn over all training images together (never unlabelled or nodata pixels). Memory is bounded
by the strip size: images are read strip by strip, with ``window // 2`` rows of real context
above and below each strip.
"""
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from baselines.features import parse_roles, patch_features
from baselines.learners import LEARNERS, make_baseline
from CSC_Application.summary import POOL_PIXELS, write_pixel_sample
from csc.errors import ClassificationError
from csc.files import ensure_writable_dir, write_csv, write_json
from csc.metrics import class_report, summary_scores, write_report
from csc.rasters import ClassRasterWriter, common_bands, raster_info, read_image, read_labels
from csc.scaling import Scaling, default_scaling
from csc.scenes import find_scenes
from csc.tiling import strips

log = logging.getLogger(__name__)

#: Columns of ``baseline_summary.csv``.
SUMMARY_COLUMNS = ["image", "learner", "window", "weighted_f1", "macro_f1", "accuracy",
                   "labelled_pixels", "seconds"]
#: Memory for one strip's buffers (scaled input, features, filter temporaries).
STRIP_BUDGET = 256 * 2 ** 20


def strip_rows_for(width, *, n_bands, n_features, halo, budget=STRIP_BUDGET):
    """Rows per strip keeping one strip's buffers within ``budget`` bytes."""
    per_row = max(1, int(width)) * (n_bands * 8 * 5 + n_features * 4 * 2 + 64)
    return int(min(max(budget // per_row - 2 * halo, 16), 4096))


def read_strip(path, strip, *, bands, scaling, halo):
    """Scaled strip ``strip`` of an image, reflect-padded by ``halo`` on every side (true
    neighbouring rows above and below where they exist): ``(padded, valid)`` with ``valid``
    the (rows, cols) nodata mask of the strip's own rows."""
    image = read_image(path, bands=bands, window=(strip.read_start, strip.read_stop))
    block = scaling.apply(image.data)
    if halo:
        block = np.pad(block, ((strip.pad_top, strip.pad_bottom), (halo, halo), (0, 0)),
                       mode="reflect")
    inner = slice(strip.start - strip.read_start, strip.stop - strip.read_start)
    return block, image.valid[inner]


def _valid_mask(path, info, *, bands, strip_rows):
    """Nodata mask of a whole image, read strip by strip (all True without nodata)."""
    if info.nodata is None and np.dtype(info.dtype).kind != "f":
        return np.ones(info.shape, dtype=bool)
    valid = np.empty(info.shape, dtype=bool)
    for s in strips(info.height, strip_rows, 0):
        valid[s.start:s.stop] = read_image(path, bands=bands, window=(s.start, s.stop)).valid
    return valid


def class_index_map(labels, valid, *, schema):
    """Class indexes 0..n-1 of labelled valid pixels, -1 elsewhere (int8 when it fits)."""
    dtype = np.int8 if schema.n_classes < 127 else np.int16
    return np.where(valid, schema.to_index(labels), -1).astype(dtype)


def balanced_sample(index_maps, *, schema, samples_per_class, seed=0):
    """Balanced training pixels over several maps of class indexes (:func:`class_index_map`:
    0..n-1, -1 for unlabelled or nodata pixels, which are never drawn).

    For every class up to ``samples_per_class`` pixels are drawn without replacement over all
    maps together (all of them when a class has fewer). Returns a list, per map, of ``(rows,
    cols, y)`` with ``y`` the class indexes, and the number drawn per class id."""
    rng = np.random.default_rng(seed)
    n_maps = len(index_maps)
    counts = np.array([np.bincount(idx[idx >= 0].astype(np.int64), minlength=schema.n_classes)
                       for idx in index_maps]).reshape(n_maps, schema.n_classes)
    picked = [[] for _ in range(n_maps)]
    drawn = {}
    for k, class_id in enumerate(schema.ids.tolist()):
        total = int(counts[:, k].sum())
        n = min(int(samples_per_class), total)
        drawn[class_id] = n
        if n == 0:
            continue
        ranks = np.sort(rng.choice(total, size=n, replace=False))
        edges = np.concatenate([[0], np.cumsum(counts[:, k])])
        for m in range(n_maps):
            local = ranks[(ranks >= edges[m]) & (ranks < edges[m + 1])] - edges[m]
            if len(local):
                positions = np.flatnonzero(index_maps[m] == k)[local]
                picked[m].append((positions, np.full(len(local), k, dtype=np.int64)))
    present = [c for c, n in drawn.items() if n > 0]
    if len(present) < 2:
        raise ClassificationError(
            f"the training labels hold {len(present)} class(es) of the schema {schema.name!r}; "
            "the baseline needs at least two labelled classes — check the SCLS_ rasters and "
            "--classes")
    out = []
    for idx, parts in zip(index_maps, picked):
        if not parts:
            out.append((np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)))
            continue
        positions = np.concatenate([p for p, _ in parts])
        y = np.concatenate([c for _, c in parts])
        width = idx.shape[1]
        out.append((positions // width, positions % width, y))
    return out, drawn


def sample_features(path, rows, cols, *, bands, scaling, roles, window, strip_rows):
    """Features (n, F) of the pixels (rows, cols) of an image, read strip by strip."""
    halo = window // 2
    info = raster_info(path)
    order = np.argsort(rows, kind="stable")
    out = None
    offsets = np.arange(-halo, halo + 1)
    for s in strips(info.height, strip_rows, halo):
        lo, hi = np.searchsorted(rows[order], [s.start, s.stop])
        if lo == hi:
            continue
        idx = order[lo:hi]
        block, _ = read_strip(path, s, bands=bands, scaling=scaling, halo=halo)
        r = rows[idx] - s.read_start + s.pad_top
        c = cols[idx] + halo
        patches = block[(r[:, None] + offsets)[:, :, None], (c[:, None] + offsets)[:, None, :]]
        feats = patch_features(patches, roles=roles)
        if out is None:
            out = np.empty((len(rows), feats.shape[1]), dtype=np.float32)
        out[idx] = feats
    return out


def _scaling(scale, *, offset, train, bands, schema):
    """A ``Scaling`` from ``scale`` (None, a number, ``percentile`` or a Scaling)."""
    if isinstance(scale, Scaling):
        return scale
    if scale is None:
        base = default_scaling(raster_info(train[0].image).dtype)
        return Scaling.fixed(base.scale, offset=offset)
    if str(scale).lower() != "percentile":
        return Scaling.parse(scale, offset=offset)
    # percentile: fitted on the labelled pixels of the first training image
    image = read_image(train[0].image, bands=bands)
    labels = read_labels(train[0].labels, schema=schema, shape=image.shape,
                         image_path=train[0].image)
    return Scaling.percentile(image.data, valid=image.valid & (labels != 0), offset=offset)


def run_baseline(train_dir, test_dir, *, out_dir, schema, learner="lightgbm",
                 samples_per_class=5000, window=5, bands=None, scale=None, offset=0.0,
                 band_roles=None, seed=0, strip_rows=None, learner_options=None,
                 progress=False):
    """Train a baseline on the labelled images of ``train_dir`` and classify every image of
    ``test_dir``; returns the summary DataFrame (also written as ``baseline_summary.csv``).

    ``learner`` is ``lightgbm`` or ``rf``; ``window`` the odd feature window K; ``bands`` 1-based
    band indexes (default all); ``scale`` a number, ``percentile`` or None (from the data
    type); ``band_roles`` the role of each band read (default B4, B3, B2, B8 for four bands)."""
    import time

    if learner not in LEARNERS:
        raise ClassificationError(f"unknown baseline learner {learner!r}; choose "
                                  f"{' or '.join(LEARNERS)}")
    out_dir = ensure_writable_dir(out_dir)
    train = find_scenes(train_dir, require_labels=True)
    test = find_scenes(test_dir)
    bands = common_bands([raster_info(s.image) for s in train + test], bands)
    roles = parse_roles(band_roles, len(bands))
    scaling = _scaling(scale, offset=offset, train=train, bands=bands, schema=schema)
    halo = window // 2
    model = make_baseline(learner, patch_size=window, n_classes=schema.n_classes,
                          random_state=seed, band_roles=roles, **(learner_options or {}))
    n_features = len(patch_features(np.zeros((1, window, window, len(bands)), np.float32),
                                    roles=roles)[0])

    # -- training sample ------------------------------------------------------------------
    t0 = time.perf_counter()
    label_maps, infos = [], []
    for scene in train:
        info = raster_info(scene.image)
        rows = strip_rows or strip_rows_for(info.width, n_bands=len(bands),
                                            n_features=n_features, halo=halo)
        labels = read_labels(scene.labels, schema=schema, shape=info.shape,
                             image_path=scene.image)
        valid = _valid_mask(scene.image, info, bands=bands, strip_rows=rows)
        label_maps.append(class_index_map(labels, valid, schema=schema))
        infos.append(info)
    picks, drawn = balanced_sample(label_maps, schema=schema,
                                   samples_per_class=samples_per_class, seed=seed)
    del label_maps
    features, targets = [], []
    for scene, info, (r, c, y) in zip(train, infos, picks):
        if not len(y):
            continue
        rows = strip_rows or strip_rows_for(info.width, n_bands=len(bands),
                                            n_features=n_features, halo=halo)
        features.append(sample_features(scene.image, r, c, bands=bands, scaling=scaling,
                                        roles=roles, window=window, strip_rows=rows))
        targets.append(y)
    log.info("baseline %s: %d training pixels from %d image(s) (%s)", learner,
             sum(len(y) for y in targets), len(train),
             ", ".join(f"{schema.name_of(c)} {n}" for c, n in drawn.items()))
    model.fit_features(np.concatenate(features), np.concatenate(targets), roles=roles)
    train_seconds = time.perf_counter() - t0

    # -- test images ----------------------------------------------------------------------
    exp = f"base_{learner}_k{window}"
    rows_out = []
    scenes = test
    if progress:
        from tqdm.auto import tqdm

        scenes = tqdm(test, desc=f"baseline {learner}", unit="image", disable=None)
    for scene in scenes:
        t1 = time.perf_counter()
        row = classify_image(scene, model, out_dir=out_dir, schema=schema, bands=bands,
                             scaling=scaling, strip_rows=strip_rows, exp=exp, seed=seed)
        row.update(learner=learner, window=window, seconds=time.perf_counter() - t1)
        rows_out.append(row)
    summary = pd.DataFrame(rows_out, columns=SUMMARY_COLUMNS)
    write_csv(out_dir / "baseline_summary.csv", summary)
    write_json(out_dir / "baseline_run.json", {
        "learner": learner, "window": window, "bands": list(bands), "band_roles": list(roles),
        "scaling": scaling.to_dict(), "samples_per_class": samples_per_class,
        "drawn": {schema.name_of(c): n for c, n in drawn.items()}, "seed": seed,
        "params": model.get_params(), "train_images": [str(s.image) for s in train],
        "train_seconds": train_seconds, "schema": schema.to_dict()})
    return summary


def classify_image(scene, model, *, out_dir, schema, bands, scaling, strip_rows=None,
                   exp="base", seed=0):
    """Classify one image strip by strip with a fitted baseline; write its class map and, with
    labels, its report and pooled pixel sample. Returns its summary row."""
    info = raster_info(scene.image)
    halo = model.halo
    if info.height <= halo or info.width <= halo:
        raise ClassificationError(f"{scene.image} is {info.height}x{info.width} pixels, smaller "
                                  f"than the feature window {model.patch_size}; choose a "
                                  "smaller --window")
    n_features = int(model.n_features_in_)
    rows = strip_rows or strip_rows_for(info.width, n_bands=len(bands), n_features=n_features,
                                        halo=halo)
    scored = scene.labels is not None
    if scored:  # kept for the report: one byte per pixel each
        pred = np.zeros(info.shape, dtype=np.uint8)
        valid = np.zeros(info.shape, dtype=bool)
    transform = info.transform if info.georeferenced or info.crs is not None else None
    path = Path(out_dir) / f"{scene.stem}_classified.tif"
    with ClassRasterWriter(path, info.shape, schema=schema, crs=info.crs,
                           transform=transform) as writer:
        for s in strips(info.height, rows, halo):
            block, ok = read_strip(scene.image, s, bands=bands, scaling=scaling, halo=halo)
            ids = schema.to_ids(model.predict(block)).astype(np.uint8)
            ids[~ok] = 0
            writer.write_rows(s.start, ids)
            if scored:
                pred[s.start:s.stop], valid[s.start:s.stop] = ids, ok
    row = {"image": scene.stem, "labelled_pixels": 0}
    if not scored:
        log.info("%s: no SCLS_ labels; class map written, not scored", scene.image)
        return row
    truth = read_labels(scene.labels, schema=schema, shape=info.shape, image_path=scene.image)
    report = class_report(truth, pred, schema=schema, valid=valid)
    write_report(Path(out_dir) / f"BASE_{scene.stem}_{model.name}.csv", report)
    row.update(summary_scores(report))
    # a baseline has no phase one (no ``cnn``); ``method`` names the learner
    row["labelled_pixels"] = write_pixel_sample(
        Path(out_dir) / f"{scene.stem}_{exp}_pixels.npz", truth=truth, cnn=None, csc=pred,
        valid=valid, stem=scene.stem, exp=exp, schema=schema, seed=seed, n=POOL_PIXELS,
        method=model.name)
    return row
