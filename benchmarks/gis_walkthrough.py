"""The README walkthrough "From QGIS polygons to a class map", run on generated data, with the
time of every command.

Band files and training polygons are made from a synthetic scene (``csc synth``): the scene's
four bands become separate files (B04, B03, B02 at 10 m as GeoTIFF, B08 at 20 m as JPEG 2000),
an AOI polygon and training polygons (in EPSG:4326, as a user would draw them in QGIS) come from
its labels. Then the commands of the README run as a user types them:

    csc stack, csc labels, csc tiles, csc thin, csc train, csc classify

Usage: ``python benchmarks/gis_walkthrough.py [--size 768] [--out bench_output/gis]``.
"""
import argparse
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.features import shapes
from shapely.geometry import box, shape

ROOT = Path(__file__).resolve().parents[1]


def csc(*args, times):
    """Run one csc command as typed; record its time."""
    args = [str(a) for a in args]
    line = "csc " + shlex.join(args)
    print(f"$ {line}", flush=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "csc", *args], cwd=ROOT, text=True,
                          capture_output=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {line}\n{done.stdout}\n{done.stderr}")
    print("\n".join("    " + line for line in done.stdout.strip().splitlines()[-6:]))
    times.append((args[0], seconds))
    return done


def band_files(scene, folder):
    """The scene's bands as separate files: B04, B03, B02 at 10 m (GeoTIFF), B08 at 20 m
    (JPEG 2000, averaged 2 × 2)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with rasterio.open(scene) as src:
        profile = dict(driver="GTiff", height=src.height, width=src.width, count=1,
                       dtype=src.dtypes[0], crs=src.crs, transform=src.transform,
                       compress="deflate")
        for band, name in ((1, "B04"), (2, "B03"), (3, "B02")):
            path = folder / f"T24WWU_20190801_{name}_10m.tif"
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(src.read(band), 1)
            out.append(path)
        coarse = src.read(4, out_shape=(src.height // 2, src.width // 2),
                          resampling=Resampling.average)
        path = folder / "T24WWU_20190801_B08_20m.jp2"
        with rasterio.open(path, "w", driver="JP2OpenJPEG", height=coarse.shape[0],
                           width=coarse.shape[1], count=1, dtype=coarse.dtype, crs=src.crs,
                           transform=src.transform * src.transform.scale(2, 2),
                           QUALITY=100, REVERSIBLE="YES") as dst:
            dst.write(coarse, 1)
        out.append(path)
    return out


def drawn_polygons(labels_path, folder, *, keep=0.9, seed=0):
    """Training polygons as a user draws them: a share of the labelled regions of the scene's
    SCLS_ raster, shrunk a little, in EPSG:4326, with an integer ``class`` field; and an AOI
    polygon (the scene less a 10 % margin)."""
    rng = np.random.default_rng(seed)
    with rasterio.open(labels_path) as src:
        labels, transform, crs, bounds = src.read(1), src.transform, src.crs, src.bounds
    records = [(shape(geom).buffer(-15), int(value))
               for geom, value in shapes(labels, mask=labels > 0, transform=transform)]
    records = [(g, v) for g, v in records if not g.is_empty and g.area > 2e4]
    chosen = [r for r in records if rng.random() < keep]
    polygons = gpd.GeoDataFrame({"class": [v for _, v in chosen]},
                                geometry=[g for g, _ in chosen], crs=crs).to_crs(4326)
    polygons.to_file(folder / "training.gpkg", driver="GPKG")
    dx, dy = (bounds.right - bounds.left) * 0.04, (bounds.top - bounds.bottom) * 0.04
    aoi = gpd.GeoDataFrame(geometry=[box(bounds.left + dx, bounds.bottom + dy,
                                         bounds.right - dx, bounds.top - dy)], crs=crs)
    aoi.to_crs(4326).to_file(folder / "aoi.gpkg", driver="GPKG")
    return folder / "training.gpkg", folder / "aoi.gpkg", len(polygons)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--out", type=Path, default=ROOT / "bench_output" / "gis")
    args = parser.parse_args()
    work = args.out
    shutil.rmtree(work, ignore_errors=True)
    times = []
    csc("synth", work / "synth", "--scenes", 1, "--size", args.size, times=times)
    bands = band_files(work / "synth" / "scene_000.tif", work / "download")
    training, aoi, n = drawn_polygons(work / "synth" / "SCLS_scene_000.tif", work)
    print(f"{n} training polygons in EPSG:4326 -> {training}")
    image = work / "Helheim" / "S2_20190801.tif"
    csc("stack", image, *bands, "--aoi", aoi, times=times)
    csc("labels", image, training, "--field", "class", times=times)
    csc("tiles", work / "Helheim", work / "tiles", "--tile-size", 50, "--stride", 25,
        times=times)
    csc("thin", work / "tiles", "--max-per-class", 3000, times=times)
    csc("train", work / "tiles", work / "models" / "vgg16_t50.keras", "--width", 0.125,
        "--epochs", 15, "--target-accuracy", 0.95, times=times)
    csc("classify", work / "Helheim", "--model", work / "models" / "vgg16_t50.keras",
        "--patch-size", 5, "--samples-per-class", 20000, "--epochs", 20, "--out",
        work / "results", times=times)
    results = sorted(p.name for p in (work / "results").iterdir())
    print("\noutputs:", ", ".join(results))
    with rasterio.open(work / "results" / "S2_20190801_classified.tif") as src:
        print(f"class map: {src.width}x{src.height}, layout "
              f"{src.tags(ns='IMAGE_STRUCTURE').get('LAYOUT')}, blocks {src.block_shapes[0]}, "
              f"overviews {src.overviews(1)}, CRS {src.crs}")
    gpkg = work / "results" / "S2_20190801_classes.gpkg"
    if gpkg.exists():
        import pyogrio

        for name, kind in pyogrio.list_layers(gpkg):
            print(f"  {gpkg.name} layer {name}: {kind}, "
                  f"{len(gpd.read_file(gpkg, layer=name))} features")
    print("\n| command | seconds |\n|---|---|")
    for name, seconds in times:
        print(f"| csc {name} | {seconds:.1f} |")
    print(f"| all | {sum(s for _, s in times):.1f} |")


if __name__ == "__main__":
    main()
