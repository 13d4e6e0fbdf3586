"""Calving-front extraction and validation on hand-made class maps with known fronts."""
import json
import re

import click
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from rasterio.crs import CRS
from rasterio.transform import rowcol
from scipy import ndimage as ndi

from CSC_Application.front import (FRONT, FrontSettings, burn_front, extract_front, front_errors,
                                   front_outputs, ocean_mask, ocean_min_pixels, refine_glacier)
from CSC_Application.margins import extract_margins
from csc.classes import GLACIER
from csc.cli import cli
from csc.errors import FrontError, LabelMismatchError, OptionError
from csc.rasters import RasterInfo, write_class_raster, write_image

OPEN_WATER, MELANGE, GLACIER_ICE, ROCK = 1, 3, 4, 7
CROSS = ndi.generate_binary_structure(2, 1)
#: The hand-made scenes hold 1.6 km² of ocean or less: keep regions from 0.1 km².
SMALL_OCEAN = FrontSettings(min_ocean_km2=0.1)


def glacier_side_line(class_map, inner, outer):
    """Pixels of class(es) ``inner`` touching ``outer`` (4-neighbours): the manual convention."""
    return np.isin(class_map, inner) & ndi.binary_dilation(np.isin(class_map, outer), CROSS)


def straight_scene():
    """Ocean above row 100, glacier below, rock walls left and right: the front is row 100,
    columns 20..179."""
    cm = np.full((200, 200), GLACIER_ICE, np.uint8)
    cm[:100] = OPEN_WATER
    cm[80:100, 60:140] = MELANGE
    cm[:, :20] = ROCK
    cm[:, 180:] = ROCK
    edge = np.zeros(cm.shape, bool)
    edge[100, 20:180] = True
    return cm, edge


def curved_scene():
    """A semicircular bay of radius 100 cut into the glacier from the top edge."""
    rows, cols = np.mgrid[:240, :240]
    cm = np.full((240, 240), GLACIER_ICE, np.uint8)
    cm[rows ** 2 + (cols - 120) ** 2 < 100 ** 2] = OPEN_WATER
    cm[:, :8] = ROCK
    cm[:, -8:] = ROCK
    return cm, glacier_side_line(cm, [GLACIER_ICE], [OPEN_WATER])


def info_for(cm, *, res=10.0, crs=CRS.from_epsg(32624), path="map.tif"):
    transform = Affine(res, 0, 500000, 0, -res, 7400000) if crs is not None else Affine.identity()
    return RasterInfo(path=path, height=cm.shape[0], width=cm.shape[1], count=1, dtype="uint8",
                      crs=crs, transform=transform, nodata=0)


def write_maps(folder, cm, *, edge=None, margins=None, res=10.0, crs=CRS.from_epsg(32624),
               stem="fjord"):
    transform = Affine(res, 0, 500000, 0, -res, 7400000) if crs is not None else None
    path = write_class_raster(folder / f"{stem}_classified.tif", cm, schema=GLACIER, crs=crs,
                              transform=transform)
    if edge is not None:
        write_image(folder / f"EDGE_{stem}.tif", edge.astype(np.uint8), crs=crs,
                    transform=transform)
    if margins is not None:
        write_image(folder / f"VM_{stem}.tif", margins.astype(np.uint8), crs=crs,
                    transform=transform)
    return path


# --- settings ---------------------------------------------------------------------------------

PUBLISHED = {"min_ocean_km2": 1.0, "min_ocean_pixels": None, "iterations": 30, "smoothing": 1,
             "balloon": -0.5, "threshold": 0.6, "sigma": 2.0, "alpha": 100.0, "init_radius": 2,
             "front_buffer": 3, "max_length_ratio": 1.0, "gap_fill": 3,
             "min_margin_length": None, "min_rock_km2": 0.05, "min_rock_pixels": None}
#: The options of ``csc front`` before FrontSettings, with the type click parsed them to.
CLI_OPTIONS = {"--min-ocean-km2": float, "--min-ocean-pixels": int, "--iterations": int,
               "--smoothing": int, "--balloon": float, "--threshold": float, "--sigma": float,
               "--front-buffer": int, "--min-margin-length": float}


def test_default_settings_are_the_published_ones():
    assert FrontSettings().to_dict() == PUBLISHED
    assert FrontSettings() == FrontSettings(**PUBLISHED)
    # the automatic ocean minimum: 10 000 pixels without georeferencing, else 1 km²
    assert ocean_min_pixels(None) == 10_000
    assert ocean_min_pixels(10.0) == 10_000
    assert ocean_min_pixels((20.0, 50.0)) == 1_000
    assert ocean_min_pixels(10.0, settings=FrontSettings(min_ocean_pixels=7)) == 7


@pytest.mark.parametrize("changes, message", [
    ({"iterations": -1}, "--iterations must be ≥ 0, got -1"),
    ({"iterations": 2.5}, "--iterations must be a whole number, got 2.5"),
    ({"smoothing": -1}, "--smoothing must be ≥ 0, got -1"),
    ({"sigma": 0}, "--sigma must be > 0, got 0"),
    ({"sigma": -2.0}, "--sigma must be > 0, got -2"),
    ({"alpha": 0.0}, "--alpha must be > 0, got 0"),
    ({"threshold": 1.5}, "--threshold must be between 0 and 1, got 1.5"),
    ({"threshold": -0.1}, "--threshold must be between 0 and 1, got -0.1"),
    ({"balloon": "strong"}, "--balloon must be a number, got 'strong'"),
    ({"balloon": float("nan")}, "--balloon must be a finite number, got nan"),
    ({"front_buffer": -3}, "--front-buffer must be ≥ 0, got -3"),
    ({"init_radius": -1}, "--init-radius must be ≥ 0, got -1"),
    ({"gap_fill": -1}, "--gap-fill must be ≥ 0, got -1"),
    ({"max_length_ratio": 0}, "--max-length-ratio must be > 0, got 0"),
    ({"min_ocean_km2": -1.0}, "--min-ocean-km2 must be ≥ 0, got -1"),
    ({"min_ocean_km2": None}, "--min-ocean-km2 needs a value"),
    ({"min_ocean_pixels": -10}, "--min-ocean-pixels must be ≥ 0, got -10"),
    ({"min_margin_length": -500.0}, "--min-margin-length must be ≥ 0, got -500"),
    ({"min_rock_km2": -0.05}, "--min-rock-km2 must be ≥ 0, got -0.05"),
    ({"min_rock_pixels": -1}, "--min-rock-pixels must be ≥ 0, got -1"),
])
def test_settings_reject_values_outside_their_meaning(changes, message):
    with pytest.raises(OptionError, match=re.escape(message)):
        FrontSettings(**changes)
    with pytest.raises(OptionError, match=re.escape(message)):
        FrontSettings().replace(**changes)


def test_settings_convert_and_keep_automatic_values():
    settings = FrontSettings(iterations=10.0, min_ocean_pixels="500", sigma="1.5")
    assert settings.iterations == 10 and isinstance(settings.iterations, int)
    assert settings.min_ocean_pixels == 500 and settings.sigma == 1.5
    assert FrontSettings(min_margin_length=None).min_margin_length is None
    with pytest.raises(AttributeError):
        settings.iterations = 3  # frozen


def test_click_options_are_the_ones_of_csc_front():
    names = {o.cli_name: o for o in FRONT}
    assert set(CLI_OPTIONS) <= set(names)

    @click.command()
    @FRONT.click_options()
    def command(**values):
        click.echo(json.dumps(FrontSettings(**values).to_dict()))

    runner = CliRunner()
    given = runner.invoke(command, ["--min-ocean-km2", "0.1", "--iterations", "5",
                                    "--min-margin-length", "200"])
    assert given.exit_code == 0, given.output
    assert json.loads(given.output) == {**PUBLISHED, "min_ocean_km2": 0.1, "iterations": 5,
                                        "min_margin_length": 200.0}
    assert json.loads(runner.invoke(command, []).output) == PUBLISHED
    bad = runner.invoke(command, ["--sigma", "0"])
    assert bad.exit_code == 2 and "must be > 0, got 0" in bad.output
    for flag, kind in CLI_OPTIONS.items():
        assert {"int": int, "float": float}[names[flag].kind] is kind, flag


def test_no_iterations_keep_the_glacier_as_it_is():
    glacier = np.zeros((60, 60), bool)
    glacier[20:40, 10:50] = True
    glacier[30, 30] = False
    kept = refine_glacier(glacier, settings=FrontSettings(iterations=0))
    assert np.array_equal(kept, glacier) and kept is not glacier
    assert not np.array_equal(refine_glacier(glacier), glacier)  # the default refines


def test_front_json_lists_the_extraction_settings(tmp_path):
    cm, _ = straight_scene()
    settings = SMALL_OCEAN.replace(iterations=12, min_margin_length=100.0)
    _, result = front_outputs(cm, schema=GLACIER, info=info_for(cm), stem="fjord",
                              out_dir=tmp_path, settings=settings)
    saved = json.loads((tmp_path / "fjord_front.json").read_text())
    expected = {k: v for k, v in PUBLISHED.items()
                if k not in ("min_margin_length", "min_rock_km2", "min_rock_pixels")}
    expected.update(min_ocean_km2=0.1, iterations=12)
    for report in (result, saved):
        assert list(report["settings"]) == list(expected)
        assert report["settings"] == expected


# --- known fronts -----------------------------------------------------------------------------

@pytest.mark.parametrize("scene", [straight_scene, curved_scene])
def test_known_front_is_found_with_sub_pixel_median_error(scene):
    cm, edge = scene()
    result = extract_front(cm, schema=GLACIER, pixel_size=10.0, settings=SMALL_OCEAN)
    errors = front_errors(result.mask, edge, pixel_size=10.0)
    assert errors["median_error_px"] <= 1.0
    assert errors["median_error_m"] <= 10.0
    assert errors["predicted_to_manual"]["p90_error_px"] <= 1.5
    assert errors["manual_to_predicted"]["p90_error_px"] <= 1.5
    assert errors["percent_within_100m"] == 100.0
    # the front is one ordered piece about as long as the manual one
    assert len(result.lines) == 1
    assert result.length_px == pytest.approx(edge.sum(), rel=0.25)


def test_unlabelled_gaps_of_manual_labels_are_bridged():
    cm, edge = straight_scene()
    gappy = cm.copy()
    gappy[99:101, 20:180] = 0          # a 2-pixel gap between the ocean and the glacier
    gappy[:100, 58:62] = 0             # a 4-pixel gap cutting the ocean in two
    gappy[78:80, 60:140] = 0           # and one around the melange
    result = extract_front(gappy, schema=GLACIER, pixel_size=10.0, settings=SMALL_OCEAN)
    errors = front_errors(result.mask, edge, pixel_size=10.0)
    assert errors["median_error_px"] <= 1.0
    assert result.length_px == pytest.approx(edge.sum(), rel=0.1)
    with pytest.raises(FrontError, match="do not meet"):
        extract_front(gappy, schema=GLACIER, pixel_size=10.0,
                      settings=SMALL_OCEAN.replace(gap_fill=0, front_buffer=0))


def test_straight_front_lies_on_the_glacier_ocean_boundary():
    cm, edge = straight_scene()
    result = extract_front(cm, schema=GLACIER, pixel_size=10.0, settings=SMALL_OCEAN)
    rows, cols = np.nonzero(result.mask)
    assert np.median(rows) == 100
    assert cols.min() <= 22 and cols.max() >= 177
    assert result.length_m == pytest.approx(10.0 * result.length_px)


def test_errors_scale_with_the_real_pixel_size(tmp_path):
    cm, edge = straight_scene()
    shifted = np.roll(edge, 3, axis=0)  # the manual front 3 pixels inside the glacier
    medians = {}
    for res in (10.0, 30.0):
        folder = tmp_path / f"r{int(res)}"
        folder.mkdir()
        write_maps(folder, cm, edge=shifted, res=res)
        _, result = front_outputs(cm, schema=GLACIER, info=info_for(cm, res=res), stem="fjord",
                                  out_dir=folder, edge_path=folder / "EDGE_fjord.tif",
                                  settings=SMALL_OCEAN)
        assert result["pixel_size_m"] == [res, res]
        medians[res] = result
    assert medians[10.0]["median_error_m"] == pytest.approx(30.0, abs=10.0)
    for key in ("median_error_m", "mean_error_m", "p90_error_m", "length_m"):
        assert medians[30.0][key] == pytest.approx(3 * medians[10.0][key])
    assert medians[10.0]["median_error_px"] == medians[30.0]["median_error_px"]


def test_both_directions_are_reported_and_pooled():
    predicted = np.zeros((50, 50), bool)
    predicted[10, 5:45] = True
    manual = np.zeros((50, 50), bool)
    manual[12, 5:25] = True  # half as long, two rows off
    errors = front_errors(predicted, manual, pixel_size=(10.0, 10.0))
    # manual -> predicted: every manual pixel is 2 rows from the predicted line
    assert errors["manual_to_predicted"]["median_error_m"] == pytest.approx(20.0)
    # predicted -> manual: the half beyond the manual end is farther away
    assert errors["predicted_to_manual"]["p90_error_m"] > 20.0
    assert errors["predicted_to_manual"]["n_pixels"] == 40
    assert errors["manual_to_predicted"]["n_pixels"] == 20
    assert errors["mode_error_m"] == pytest.approx(20.0)
    pooled = np.concatenate([np.full(40, 20.0), np.hypot(20.0, 10.0 * np.arange(1, 21))])
    assert errors["mean_error_m"] == pytest.approx(pooled.mean())
    assert errors["median_error_m"] == pytest.approx(np.median(pooled))


def test_coordinates_array_and_mask_give_the_same_errors():
    cm, edge = curved_scene()
    result = extract_front(cm, schema=GLACIER, pixel_size=10.0, settings=SMALL_OCEAN)
    by_mask = front_errors(result.mask, edge, pixel_size=10.0)
    by_coords = front_errors(np.argwhere(result.mask), edge, pixel_size=10.0)
    assert by_mask["mean_error_m"] == pytest.approx(by_coords["mean_error_m"])


# --- masks and burning ------------------------------------------------------------------------

def test_ocean_keeps_the_largest_border_region_and_fills_icebergs():
    cm = np.full((100, 100), GLACIER_ICE, np.uint8)
    cm[:40] = OPEN_WATER
    cm[20:23, 50:53] = GLACIER_ICE     # an iceberg mapped as glacier ice
    cm[90:, :5] = OPEN_WATER           # a small second ocean region on the border
    ocean = ocean_mask(cm, schema=GLACIER, min_pixels=100)
    assert ocean[:40].all()
    assert not ocean[90:, :5].any()
    assert ocean.sum() == 40 * 100


def test_burn_keeps_rock_and_marks_the_front_class():
    cm, _ = straight_scene()
    cm[150:152, 100:102] = OPEN_WATER  # a misclassified speck inside the glacier
    result = extract_front(cm, schema=GLACIER, pixel_size=10.0, settings=SMALL_OCEAN)
    out = burn_front(cm, result, schema=GLACIER)
    assert (out[cm == ROCK] == ROCK).all()
    assert (out[result.mask] == GLACIER.front_id).all()
    assert (out[150:152, 100:102] == GLACIER_ICE).all()
    assert (out[:95, 30:60] == OPEN_WATER).all()


# --- no front ---------------------------------------------------------------------------------

def test_no_ocean_is_explained():
    cm = np.full((60, 60), GLACIER_ICE, np.uint8)
    cm[:, :10] = ROCK
    with pytest.raises(FrontError, match="no ocean pixels"):
        extract_front(cm, schema=GLACIER, pixel_size=10.0)


def test_no_glacier_is_explained():
    cm = np.full((60, 60), OPEN_WATER, np.uint8)
    cm[:, :30] = ROCK
    with pytest.raises(FrontError, match="no 'glacier ice' pixels"):
        extract_front(cm, schema=GLACIER, pixel_size=10.0,
                      settings=FrontSettings(min_ocean_pixels=10))


def test_glacier_and_ocean_apart_is_explained():
    cm = np.full((100, 100), GLACIER_ICE, np.uint8)
    cm[:40] = OPEN_WATER
    cm[40:60] = ROCK
    with pytest.raises(FrontError, match="do not meet"):
        extract_front(cm, schema=GLACIER, pixel_size=10.0,
                      settings=FrontSettings(min_ocean_pixels=10))


def test_small_ocean_is_explained():
    cm, _ = straight_scene()  # 1.6 km² of ocean at 10 m
    with pytest.raises(FrontError, match="minimum size.*--min-ocean-km2"):
        extract_front(cm, schema=GLACIER, pixel_size=10.0,
                      settings=FrontSettings(min_ocean_km2=5.0))


def test_implausibly_long_front_is_rejected():
    cm, _ = straight_scene()
    with pytest.raises(FrontError, match="longer than 0.5 × the image diagonal"):
        extract_front(cm, schema=GLACIER, pixel_size=10.0,
                      settings=SMALL_OCEAN.replace(max_length_ratio=0.5))


def test_front_outputs_reports_no_front_without_raising(tmp_path):
    cm = np.full((60, 60), GLACIER_ICE, np.uint8)
    out, result = front_outputs(cm, schema=GLACIER, info=info_for(cm), stem="dry",
                                out_dir=tmp_path)
    assert result["front_found"] is False
    assert "no ocean pixels" in result["reason"]
    assert np.array_equal(out, cm)
    saved = json.loads((tmp_path / "dry_front.json").read_text())
    assert saved["front_found"] is False and "no ocean" in saved["reason"]
    assert not (tmp_path / "dry_front.geojson").exists()


def test_edge_raster_of_another_shape_is_an_error(tmp_path):
    cm, edge = straight_scene()
    write_image(tmp_path / "EDGE_fjord.tif", edge[:150].astype(np.uint8))
    with pytest.raises(LabelMismatchError, match="EDGE_ raster .* is 150x200 pixels but"):
        front_outputs(cm, schema=GLACIER, info=info_for(cm), stem="fjord", out_dir=tmp_path,
                      edge_path=tmp_path / "EDGE_fjord.tif", settings=SMALL_OCEAN)


def test_empty_edge_raster_is_an_error(tmp_path):
    cm, edge = straight_scene()
    write_image(tmp_path / "EDGE_fjord.tif", np.zeros_like(edge, dtype=np.uint8))
    with pytest.raises(LabelMismatchError, match="holds no line pixels"):
        front_outputs(cm, schema=GLACIER, info=info_for(cm), stem="fjord", out_dir=tmp_path,
                      edge_path=tmp_path / "EDGE_fjord.tif", settings=SMALL_OCEAN)


# --- files ------------------------------------------------------------------------------------

def test_geojson_is_in_the_raster_crs_and_lands_on_the_front(tmp_path, utm):
    cm, edge = curved_scene()
    path = write_maps(tmp_path, cm, edge=edge, res=20.0)
    result = CliRunner().invoke(cli, ["front", str(path), "--out", str(tmp_path / "out"),
                                      "--min-ocean-km2", "0.1"])
    assert result.exit_code == 0, result.output
    assert "error median" in result.output
    geo = json.loads((tmp_path / "out" / "fjord_front.geojson").read_text())
    assert CRS.from_user_input(geo["crs"]["properties"]["name"]) == utm
    assert geo["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32624"
    geometry = geo["features"][0]["geometry"]
    assert geometry["type"] == "LineString"
    xy = np.array(geometry["coordinates"])
    with rasterio.open(tmp_path / "out" / "fjord_front.tif") as src:
        burnt = src.read(1)
        assert src.crs == utm
        assert src.transform == Affine(20.0, 0, 500000, 0, -20.0, 7400000)
        rows, cols = (np.asarray(v) for v in rowcol(src.transform, xy[:, 0], xy[:, 1]))
    assert (burnt[rows, cols] == GLACIER.front_id).all()
    # pixel centres: every coordinate sits half a pixel inside its pixel
    assert np.allclose((xy[:, 0] - 500000) / 20.0 % 1, 0.5)
    assert np.allclose((7400000 - xy[:, 1]) / 20.0 % 1, 0.5)
    assert edge[rows, cols].mean() > 0.8
    report = json.loads((tmp_path / "out" / "fjord_front.json").read_text())
    assert report["front_found"] is True
    assert report["pixel_size_m"] == [20.0, 20.0]
    assert report["median_error_m"] <= 20.0
    errors = pd.read_csv(tmp_path / "out" / "fjord_front_errors.csv")
    assert set(errors["direction"]) == {"predicted_to_manual", "manual_to_predicted"}
    assert errors["distance_m"].median() == pytest.approx(report["median_error_m"])
    assert (tmp_path / "out" / "fjord_front_errors.png").stat().st_size > 0


def test_plain_raster_gives_pixel_coordinates_and_pixel_errors(tmp_path):
    cm, edge = straight_scene()
    path = write_maps(tmp_path, cm, edge=edge, crs=None, stem="plain")
    result = CliRunner().invoke(cli, ["front", str(path), "--out", str(tmp_path / "out"),
                                      "--min-ocean-pixels", "500"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "plain_front.json").read_text())
    assert report["front_found"] is True
    assert report["length_m"] is None and report["pixel_size_m"] is None
    assert report["median_error_px"] <= 1.0
    assert "median_error_m" not in report
    geo = json.loads((tmp_path / "out" / "plain_front.geojson").read_text())
    assert "crs" not in geo
    xy = np.array(geo["features"][0]["geometry"]["coordinates"])
    assert np.median(xy[:, 1]) == pytest.approx(100.5)  # row 100 at its pixel centre


def test_cli_reports_no_front_in_one_line(tmp_path):
    cm = np.full((60, 60), GLACIER_ICE, np.uint8)
    path = write_maps(tmp_path, cm, stem="dry")
    result = CliRunner().invoke(cli, ["front", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert "dry: no calving front: the class map holds no ocean pixels" in result.output


def test_map_without_rock_has_no_margins():
    cm, _ = straight_scene()
    cm[cm == ROCK] = GLACIER_ICE
    with pytest.raises(FrontError, match="no rock pixels"):
        extract_margins(cm, schema=GLACIER, pixel_size=10.0)


def test_cli_help_lists_the_active_contour_options():
    result = CliRunner().invoke(cli, ["front", "--help"])
    assert result.exit_code == 0
    for option in ("--edge", "--min-ocean-km2", "--iterations", "--balloon", "--threshold"):
        assert option in result.output


# --- valley margins ---------------------------------------------------------------------------

def test_margins_match_the_glacier_side_of_the_valley_walls(tmp_path):
    cm, _ = straight_scene()
    manual = glacier_side_line(cm, [GLACIER_ICE], [ROCK])
    speckled = cm.copy()
    speckled[150:153, 100:103] = ROCK    # classification speckle, not a valley wall
    margins = extract_margins(speckled, schema=GLACIER, pixel_size=10.0)
    errors = front_errors(margins.mask, manual, pixel_size=10.0)
    assert errors["median_error_m"] == 0.0
    assert errors["p90_error_m"] == 0.0
    assert not margins.mask[:100].any()  # the rock coast along the ocean is no valley margin
    assert not margins.mask[140:160, 90:110].any()
    path = write_maps(tmp_path, cm, edge=glacier_side_line(cm, [GLACIER_ICE], [OPEN_WATER,
                                                                              MELANGE]),
                      margins=manual)
    result = CliRunner().invoke(cli, ["front", str(path), "--out", str(tmp_path / "out"),
                                      "--min-ocean-km2", "0.1"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "fjord_margins.json").read_text())
    assert report["margins_found"] is True
    assert report["median_error_m"] == 0.0
    assert report["n_lines"] == 2


# --- synthetic scenes -------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_front_of_synthetic_truth_matches_its_edge(seed):
    from csc import synthetic

    scene = synthetic.make_scene(256, seed=seed)
    pixel = abs(scene.transform.a)
    result = extract_front(scene.truth, schema=GLACIER, pixel_size=pixel,
                           settings=SMALL_OCEAN)
    errors = front_errors(result.mask, scene.edge.astype(bool), pixel_size=pixel)
    assert errors["median_error_px"] <= 2.5
    assert errors["median_error_m"] <= 2.5 * pixel
