"""Time and memory of the GIS outputs of a full Sentinel-2 tile: the class map polygonised strip
by strip into ``<stem>_classes.gpkg``, and written as a Cloud-Optimized GeoTIFF.

The 10980 × 10980 class map is the truth of synthetic glacier scenes (``csc.synthetic``,
1024 px, 10 m) mirrored across the tile (fjord, glacier tongue, mélange, icebergs, snow and
rock), with classification errors added as a classifier makes them — clumps of 4 × 4 pixels
of a wrong class on 5 % of the map and single wrong pixels on 15 % — then despeckled as
``csc classify`` does (majority filter, radius 2): about 3 % of the pixels end up wrong, in
some 300 000 regions. Each step runs in a fresh child process with the map (and the libraries)
loaded, as in a run; a thread samples the resident memory, and the figure given is the peak
above the memory held before the step.

    python benchmarks/polygons.py [--quick] [--size 10980] [--strip-rows N] [--whole]

``--whole`` also polygonises the whole map at once with ``rasterio.features.shapes`` (every
polygon held as a Python object) for comparison: slow and memory-hungry at full size.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affine import Affine
from rasterio.crs import CRS

from csc.classes import GLACIER
from csc.pipeline import write_class_map
from csc.polygons import polygon_strip_rows, write_class_polygons
from csc.rasters import RasterInfo
from csc.synthetic import make_scene

TRANSFORM = Affine(10, 0, 399960, 0, -10, 7800000)   # a Sentinel-2 tile's grid, 10 m
CRS_UTM = CRS.from_epsg(32624)


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __init__(self, interval=0.02):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._proc = psutil.Process()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self.before = self._proc.memory_info().rss
        self.peak = self.before
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        return False

    @property
    def above(self):
        return self.peak - self.before


def tile_map(size, *, seed=0, scene=1024):
    """A size × size class map: synthetic scenes' truth, mirrored like a kaleidoscope (every
    other copy flipped, so regions continue across copies), four different seeds."""
    truths = [make_scene(scene, seed=seed + k).truth for k in range(4)]
    out = np.empty((size, size), dtype=np.uint8)
    n = -(-size // scene)
    for i in range(n):
        for j in range(n):
            t = truths[(i + 2 * j) % 4]
            t = t[::-1] if i % 2 else t
            t = t[:, ::-1] if j % 2 else t
            r, c = i * scene, j * scene
            out[r:r + scene, c:c + scene] = t[:size - r, :size - c]
    return out


def classifier_errors(truth, *, seed=0, clump=4, p_clump=0.05, p_pixel=0.15, rows=1024):
    """``truth`` with a classifier's errors, despeckled (radius 2) as ``csc classify`` does;
    generated strip by strip (``rows`` a multiple of ``clump``) so memory stays small."""
    from CSC_Application.despeckle import despeckle

    rng = np.random.default_rng(seed)
    out = np.empty_like(truth)
    for r0 in range(0, truth.shape[0], rows):
        t = truth[r0:r0 + rows]
        h, w = t.shape
        cells = (-(-h // clump), -(-w // clump))
        clumps = rng.random(cells) < p_clump
        clumps = np.repeat(np.repeat(clumps, clump, 0), clump, 1)[:h, :w]
        clump_class = rng.integers(1, 8, cells, dtype=np.uint8)
        clump_class = np.repeat(np.repeat(clump_class, clump, 0), clump, 1)[:h, :w]
        ragged = rng.random((h, w), dtype=np.float32) < 0.8
        single = rng.random((h, w), dtype=np.float32) < p_pixel
        wrong = np.where(clumps, clump_class, rng.integers(1, 8, (h, w), dtype=np.uint8))
        out[r0:r0 + h] = np.where((clumps & ragged) | single, wrong, t)
    out[truth == 0] = 0
    return despeckle(out, radius=2)


def count_regions(class_map, rows=2048):
    """Connected regions of the map (strip-wise labelling, seams not merged: an upper bound)."""
    from skimage.measure import label

    return sum(int(label(class_map[r:r + rows], background=0, connectivity=1).max())
               for r in range(0, class_map.shape[0], rows))


def run_step(step, map_path, out_dir, strip_rows):
    """One measured step in this (child) process: the map loaded, then the step timed with
    its peak resident memory above what the process held before it. Prints one JSON line."""
    import geopandas  # noqa: F401  (libraries loaded first: their memory is not the step's)
    import pyogrio  # noqa: F401

    class_map = np.load(map_path)
    size = class_map.shape[0]
    info = RasterInfo(path=Path("tile.tif"), height=size, width=size, count=4, dtype="uint16",
                      crs=CRS_UTM, transform=TRANSFORM, nodata=0)
    options = {"schema": GLACIER, "transform": TRANSFORM, "crs": CRS_UTM,
               "strip_rows": strip_rows}
    out = Path(out_dir)
    record = {}
    with PeakRSS() as peak:
        if step == "cog":
            write_class_map(out / "tile_classified.tif", class_map, schema=GLACIER, info=info)
            record["mib"] = (out / "tile_classified.tif").stat().st_size / 2**20
        elif step == "polygons":
            record = write_class_polygons(out / "tile_classes.gpkg", class_map, **options)
            record["mib"] = (out / "tile_classes.gpkg").stat().st_size / 2**20
        elif step == "filtered":
            record = write_class_polygons(out / "tile_filtered.gpkg", class_map, min_area=1000,
                                          simplify=10, **options)
        elif step == "whole":
            import shapely
            from rasterio.features import shapes

            record["features"] = len([shapely.geometry.shape(g) for g, _ in
                                      shapes(class_map, mask=class_map > 0,
                                             transform=TRANSFORM)])
    record.update(seconds=peak.seconds, above=peak.above, held=peak.before)
    print(json.dumps(record), flush=True)


def measure(step, map_path, out_dir, strip_rows):
    done = subprocess.run([sys.executable, __file__, "--step", step, "--map", str(map_path),
                           "--out", str(out_dir), "--strip-rows", str(strip_rows)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--quick", action="store_true", help="a 4096² map")
    parser.add_argument("--strip-rows", type=int, default=None,
                        help="rows polygonised at a time (default: from the memory budget)")
    parser.add_argument("--whole", action="store_true",
                        help="also polygonise the whole map at once, for comparison")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--map", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        return run_step(args.step, args.map, args.out, args.strip_rows)
    size = 4096 if args.quick else args.size

    t = time.perf_counter()
    truth = tile_map(size)
    class_map = classifier_errors(truth)
    wrong = float((class_map != truth).mean())
    del truth
    strip_rows = args.strip_rows or polygon_strip_rows(size)
    print(f"class map {size} × {size} uint8 ({class_map.nbytes / 2**20:.0f} MiB) built in "
          f"{time.perf_counter() - t:.0f} s ({100 * wrong:.1f} % of pixels wrong after "
          f"despeckling); ≤ {count_regions(class_map):,} regions", flush=True)
    pixels = size * size

    with tempfile.TemporaryDirectory(prefix="csc-polygons-") as tmp:
        tmp = Path(tmp)
        map_path = tmp / "map.npy"
        np.save(map_path, class_map)
        del class_map

        def line(r):
            return (f"{r['seconds']:.1f} s ({pixels / r['seconds'] / 1e6:.1f} M pixels/s), "
                    f"peak RSS +{r['above'] / 2**20:.0f} MiB above the "
                    f"{r['held'] / 2**20:.0f} MiB held with the map")

        r = measure("cog", map_path, tmp, strip_rows)
        print(f"COG class map ({r['mib']:.1f} MiB): {line(r)}", flush=True)
        r = measure("polygons", map_path, tmp, strip_rows)
        print(f"polygons strip by strip ({strip_rows} rows, {-(-size // strip_rows)} strips): "
              f"{r['features']:,} features, GeoPackage {r['mib']:.0f} MiB: {line(r)}",
              flush=True)
        r = measure("filtered", map_path, tmp, strip_rows)
        print(f"with --min-area 1000 --simplify 10: {r['features']:,} features "
              f"({r['dropped']:,} left out): {line(r)}", flush=True)
        if args.whole:
            r = measure("whole", map_path, tmp, strip_rows)
            print(f"whole map at once (rasterio.features.shapes, every polygon held, nothing "
                  f"written): {r['features']:,} polygons: {line(r)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
