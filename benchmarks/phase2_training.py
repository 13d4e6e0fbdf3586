"""Speed and accuracy of phase-two training: dense training on the tile map against patch
sampling, on generated glacier scenes with one phase-one model.

A VGG16 (width 0.25, 50-pixel tiles) is trained once on three generated 768² scenes, as the
demo does, and kept in the work folder. Held-out scenes of each ``--sizes`` are generated with
their manual-style labels. For every scene the phase-one tile map is computed once; then, for
every K of ``--patch-sizes``, each method trains the phase-two network on that same map and
classifies every pixel strip by strip (then the despeckle of ``csc classify``):

- ``patches:N``: the default training (N = 20 000 in ``csc classify``), N balanced patch
  centres per class drawn with replacement for the smaller classes, an 80/20 random split of
  whole pixels, batches of 1024 patches;
- ``dense``: the dense training of ``csc classify --dense`` with its defaults
  (:mod:`csc.blocks`);
  ``dense:key=value,...`` changes learner options (or ``samples_per_class``).

It prints seconds of training and prediction and the CSC weighted F1 against the scene's
labels, and the time ratio of each patch run to the dense run with equal or better F1. With
``--classify`` it also times ``csc classify --patch-size 5`` of the largest scene end to end,
with its defaults and with ``--dense`` (target: at most 15 × its prediction time, at an F1 no
lower than ``patches:500000``'s, the default before 20 000).

    python benchmarks/phase2_training.py [--quick] [--sizes 1024 2048] [--patch-sizes 1 3 5 7 15]
        [--methods dense patches:20000 patches:100000 patches:500000] [--classify]
        [--workdir DIR] [--model M.keras]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN_SIZE = 768


def prepare(work, sizes, seed=0, model=None):
    """The phase-one model (unless given) and the held-out scenes in ``work`` (made once,
    then reused)."""
    from csc.cli import cli
    from csc.synthetic import make_scene, write_scene

    if model and not Path(model).exists():
        raise SystemExit(f"--model {model}: no such model")
    model = Path(model) if model else work / "phase_one.keras"
    if not model.exists():
        train = work / "train"
        train.mkdir(parents=True, exist_ok=True)
        for i in range(3):
            write_scene(make_scene(TRAIN_SIZE, seed=seed + i), train, f"scene_{i:03d}")
        for args in (["tiles", train, work / "tiles", "--tile-size", 50, "--stride", 25,
                      "--seed", seed],
                     ["thin", work / "tiles", "--max-per-class", 3000, "--seed", seed],
                     ["train", work / "tiles", model, "--width", 0.25, "--epochs", 12,
                      "--patience", 3, "--batch-size", 64, "--seed", seed]):
            t = time.perf_counter()
            cli.main(args=[str(a) for a in args], prog_name="csc", standalone_mode=False)
            print(f"csc {args[0]}: {time.perf_counter() - t:.0f} s", flush=True)
    scenes = {}
    for size in sizes:
        folder = work / f"heldout_{size}"
        path = folder / "scene.tif"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            write_scene(make_scene(size, seed=seed + 100), folder, "scene")
        scenes[size] = path
    return model, scenes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 1024² scene, K = 1 and 5")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--patch-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--classify", action="store_true",
                        help="also time the default csc classify --patch-size 5 end to end")
    parser.add_argument("--workdir", default="/tmp/csc_phase2_training")
    parser.add_argument("--model", default=None,
                        help="a phase-one model to use (default: train one like the demo)")
    parser.add_argument("--prepare-only", action="store_true")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([1024] if args.quick else [1024, 2048])
    ks = args.patch_sizes or ([1, 5] if args.quick else [1, 3, 5, 7, 15])
    methods = args.methods or (["dense", "patches:20000"] if args.quick else
                               ["dense", "patches:20000", "patches:100000", "patches:500000"])
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model, scenes = prepare(work, sizes, model=args.model)
    if args.prepare_only:
        return 0
    rows = []
    for size in sizes:
        rows += run_scene(scenes[size], model, size=size, ks=ks, methods=methods)
        print_table(rows)
    if args.classify:
        classify_default(scenes[max(sizes)], model, rows)
    (work / "phase2_training.json").write_text(json.dumps(rows, indent=1))
    return 0


def parse_method(spec):
    """``dense`` / ``dense:block_size=8,learning_rate=0.003`` / ``patches:N`` → (kind, opts)."""
    kind, _, rest = spec.partition(":")
    if kind == "patches":
        return kind, {"samples_per_class": int(rest)}
    opts = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        opts[key] = float(value) if "." in value or "e" in value else int(value)
    return kind, opts


def run_scene(path, model, *, size, ks, methods):
    """Train and score every (K, method) on one scene; rows of figures."""
    import rasterio

    from csc.blocks import LabelledImage
    from csc.metrics import class_report
    from csc.modelcard import load_card
    from csc.options import ClassifyOptions
    from csc.pixels import predict_scene, read_pixels
    from CSC_Application.despeckle import despeckle
    from CSC_Application.learners import PatchNetworkClassifier
    from CSC_Application.run import DENSE_SAMPLES, PhaseOne, TileMapLabels
    from CSC_Application.sampling import PatchSet, sample_centres

    defaults = ClassifyOptions()
    card = load_card(model)
    schema = card.schema
    image = read_pixels(path, bands=card.bands)
    with rasterio.open(path.parent / f"SCLS_{path.name}") as src:
        truth = src.read(1)
    t = time.perf_counter()
    tile_map = TileMapLabels(PhaseOne.of(model)).class_map(image)
    phase1 = time.perf_counter() - t

    def f1(class_map):
        report = class_report(truth, class_map, schema=schema, valid=image.valid)
        return float(report.set_index("Class").loc["weighted avg", "F1_score"])

    cnn = f1(tile_map)
    print(f"\n{size}² scene: phase one {phase1:.1f} s, CNN weighted F1 {cnn:.3f}; "
          f"labelled pixels of the tile map {int(np.count_nonzero(tile_map))}", flush=True)
    rows = []
    for k in ks:
        for spec in methods:
            kind, opts = parse_method(spec)
            common = dict(patch_size=k, n_classes=schema.n_classes, n_bands=card.n_bands,
                          random_state=0, epochs=defaults.epochs)
            t = time.perf_counter()
            if kind == "patches":
                learner = PatchNetworkClassifier(**common, patience=10, batch_size=1024,
                                                 min_delta=0.005)   # as before dense training
                sample = sample_centres(tile_map, schema=schema, seed=0, **opts)
                patches = PatchSet(image.data, sample.rows, sample.cols,
                                   schema.to_index(sample.labels), patch_size=k,
                                   scaling=card.scaling, valid=image.valid)
                learner.fit(patches, patches.labels)
                del patches
                used = int(sum(sample.drawn.values()))
            else:
                params = {}
                params.update(opts)
                cap = params.pop("samples_per_class", DENSE_SAMPLES)

                learner = PatchNetworkClassifier(**dict(common, **params))
                training = LabelledImage(image.data, image.valid, tile_map, schema,
                                         card.scaling, cap)
                learner.fit_map(training)
                used = int(sum(learner.plan_["training_pixels"].values()))
            train_s = time.perf_counter() - t
            t = time.perf_counter()
            class_map, _ = predict_scene(learner, image, bands=card.bands,
                                         scaling=card.scaling, schema=schema)
            predict_s = time.perf_counter() - t
            score = f1(despeckle(class_map, radius=defaults.despeckle))
            row = {"size": size, "k": k, "method": spec, "train_s": round(train_s, 1),
                   "epochs": learner.epochs_run_, "pixels": used,
                   "predict_s": round(predict_s, 2), "f1": round(score, 4),
                   "cnn_f1": round(cnn, 4), "phase1_s": round(phase1, 1)}
            rows.append(row)
            print(f"  K={k:<2} {spec:<28} train {train_s:7.1f} s ({row['epochs']} epochs, "
                  f"{used} px)  predict {predict_s:5.1f} s  CSC F1 {score:.3f}", flush=True)
    return rows


def print_table(rows):
    """The table of one run, with each patch run's time over the dense run's when the dense
    run's F1 is equal or better."""
    print("\n| scene | K | method | training s | epochs | pixels | prediction s | CSC F1 "
          "| patch time / dense time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        dense = next((r for r in rows if r["size"] == row["size"] and r["k"] == row["k"]
                      and r["method"] == "dense"), None)
        ratio = ""
        if dense and row["method"].startswith("patches"):
            ratio = (f"{row['train_s'] / dense['train_s']:.1f}×" if dense["f1"] >= row["f1"]
                     else f"({row['train_s'] / dense['train_s']:.1f}×, dense F1 lower)")
        print(f"| {row['size']}² | {row['k']} | {row['method']} | {row['train_s']} | "
              f"{row['epochs']} | {row['pixels']} | {row['predict_s']} | {row['f1']:.3f} | "
              f"{ratio} |")
    sys.stdout.flush()


def classify_default(path, model, rows):
    """``csc classify --patch-size 5`` with its defaults, and with ``--dense``, end to end."""
    import tempfile

    from csc.options import ClassifyOptions
    from CSC_Application.run import classify_path

    patch = next((r for r in rows if r["k"] == 5 and r["method"] == "patches:500000"
                  and r["size"] == max(r["size"] for r in rows)), None)
    for name, dense in (("csc classify --patch-size 5", False),
                        ("csc classify --patch-size 5 --dense", True)):
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            frame = classify_path(path, model, out,
                                  ClassifyOptions(patch_size=5, dense=dense)).frame
            total = time.perf_counter() - t
            run = json.loads((Path(out) / f"{path.stem}_run.json").read_text())
        timings = run["timings"]
        predict = timings["phase2_predict_s"]
        f1 = float(frame["csc_weighted_f1"].iloc[0])
        ece = run["scores"].get("csc_ece", float("nan"))
        print(f"\n{name} of {path}: {total:.1f} s end to end = {total / predict:.1f} × its "
              f"prediction time ({predict:.1f} s; target ≤ 15 ×), CSC weighted F1 {f1:.3f}"
              + (f" (patches:500000 {patch['f1']:.3f})" if patch else "")
              + f"; expected calibration error of its confidence map {ece:.3f} (temperature "
              f"{run['samples'].get('temperature', 1.0):.2f})")
        print("  " + ", ".join(f"{key} {value:.1f} s" for key, value in timings.items()),
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
