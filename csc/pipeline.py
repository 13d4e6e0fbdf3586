"""One way through a scene, for CSC, the baselines and batch jobs.

*open* (:func:`csc.scenes.open_scene`: the image and its companions checked before any model
loads) → *run* (a label source gives training pixels, a learner from the registry of
:mod:`csc.learners` is fitted and classifies every pixel strip by strip, optional steps
refine the map) → *commit* (:class:`csc.outputs.OutputSet`: every output staged, then moved
into place together with the manifest ``<stem>_run.json``).

:class:`SceneRun` carries one scene through *run* and *commit*; :func:`run_scenes` runs many
scenes of a folder, recording a failed image and going on with the next.
"""
import dataclasses
import logging
import time
from importlib import metadata

import numpy as np
import pandas as pd

from csc import __version__
from csc.errors import CscError
from csc.figures import plot_confusion, plot_reliability
from csc.files import write_csv
from csc.metrics import (calibration, class_f1, class_report, confusion, summary_scores,
                         write_report)
from csc.outputs import OutputSet, recover
from csc.pixels import CONFIDENCE_NODATA, auto_strip_rows, predict_scene
from csc.polygons import class_gpkg
from csc.pooling import POOL_PIXELS, write_pixel_sample
from csc.rasters import ClassRasterWriter

log = logging.getLogger(__name__)

#: Libraries whose versions every run records.
LIBRARIES = ("numpy", "scipy", "pandas", "rasterio", "scikit-image", "scikit-learn",
             "tensorflow", "tensorflow-cpu", "keras", "lightgbm")


def library_versions():
    out = {"glacier-csc": __version__}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _grid(info):
    """``(crs, transform)`` of the outputs on the grid of ``info``: both None for an image
    without a CRS (its polygons are then in pixel coordinates, like its front's)."""
    crs = info.crs
    transform = info.transform if info.georeferenced or crs is not None else None
    return crs, transform


def write_class_map(path, class_map, *, schema, info, strip_rows=2048, cog=True,
                    warn_plain=True):
    """Write a class map on the grid of ``info`` (the input image), strip by strip: a
    Cloud-Optimized GeoTIFF with the class names beside it in ``<path>.aux.xml``
    (:class:`csc.rasters.ClassRasterWriter`), or a plain tiled GTiff without ``cog``;
    ``warn_plain=False`` when the caller has said the image has no CRS."""
    crs, transform = _grid(info)
    with ClassRasterWriter(path, class_map.shape, schema=schema, crs=crs,
                           transform=transform, cog=cog, warn_plain=warn_plain) as writer:
        for r0 in range(0, class_map.shape[0], strip_rows):
            writer.write_rows(r0, class_map[r0:r0 + strip_rows])
    return path


def grid_record(info):
    return {"height": info.height, "width": info.width,
            "crs": str(info.crs) if info.crs else None,
            "transform": list(info.transform)[:6], "georeferenced": info.georeferenced}


class SceneRun:
    """One opened scene (:class:`csc.scenes.OpenScene`) through *run* and *commit*.

    Use as a context manager around the run: its outputs are staged in an
    :class:`~csc.outputs.OutputSet` and appear only when :meth:`commit` is called; an error
    before that leaves the earlier outputs of the image as they were."""

    def __init__(self, opened, out_dir, *, exp):
        self.opened = opened
        self.exp = exp
        self.outputs = OutputSet(out_dir, opened.stem)
        self.timings = {}
        self.scores = {}
        self.record = {}
        self.labelled = 0
        self._started = time.perf_counter()
        if opened.info.crs is None:   # said once here; the map writers stay quiet about it
            log.warning("%s: not georeferenced (no CRS); its maps are written without a CRS "
                        "and its polygons and front in pixel coordinates", opened.image)

    def __enter__(self):
        self.outputs.__enter__()
        return self

    def __exit__(self, *exc):
        return self.outputs.__exit__(*exc)

    @property
    def schema(self):
        return self.opened.schema

    def path(self, name):
        return self.outputs.path(name)

    def timed(self, name):
        """Context manager adding the seconds it encloses to ``timings[name]``."""
        run = self

        class _Timer:
            def __enter__(self):
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                run.timings[name] = run.timings.get(name, 0.0) + time.perf_counter() - self.t
                return False

        return _Timer()

    # -- run ---------------------------------------------------------------------------------
    def strip_rows(self, learner, *, strip_rows=None, whole_image=False, n_features=0,
                   local_prior=False):
        """Rows per prediction strip: given, the whole image, or from the memory budget."""
        if whole_image:
            return None
        return int(strip_rows or auto_strip_rows(
            self.opened.info.width, n_bands=len(self.opened.bands),
            n_classes=self.schema.n_classes, n_features=n_features, halo=learner.halo,
            local_prior=local_prior))

    def predict(self, learner, source, *, scaling, strip_rows=None, progress=False,
                confidence=False, local_prior=None):
        """Every pixel classified strip by strip: ``(class_map, valid)``, and with
        ``confidence`` the top-class probability in percent: ``(class_map, valid,
        confidence)`` (:func:`csc.pixels.predict_scene`; ``local_prior`` as there)."""
        with self.timed("phase2_predict_s"):
            return predict_scene(learner, source, bands=self.opened.bands, scaling=scaling,
                                 schema=self.schema, strip_rows=strip_rows,
                                 shape=self.opened.shape, progress=progress,
                                 confidence=confidence, local_prior=local_prior)

    # -- outputs -----------------------------------------------------------------------------
    def write_map(self, class_map, name=None):
        """The class map ``<stem>_classified.tif``: a Cloud-Optimized GeoTIFF, its class names
        in the sidecar ``<stem>_classified.tif.aux.xml`` (both outputs of the set)."""
        name = name or f"{self.opened.stem}_classified.tif"
        with self.timed("class_map_s"):
            write_class_map(self.path(name), class_map, schema=self.schema,
                            info=self.opened.info, warn_plain=False)
        return name

    def write_confidence(self, confidence, name=None, strip_rows=2048):
        """The confidence map ``<stem>_confidence.tif``: uint8 percent 0–100, nodata 255, on
        the class map's grid, a Cloud-Optimized GeoTIFF with AVERAGE overviews."""
        name = name or f"{self.opened.stem}_confidence.tif"
        crs, transform = _grid(self.opened.info)
        with self.timed("confidence_map_s"), ClassRasterWriter(
                self.path(name), confidence.shape, schema=None, crs=crs, transform=transform,
                cog=True, nodata=CONFIDENCE_NODATA, resampling="AVERAGE",
                warn_plain=False) as writer:
            for r0 in range(0, confidence.shape[0], strip_rows):
                writer.write_rows(r0, confidence[r0:r0 + strip_rows])
        self.record["confidence"] = {"file": name, "units": "percent", "nodata":
                                     CONFIDENCE_NODATA}
        return name

    def calibrate(self, truth, class_map, confidence, *, valid, prefix="CSC"):
        """Calibration of ``confidence`` against ``truth`` on labelled valid pixels: the
        expected calibration error in :attr:`scores` (``<prefix>_ece``) and the manifest, its
        bins in ``<PREFIX>_<stem>_<exp>_calibration.csv`` and the reliability diagram
        ``<PREFIX>_<stem>_<exp>_reliability.png``."""
        stem, exp = self.opened.stem, self.exp
        result = calibration(truth, class_map, confidence, valid=valid)
        write_csv(self.path(f"{prefix}_{stem}_{exp}_calibration.csv"),
                  pd.DataFrame(result["bins"]).round(6))
        plot_reliability(result, self.path(f"{prefix}_{stem}_{exp}_reliability.png"),
                         title=f"{prefix} {exp} — {stem}")
        self.scores[f"{prefix.lower()}_ece"] = result["ece"]
        self.record.setdefault("confidence", {})["ece"] = {
            "value": result["ece"], "bins": len(result["bins"]), "pixels": result["pixels"]}
        return result

    def write_polygons(self, class_map, *, min_area=0.0, simplify=0.0, glacier=False,
                       lines=None, name=None):
        """The class map as polygons, ``<stem>_classes.gpkg`` (:func:`csc.polygons.class_gpkg`,
        strip by strip): one feature per region, regions under ``min_area`` left out, edges
        simplified by ``simplify``; with ``glacier`` the refined glacier's outline; each
        ``{layer: GeoJSON file}`` of ``lines`` (staged outputs) as a line layer. The layers
        go to the manifest's ``polygons``."""
        name = name or f"{self.opened.stem}_classes.gpkg"
        crs, transform = _grid(self.opened.info)
        with self.timed("polygons_s"):
            layers = class_gpkg(self.path(name), class_map, schema=self.schema,
                                transform=transform, crs=crs, min_area=min_area,
                                simplify=simplify, glacier=glacier, lines=lines)
        self.record["polygons"] = {"file": name, "min_area": min_area, "simplify": simplify,
                                   "layers": layers}
        return name

    def score(self, truth, maps, *, valid, confusion_of=None, names=None):
        """Per-class reports ``<PREFIX>_<stem>_<exp>.csv`` (or ``names[prefix]``) of each
        ``{prefix: map}`` against ``truth`` on labelled valid pixels, and the confusion matrix
        of ``confusion_of``; the scores go to :attr:`scores` as ``<prefix>_weighted_f1`` etc.
        (lower case)."""
        schema, stem, exp = self.schema, self.opened.stem, self.exp
        glacier = schema.name_of(schema.glacier_id) if schema.glacier_id is not None else None
        for prefix, pred in maps.items():
            report = class_report(truth, pred, schema=schema, valid=valid)
            write_report(self.path((names or {}).get(prefix, f"{prefix}_{stem}_{exp}.csv")),
                         report)
            s = summary_scores(report)
            key = prefix.lower()
            self.scores[f"{key}_weighted_f1"] = s["weighted_f1"]
            self.scores[f"{key}_macro_f1"] = s["macro_f1"]
            self.scores[f"{key}_accuracy"] = s["accuracy"]
            self.scores[f"{key}_glacier_f1"] = class_f1(report, glacier) if glacier else np.nan
        if confusion_of is not None:
            matrix = confusion(truth, maps[confusion_of], schema=schema, valid=valid)
            plot_confusion(matrix, schema.names, self.path(f"{confusion_of}_{stem}_{exp}"
                                                           "_confusion.png"),
                           title=f"{confusion_of} {exp} — {stem}")
        return self.scores

    def pool(self, truth, final, *, valid, cnn=None, seed=0, **extra):
        """The seeded pixel sample ``<stem>_<exp>_pixels.npz`` for pooled scores."""
        self.labelled = write_pixel_sample(
            self.path(f"{self.opened.stem}_{self.exp}_pixels.npz"), truth=truth, cnn=cnn,
            csc=final, valid=valid, stem=self.opened.stem, exp=self.exp, schema=self.schema,
            seed=seed, **extra)
        return self.labelled

    def commit(self, **record):
        """Write the manifest (``record`` with the scene, grid, versions, pixels, scores and
        timings) and move the output set into place; returns the manifest record."""
        opened = self.opened
        self.timings["total_s"] = time.perf_counter() - self._started
        scene = opened.scene
        full = {
            "image": str(scene.image), "stem": opened.stem, "experiment": self.exp,
            # the files the user gave: a vector companion rather than its burned raster
            **{field: (str(scene.source(field)) if getattr(scene, field) else None)
               for field in ("labels", "edge", "margins")},
            **self.record,
            **record,
            "versions": library_versions(),
            "grid": grid_record(opened.info),
            "pixels": {"total": opened.info.height * opened.info.width,
                       "valid": opened.n_valid, "labelled": self.labelled,
                       "pooled_sample": int(min(self.labelled, POOL_PIXELS))},
            "scores": self.scores,
            "timings": self.timings,
            "status": "ok",
        }
        self.outputs.commit(full)
        return full


@dataclasses.dataclass
class SceneOutcome:
    """What became of one scene of a folder run: its result, or the error it failed with."""

    scene: object
    result: object = None
    error: Exception = None
    seconds: float = 0.0

    @property
    def ok(self):
        return self.error is None


def run_scenes(scenes, run_one, *, folder, out_dir=None, progress=False, desc="images"):
    """``run_one(scene)`` for every scene. A single image raises its error; a folder records
    it (logged on one line) and goes on with the next. Leftovers of interrupted runs in
    ``out_dir`` are finished or removed first. Returns a list of :class:`SceneOutcome`."""
    if out_dir is not None:
        recover(out_dir)
    iterator = scenes
    if progress and folder:
        from tqdm.auto import tqdm

        iterator = tqdm(scenes, desc=desc, unit="image", disable=None)
    outcomes = []
    for scene in iterator:
        t = time.perf_counter()
        try:
            outcome = SceneOutcome(scene, result=run_one(scene))
        except CscError as exc:
            if not folder:
                raise
            log.error("%s: %s", scene.image, exc)
            outcome = SceneOutcome(scene, error=exc)
        except Exception as exc:  # a folder run goes on after any failure of one image
            if not folder:
                raise
            log.exception("%s failed", scene.image)
            outcome = SceneOutcome(scene, error=exc)
        outcome.seconds = time.perf_counter() - t
        outcomes.append(outcome)
    return outcomes
