"""CSC on real imagery: the St-Marguerite river sample in ../shared/data/stmarg-river.

Phase one (VGG16 at a CPU width) is trained on tiles of 7 of the 10 images and evaluated at tile
level on the other 3; then CSC classifies those 3 images at patch sizes 1 and 3 (and with a
LightGBM phase two at 3), with the default phase-two sampling, and the CNN
(phase-one map) and CSC weighted F1 are printed per image. The authors report a pixel-weighted F1
of 94 % for CSC with one CNN per river on their full data set.

    python benchmarks/river_sample.py [--quick] [--clean] [--without-tile-weights]
        [--without-local-prior] [--out bench_output/river]

A phase-one model left in ``--out`` by an earlier run is reused (delete it to train anew).
"""
import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "stmarg-river" / "train"
SCHEMA = ROOT / "csc" / "schemas" / "river.csv"


def link_scenes(images, folder):
    """Symlink images and their SCLS_ rasters into ``folder`` (the data stays in place)."""
    folder.mkdir(parents=True, exist_ok=True)
    for image in images:
        for path in (image, image.with_name(f"SCLS_{image.stem}.tif")):
            link = folder / path.name
            if not link.exists():
                link.symlink_to(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench_output" / "river")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and samples")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--clean", action="store_true",
                        help="also classify with --clean --no-tile-weights --local-prior 0 at "
                             "each setting")
    parser.add_argument("--without-tile-weights", action="store_true",
                        help="also classify with --no-tile-weights --local-prior 0 at each "
                             "setting")
    parser.add_argument("--without-local-prior", action="store_true",
                        help="also classify with --local-prior 0 at each setting")
    args = parser.parse_args(argv)
    if not DATA.exists():
        print(f"skipped: {DATA} is absent (the river sample lives in ../shared/data)")
        return 0

    from csc.cli import cli

    def csc(*words):
        words = [str(w) for w in words]
        print("$ csc " + " ".join(words), flush=True)
        cli.main(args=words, prog_name="csc", standalone_mode=False)

    images = sorted(p for p in DATA.glob("StMarg_*.jpg"))
    train, test = images[:7], images[7:]
    out = args.out
    link_scenes(train, out / "train")
    link_scenes(test, out / "test")
    epochs = 3 if args.quick else 8
    timings = {}

    start = time.perf_counter()
    csc("tiles", out / "train", out / "tiles", "--tile-size", 50, "--stride", 50, "--scale", 255,
        "--classes", SCHEMA, "--split", "block", "--val-fraction", 0.15, "--augment")
    csc("thin", out / "tiles", "--max-per-class", 1500 if args.quick else 3000, "--oversample")
    timings["tiles_s"] = time.perf_counter() - start
    model = out / "models" / "river_vgg16.keras"
    start = time.perf_counter()
    if not model.exists():   # a model trained by an earlier run of this script is reused
        csc("train", out / "tiles", model, "--width", args.width, "--epochs", epochs,
            "--patience", 3, "--batch-size", 64, "--target-accuracy", 0.995)
        timings["train_s"] = time.perf_counter() - start
        csc("evaluate", model, out / "test", "--out", out / "CNN_tiles_test.csv")

    from CSC_Application.run import ClassifyOptions, classify_path

    rows = []
    variants = {"": {}}
    if args.without_local_prior:
        variants["no_local_prior"] = {"local_prior": 0.0}
    if args.without_tile_weights:
        variants["no_tile_weights"] = {"tile_weights": False, "local_prior": 0.0}
    if args.clean:
        variants["clean"] = {"clean": True, "tile_weights": False, "local_prior": 0.0}
    for variant, changes in variants.items():
        for phase2, k in (("nn", 1), ("nn", 3), ("lightgbm", 3)):
            # the default phase-two sampling (20 000 patch centres per class)
            options = ClassifyOptions(patch_size=k, phase2=phase2, seed=0,
                                      epochs=15 if args.quick else 40, patience=5,
                                      **changes)
            name = (f"csc_k{k}" + ("" if phase2 == "nn" else f"_{phase2}")
                    + (f"_{variant}" if variant else ""))
            start = time.perf_counter()
            summary = classify_path(out / "test", model, out / name, options).frame
            timings[f"{name}_s"] = time.perf_counter() - start
            rows.append(summary.assign(phase2=phase2, patch_size=k, variant=variant or "-"))
    table = pd.concat(rows)[["image", "phase2", "patch_size", "variant", "status",
                             "cnn_weighted_f1", "csc_weighted_f1", "csc_macro_f1", "seconds"]]
    table.to_csv(out / "river_csc_summary.csv", index=False)
    print("\nPer image (CNN = phase-one tile map, CSC = phase two):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    means = (table.groupby(["phase2", "patch_size", "variant"], sort=False)
             [["cnn_weighted_f1", "csc_weighted_f1"]].mean())
    print("\nMean weighted F1 over the 3 held-out images:")
    print(means.to_string(float_format=lambda v: f"{v:.3f}"))
    print("\nSeconds:", ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
