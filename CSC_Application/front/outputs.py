"""The files of the front step: GeoJSON lines, JSON reports, error tables and histograms, the
class map with the front burnt in; :func:`front_outputs` (what phase two calls) and
:func:`front_file` (``csc front``)."""
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio.transform

from csc.classes import ClassSchema
from csc.errors import FrontError, LabelMismatchError
from csc.figures import plt, save
from csc.files import write_csv, write_json
from csc.rasters import (grid_problem, line_mask, raster_info, read_image, read_labels,
                         write_class_raster)
from csc.scenes import companion

from CSC_Application.front.distances import front_errors, line_distances, line_pixels
from CSC_Application.front.extract import burn_front, extract_front
from CSC_Application.front.lines import metric_pixel_size
from CSC_Application.front.margins import extract_margins
from CSC_Application.front.settings import settings_or_default

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# GeoJSON and line rasters
# ------------------------------------------------------------------------------------------
def crs_name(crs):
    """The legacy GeoJSON ``crs`` member naming ``crs`` (``urn:ogc:def:crs:EPSG::32624``), or
    None when the CRS has no authority code."""
    if crs is None:
        return None
    authority = crs.to_authority()
    if authority is None:
        log.warning("CRS %s has no authority code; the GeoJSON carries no crs member", crs)
        return None
    return {"type": "name", "properties": {"name": f"urn:ogc:def:crs:{authority[0]}::"
                                                   f"{authority[1]}"}}


def lines_geojson(lines, *, transform, crs=None, properties=None):
    """A GeoJSON FeatureCollection holding ordered (row, col) pixel runs as one LineString (or
    MultiLineString), at pixel centres through the affine ``transform``, in the raster's CRS
    (pixel coordinates when ``transform`` is None or the identity)."""
    parts = []
    for line in lines:
        line = np.asarray(line, dtype=float)
        if transform is None:
            xs, ys = line[:, 1] + 0.5, line[:, 0] + 0.5
        else:
            xs, ys = rasterio.transform.xy(transform, line[:, 0], line[:, 1], offset="center")
        coords = np.column_stack([xs, ys]).tolist()
        if len(coords) == 1:
            coords = coords * 2  # a LineString needs two positions
        parts.append(coords)
    if len(parts) == 1:
        geometry = {"type": "LineString", "coordinates": parts[0]}
    else:
        geometry = {"type": "MultiLineString", "coordinates": parts}
    collection = {"type": "FeatureCollection",
                  "features": [{"type": "Feature", "properties": dict(properties or {}),
                                "geometry": geometry}]}
    member = crs_name(crs)
    if member is not None:
        collection["crs"] = member
    return collection


def read_line_raster(path, *, shape, what="EDGE_", class_path=None, reference=None,
                     check_only=False):
    """A manual line raster (``EDGE_``/``VM_``) as a boolean mask: non-zero, non-nodata pixels.
    Its shape must equal the class map's; with ``reference`` (the class raster's
    ``RasterInfo``) its CRS and transform too (:func:`csc.rasters.grid_problem`), so a line
    drawn on another grid is refused rather than compared pixel for pixel. ``check_only``:
    the grid checks alone (nothing read), returning None."""
    if reference is not None:
        problem = grid_problem(raster_info(path), reference)
        if problem:
            raise LabelMismatchError(
                f"{what} raster {path} is {problem}; the manual line must lie on the class "
                "raster's grid (never resized): rasterise the line onto that grid (csc labels "
                f"IMAGE LINES.gpkg --kind {'edge' if what == 'EDGE_' else 'margins'}) or warp "
                "the raster onto it (e.g. gdalwarp -te/-tr from the class raster)")
    if check_only:
        return None
    image = read_image(path)
    if image.shape != tuple(shape):
        raise LabelMismatchError(
            f"{what} raster {path} is {image.shape[0]}x{image.shape[1]} pixels but the class map "
            f"{class_path or ''} is {shape[0]}x{shape[1]}; draw the line on the image's grid")
    line = line_mask(image)
    if not line.any():
        raise LabelMismatchError(f"{what} raster {path} holds no line pixels (all zero or "
                                 "nodata); draw the line with non-zero values")
    return line


def _georeference(info):
    """``(transform, crs)`` for the outputs of a raster: both None when it has no
    georeferencing."""
    if not info.georeferenced:
        return None, None
    return info.transform, info.crs


# ------------------------------------------------------------------------------------------
# error tables and histograms
# ------------------------------------------------------------------------------------------
def write_errors(stem, out_dir, predicted, manual, pixel_size, kind):
    """Write ``<stem>_<kind>_errors.csv`` (each pixel of both lines with its distance to the
    other, in metres with a ``pixel_size``, else pixels) and ``<stem>_<kind>_errors.png`` (their
    histogram); return both paths."""
    unit = "m" if pixel_size is not None else "px"
    to_manual, to_predicted = line_distances(predicted, manual, pixel_size=pixel_size)
    p, m = line_pixels(predicted).astype(int), line_pixels(manual).astype(int)
    frame = pd.concat([
        pd.DataFrame({"direction": "predicted_to_manual", "row": p[:, 0], "col": p[:, 1],
                      f"distance_{unit}": to_manual}),
        pd.DataFrame({"direction": "manual_to_predicted", "row": m[:, 0], "col": m[:, 1],
                      f"distance_{unit}": to_predicted})], ignore_index=True)
    csv_path = Path(out_dir) / f"{stem}_{kind}_errors.csv"
    write_csv(csv_path, frame.round(4))
    fig, ax = plt.subplots(figsize=(6, 4))
    both = np.concatenate([to_manual, to_predicted])
    bins = np.linspace(0, max(float(np.percentile(both, 99)), 1e-9), 40)
    ax.hist([np.clip(to_manual, 0, bins[-1]), np.clip(to_predicted, 0, bins[-1])], bins=bins,
            label=["predicted → manual", "manual → predicted"], stacked=True)
    ax.axvline(float(np.median(both)), color="k", ls="--",
               label=f"median {np.median(both):.1f} {unit}")
    ax.set_xlabel(f"distance to the other line ({unit}; the last bin holds the farthest 1 %)")
    ax.set_ylabel("pixels")
    ax.set_title(f"{stem}: {kind} errors")
    ax.legend()
    png_path = save(fig, Path(out_dir) / f"{stem}_{kind}_errors.png")
    return csv_path, png_path


# ------------------------------------------------------------------------------------------
# one scene
# ------------------------------------------------------------------------------------------
def margin_outputs(class_map, *, schema, info, stem, out_dir, margins_path, settings=None,
                   published_dir=None):
    """Extract the margins of one class map, compare them with the manual ``VM_`` raster and
    write ``<stem>_margins.json`` (``margins_found``, ``reason``, lengths and the distance
    statistics of :func:`front_errors`), ``<stem>_margins.geojson`` and
    ``<stem>_margins_errors.csv`` / ``.png``. Returns the result dict; a map without margins is
    reported (``margins_found`` False and ``reason``), not raised. ``published_dir`` is where
    the files will be once committed (default ``out_dir``); the result names them there."""
    out_dir = Path(out_dir)
    pixel_size = metric_pixel_size(info)
    manual = read_line_raster(margins_path, shape=np.shape(class_map), what="VM_",
                              class_path=info.path)
    result = {"stem": stem, "margins_found": False, "reason": None, "margins": str(margins_path),
              "pixel_size_m": None if pixel_size is None else list(pixel_size)}
    files = {}
    try:
        margins = extract_margins(class_map, schema=schema, pixel_size=pixel_size,
                                  settings=settings)
    except FrontError as exc:
        result["reason"] = str(exc)
        log.warning("%s: no valley margins: %s", stem, exc)
        margins = None
    if margins is not None:
        result.update(margins_found=True, length_m=margins.length_m,
                      length_px=margins.length_px, n_lines=len(margins.lines))
        result.update(front_errors(margins.mask, manual, pixel_size=pixel_size))
        transform, crs = _georeference(info)
        files["geojson"] = out_dir / f"{stem}_margins.geojson"
        write_json(files["geojson"], lines_geojson(margins.lines, transform=transform, crs=crs,
                                                   properties={"stem": stem}))
        files["errors_csv"], files["errors_png"] = write_errors(
            stem, out_dir, margins.mask, manual, pixel_size, "margins")
    files["json"] = out_dir / f"{stem}_margins.json"
    result["files"] = _published(files, published_dir or out_dir)
    write_json(files["json"], result)
    return result


def front_outputs(class_map, *, schema, info, stem, out_dir, edge_path=None, margins_path=None,
                  settings=None, burn=True, published_dir=None):
    """Extract the front of one class map and write its files in ``out_dir``:

    - ``<stem>_front.geojson`` — the front as a LineString in the raster's CRS;
    - ``<stem>_front.json`` — ``front_found``, ``reason``, ``length_m``, ``pixel_size_m``, the
      ``settings`` of :func:`extract_front` and, when ``edge_path`` (the manual ``EDGE_``
      raster) is given, the error statistics;
    - ``<stem>_front_errors.csv`` / ``.png`` — the distances and their histogram (with EDGE_);
    - with ``margins_path`` (``VM_``): ``<stem>_margins.json`` etc., see
      :func:`margin_outputs`.

    ``info`` is the class map's :class:`csc.rasters.RasterInfo`; ``settings`` a
    :class:`FrontSettings` (None: the defaults). Returns ``(class_map_out, result)``: the class
    map with the refined glacier and the front burnt in (``burn``), or unchanged when no front
    was found — that is reported (``front_found`` False and ``reason``), not raised. Bad inputs
    (a class map or EDGE_ raster of the wrong shape) raise. ``published_dir`` is where the
    files will be once committed (default ``out_dir``, when ``out_dir`` is a staging folder);
    the result names them there."""
    settings = settings_or_default(settings)
    class_map = np.asarray(class_map)
    if class_map.shape != tuple(info.shape):
        raise LabelMismatchError(f"class map is {class_map.shape[0]}x{class_map.shape[1]} pixels "
                                 f"but {info.path} is {info.height}x{info.width}; pass the "
                                 "raster's own RasterInfo")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pixel_size = metric_pixel_size(info)
    edge = None
    if edge_path is not None:
        edge = read_line_raster(edge_path, shape=class_map.shape, what="EDGE_",
                                class_path=info.path)
    result = {"stem": stem, "front_found": False, "reason": None, "length_m": None,
              "length_px": None, "pixel_size_m": None if pixel_size is None else
              list(pixel_size), "edge": None if edge_path is None else str(edge_path),
              "settings": settings.extraction()}
    class_map_out = class_map
    files = {}
    try:
        if not schema.has_front_roles:
            raise FrontError(f"class schema {schema.name!r} has no ocean and glacier roles; "
                             "a calving front needs a schema with roles ocean and glacier")
        front = extract_front(class_map, schema=schema, pixel_size=pixel_size, settings=settings)
    except FrontError as exc:
        result["reason"] = str(exc)
        log.warning("%s: no calving front: %s", stem, exc)
        front = None
    if front is not None:
        result.update(front_found=True, length_m=front.length_m, length_px=front.length_px,
                      n_front_pixels=front.n_pixels)
        props = {"stem": stem, "length_m": front.length_m, "length_px": front.length_px}
        transform, crs = _georeference(info)
        files["geojson"] = out_dir / f"{stem}_front.geojson"
        write_json(files["geojson"], lines_geojson(front.lines, transform=transform, crs=crs,
                                                   properties=props))
        if edge is not None:
            result.update(front_errors(front.mask, edge, pixel_size=pixel_size))
            files["errors_csv"], files["errors_png"] = write_errors(
                stem, out_dir, front.mask, edge, pixel_size, "front")
        if burn:
            class_map_out = burn_front(class_map, front, schema=schema)
    files["json"] = out_dir / f"{stem}_front.json"
    result["files"] = _published(files, published_dir or out_dir)
    write_json(files["json"], result)
    if margins_path is not None:
        result["margins"] = margin_outputs(class_map, schema=schema, info=info, stem=stem,
                                           out_dir=out_dir, margins_path=margins_path,
                                           settings=settings, published_dir=published_dir)
    return class_map_out, result


def _published(files, folder):
    return {key: str(Path(folder) / Path(path).name) for key, path in files.items()}


# ------------------------------------------------------------------------------------------
# a class raster on disk
# ------------------------------------------------------------------------------------------
def stem_of(class_path):
    """The scene stem of a class raster: its name without a ``_classified`` suffix or an
    ``SCLS_`` prefix (manual labels)."""
    stem = Path(class_path).stem
    stem = stem[: -len("_classified")] if stem.endswith("_classified") else stem
    return stem[len("SCLS_"):] if stem.startswith("SCLS_") else stem


def front_file(class_path, *, out_dir, schema, edge_path=None, margins_path=None, stem=None,
               burn=True, settings=None, find_companions=True):
    """:func:`front_outputs` for a class raster on disk (``csc front``). The manual
    ``EDGE_<stem>`` / ``VM_<stem>`` rasters beside it are used when not given (with
    ``find_companions``); with ``burn`` and a front found, ``<stem>_front.tif`` holds the
    class map with the refined glacier and the front (class ``schema.front_id``) burnt in.
    ``settings`` is a :class:`FrontSettings` (None: the defaults). Returns the result dict."""
    class_path = Path(class_path)
    info = raster_info(class_path)
    stem = stem or stem_of(class_path)
    if find_companions:
        edge_path = edge_path or companion(class_path, "EDGE_", stem=stem)
        margins_path = margins_path or companion(class_path, "VM_", stem=stem)
    for path, what in ((edge_path, "EDGE_"), (margins_path, "VM_")):
        if path is not None:
            read_line_raster(path, shape=info.shape, what=what, class_path=class_path,
                             reference=info, check_only=True)
    class_map = read_labels(class_path, schema=_with_front(schema), shape=None)
    out, result = front_outputs(class_map, schema=schema, info=info, stem=stem,
                                out_dir=out_dir, edge_path=edge_path,
                                margins_path=margins_path, settings=settings, burn=burn)
    if burn and result["front_found"]:
        path = Path(out_dir) / f"{stem}_front.tif"
        transform, crs = _georeference(info)
        write_class_raster(path, out, schema=schema, crs=crs, transform=transform)
        result["files"]["class_map"] = str(path)
        write_json(result["files"]["json"], {k: v for k, v in result.items() if k != "margins"})
    return result


def _with_front(schema):
    """A schema that also accepts the front id as a label (a class map may already hold it)."""
    if schema.front is None:
        return schema
    return ClassSchema(classes=schema.classes + (schema.front,), name=schema.name)


def describe(result):
    """The lines ``csc front`` prints for a :func:`front_file` result: front length and error,
    valley-margin error."""
    lines = []
    if not result["front_found"]:
        lines.append(f"{result['stem']}: no calving front: {result['reason']}")
    else:
        length = (f"{result['length_m']:.0f} m" if result["length_m"] is not None
                  else f"{result['length_px']:.0f} px")
        line = f"{result['stem']}: front {length}"
        if result.get("median_error_m") is not None:
            line += (f"; error median {result['median_error_m']:.1f} m, mean "
                     f"{result['mean_error_m']:.1f} m, {result['percent_within_100m']:.0f} % "
                     "within 100 m")
        elif result.get("median_error_px") is not None:
            line += f"; error median {result['median_error_px']:.1f} px"
        lines.append(line)
    margins = result.get("margins")
    if margins:
        if margins["margins_found"]:
            unit = "m" if margins.get("median_error_m") is not None else "px"
            lines.append(f"{result['stem']}: valley margins error median "
                         f"{margins[f'median_error_{unit}']:.1f} {unit}")
        else:
            lines.append(f"{result['stem']}: no valley margins: {margins['reason']}")
    return "\n".join(lines)
