"""Classifying images with CSC: phase one (tile map), phase-two training, whole-image
prediction, despeckling, optional calving front, and the published outputs.

For an image ``<stem>`` and experiment ``<exp>`` (``k<K>``, or ``<name>_k<K>`` with ``exp``)
the outputs in ``out_dir`` are:

- ``<stem>_classified.tif``: the class map on the input grid (colour table, nodata 0);
- ``CSC_<exp>_<stem>.png``: image, validation labels, phase-one map and CSC map side by side
  (image and CSC map only when there are no labels);
- ``<stem>_run.json``: options, versions, class counts, training history, timings;
- with ``SCLS_<stem>`` beside the image: ``CNN_<stem>_<exp>.csv`` and ``CSC_<stem>_<exp>.csv``
  (per-class reports of the phase-one and CSC maps), ``CSC_<stem>_<exp>_confusion.png`` and
  ``<stem>_<exp>_pixels.npz`` (a seeded sample of labelled pixels for pooled scores);
- for a folder: ``summary.csv``, one row per image.

The CSC reports score the despeckled phase-two map; the calving-front refinement, when it
runs, changes only the written class map and is scored by its own front error.
"""
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from CSC_Application.learners import LEARNERS, check_patch_size
from CSC_Application.summary import POOL_PIXELS, write_pixel_sample
from csc import __version__
from csc.errors import BandError, ClassificationError, CscError, FrontError, PatchSizeError
from csc.files import ensure_writable_dir, write_csv, write_json
from csc.rasters import Image, check_label_shape, raster_info, read_image, read_labels

log = logging.getLogger(__name__)

#: Columns of ``summary.csv`` (and of the frame ``classify_path`` returns).
SUMMARY_COLUMNS = ["image", "status", "error", "cnn_weighted_f1", "cnn_macro_f1",
                   "csc_weighted_f1", "csc_macro_f1", "cnn_glacier_f1", "csc_glacier_f1",
                   "front_median_error_m", "seconds"]
#: Largest side of the images drawn in the panel figure (larger images are subsampled).
FIGURE_PIXELS = 1500


@dataclasses.dataclass
class ClassifyOptions:
    """Options of ``csc classify`` (the batch CSV columns map onto these fields)."""

    patch_size: int = 1
    samples_per_class: int = 500_000
    epochs: int = 300
    patience: int = 10
    batch_size: int = 1024
    min_confidence: float = 0.0
    despeckle: int = 2
    strip_rows: int = None
    whole_image: bool = False
    exp: str = None
    seed: int = 0
    phase2: str = "nn"
    front: bool = None

    @property
    def experiment(self):
        """``k<K>``, prefixed by ``exp`` when given (``NAME_k5``)."""
        k = f"k{int(self.patch_size)}"
        return f"{self.exp}_{k}" if self.exp else k

    def validate(self):
        """Raise a ``CscError`` for an option no run could use."""
        check_patch_size(self.patch_size)
        if str(self.phase2).lower() not in LEARNERS:
            raise ClassificationError(f"unknown --phase2 {self.phase2!r}; choose one of "
                                      f"{', '.join(LEARNERS)}")
        for name in ("samples_per_class", "epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ClassificationError(f"--{name.replace('_', '-')} must be ≥ 1, got "
                                          f"{getattr(self, name)}")
        if int(self.patience) < 0 or int(self.despeckle) < 0:
            raise ClassificationError("--patience and --despeckle must be ≥ 0")
        if not 0.0 <= float(self.min_confidence) <= 1.0:
            raise ClassificationError(f"--min-confidence is a probability in 0..1, got "
                                      f"{self.min_confidence}")
        if self.strip_rows is not None and int(self.strip_rows) < 1:
            raise ClassificationError(f"--strip-rows must be ≥ 1, got {self.strip_rows}")
        return self

    def to_dict(self):
        return dict(dataclasses.asdict(self), experiment=self.experiment)


# --- reading ------------------------------------------------------------------------------------

def check_model_bands(card, info, model_path=None):
    """``BandError`` unless the image has every band the model reads."""
    missing = [b for b in card.bands if b > info.count]
    if missing:
        model = f"model {model_path}" if model_path else "the model"
        raise BandError(f"{model} reads bands {tuple(card.bands)} but image {info.path} has "
                        f"{info.count} band(s); classify images with the bands the model was "
                        "trained on, or train a model on these bands (csc train --bands)")


def read_pixels(path, *, bands, scan_rows=1024):
    """Read an image in its native dtype as one pixel-interleaved (rows, cols, bands) array,
    strip by strip (no second full-size copy), with its validity mask (a read-only all-True
    view when an integer image has no nodata value)."""
    info = raster_info(path)
    bands = tuple(bands) if bands is not None else tuple(range(1, info.count + 1))
    dtype = np.dtype(info.dtype)
    data = np.empty((info.height, info.width, len(bands)), dtype=dtype)
    # without a nodata value an integer image is valid everywhere: a read-only view, no memory
    all_valid = info.nodata is None and dtype.kind != "f"
    valid = (np.broadcast_to(np.True_, (info.height, info.width)) if all_valid
             else np.empty((info.height, info.width), dtype=bool))
    for r0 in range(0, info.height, scan_rows):
        r1 = min(r0 + scan_rows, info.height)
        part = read_image(path, bands=bands, window=(r0, r1))
        data[r0:r1] = part.data
        if not all_valid:
            valid[r0:r1] = part.valid
    return Image(data=data, info=info, valid=valid, bands=bands)


def load_phase_one(model):
    """(keras model, ModelCard) from a model path, or a ready pair passed through."""
    if isinstance(model, tuple):
        return model
    from Phase_1_CNN.model import load_model

    return load_model(model)


# --- one scene ----------------------------------------------------------------------------------

def library_versions():
    from importlib import metadata

    out = {"glacier-csc": __version__}
    for name in ("numpy", "scipy", "pandas", "rasterio", "scikit-image", "scikit-learn",
                 "tensorflow", "tensorflow-cpu", "keras", "lightgbm"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _empty_row(scene):
    row = dict.fromkeys(SUMMARY_COLUMNS, np.nan)
    row.update(image=str(scene.image), status="ok", error="")
    return row


def _front_enabled(options, schema):
    return schema.has_front_roles if options.front is None else bool(options.front)


def run_front(class_map, *, scene, info, schema, out_dir, options):
    """The calving-front step on a finished class map: ``(map, result or None)``."""
    if not _front_enabled(options, schema):
        return class_map, None
    if not schema.has_front_roles:
        log.warning("%s: --front needs ocean and glacier roles in the class schema; skipped",
                    scene.image)
        return class_map, {"front_found": False,
                           "reason": "the class schema has no ocean/glacier roles"}
    try:
        from CSC_Application.front import front_outputs
    except ModuleNotFoundError as exc:
        if exc.name != "CSC_Application.front":
            raise
        log.warning("calving-front module CSC_Application.front is not installed; skipped")
        return class_map, None
    try:
        out, result = front_outputs(class_map, schema=schema, info=info, stem=scene.stem,
                                    out_dir=out_dir, edge_path=scene.edge,
                                    margins_path=scene.margins)
    except FrontError as exc:
        log.warning("%s: no calving front: %s", scene.image, exc)
        return class_map, {"front_found": False, "reason": str(exc)}
    return np.asarray(out, dtype=np.uint8), dict(result)


def write_class_map(path, class_map, *, schema, info, strip_rows=2048):
    """Write a class map on the input grid, strip by strip."""
    from csc.rasters import ClassRasterWriter

    crs = info.crs
    transform = info.transform if info.georeferenced or crs is not None else None
    with ClassRasterWriter(path, class_map.shape, schema=schema, crs=crs,
                           transform=transform) as writer:
        for r0 in range(0, class_map.shape[0], strip_rows):
            writer.write_rows(r0, class_map[r0:r0 + strip_rows])
    return Path(path)


def _panels(path, image, truth, cnn_map, csc_map, *, schema, scores, exp, stem, front=False):
    from csc.figures import plot_panels, stretch_rgb

    step = max(1, int(np.ceil(max(image.shape) / FIGURE_PIXELS)))
    sub = (slice(None, None, step), slice(None, None, step))
    rgb = stretch_rgb(image.data[sub], valid=image.valid[sub])

    def caption(name, key):
        f1 = scores.get(key)
        return f"{name}\nweighted F1 {f1:.3f}" if f1 is not None and np.isfinite(f1) else name

    panels = [("image", rgb, "rgb")]
    if truth is not None:   # without labels: the image and the CSC map only
        panels.append(("validation labels", truth[sub], "classes"))
        panels.append((caption("phase one (CNN tiles)", "cnn_weighted_f1"), cnn_map[sub],
                       "classes"))
    name = f"CSC {exp} + calving front" if front else f"CSC {exp}"
    panels.append((caption(name, "csc_weighted_f1"), csc_map[sub], "classes"))
    return plot_panels(panels, path, schema=schema, title=f"{stem} — {exp}")


def _evaluate(truth, cnn_map, csc_map, *, valid, schema, out_dir, stem, exp):
    from csc.figures import plot_confusion
    from csc.metrics import class_f1, class_report, confusion, summary_scores, write_report

    scores, files = {}, []
    glacier = schema.name_of(schema.glacier_id) if schema.glacier_id is not None else None
    for method, pred in (("cnn", cnn_map), ("csc", csc_map)):
        report = class_report(truth, pred, schema=schema, valid=valid)
        name = out_dir / f"{method.upper()}_{stem}_{exp}.csv"
        write_report(name, report)
        files.append(name.name)
        s = summary_scores(report)
        scores[f"{method}_weighted_f1"] = s["weighted_f1"]
        scores[f"{method}_macro_f1"] = s["macro_f1"]
        scores[f"{method}_accuracy"] = s["accuracy"]
        scores[f"{method}_glacier_f1"] = class_f1(report, glacier) if glacier else np.nan
    matrix = confusion(truth, csc_map, schema=schema, valid=valid)
    conf = out_dir / f"CSC_{stem}_{exp}_confusion.png"
    plot_confusion(matrix, schema.names, conf, title=f"CSC {exp} — {stem}")
    files.append(conf.name)
    return scores, files


def classify_scene(scene, model, card, out_dir, options, *, progress=False, model_path=None):
    """Classify one scene (``csc.scenes.Scene``) with a loaded phase-one ``model`` and its
    ``card``; write its outputs in ``out_dir`` and return its summary row (a dict with
    ``SUMMARY_COLUMNS``). ``model_path`` only names the model in messages and run.json."""
    from CSC_Application.despeckle import despeckle
    from CSC_Application.fcn import auto_strip_rows, predict_map
    from CSC_Application.learners import make_learner
    from CSC_Application.sampling import PatchSet, sample_centres
    from CSC_Application.tilemap import tile_map

    t_start = time.perf_counter()
    options.validate()
    out_dir = Path(out_dir)
    k = check_patch_size(options.patch_size)
    exp, stem, schema = options.experiment, scene.stem, card.schema
    timings = {}

    info = raster_info(scene.image)
    check_model_bands(card, info, model_path)
    if scene.labels is not None:   # fail before the work, not after it
        check_label_shape(scene.labels, shape=info.shape, image_path=scene.image)
    image = read_pixels(scene.image, bands=card.bands)
    height, width = image.shape
    n_valid = int(np.count_nonzero(image.valid))
    if n_valid == 0:
        raise ClassificationError(f"{scene.image}: every pixel is nodata (value {info.nodata}); "
                                  "check the image or its nodata value")
    if k > min(height, width):
        raise PatchSizeError(f"{scene.image} is {height}x{width} pixels, smaller than the "
                             f"{k}x{k} patch; choose a smaller --patch-size")

    # phase one: the tile map
    t = time.perf_counter()
    cnn_map, _ = tile_map(image.data, valid=image.valid, model=model, card=card,
                          min_confidence=options.min_confidence, progress=progress,
                          path=scene.image)
    timings["phase1_s"] = time.perf_counter() - t

    # phase two: sample, train
    t = time.perf_counter()
    sample = sample_centres(cnn_map, schema=schema, samples_per_class=options.samples_per_class,
                            seed=options.seed, path=scene.image)
    patches = PatchSet(image.data, sample.rows, sample.cols, schema.to_index(sample.labels),
                       patch_size=k, scaling=card.scaling)
    if scene.labels is None:   # the phase-one map is only scored and drawn beside labels
        cnn_map = None
    learner = make_learner(options.phase2, patch_size=k, n_bands=card.n_bands,
                           n_classes=schema.n_classes, seed=options.seed, epochs=options.epochs,
                           patience=options.patience, batch_size=options.batch_size,
                           progress=progress)
    learner.fit(patches, patches.labels)
    del patches
    timings["phase2_train_s"] = time.perf_counter() - t

    # phase two: every pixel, strip by strip
    t = time.perf_counter()
    if options.whole_image:
        strip_rows = None
    else:
        strip_rows = int(options.strip_rows or auto_strip_rows(
            width, n_bands=card.n_bands, n_classes=schema.n_classes, halo=learner.halo))
    csc_map = predict_map(learner, image.data, valid=image.valid, scaling=card.scaling,
                          schema=schema, strip_rows=strip_rows, progress=progress)
    timings["phase2_predict_s"] = time.perf_counter() - t
    t = time.perf_counter()
    csc_map = despeckle(csc_map, radius=options.despeckle)
    timings["despeckle_s"] = time.perf_counter() - t

    # calving front
    t = time.perf_counter()
    final_map, front = run_front(csc_map, scene=scene, info=info, schema=schema,
                                 out_dir=out_dir, options=options)
    if front is not None:
        timings["front_s"] = time.perf_counter() - t

    # outputs
    files = [write_class_map(out_dir / f"{stem}_classified.tif", final_map, schema=schema,
                             info=info).name]
    row = _empty_row(scene)
    scores, truth, labelled = {}, None, 0
    if scene.labels is not None:
        truth = read_labels(scene.labels, schema=schema, shape=image.shape,
                            image_path=scene.image)
        scores, report_files = _evaluate(truth, cnn_map, csc_map, valid=image.valid,
                                         schema=schema, out_dir=out_dir, stem=stem, exp=exp)
        files += report_files
        npz = out_dir / f"{stem}_{exp}_pixels.npz"
        labelled = write_pixel_sample(npz, truth=truth, cnn=cnn_map, csc=csc_map,
                                      valid=image.valid, stem=stem, exp=exp, schema=schema,
                                      seed=options.seed)
        files.append(npz.name)
        row.update({key: scores[key] for key in row if key in scores})
    figure = out_dir / f"CSC_{exp}_{stem}.png"
    _panels(figure, image, truth, cnn_map, final_map, schema=schema, scores=scores, exp=exp,
            stem=stem, front=bool(front and front.get("front_found")))
    files.append(figure.name)
    if front is not None and front.get("median_error_m") is not None:
        row["front_median_error_m"] = float(front["median_error_m"])

    timings["total_s"] = time.perf_counter() - t_start
    row["seconds"] = timings["total_s"]
    learner_params = (learner.get_params() if hasattr(learner, "get_params") else {})
    run = {
        "image": str(scene.image), "stem": stem, "experiment": exp,
        "labels": str(scene.labels) if scene.labels else None,
        "edge": str(scene.edge) if scene.edge else None,
        "options": options.to_dict(),
        "model": {"path": str(model_path) if model_path else None,
                  "tile_size": card.tile_size, "bands": list(card.bands),
                  "scaling": card.scaling.to_dict(), "schema": schema.to_dict(),
                  "kind": card.kind, "width": card.width},
        "versions": library_versions(),
        "grid": {"height": height, "width": width, "crs": str(info.crs) if info.crs else None,
                 "transform": list(info.transform)[:6], "georeferenced": info.georeferenced},
        "pixels": {"total": height * width, "valid": n_valid, "labelled": labelled,
                   "pooled_sample": int(min(labelled, POOL_PIXELS))},
        "class_pixels": {schema.name_of(c): n for c, n in sample.counts.items()},
        "absent_classes": [schema.name_of(c) for c in sample.absent],
        "samples": {"per_class": {schema.name_of(c): n for c, n in sample.drawn.items()},
                    "with_replacement": [schema.name_of(c) for c in sample.replaced]},
        "learner": {"name": options.phase2, "class": type(learner).__name__,
                    "params": {key: v for key, v in learner_params.items()
                               if isinstance(v, (int, float, str, bool, type(None)))},
                    "history": getattr(learner, "history_", {}),
                    "epochs_run": getattr(learner, "epochs_run_", None)},
        "strip_rows": strip_rows,
        "front_enabled": _front_enabled(options, schema),
        "scores": scores,
        "front": front,
        "timings": timings,
        "outputs": files + [f"{stem}_run.json"],
        "status": "ok",
    }
    write_json(out_dir / f"{stem}_run.json", run)
    log.info("%s: done in %.1f s (%s)", stem, timings["total_s"],
             ", ".join(f"{key} {value:.3g}" for key, value in scores.items()
                       if key.endswith("weighted_f1")))
    return row


# --- one image or a folder -----------------------------------------------------------------------

def classify_path(input, model, out_dir, options=None, *, progress=False):
    """Classify one image or every image of a folder; return the summary rows as a DataFrame.

    ``model`` is a phase-one model path (with its sidecar) or a ``(keras_model, card)`` pair.
    A single image raises its error; a folder run records a failed image in ``summary.csv``
    (status "failed" and the message) and goes on with the next."""
    from csc.scenes import find_scenes

    options = (options or ClassifyOptions()).validate()
    input = Path(input)
    scenes = find_scenes(input)
    out_dir = ensure_writable_dir(out_dir)
    keras_model, card = load_phase_one(model)
    folder = input.is_dir()
    rows = []
    iterator = scenes
    if progress and folder:
        from tqdm.auto import tqdm

        iterator = tqdm(scenes, desc="images", unit="image", disable=None)
    for scene in iterator:
        t = time.perf_counter()
        try:
            row = classify_scene(scene, keras_model, card, out_dir, options, progress=progress,
                                 model_path=None if isinstance(model, tuple) else model)
        except CscError as exc:
            if not folder:
                raise
            log.error("%s: %s", scene.image, exc)
            row = _failed(scene, exc, t)
        except Exception as exc:  # a folder run goes on after any failure of one image
            if not folder:
                raise
            log.exception("%s failed", scene.image)
            row = _failed(scene, exc, t)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if folder:
        write_csv(out_dir / "summary.csv", frame)
    return frame


def _failed(scene, exc, started):
    row = _empty_row(scene)
    row.update(status="failed", error=f"{type(exc).__name__}: {exc}",
               seconds=time.perf_counter() - started)
    return row
