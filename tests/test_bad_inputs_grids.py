"""Companions on another grid: an ``SCLS_``, ``EDGE_`` or ``VM_`` raster of the image's size
but in another CRS, shifted by 5 km or of another pixel size is refused by every command that
reads it (classify, tiles, evaluate; front against the class raster's grid) with one line naming
both grids, never compared pixel for pixel; nothing that existed before changes."""
import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import Affine

from bad_inputs import bad_inputs_template, workspace_fixture  # noqa: F401
from bad_inputs import SHAPE, Case, check


#: How a companion leaves the image's grid (UTM 24N, 10 m, origin 500000/7400000).
GRIDS = {
    "other-crs": lambda crs, t: (CRS.from_epsg(32625), t),
    "shifted-5km": lambda crs, t: (crs, Affine(t.a, t.b, t.c + 5000, t.d, t.e, t.f)),
    "other-pixel-size": lambda crs, t: (crs, Affine(2 * t.a, t.b, t.c, t.d, 2 * t.e, t.f)),
}

#: What ``grid_problem`` says for each, naming the companion's grid and the reference's.
SAYS = {
    "other-crs": r"is in EPSG:32625, but .*{ref} is in EPSG:32624",
    "shifted-5km": r"is on another grid \(origin 505000\.00, 7400000\.00, pixel 10 x 10\) than "
                   r".*{ref} \(origin 500000\.00, 7400000\.00, pixel 10 x 10\)",
    "other-pixel-size": r"is on another grid \(origin 500000\.00, 7400000\.00, pixel 20 x 20\) "
                        r"than .*{ref} \(origin 500000\.00, 7400000\.00, pixel 10 x 10\)",
}


def off_grid(name, grid, reference="image"):
    """A setup writing workspace raster ``name`` (``scenes/SCLS_a.tif`` …) with the size of
    ``reference`` but on grid ``grid``: labels copied for SCLS_, a vertical line otherwise."""
    def setup(ws):
        from csc.classes import GLACIER
        from csc.rasters import raster_info, read_image, write_class_raster, write_image

        info = raster_info(ws.path(reference))
        assert (info.height, info.width) == SHAPE and info.crs.to_epsg() == 32624
        crs, transform = GRIDS[grid](info.crs, info.transform)
        path = ws.path(name)
        if path.name.startswith("SCLS_"):
            labels = read_image(path).data[..., 0]
            write_class_raster(path, labels, schema=GLACIER, crs=crs, transform=transform)
        else:
            line = np.zeros(SHAPE, np.uint8)
            line[:, SHAPE[1] // 2] = 1
            write_image(path, line, crs=crs, transform=transform)
    return setup


CLASSIFY = ("classify", "{image}", "--model", "{model}", "--out", "{out}", "--patch-size", "1")
TILES = ("tiles", "{scenes}", "{out}", "--tile-size", "32", "--stride", "16", "--classes",
         "{classes}", "--no-augment")
EVALUATE = ("evaluate", "{model}", "{scenes}")
FRONT = ("front", "{classified}", "--out", "{out}")

ROWS = [  # (command, its args, companion file, reference the message names, grids)
    ("classify", CLASSIFY, "scenes/SCLS_a.tif", r"a\.tif", GRIDS),
    ("classify", CLASSIFY, "scenes/EDGE_a.tif", r"a\.tif", ("shifted-5km", "other-crs")),
    ("classify", CLASSIFY, "scenes/VM_a.tif", r"a\.tif", ("other-crs", "other-pixel-size")),
    ("tiles", TILES, "scenes/SCLS_b.tif", r"b\.tif", GRIDS),
    ("tiles", TILES, "scenes/EDGE_a.tif", r"a\.tif", ("other-crs",)),
    ("evaluate", EVALUATE, "scenes/SCLS_a.tif", r"a\.tif", GRIDS),
    ("evaluate", EVALUATE, "scenes/VM_b.tif", r"b\.tif", ("shifted-5km",)),
    ("front", FRONT, "results/EDGE_a.tif", r"a_classified\.tif", GRIDS),
    ("front", FRONT, "results/VM_a.tif", r"a_classified\.tif", GRIDS),
]

CASES = []
for command, args, name, ref, grids in ROWS:
    prefix = name.split("/")[-1].split("_")[0] + "_"
    fix = (r"; the manual line must lie on the class raster's grid.*csc labels IMAGE "
           r"LINES\.gpkg --kind (edge|margins)" if command == "front" else
           r"; companions must lie on the image's grid.*rasterise")
    reference = "classified" if command == "front" else f"scenes/{name.split('_', 1)[1]}"
    for grid in grids:
        CASES.append(Case(
            f"{command}-{prefix.lower()}{grid}", args,
            rf"{prefix} raster .*{name.split('/')[-1]} " + SAYS[grid].format(ref=ref) + fix,
            setup=off_grid(name, grid, reference)))


def test_enough_rows():
    assert len(CASES) >= 12
    assert {c.id.split("-")[0] for c in CASES} == {"classify", "tiles", "evaluate", "front"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_companion_on_another_grid(workspace, case):
    check(workspace, case)


# --- csc summarize never overwrites what it did not create -------------------------------------

SUMMARIZE = ("summarize", "{results}", "--out")
KEEP = r"; summarize never overwrites the files of the runs it pools, choose another --out"

SUMMARY_CASES = [
    Case("summarize-out-is-a-pixel-sample", (*SUMMARIZE, "{results}/a_k1_pixels.npz"),
         r"--out: .*a_k1_pixels\.npz is a pixel sample of `csc classify`" + KEEP),
    Case("summarize-out-is-the-manifest", (*SUMMARIZE, "{results}/a_run.json"),
         r"--out: .*a_run\.json is a run manifest" + KEEP),
    Case("summarize-out-is-a-report", (*SUMMARIZE, "{results}/CSC_a_k1.csv"),
         r"--out: .*CSC_a_k1\.csv is an output listed in the manifest a_run\.json" + KEEP),
    Case("summarize-out-is-the-class-map", (*SUMMARIZE, "{classified}"),
         r"--out: .*a_classified\.tif is an output listed in the manifest a_run\.json" + KEEP),
    Case("summarize-chart-is-a-figure", (*SUMMARIZE, "{results}/CSC_k1_a.csv"),
         r"the bar chart CSC_k1_a\.png of --out .*CSC_k1_a\.csv: .*CSC_k1_a\.png is an output "
         r"listed in the manifest a_run\.json" + KEEP),
    Case("summarize-out-is-its-own-chart", (*SUMMARIZE, "{root}/pooled.png"),
         r"--out .*pooled\.png: the bar chart is written beside the CSV as pooled\.png, so it "
         r"would overwrite the CSV; give a \.csv path"),
    Case("summarize-out-is-a-sample-elsewhere", (*SUMMARIZE, "{root}/b_k1_pixels.npz"),
         r"--out: .*b_k1_pixels\.npz is a pixel sample of `csc classify`" + KEEP),
]


@pytest.mark.parametrize("case", SUMMARY_CASES, ids=[c.id for c in SUMMARY_CASES])
def test_summarize_out_refused(workspace, case):
    check(workspace, case)
    for name in ("pooled.png", "pooled.csv", "b_k1_pixels.npz", "b_k1_pixels.png"):
        assert not workspace.path(name).exists(), f"{name} written"
    assert not (workspace.path("results") / "CSC_k1_a.csv").exists()
