"""Classifying images with CSC through the scene pipeline (:mod:`csc.pipeline`).

*open*: the model's sidecar is read (no TensorFlow yet) and every image of the input is opened
and checked against it (:func:`csc.scenes.open_scene`); only then is the network loaded.
*run*: the label source is the phase-one tile map (:class:`TileMapLabels`); the learner
(``--phase2``) comes from the registry of :mod:`csc.learners`, is trained on balanced pixels
of that map and classifies every pixel strip by strip; then despeckling and, when the class
schema has ocean and glacier roles, the calving front. *commit*: the outputs of each image
appear together with their manifest.

For an image ``<stem>`` and experiment ``<exp>`` (``k<K>``, or ``<name>_k<K>`` with ``exp``)
the outputs in ``out_dir`` are:

- ``<stem>_classified.tif``: the class map on the input grid, a Cloud-Optimized GeoTIFF
  (colour table, nodata 0), with its class names in ``<stem>_classified.tif.aux.xml``;
- ``<stem>_confidence.tif`` (unless ``--no-confidence``): the phase-two network's top-class
  probability in percent (uint8 0–100, nodata 255) on the same grid, a COG, calibrated by
  temperature scaling on held-out pixels with confirmed phase-one labels (see
  :func:`train_phase_two`);
- ``<stem>_classes.gpkg``: the class map as polygons (layer ``classes``; with the front step
  ``glacier_outline``, ``calving_front`` and ``valley_margins``), see :mod:`csc.polygons`;
- ``CSC_<exp>_<stem>.png``: image, validation labels, phase-one map and CSC map side by side
  (image and CSC map only when there are no labels);
- ``<stem>_run.json``: the manifest — options, versions, class counts, training history,
  timings, and every output with its size and SHA-256;
- with ``SCLS_<stem>`` beside the image: ``CNN_<stem>_<exp>.csv`` and ``CSC_<stem>_<exp>.csv``
  (per-class reports of the phase-one and CSC maps), ``CSC_<stem>_<exp>_confusion.png`` and
  ``<stem>_<exp>_pixels.npz`` (a seeded sample of labelled pixels for pooled scores); with the
  confidence map also ``CSC_<stem>_<exp>_calibration.csv`` (15 confidence bins: pixels, mean
  confidence, accuracy; the expected calibration error is ``scores.csc_ece`` in run.json) and
  the reliability diagram ``CSC_<stem>_<exp>_reliability.png``;
- with the front step: ``<stem>_front.geojson`` and its statistics and plots;
- for a folder: ``summary.csv``, one row per image.

The CSC reports score the despeckled phase-two map; the calving-front refinement, when it
runs, changes only the written class map and is scored by its own front error.
"""
import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from baselines.features import parse_roles
from csc.blocks import LabelledImage
from csc.errors import BandError, ClassificationError, FrontError, OptionError
from csc.figures import plot_panels, stretch_rgb
from csc.files import output_folder, write_csv
from csc.learners import make_learner
from csc.modelcard import load_card
from csc.options import ClassifyOptions
from csc.pipeline import SceneRun, run_scenes
from csc.pixels import read_pixels
from csc.polygons import FRONT_LAYER, MARGINS_LAYER
from csc.sampling import calibration_distance, confirmed
from csc.scenes import check_lines, find_scenes, open_scene
from CSC_Application.cleaning import clean_patches, fold_cell, refill
from CSC_Application.despeckle import despeckle
from CSC_Application.front import front_outputs
from CSC_Application.learners import PatchNetworkClassifier  # noqa: F401  (registers nn)
from CSC_Application.sampling import PatchSet, sample_centres
from CSC_Application.tilemap import (corner_probability, local_log_prior, tile_confidence,
                                     tile_map, tile_probability, tile_probability_at)
from Phase_1_CNN.model import load_model

log = logging.getLogger(__name__)

#: Columns of ``summary.csv`` (and of the frame ``classify_path`` returns).
SUMMARY_COLUMNS = ["image", "status", "error", "cnn_weighted_f1", "cnn_macro_f1",
                   "csc_weighted_f1", "csc_macro_f1", "cnn_glacier_f1", "csc_glacier_f1",
                   "front_median_error_m", "seconds"]
#: Largest side of the images drawn in the panel figure (larger images are subsampled).
FIGURE_PIXELS = 1500
#: ``--local-prior`` when phase two trains on sampled pixels (measured; README, "Local prior").
DEFAULT_LOCAL_PRIOR = 0.5


@dataclasses.dataclass
class PhaseOne:
    """The phase-one model: its sidecar (read first, cheaply) and the network (loaded once
    every image has been opened). ``tile_probabilities``, when set, labels the tiles in the
    network's place (:func:`~CSC_Application.tilemap.tile_map`); the card still gives the
    tile size, bands, scaling and classes."""

    card: object
    path: Path = None
    network: object = None
    tile_probabilities: object = None

    def __post_init__(self):
        if self.network is not None and self.tile_probabilities is not None:
            raise ValueError("give phase one a network or tile probabilities, not both")

    @classmethod
    def of(cls, model):
        """From a model path (with its sidecar), a ready ``(network, card)`` pair or a
        :class:`PhaseOne`."""
        if isinstance(model, cls):
            return model
        if isinstance(model, tuple):
            network, card = model
            return cls(card=card, network=network)
        return cls(card=load_card(model), path=Path(model))

    def load(self):
        if self.network is None and self.tile_probabilities is None:
            self.network, self.card = load_model(self.path)
        return self.network

    @property
    def description(self):
        if self.tile_probabilities is not None:
            return "the phase-one card given with the tile probabilities"
        return f"model {self.path}" if self.path else "the model"


class TileMapLabels:
    """The CSC label source: the phase-one tile map of the image being classified."""

    def __init__(self, phase_one, *, min_confidence=0.0, progress=False):
        self.phase_one = phase_one
        self.min_confidence = min_confidence
        self.progress = progress

    def class_map(self, image):
        """Phase-one class ids (rows, cols) uint8 of an in-memory ``Image``; the tile grid
        and its probabilities are kept as ``tiles_`` (:func:`tile_map`)."""
        class_map, self.tiles_ = tile_map(image.data, valid=image.valid,
                                          model=self.phase_one.load(), card=self.phase_one.card,
                                          min_confidence=self.min_confidence,
                                          progress=self.progress, path=image.path,
                                          tile_probabilities=self.phase_one.tile_probabilities)
        return class_map

    def confidence(self, rows, cols):
        """The top phase-one probability of pixels ``(rows, cols)`` of the last map."""
        return tile_confidence(self.tiles_, rows, cols)

    def local_prior(self, strength):
        """``(at, strip)``: the log-prior of phase one's local class probabilities
        (:func:`corner_probability` interpolated by :func:`tile_probability`;
        :func:`local_log_prior` at ``strength``) at sampled pixels, ``at(rows, cols)`` →
        (n, C), and for prediction strips, ``strip(row_start, row_stop, width)`` → (rows,
        width, C)."""
        tiles = self.tiles_
        corners = corner_probability(tiles)

        def at(rows, cols):
            return local_log_prior(tile_probability_at(tiles, rows, cols, corners), strength)

        def strip(row_start, row_stop, width):
            return local_log_prior(tile_probability(tiles, row_start, row_stop, width,
                                                    corners), strength)

        return at, strip


@dataclasses.dataclass
class ClassifyResult:
    """The rows of a classification run (:data:`SUMMARY_COLUMNS`), one per image."""

    frame: pd.DataFrame
    out_dir: Path

    @property
    def failed(self):
        return int((self.frame["status"] != "ok").sum())

    def summary(self):
        frame = self.frame
        shown = frame.drop(columns=["error"]) if (frame["error"] == "").all() else frame
        table = shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")
        return (f"{table}\n{len(frame) - self.failed} image(s) classified, {self.failed} "
                f"failed; outputs in {self.out_dir}")


# --- one scene ----------------------------------------------------------------------------------

def trains_densely(options):
    """Whether the run trains the network densely (``--dense`` with the neural phase two),
    rather than on sampled pixels."""
    return bool(options.dense) and options.phase2 in ("nn", "mlp")


def tile_weights_enabled(options):
    """Whether phase two weighs its sampled pixels by their tile's phase-one probability:
    ``--tile-weights``, by default whenever it trains on sampled pixels (not the network with
    ``--dense``)."""
    if options.tile_weights is not None:
        return bool(options.tile_weights)
    return not trains_densely(options)


def local_prior_strength(options):
    """The strength of phase one's local prior (``--local-prior``): given, else 0.5 whenever
    phase two trains on sampled pixels and 0 for the network with ``--dense``."""
    if options.local_prior is not None:
        return float(options.local_prior)
    return 0.0 if trains_densely(options) else DEFAULT_LOCAL_PRIOR


def _front_enabled(options, schema):
    return schema.has_front_roles if options.front is None else bool(options.front)


def run_front(class_map, *, opened, out_dir, options, published_dir=None):
    """The calving-front step on a finished class map: ``(map, result or None)``; its files go
    to ``out_dir`` (the staging folder) and are named as in ``published_dir``."""
    schema = opened.schema
    if not _front_enabled(options, schema):
        return class_map, None
    if not schema.has_front_roles:
        log.warning("%s: --front needs ocean and glacier roles in the class schema; skipped",
                    opened.image)
        return class_map, {"front_found": False,
                           "reason": "the class schema has no ocean/glacier roles"}
    try:
        out, result = front_outputs(class_map, schema=schema, info=opened.info,
                                    stem=opened.stem, out_dir=out_dir,
                                    edge_path=opened.scene.edge,
                                    margins_path=opened.scene.margins,
                                    published_dir=published_dir)
    except FrontError as exc:
        log.warning("%s: no calving front: %s", opened.image, exc)
        return class_map, {"front_found": False, "reason": str(exc)}
    return np.asarray(out, dtype=np.uint8), dict(result)


def front_layers(front, folder):
    """``{layer: GeoJSON file}`` of the lines a :func:`run_front` result found, as staged in
    ``folder`` (the result names them where they will be published): the calving front and
    the valley margins, for ``<stem>_classes.gpkg``."""
    if not front:
        return {}
    found = {}
    if front.get("front_found"):
        found[FRONT_LAYER] = front
    margins = front.get("margins")
    if margins and margins.get("margins_found"):
        found[MARGINS_LAYER] = margins
    lines = {}
    for layer, result in found.items():
        published = (result.get("files") or {}).get("geojson")
        if published and (Path(folder) / Path(published).name).exists():
            lines[layer] = Path(folder) / Path(published).name
    return lines


def _panels(path, image, truth, cnn_map, csc_map, *, schema, scores, exp, stem, front=False):
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


def open_for(scene, phase_one, options):
    """The *open* stage of one scene for CSC: checked against the model's bands and schema,
    large enough for the patch and the tiles."""
    card = phase_one.card
    opened = open_scene(scene, schema=card.schema, bands=card.bands,
                        model=phase_one.description, min_size=options.patch_size,
                        scaling=card.scaling)
    if _front_enabled(options, card.schema) and card.schema.has_front_roles:
        check_lines(opened)         # the front step reads EDGE_ and VM_
    height, width = opened.shape
    if card.tile_size > min(height, width):
        raise ClassificationError(f"{scene.image} is {height}x{width} pixels, smaller than the "
                                  f"model's {card.tile_size}x{card.tile_size} tiles; classify "
                                  "a larger image or train a model on smaller tiles (csc "
                                  "tiles --tile-size)")
    return opened


#: Default ``--samples-per-class``: patch centres per class, and unique pixels with --dense.
#: 20 000 patch centres gave the best map of 20 000 to 500 000 at K = 1 and 5 on the 2048²
#: benchmark scene, in a tenth to a twentieth of the training time of 500 000 (README,
#: "Phase-two training").
PATCH_SAMPLES = 20_000
DENSE_SAMPLES = 30_000


def train_phase_two(learner, image, class_map, *, schema, scaling, samples_per_class, seed,
                    path, dense=False, tile_size=0, clean=False, weights=None,
                    local_prior=None):
    """Train ``learner`` on the phase-one map of an in-memory ``image``; returns the record of
    the pixels it used (for ``run.json``).

    With ``dense`` a learner with ``fit_map`` (the neural learner) trains densely on the whole
    map (:mod:`csc.blocks`): each class on at most ``samples_per_class`` (default
    :data:`DENSE_SAMPLES`) unique labelled pixels, validated on held-out cells. Otherwise the
    neural learner trains on ``samples_per_class`` (default :data:`PATCH_SAMPLES`) balanced
    patch centres per class, the smaller classes drawn again with replacement; LightGBM and
    random forests on ``min(samples_per_class, its pixels)`` per class drawn without
    replacement. Each calibrates its temperature on held-out pixels weighted back to the map's
    class frequencies.

    ``tile_size`` (the phase-one tile side) makes the neural learner fit its temperature on
    the held-out pixels whose label the tile map confirms half a tile away in all eight
    directions (:func:`csc.sampling.confirmed` at :func:`csc.sampling.calibration_distance`):
    the tile map is wrong mostly at its class boundaries, and a temperature fitted on its
    errors leaves the map under-confident.

    ``clean`` (patch sampling only) first drops the sampled pixels whose label out-of-fold
    predictions of the learner confidently contradict (:mod:`CSC_Application.cleaning`); the
    neural learner's classes are then drawn again from what is left to stay balanced.
    ``weights`` (patch sampling only), a function of the sampled pixels' ``(rows, cols)``,
    gives each its weight in the training loss (the phase-one tile probability with
    ``--tile-weights``). Those weights also move weight between classes: a class phase one
    was unsure of counts for less than the balanced sample's share (measured better than
    rescaling them to a mean of 1 within each class; README, "Tile weights").
    ``local_prior`` (patch sampling only), a function of the sampled pixels' ``(rows, cols)``
    giving their log-prior (n, C) from phase one's tiles (``--local-prior``), is added for the
    temperature, as prediction adds it to every strip."""
    source = f"the phase-one map of {path}"
    if dense and hasattr(learner, "fit_map"):
        learner.fit_map(LabelledImage(image.data, image.valid, class_map, schema, scaling,
                                      samples_per_class or DENSE_SAMPLES, source=source,
                                      tile_size=int(tile_size or 0)))
        plan = dict(learner.plan_)
        absent = [name for name, n in plan["labelled_pixels"].items() if not n]
        if absent:
            log.warning("%s lacks class(es) %s; the learner still predicts all %d classes",
                        source, ", ".join(absent), schema.n_classes)
        return dict(plan, training="dense", absent_classes=absent,
                    prior_shift=getattr(learner, "shift_", None) is not None,
                    per_class=plan["training_pixels"])
    trees = not hasattr(learner, "fit_map")
    if dense:
        log.warning("%s: --dense applies to the neural learner; %s trains on sampled pixels",
                    path, type(learner).__name__)
    sample = sample_centres(class_map, schema=schema,
                            samples_per_class=samples_per_class or PATCH_SAMPLES, seed=seed,
                            path=path, fill=not trees)
    patches = PatchSet(image.data, sample.rows, sample.cols, schema.to_index(sample.labels),
                       patch_size=learner.patch_size, scaling=scaling, valid=image.valid)
    frequencies = [sample.counts.get(c, 0) for c in schema.ids]
    sample_weight = None if weights is None else weights(patches.rows, patches.cols)
    cleaning = None
    if clean:
        keep, cleaning = clean_patches(
            learner, patches, patches.labels, seed=seed,
            cell=fold_cell(class_map.shape, tile_size), frequencies=frequencies,
            class_names=[schema.name_of(c) for c in schema.ids], sample_weight=sample_weight)
        chosen = np.flatnonzero(keep) if trees else refill(keep, patches.labels, seed=seed)
        patches = patches.subset(chosen)
        sample_weight = None if sample_weight is None else sample_weight[chosen]
    extra = {}
    if sample_weight is not None:
        extra["sample_weight"] = sample_weight
    if local_prior is not None:
        extra["local_shift"] = local_prior(patches.rows, patches.cols)
    if not trees:
        extra["confirmed"] = (confirmed(class_map, patches.rows, patches.cols,
                                        distance=calibration_distance(tile_size))
                              if tile_size else None)
    learner.fit(patches, patches.labels, frequencies=frequencies, **extra)
    calibration = {}
    if hasattr(learner, "temperature_"):
        calibration = {"temperature": round(float(learner.temperature_), 4),
                       "calibration_pixels": int(learner.calibration_pixels_)}
    calibration["prior_shift"] = getattr(learner, "shift_", None) is not None
    return {"training": ("sampled pixels, without replacement" if trees else
                         "sampled patches, balanced (smaller classes with replacement)"),
            **calibration,
            "with_replacement": [schema.name_of(c) for c in sample.replaced],
            "per_class": {schema.name_of(c): n for c, n in sample.drawn.items() if n},
            "labelled_pixels": {schema.name_of(c): n for c, n in sample.counts.items()},
            "absent_classes": [schema.name_of(c) for c in sample.absent],
            **({"cleaning": cleaning,
                "trained_per_class": {schema.name_of(c): int(n) for c, n in zip(
                    schema.ids, np.bincount(patches.labels, minlength=schema.n_classes)) if n}}
               if cleaning else {}),
            **({"mean_tile_probability": round(float(np.mean(sample_weight)), 4)}
               if sample_weight is not None else {})}


def classify_scene(opened, phase_one, out_dir, options, *, progress=False):
    """Classify one opened scene (:func:`open_for`); commit its outputs in ``out_dir`` and
    return its summary row (a dict with :data:`SUMMARY_COLUMNS`)."""
    card = phase_one.card
    schema, stem, k = card.schema, opened.stem, options.patch_size
    with SceneRun(opened, out_dir, exp=options.experiment) as run:
        image = read_pixels(opened.image, bands=card.bands)
        with run.timed("phase1_s"):
            labels = TileMapLabels(phase_one, min_confidence=options.min_confidence,
                                   progress=progress)
            cnn_map = labels.class_map(image)
        local_prior = None
        strength = local_prior_strength(options)
        if strength > 0:
            local_prior = labels.local_prior(strength)
        with run.timed("phase2_train_s"):
            learner = make_learner(options.phase2, patch_size=k, n_bands=card.n_bands,
                                   n_classes=schema.n_classes, seed=options.seed,
                                   epochs=options.epochs, patience=options.patience,
                                   batch_size=options.batch_size,
                                   illumination=options.illumination,
                                   band_roles=options.band_roles, prior=options.prior,
                                   progress=progress)
            samples = train_phase_two(learner, image, cnn_map, schema=schema,
                                      scaling=card.scaling,
                                      samples_per_class=options.samples_per_class,
                                      seed=options.seed, path=opened.image,
                                      dense=options.dense, tile_size=card.tile_size,
                                      clean=options.clean,
                                      weights=labels.confidence
                                      if tile_weights_enabled(options) else None,
                                      local_prior=local_prior[0] if local_prior else None)
            samples["local_prior"] = strength
        strip_rows = run.strip_rows(learner, strip_rows=options.strip_rows,
                                    whole_image=options.whole_image,
                                    n_features=int(getattr(learner, "n_features_in_", 0)),
                                    local_prior=local_prior is not None)
        csc_map, valid, *confidence = run.predict(learner, image, scaling=card.scaling,
                                                  strip_rows=strip_rows, progress=progress,
                                                  confidence=options.confidence,
                                                  local_prior=local_prior[1]
                                                  if local_prior else None)
        confidence = confidence[0] if confidence else None
        raw_map = csc_map if confidence is not None else None   # what the confidence describes
        with run.timed("despeckle_s"):
            csc_map = despeckle(csc_map, radius=options.despeckle)
        with run.timed("front_s"):
            final_map, front = run_front(csc_map, opened=opened, out_dir=run.outputs.folder,
                                         options=options, published_dir=out_dir)
        if front is None:
            run.timings.pop("front_s")
        run.write_map(final_map)
        if confidence is not None:
            run.write_confidence(confidence)
        run.write_polygons(final_map, min_area=options.min_area, simplify=options.simplify,
                           glacier=bool(front and front.get("front_found")),
                           lines=front_layers(front, run.outputs.folder))
        truth = opened.read_labels()
        if truth is not None:
            run.score(truth, {"CNN": cnn_map, "CSC": csc_map}, valid=valid, confusion_of="CSC")
            run.pool(truth, csc_map, valid=valid, cnn=cnn_map, seed=options.seed)
            if confidence is not None:
                run.calibrate(truth, raw_map, confidence, valid=valid)
        _panels(run.path(f"CSC_{run.exp}_{stem}.png"), image, truth,
                cnn_map if truth is not None else None, final_map, schema=schema,
                scores=run.scores, exp=run.exp, stem=stem,
                front=bool(front and front.get("front_found")))
        params = learner.get_params() if hasattr(learner, "get_params") else {}
        run.commit(
            options=dict(options.to_dict(), experiment=options.experiment),
            model={"path": str(phase_one.path) if phase_one.path else None,
                   "tile_size": card.tile_size, "bands": list(card.bands),
                   "scaling": card.scaling.to_dict(), "schema": schema.to_dict(),
                   "kind": card.kind, "width": card.width},
            label_source=("phase-one tile map" if phase_one.tile_probabilities is None
                          else "tile map of the given tile probabilities"),
            class_pixels=samples["labelled_pixels"],
            absent_classes=samples["absent_classes"],
            samples=samples,
            learner={"name": options.phase2, "class": type(learner).__name__,
                     "params": {key: v for key, v in params.items()
                                if isinstance(v, (int, float, str, bool, type(None)))},
                     "history": getattr(learner, "history_", {}),
                     "epochs_run": getattr(learner, "epochs_run_", None)},
            strip_rows=strip_rows,
            front_enabled=_front_enabled(options, schema),
            front=front)
    row = dict.fromkeys(SUMMARY_COLUMNS, np.nan)
    row.update(image=str(opened.image), status="ok", error="", seconds=run.timings["total_s"])
    row.update({key: run.scores[key] for key in row if key in run.scores})
    if front is not None and front.get("median_error_m") is not None:
        row["front_median_error_m"] = float(front["median_error_m"])
    log.info("%s: done in %.1f s (%s)", stem, run.timings["total_s"],
             ", ".join(f"{key} {value:.3g}" for key, value in run.scores.items()
                       if key.endswith("weighted_f1")))
    return row


# --- one image or a folder -----------------------------------------------------------------------

def option_problems(options, *, bands):
    """``(option name, reason)`` for each combination of ``options`` that a run with a model
    reading ``bands`` refuses; checked before anything runs, by :func:`classify_path` and for
    every row of a job list."""
    problems = []
    if options.illumination and trains_densely(options):
        problems.append(("illumination", "--illumination trains the neural phase two by patch "
                                         "sampling; drop --dense or --illumination"))
    if options.clean and trains_densely(options):
        problems.append(("clean", "--clean cleans the sampled training pixels of patch "
                                  "sampling; drop --dense or --clean"))
    if options.tile_weights and trains_densely(options):
        problems.append(("tile_weights", "--tile-weights weighs the sampled training pixels "
                                         "of patch sampling; drop --dense or --tile-weights"))
    if options.local_prior and trains_densely(options):
        problems.append(("local_prior", "--local-prior is calibrated on the sampled training "
                                        "pixels of patch sampling; drop --dense or "
                                        "--local-prior (or give --local-prior 0)"))
    if options.band_roles is not None:
        named = [r.strip() for r in str(options.band_roles).split(",")]
        if len(named) != len(bands):
            problems.append(("band_roles", f"--band-roles {options.band_roles!r} names "
                                           f"{len(named)} band(s) but the model reads "
                                           f"{len(bands)} ({','.join(map(str, bands))}); give "
                                           "one role per band, e.g. red,green,blue,nir"))
        else:
            try:
                parse_roles(options.band_roles, len(bands))
            except BandError as exc:
                problems.append(("band_roles", f"--band-roles: {exc}"))
    return problems


def classify_path(input, model, out_dir, options=None, *, progress=False):
    """Classify one image or every image of a folder; returns a :class:`ClassifyResult`.

    ``model`` is a phase-one model path (with its sidecar) or a ``(keras_model, card)`` pair.
    Every image is opened and checked before the network is loaded. A single image raises its
    error; a folder run records a failed image in ``summary.csv`` (status "failed" and the
    message) and goes on with the next."""
    options = options or ClassifyOptions()
    input = Path(input)
    scenes = find_scenes(input)
    folder = input.is_dir()
    phase_one = PhaseOne.of(model)
    problems = option_problems(options, bands=phase_one.card.bands)
    if problems:
        raise OptionError(problems[0][1])
    if (options.band_roles is not None and options.phase2 in ("nn", "mlp")
            and not options.illumination):
        log.warning("--band-roles has no effect on the neural phase two without --illumination")
    with output_folder(out_dir) as out_dir:
        opened = run_scenes(scenes, lambda scene: open_for(scene, phase_one, options),
                            folder=folder, out_dir=out_dir)
        ready = [o.result for o in opened if o.ok]
        if ready:
            phase_one.load()
        done = iter(run_scenes(
            ready, lambda o: classify_scene(o, phase_one, out_dir, options, progress=progress),
            folder=folder, progress=progress))
        rows = []
        for outcome in opened:
            if outcome.ok:
                outcome = next(done)
            rows.append(outcome.result if outcome.ok else _failed(outcome))
        frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
        if folder:
            write_csv(out_dir / "summary.csv", frame)
    return ClassifyResult(frame=frame, out_dir=out_dir)


def _failed(outcome):
    row = dict.fromkeys(SUMMARY_COLUMNS, np.nan)
    exc = outcome.error
    row.update(image=str(outcome.scene.image), status="failed",
               error=f"{type(exc).__name__}: {exc}", seconds=outcome.seconds)
    return row
