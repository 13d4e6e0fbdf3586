"""Memory and time of CSC on a full Sentinel-2 tile: 10980 × 10980 pixels, 4 bands, uint16.

The tile is generated strip by strip into a temporary GeoTIFF (never held whole while
writing): smooth class regions with distinct spectra plus noise, so it is learnable. A small
VGG16 (width 1/16, 32-pixel tiles) is trained for a few epochs on generated single-class tiles
of the same spectra (in a child process, as a model would come pre-trained), then
``csc classify``'s library call classifies the tile at K = 15 (or ``--patch-size``) strip by
strip with the default options and dense phase-two training (``--dense``; ``--patches`` for
patch sampling). Prints the seconds of each
step and the peak resident memory of the process.

    python benchmarks/full_tile.py [--quick] [--size 10980] [--patch-size 15]
                                   [--samples-per-class N] [--epochs N] [--front]

Targets on a 2-core machine: K = 5 in ≤ 5 min and K = 15 in ≤ 15 min end to end, peak RSS
≤ 3 GB.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from csc.classes import GLACIER  # noqa: E402

N_CLASSES = GLACIER.n_classes
MEANS = 800 + 900 * np.arange(N_CLASSES + 1)[:, None] * np.linspace(1.0, 1.5, 4)[None, :]
NOISE = 150.0
TILE = 32


def class_field(rows, cols, size):
    """Class ids 1..7 of smooth regions at (rows, cols) — a function of position only, so any
    strip can be generated on its own."""
    r = rows[:, None].astype(np.float64)
    c = cols[None, :].astype(np.float64)
    scale = size / 10980.0
    a = np.floor(r / (700 * scale) + 2.0 * np.sin(c / (900 * scale)))
    b = np.floor(c / (650 * scale) + 1.5 * np.cos(r / (800 * scale)))
    return ((a + b) % N_CLASSES + 1).astype(np.uint8)


def write_tile(path, size, *, seed=0, strip_rows=512):
    """Write a size × size × 4 uint16 GeoTIFF strip by strip."""
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.windows import Window

    profile = {"driver": "GTiff", "height": size, "width": size, "count": 4, "dtype": "uint16",
               "crs": CRS.from_epsg(32624), "transform": Affine(10, 0, 500000, 0, -10, 7500000),
               "tiled": True, "blockxsize": 512, "blockysize": 512}
    cols = np.arange(size)
    with rasterio.open(path, "w", **profile) as dst:
        for i, r0 in enumerate(range(0, size, strip_rows)):
            r1 = min(r0 + strip_rows, size)
            rng = np.random.default_rng([seed, i])
            labels = class_field(np.arange(r0, r1), cols, size)
            data = MEANS[labels] + rng.normal(0, NOISE, labels.shape + (4,))
            data = np.clip(data, 1, 65535).astype(np.uint16)
            dst.write(np.moveaxis(data, -1, 0), window=Window(0, r0, size, r1 - r0))
    return path


def train_phase_one(path, *, epochs, seed=0):
    """A VGG16 (width 1/16) trained on generated single-class tiles; saved with its card."""
    from Phase_1_CNN.model import build_vgg16, compile_model

    from csc.modelcard import ModelCard
    from csc.scaling import Scaling

    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(N_CLASSES), 300)
    x = (MEANS[y + 1][:, None, None, :] + rng.normal(0, NOISE, (len(y), TILE, TILE, 4)))
    x = (x / 10000.0).astype(np.float32)
    model = compile_model(build_vgg16(TILE, 4, N_CLASSES, width=1 / 16), learning_rate=1e-3)
    history = model.fit(x, y, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
    model.save(path)
    ModelCard(tile_size=TILE, bands=(1, 2, 3, 4), scaling=Scaling.fixed(10000), schema=GLACIER,
              width=1 / 16).save(path)
    return float(history.history["accuracy"][-1])


class PeakRSS:
    """Samples the process's resident memory every ``interval`` seconds."""

    def __init__(self, interval=0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 2048-pixel tile")
    parser.add_argument("--size", type=int, default=None, help="tile side (default 10980)")
    parser.add_argument("--patch-size", type=int, default=15)
    parser.add_argument("--samples-per-class", type=int, default=None,
                        help="default: csc classify's")
    parser.add_argument("--epochs", type=int, default=None, help="default: csc classify's")
    parser.add_argument("--phase-one-epochs", type=int, default=5)
    parser.add_argument("--front", action="store_true", help="also extract the calving front")
    parser.add_argument("--patches", action="store_true",
                        help="patch-sampling phase-two training instead of --dense")
    parser.add_argument("--workdir", default=None, help="keep the files here (default: temp)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--train-phase-one", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_phase_one:
        from csc.backend import setup_backend

        setup_backend(seed=0)
        print(f"{train_phase_one(Path(args.train_phase_one), epochs=args.phase_one_epochs):.4f}")
        return 0
    size = args.size or (2048 if args.quick else 10980)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="csc_tile_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        image = write_tile(work / "T24WXX.tif", size)
        gen_s = time.perf_counter() - t
        gen_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"generated {size}x{size}x4 uint16 tile ({image.stat().st_size / 2**30:.2f} GiB) "
              f"in {gen_s:.0f} s, peak RSS so far {gen_peak / 2**30:.2f} GiB", flush=True)

        t = time.perf_counter()
        child = subprocess.run([sys.executable, __file__, "--train-phase-one",
                                str(work / "phase_one.keras"), "--phase-one-epochs",
                                str(args.phase_one_epochs)], capture_output=True, text=True,
                               check=True)
        acc = float(child.stdout.strip().splitlines()[-1])
        print(f"phase-one VGG16 (width 1/16) trained in {time.perf_counter() - t:.0f} s, "
              f"training accuracy {acc:.3f}", flush=True)

        from CSC_Application.run import ClassifyOptions, classify_path

        chosen = {key: value for key, value in (("samples_per_class", args.samples_per_class),
                                                 ("epochs", args.epochs)) if value}
        options = ClassifyOptions(patch_size=args.patch_size, front=bool(args.front), seed=0,
                                  dense=not args.patches, **chosen)
        out = work / "out"
        t = time.perf_counter()
        with PeakRSS() as sampler:
            frame = classify_path(image, work / "phase_one.keras", out, options,
                                  progress=not args.no_progress).frame
        total = time.perf_counter() - t
        peak = max(sampler.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        run = json.loads((out / f"{image.stem}_run.json").read_text())
        print(f"\nclassified {size}x{size} pixels at K={args.patch_size} in {total:.0f} s "
              f"(status {frame['status'].iloc[0]}, strips of {run['strip_rows']} rows)")
        for key, value in run["timings"].items():
            print(f"  {key:<18} {value:8.1f} s")
        pixels = size * size
        print(f"  phase-two prediction: {pixels / run['timings']['phase2_predict_s']:,.0f} px/s")
        print(f"  classes: {run['class_pixels']}")
        samples = run["samples"]
        print(f"  phase two trained {run['learner']['epochs_run']} epochs on "
              f"{sum(samples.get('training_pixels', samples['per_class']).values())} pixels "
              f"({samples.get('training')}) in {run['timings']['phase2_train_s']:.1f} s")
        limit = 300 if args.patch_size <= 5 else 900
        print(f"  end to end {total:.0f} s (target ≤ {limit} s at K={args.patch_size}: "
              f"{'meets' if total <= limit else 'MISSES'})")
        print(f"peak RSS {peak / 2**30:.2f} GiB (target ≤ 3 GB: "
              f"{'meets' if peak <= 3e9 else 'MISSES'}); the uint16 image alone is "
              f"{pixels * 8 / 2**30:.2f} GiB, a float32 copy would be "
              f"{pixels * 16 / 2**30:.2f} GiB")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
