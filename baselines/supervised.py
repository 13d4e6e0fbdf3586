"""The supervised pixel baseline: a LightGBM or random-forest classifier trained on the manual
labels (``SCLS_``) of training images and applied to every test image strip by strip, through
the same scene pipeline as CSC (:mod:`csc.pipeline`).

*open*: every training and test image is opened and checked (bands, companions on the
image's grid, label ids) before anything is trained. *run*: the label source is the manual
labels of the training images (:class:`ManualLabels`); balanced pixels are drawn over all of
them together (:func:`csc.sampling.balanced_sample`, never unlabelled or nodata pixels); the
learner comes from the registry of :mod:`csc.learners`. *commit*: the outputs of each test
image appear together with their manifest.

For each test image ``<stem>`` the outputs in ``out_dir`` are ``<stem>_classified.tif``,
``<stem>_run.json`` (the manifest) and, when the test image has ``SCLS_<stem>``,
``BASE_<stem>_<learner>.csv`` (per-class report) and ``<stem>_<exp>_pixels.npz`` (a seeded
sample of labelled pixels, in the layout ``csc summarize`` pools, with ``exp`` =
``base_<learner>_k<window>``: the baseline's classes are stored as ``csc``, with no ``cnn``
since a baseline has no phase one); ``baseline_summary.csv`` holds one row per test image and
``baseline_run.json`` the training record.
"""
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from baselines.features import parse_roles, patch_features
from baselines.learners import LEARNERS, make_baseline
from csc.errors import ClassificationError
from csc.files import output_folder, write_csv, write_json
from csc.pipeline import SceneRun, run_scenes
from csc.pixels import (auto_strip_rows, read_valid, resolve_scaling, sample_features,
                        scaling_sample)
from csc.rasters import common_bands, raster_info
from csc.sampling import balanced_sample
from csc.scenes import find_scenes, open_scene

log = logging.getLogger(__name__)

#: Columns of ``baseline_summary.csv``.
SUMMARY_COLUMNS = ["image", "learner", "window", "weighted_f1", "macro_f1", "accuracy",
                   "labelled_pixels", "seconds"]


class ManualLabels:
    """The baselines' label source: the manual ``SCLS_`` labels of the training images."""

    def class_maps(self, opened):
        """One class map per opened training scene: its label ids, 0 on nodata pixels."""
        maps = []
        for scene in opened:
            labels = scene.read_labels()
            valid = read_valid(scene.image, bands=scene.bands)
            maps.append(np.where(valid, labels, 0).astype(np.uint8))
        return maps


@dataclasses.dataclass
class BaselineResult:
    """One row per test image (:data:`SUMMARY_COLUMNS`)."""

    frame: pd.DataFrame
    out_dir: Path

    def summary(self):
        table = self.frame.drop(columns=["seconds"]).to_string(
            index=False, float_format=lambda v: f"{v:.3f}")
        return f"{table}\noutputs in {self.out_dir}"


def run_baseline(train_dir, test_dir, *, out_dir, schema, learner="lightgbm",
                 samples_per_class=5000, window=5, illumination=False, bands=None, scale=None,
                 offset=0.0, band_roles=None, seed=0, strip_rows=None, learner_options=None,
                 min_area=0.0, simplify=0.0, progress=False):
    """Train a baseline on the labelled images of ``train_dir`` and classify every image of
    ``test_dir``; returns a :class:`BaselineResult` (also written as ``baseline_summary.csv``).

    ``learner`` is ``lightgbm`` or ``rf``; ``window`` the odd feature window K; ``bands`` 1-based
    band indexes (default all); ``scale`` a number, ``percentile`` (fitted on the valid pixels
    of all training images, as ``csc tiles`` does) or None (from the data type); ``band_roles``
    the role of each band read (default B4, B3, B2, B8 for four bands); ``illumination``
    replaces the bands by the illumination-robust features of :mod:`baselines.features`."""
    if learner not in LEARNERS:
        raise ClassificationError(f"unknown baseline learner {learner!r}; choose "
                                  f"{' or '.join(LEARNERS)}")
    train = find_scenes(train_dir, require_labels=True)
    test = find_scenes(test_dir)
    bands = common_bands([raster_info(s.image) for s in train + test], bands)
    opened_train = [open_scene(s, schema=schema, bands=bands, require_labels=True,
                               min_size=window) for s in train]
    opened_test = [open_scene(s, schema=schema, bands=bands, min_size=window) for s in test]
    with output_folder(out_dir) as out_dir:
        roles = parse_roles(band_roles, len(bands))
        sample = (scaling_sample([o.image for o in opened_train], bands=bands)
                  if str(scale).lower() == "percentile" else None)
        scaling = resolve_scaling(scale, offset=offset, sample=sample,
                                  dtypes={o.info.dtype for o in opened_train + opened_test})
        model = make_baseline(learner, patch_size=window, n_classes=schema.n_classes,
                              random_state=seed, band_roles=roles, illumination=bool(illumination),
                              **(learner_options or {}))
        n_features = len(patch_features(np.zeros((1, window, window, len(bands)), np.float32),
                                        roles=roles, illumination=bool(illumination))[0])

        def rows_for(opened):
            return strip_rows or auto_strip_rows(opened.info.width, n_bands=len(bands),
                                                 n_classes=schema.n_classes,
                                                 n_features=n_features, halo=window // 2)

        # -- training: balanced pixels of the manual labels ------------------------------------
        t0 = time.perf_counter()
        picks = balanced_sample(ManualLabels().class_maps(opened_train), schema=schema,
                                samples_per_class=samples_per_class, seed=seed,
                                source="the training labels",
                                hint="label at least two classes in the SCLS_ rasters, or pass the "
                                     "matching --classes")
        features, targets = [], []
        for m, opened in enumerate(opened_train):
            r, c, y = picks.of_map(m)
            if not len(y):
                continue
            features.append(sample_features(
                opened.image, r, c, bands=bands, scaling=scaling, window=window,
                features=lambda patches: patch_features(patches, roles=roles,
                                                        illumination=bool(illumination)),
                strip_rows=rows_for(opened)))
            targets.append(schema.to_index(y))
        log.info("baseline %s: %d training pixels from %d image(s) (%s)", learner,
                 sum(len(y) for y in targets), len(train),
                 ", ".join(f"{schema.name_of(c)} {n}" for c, n in picks.drawn.items()))
        model.fit_features(np.concatenate(features), np.concatenate(targets), roles=roles,
                           frequencies=[picks.counts.get(c, 0) for c in schema.ids])
        train_seconds = time.perf_counter() - t0

        # -- test images ----------------------------------------------------------------------
        exp = f"base_{learner}_k{window}"

        def classify(opened):
            row = classify_image(opened, model, out_dir=out_dir, scaling=scaling, exp=exp,
                                 strip_rows=rows_for(opened), seed=seed, min_area=min_area,
                                 simplify=simplify)
            row.update(learner=learner, window=window)
            return row

        outcomes = run_scenes(opened_test, classify, folder=False, out_dir=out_dir,
                              progress=progress, desc=f"baseline {learner}")
        for outcome in outcomes:
            outcome.result["seconds"] = outcome.seconds
        summary = pd.DataFrame([o.result for o in outcomes], columns=SUMMARY_COLUMNS)
        write_csv(out_dir / "baseline_summary.csv", summary)
        write_json(out_dir / "baseline_run.json", {
            "learner": learner, "window": window, "illumination": bool(illumination),
            "bands": list(bands), "band_roles": list(roles),
            "scaling": scaling.to_dict(), "samples_per_class": samples_per_class,
            "drawn": {schema.name_of(c): n for c, n in picks.drawn.items()}, "seed": seed,
            "params": model.get_params(), "train_images": [str(s.image) for s in train],
            "train_seconds": train_seconds, "schema": schema.to_dict()})
    return BaselineResult(frame=summary, out_dir=out_dir)


def classify_image(opened, model, *, out_dir, scaling, strip_rows, exp="base", seed=0,
                   min_area=0.0, simplify=0.0):
    """Classify one opened test image strip by strip with a fitted baseline and commit its
    class map (and its polygons ``<stem>_classes.gpkg``: regions under ``min_area`` left out,
    edges simplified by ``simplify``, as ``csc classify``'s), manifest and, with labels, its
    report and pooled pixel sample. Returns its summary row."""
    with SceneRun(opened, out_dir, exp=exp) as run:
        pred, valid = run.predict(model, opened.image, scaling=scaling, strip_rows=strip_rows)
        run.write_map(pred)
        run.write_polygons(pred, min_area=min_area, simplify=simplify)
        truth = opened.read_labels()
        row = {"image": opened.stem, "labelled_pixels": 0}
        if truth is None:
            log.info("%s: no SCLS_ labels; class map written, not scored", opened.image)
        else:
            run.score(truth, {"BASE": pred}, valid=valid,
                      names={"BASE": f"BASE_{opened.stem}_{model.name}.csv"})
            # a baseline has no phase one (no ``cnn``); ``method`` names the learner
            row["labelled_pixels"] = run.pool(truth, pred, valid=valid, seed=seed,
                                              method=model.name)
            row.update({key: run.scores[f"base_{key}"]
                        for key in ("weighted_f1", "macro_f1", "accuracy")})
        run.commit(label_source="manual SCLS_ labels of the training images",
                   learner={"name": model.name, "class": type(model).__name__,
                            "params": model.get_params()},
                   scaling=scaling.to_dict(), strip_rows=strip_rows)
    return row
