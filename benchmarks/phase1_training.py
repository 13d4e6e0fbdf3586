"""Speed of phase one: cutting a tile set and one training epoch of the VGG16 at several
widths on this machine.

Two generated 4-band uint16 scenes with seven class blocks of distinct spectra (plus noise)
are tiled with the defaults of ``csc tiles`` (50-pixel tiles, stride 25, 8 orientations,
float16 memory maps); the VGG16 is then trained at each width for a few epochs and the steady
seconds per epoch (the first epoch, which traces the graph, excluded) and tiles per second are
printed.

    python benchmarks/phase1_training.py [--quick] [--size 600] [--widths 0.0625,0.25,1.0]
                                         [--epochs 3]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from csc.classes import GLACIER  # noqa: E402
from csc.rasters import write_class_raster, write_image  # noqa: E402


def write_scenes(folder, *, size, n=2, bands=4, seed=0):
    """Scenes of ``size`` x 1.5 ``size`` pixels with vertical blocks of the 7 glacier classes."""
    from affine import Affine
    from rasterio.crs import CRS

    rows, cols = size, int(size * 1.5)
    labels = (np.arange(cols) * GLACIER.n_classes // cols + 1).astype(np.uint8)
    labels = np.broadcast_to(labels, (rows, cols)).copy()
    means = 800 + 900 * np.arange(GLACIER.n_classes + 1)[:, None] * np.linspace(1, 1.5, bands)
    transform = Affine(10, 0, 500000, 0, -10, 7400000)
    crs = CRS.from_epsg(32624)
    for i in range(n):
        rng = np.random.default_rng(seed + i)
        data = np.clip(means[labels] + rng.normal(0, 150, labels.shape + (bands,)), 1, 65535)
        write_image(folder / f"scene{i}.tif", data.astype(np.uint16), crs=crs,
                    transform=transform)
        write_class_raster(folder / f"SCLS_scene{i}.tif", labels, schema=GLACIER, crs=crs,
                           transform=transform)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scenes, two widths")
    parser.add_argument("--size", type=int, default=None, help="scene rows (default 600)")
    parser.add_argument("--widths", default=None, help="comma-separated VGG16 widths")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    size = args.size or (300 if args.quick else 600)
    widths = [float(w) for w in (args.widths or ("0.0625,0.25" if args.quick
                                                 else "0.0625,0.25,1.0")).split(",")]

    from Phase_1_CNN.tiles import make_tileset
    from Phase_1_CNN.training import train

    work = Path(tempfile.mkdtemp(prefix="csc-phase1-"))
    try:
        (work / "scenes").mkdir()
        write_scenes(work / "scenes", size=size)
        start = time.perf_counter()
        tiles = make_tileset(work / "scenes", work / "tiles")
        seconds = time.perf_counter() - start
        n_train, n_val = tiles.n("train"), tiles.n("val")
        print(f"tiles: 2 scenes of {size}x{int(size * 1.5)}x4 -> {n_train} training "
              f"(8 orientations) + {n_val} validation tiles of {tiles.tile_shape} in "
              f"{seconds:.2f} s")
        print(f"{'width':>7} {'params':>10} {'s/epoch':>8} {'tiles/s':>8} {'val acc':>8}")
        for width in widths:
            result = train(tiles.path, work / f"vgg_{width:g}.keras", epochs=args.epochs,
                           width=width, target_accuracy=1.01, patience=args.epochs,
                           learning_rate=1e-3 if width < 1 else 1e-4, seed=0)
            run = result.run
            per_epoch = run["seconds_per_epoch"]
            print(f"{width:>7g} {run['params']:>10,d} {per_epoch:>8.1f} "
                  f"{n_train / per_epoch:>8.0f} {run['best_val_accuracy']:>8.3f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
