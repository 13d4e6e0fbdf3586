"""Bad inputs across the commands: each refused with one line naming the file or option,
exit code 2, and nothing that existed before changed (the table of the reliability work;
more rows in ``tests/test_bad_inputs_*.py``)."""
import numpy as np
import pytest

from bad_inputs import bad_inputs_template, workspace_fixture  # noqa: F401
from bad_inputs import Case, check, damage, replace_raster
from phase2_data import TRANSFORM as GRID
from phase2_data import UTM


def label_of_shape(ws, shape):
    from csc.classes import GLACIER
    from csc.rasters import write_class_raster

    write_class_raster(ws.path("labels"), np.ones(shape, np.uint8), schema=GLACIER)


CLASSIFY = ("classify", "{image}", "--model", "{model}", "--out", "{out}")

CASES = [
    Case("classify-even-patch", (*CLASSIFY, "--patch-size", "4"),
         r"--patch-size.*odd whole number ≥ 1.*got 4"),
    Case("classify-negative-samples", (*CLASSIFY, "--patch-size", "1", "--samples-per-class",
                                       "-5"), r"--samples-per-class.*≥ 1, got -5"),
    Case("classify-confidence-above-one", (*CLASSIFY, "--patch-size", "1", "--min-confidence",
                                           "1.5"), r"--min-confidence.*between 0 and 1"),
    Case("classify-exp-path", (*CLASSIFY, "--patch-size", "1", "--exp", "../x"),
         r"--exp: must be a plain name"),
    Case("classify-missing-input", ("classify", "{root}/nope.tif", "--model", "{model}",
                                    "--out", "{out}", "--patch-size", "1"),
         r"nope\.tif.*does not exist"),
    Case("classify-label-on-another-grid", (*CLASSIFY, "--patch-size", "1"),
         r"SCLS_ raster .*SCLS_a\.tif is 64x90 pixels, but .*a\.tif is 64x96",
         setup=lambda ws: label_of_shape(ws, (64, 90))),
    Case("classify-damaged-image", (*CLASSIFY, "--patch-size", "1"),
         r"a\.tif: not a readable raster", setup=damage("image")),
    Case("classify-model-without-sidecar", (*CLASSIFY, "--patch-size", "1"),
         r"m\.(json|keras)", setup=lambda ws: ws.path("sidecar").unlink()),
    Case("front-damaged-class-map", ("front", "{classified}", "--out", "{out}"),
         r"a_classified\.tif: not a readable raster", setup=damage("classified")),
    Case("front-negative-iterations", ("front", "{classified}", "--out", "{out}",
                                       "--iterations", "-1"), r"--iterations.*≥ 0, got -1"),
    Case("front-sigma-zero", ("front", "{classified}", "--out", "{out}", "--sigma", "0"),
         r"--sigma.*> 0, got 0"),
    Case("classify-8-bit-image-for-a-reflectance-model", (*CLASSIFY, "--patch-size", "1"),
         r"a\.tif holds values \d+\.\.\d+ .*but model .*m\.keras was trained on "
         r"reflectance-like values scaled ÷10000",
         setup=replace_raster("image", (np.indices((64, 96, 4)).sum(axis=0) % 200 + 20)
                              .astype(np.uint8), crs=UTM, transform=GRID)),
    Case("classify-constant-image", (*CLASSIFY, "--patch-size", "1"),
         r"a\.tif: every valid pixel holds the same values \(1200, 1200, 1200, 1200\)",
         setup=replace_raster("image", np.full((64, 96, 4), 1200, np.uint16), crs=UTM,
                              transform=GRID)),
    Case("classify-all-zero-image", (*CLASSIFY, "--patch-size", "1"),
         r"a\.tif: every valid pixel holds the same values \(0, 0, 0, 0\).*nodata",
         setup=replace_raster("image", np.zeros((64, 96, 4), np.uint16), crs=UTM,
                              transform=GRID)),
    Case("classify-all-nan-image", (*CLASSIFY, "--patch-size", "1"),
         r"a\.tif: every pixel is nodata",
         setup=replace_raster("image", np.full((64, 96, 4), np.nan, np.float32), crs=UTM,
                              transform=GRID)),
    Case("batch-missing-list", ("batch", "{root}/jobs.csv", "--models-dir", "{models}"),
         r"jobs\.csv.*does not exist"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(workspace, case):
    check(workspace, case)
