"""Wall time of a batch sweep on one local Dask worker against several.

Generates synthetic scenes (``csc.synthetic``), cuts 32-pixel tiles and trains a width-1/16
VGG16 for a couple of epochs (the phase-one model of every job), then runs the same six-job
sweep (patch sizes 1, 3, 5 and two seeds) with ``--workers 1`` and with ``--workers N``, each
from a fresh copy of the job list, and prints both wall times, their ratio and whether the
two sweeps gave the same scores. Each worker gives TensorFlow its share of the cores.

    python benchmarks/batch_workers.py [--quick] [--workers 2] [--size 256] [--scenes 2]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

JOBS = [(k, seed) for seed in (0, 1) for k in (1, 3, 5)]
DEFAULTS = {"samples_per_class": 500, "epochs": 3, "batch_size": 256, "front": False}
SCORES = ["cnn_weighted_f1", "csc_weighted_f1", "cnn_glacier_f1", "csc_glacier_f1"]


def prepare(root, *, scenes, size):
    """Scenes and a tiny trained phase-one model in ``root``; returns (scenes, models)."""
    from csc.synthetic import write_scenes
    from Phase_1_CNN.tiles import make_tileset
    from Phase_1_CNN.training import train

    data = root / "scenes"
    write_scenes(data, scenes=scenes, size=size, seed=0)
    tiles = root / "tiles"
    make_tileset(data, tiles, tile_size=32, stride=16, split="image", val_fraction=0.5,
                 purity=0.9, seed=0)
    models = root / "models"
    models.mkdir()
    train(tiles, models / "vgg16_t32.keras", epochs=20, width=1 / 16, learning_rate=1e-3)
    return data, models


def job_list(path, data):
    rows = ["Model,DataSource,OutFolder,ExpShortHand,PatchSize,TileSize,WholeImage,Seed,Done"]
    rows += [f"vgg16_t32,{data},out/seed{seed},s{seed},{k},32,0,{seed},0" for k, seed in JOBS]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path


def timed_sweep(folder, data, models, workers):
    from batch.runner import run_sweep

    jobs = job_list(folder / "jobs.csv", data)
    start = time.perf_counter()
    summary = run_sweep(jobs, models_dir=models, defaults=DEFAULTS, workers=workers,
                        progress=False).frame
    return time.perf_counter() - start, summary


def job_seconds(summary):
    seconds = summary["seconds"]
    return f"jobs {seconds.sum():.1f} s in all, {seconds.mean():.1f} s each on average"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller scenes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=None, help="scene side in pixels")
    parser.add_argument("--scenes", type=int, default=2)
    args = parser.parse_args(argv)
    size = args.size or (160 if args.quick else 256)

    root = Path(tempfile.mkdtemp(prefix="csc_batch_bench_"))
    try:
        t = time.perf_counter()
        data, models = prepare(root, scenes=args.scenes, size=size)
        print(f"study: {args.scenes} scenes of {size}x{size} px, tiny model trained in "
              f"{time.perf_counter() - t:.1f} s; {len(JOBS)} jobs, cores: "
              f"{len(os.sched_getaffinity(0))}", flush=True)
        one, summary_one = timed_sweep(root / "one", data, models, 1)
        print(f"--workers 1: {one:.1f} s ({job_seconds(summary_one)})", flush=True)
        many, summary_many = timed_sweep(root / "many", data, models, args.workers)
        print(f"--workers {args.workers}: {many:.1f} s ({job_seconds(summary_many)})",
              flush=True)
        print(f"speed-up (1 worker / {args.workers} workers): {one / many:.2f}x")
        same = summary_one[SCORES].equals(summary_many[SCORES])
        print(f"same scores: {same}")
        if not same:
            diff = summary_one[SCORES].compare(summary_many[SCORES])
            print(diff.to_string(float_format=lambda v: f"{v:.6f}"))
        failed = int((summary_many["status"] != "done").sum() +
                     (summary_one["status"] != "done").sum())
        return 1 if failed else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
