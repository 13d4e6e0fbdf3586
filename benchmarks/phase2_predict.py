"""Speed of phase-two prediction: the fully convolutional strip prediction of
``CSC_Application.fcn`` against the method it replaces.

For K = 1, 3, 5, 7 and 15 the phase-two network (``build_patch_network``; the weights do not
change the speed) classifies every pixel of one generated scene strip by strip. In the same
run the naive method — each pixel's K×K patch copied into an array by a Python loop, then
``model.predict`` row by row — classifies a few rows, and its time is extrapolated per pixel.
It also measures this machine's float32 matrix-multiply rate (numpy and TensorFlow) and
reports, for K = 15, the network's FLOPs per pixel and the fraction of that rate achieved.

    python benchmarks/phase2_predict.py [--quick] [--size 1024] [--naive-rows 3]

Targets: ≥ 20× the naive method for K ≥ 3, ≥ 100× for K = 1, and K = 15 at ≥ 50 % of the
matmul rate.
"""
import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from CSC_Application.fcn import fully_convolutional  # noqa: E402
from CSC_Application.learners import PatchNetworkClassifier, build_patch_network  # noqa: E402
from csc.classes import GLACIER  # noqa: E402
from csc.pixels import auto_strip_rows, predict_scene  # noqa: E402
from csc.rasters import Image  # noqa: E402


def predict_map(learner, data, *, valid, scaling, schema, strip_rows):
    """Strip-wise prediction of an in-memory image (the pipeline's ``predict_scene``)."""
    image = Image(data=data, info=None, valid=valid, bands=tuple(range(1, data.shape[2] + 1)))
    return predict_scene(learner, image, bands=image.bands, scaling=scaling, schema=schema,
                         strip_rows=strip_rows)[0]
from csc.scaling import Scaling  # noqa: E402

PATCH_SIZES = (1, 3, 5, 7, 15)
TARGETS = {1: 100.0, 3: 20.0, 5: 20.0, 7: 20.0, 15: 20.0}


def scene(size, seed=0):
    """A generated 4-band uint16 scene (synthetic glacier when available, else blocks)."""
    try:
        from csc.synthetic import make_scene

        return make_scene(max(size, 128), seed=seed).image[:size, :size]
    except ImportError:
        rng = np.random.default_rng(seed)
        labels = (np.add.outer(np.arange(size) // 64, np.arange(size) // 64) % 7) + 1
        means = 800 + 900 * np.arange(8)[:, None] * np.linspace(1, 1.5, 4)
        return np.clip(means[labels] + rng.normal(0, 150, (size, size, 4)), 1,
                       65535).astype(np.uint16)


def matmul_rate(n=2048, repeats=5):
    """Best float32 GFLOP/s of an n×n matrix product with numpy and with TensorFlow."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    flops = 2.0 * n ** 3
    best_np = min(_timed(lambda: a @ b) for _ in range(repeats))
    ta, tb = tf.constant(a), tf.constant(b)
    tf.matmul(ta, tb).numpy()
    best_tf = min(_timed(lambda: tf.matmul(ta, tb).numpy()) for _ in range(repeats))
    return flops / best_np / 1e9, flops / best_tf / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def flops_per_pixel(fcn):
    """Multiply-adds ×2 of the fully convolutional network per output pixel."""
    total = 0
    for layer in fcn.layers[1:]:
        kh, kw, c_in, c_out = layer.kernel.shape
        total += 2 * kh * kw * c_in * c_out
    return total


def learner_for(k, n_bands, n_classes):
    learner = PatchNetworkClassifier(patch_size=k, n_classes=n_classes)
    learner.model_ = build_patch_network(k, n_bands, n_classes)
    learner.fcn_ = None
    return learner


def naive_rows(model, scaled, k, rows):
    """The replaced method on ``rows`` image rows: per-pixel patches by a Python loop, Keras
    predict per row. Returns (seconds, pixels, class ids of those rows)."""
    h = k // 2
    padded = np.pad(scaled, ((h, h), (h, h), (0, 0)), mode="reflect")
    width = scaled.shape[1]
    out = []
    start = time.perf_counter()
    for r in rows:
        patches = np.empty((width, k, k, scaled.shape[2]), dtype=np.float32)
        for c in range(width):
            patches[c] = padded[r:r + k, c:c + k]
        out.append(np.argmax(model.predict(patches, verbose=0), axis=1))
    return time.perf_counter() - start, len(rows) * width, np.array(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scene, fewer naive rows")
    parser.add_argument("--size", type=int, default=None, help="scene side in pixels")
    parser.add_argument("--naive-rows", type=int, default=None, help="rows for the naive method")
    args = parser.parse_args(argv)
    size = args.size or (512 if args.quick else 1024)
    n_naive = args.naive_rows or (1 if args.quick else 3)

    from csc.backend import setup_backend

    setup_backend(seed=0)
    image = scene(size)
    valid = np.ones(image.shape[:2], dtype=bool)
    scaling = Scaling.fixed(10000)
    scaled = scaling.apply(image)
    n_bands, n_classes = image.shape[2], GLACIER.n_classes
    pixels = image.shape[0] * image.shape[1]
    print(f"scene {image.shape[0]}x{image.shape[1]}x{n_bands} ({pixels / 1e6:.2f} Mpx), "
          f"{os.cpu_count()} CPU(s)")
    gf_np, gf_tf = matmul_rate()
    rate = max(gf_np, gf_tf)
    print(f"float32 matmul 2048²: numpy {gf_np:.1f} GFLOP/s, TensorFlow {gf_tf:.1f} GFLOP/s")
    print(f"\n{'K':>3} {'FCN px/s':>12} {'naive px/s':>12} {'ratio':>8} {'target':>7} "
          f"{'MFLOP/px':>9} {'GFLOP/s':>8} {'of matmul':>9} {'agree':>6}")
    results = {}
    for k in PATCH_SIZES:
        learner = learner_for(k, n_bands, n_classes)
        strip_rows = auto_strip_rows(image.shape[1], n_bands=n_bands, n_classes=n_classes,
                                     halo=k // 2)
        # warm-up (graph tracing) on a small strip, then time the whole scene
        predict_map(learner, image[:max(32, k + 1)], valid=valid[:max(32, k + 1)],
                    scaling=scaling, schema=GLACIER, strip_rows=16)
        start = time.perf_counter()
        classes = predict_map(learner, image, valid=valid, scaling=scaling, schema=GLACIER,
                              strip_rows=strip_rows)
        fcn_s = time.perf_counter() - start
        fcn_rate = pixels / fcn_s
        rows = np.linspace(0, image.shape[0] - 1, n_naive).astype(int)
        learner.model_.predict(np.zeros((8, k, k, n_bands), np.float32), verbose=0)  # warm-up
        naive_s, naive_px, naive_idx = naive_rows(learner.model_, scaled, k, rows)
        naive_rate = naive_px / naive_s
        agree = float(np.mean(GLACIER.to_ids(naive_idx) == classes[rows]))
        flops = flops_per_pixel(fully_convolutional(learner.model_))
        achieved = flops * fcn_rate / 1e9
        results[k] = (fcn_rate, naive_rate)
        print(f"{k:>3} {fcn_rate:>12,.0f} {naive_rate:>12,.0f} {fcn_rate / naive_rate:>7.0f}x "
              f"{TARGETS[k]:>6.0f}x {flops / 1e6:>9.3f} {achieved:>8.1f} "
              f"{achieved / rate:>8.0%} {agree:>6.3f}", flush=True)
    print()
    for k, (fcn_rate, naive_rate) in results.items():
        ok = fcn_rate / naive_rate >= TARGETS[k]
        print(f"K={k}: {fcn_rate / naive_rate:.0f}x the naive method "
              f"({'meets' if ok else 'MISSES'} the {TARGETS[k]:.0f}x target)")
    k15 = flops_per_pixel(fully_convolutional(build_patch_network(15, n_bands, n_classes)))
    frac = k15 * results[15][0] / 1e9 / rate
    print(f"K=15: {k15 / 1e6:.3f} MFLOP/pixel, {k15 * results[15][0] / 1e9:.1f} GFLOP/s = "
          f"{frac:.0%} of the measured matmul rate ({'meets' if frac >= 0.5 else 'MISSES'} "
          "the 50 % target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
