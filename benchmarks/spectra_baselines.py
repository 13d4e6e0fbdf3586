"""Real-data check of the pixel classifiers on Sentinel-2 surface reflectance of glaciers.

Data: ``../shared/data/s2-glacier-spectra/sentinel2_sr_points.csv`` (9,307 labelled points on
Gulkana, South Cascade and Sperry glaciers; classes 1 snow, 2 shadowed snow, 3 ice, 4 rock,
5 water). For each site in turn, LightGBM, a random forest and the phase-two pixel MLP
(K = 1: Dense 64 → BatchNorm → 32 → 16 → softmax, L2 1e-3, the ``CSC_Application.learners``
network) are trained on the other two sites and tested on it, with bands B4, B3, B2, B8 (red,
green, blue, NIR) — the bands the CSC method uses — or the ``--bands`` given (with B11, the
features add NDSI: always for the trees, with ``--illumination`` for the MLP). Training samples are balanced by class as in
phase two (every class drawn to the same count, with replacement when it has fewer points).

Prints macro F1 and per-class F1 per test site and learner and writes them as CSV::

    python benchmarks/spectra_baselines.py [--quick] [--illumination] [--bands B4,B3,B2,B8,B11]
        [--out bench_output/spectra_baselines.csv]

``macro_f1`` averages the classes present in the test site or predicted there (a class absent
from the site but predicted scores 0, as in ``csc.metrics.class_report``); ``macro_f1_present``
averages the classes present in the test site only, ``macro_f1_learnable`` those of them that
the training sites hold too (water is present only at South Cascade, so it scores 0 there and
caps that site's ``macro_f1_present`` at 0.75). A class absent from a test site and never
predicted there has no F1 (empty cell); a class absent from both training sites (water when
South Cascade is the test site) cannot be predicted. Exits 0 with a message when the data file
is absent.
"""
import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from csc.classes import ClassInfo, ClassSchema  # noqa: E402
from csc.metrics import class_report  # noqa: E402
from csc.scaling import Scaling  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "s2-glacier-spectra" / "sentinel2_sr_points.csv"
BANDS = ["B4", "B3", "B2", "B8"]          # red, green, blue, NIR: the method's band order
#: Roles of the Sentinel-2 bands the features know (:mod:`baselines.features`); others have none.
ROLES = {"B2": "blue", "B3": "green", "B4": "red", "B8": "nir", "B11": "swir"}
SCHEMA = ClassSchema(classes=(ClassInfo(1, "snow", "#f7fcfd"),
                              ClassInfo(2, "shadowed snow", "#9ecae1"),
                              ClassInfo(3, "ice", "#41b6c4"),
                              ClassInfo(4, "rock", "#8c510a"),
                              ClassInfo(5, "water", "#08306b")), name="s2-spectra")
SITES = ("Gulkana", "SouthCascade", "Sperry")


def balanced_index(y, *, per_class, rng):
    """Indexes drawing every present class to the same count (with replacement when short)."""
    classes = np.unique(y)
    n = min(per_class, max(int(np.sum(y == c)) for c in classes))
    parts = []
    for c in classes:
        where = np.flatnonzero(y == c)
        parts.append(rng.choice(where, size=n, replace=len(where) < n))
    return rng.permutation(np.concatenate(parts))


def band_roles(bands):
    """The feature roles of Sentinel-2 ``bands``, comma-separated (``-`` for a band without one;
    only the first SWIR band has the ``swir`` role)."""
    return ",".join(ROLES.get(b, "-") for b in bands)


def learners(quick, seed, illumination=False, bands=BANDS):
    from baselines.learners import LightGBMPixelClassifier, RandomForestPixelClassifier
    from CSC_Application.learners import PatchNetworkClassifier
    from csc.backend import quiet_tensorflow

    quiet_tensorflow()

    trees = 100 if quick else 300
    return {
        "lightgbm": LightGBMPixelClassifier(patch_size=1, n_classes=SCHEMA.n_classes,
                                            random_state=seed, n_estimators=trees,
                                            illumination=illumination,
                                            band_roles=band_roles(bands)),
        "rf": RandomForestPixelClassifier(patch_size=1, n_classes=SCHEMA.n_classes,
                                          random_state=seed, n_estimators=trees,
                                          illumination=illumination,
                                          band_roles=band_roles(bands)),
        "mlp": PatchNetworkClassifier(patch_size=1, n_classes=SCHEMA.n_classes,
                                      random_state=seed, n_bands=len(bands),
                                      epochs=30 if quick else 300, patience=10,
                                      batch_size=256, illumination=illumination,
                                      band_roles=band_roles(bands)),
    }


def run(data, *, quick=False, seed=0, per_class=3000, illumination=False, mlp=True,
        bands=BANDS):
    """One row per (test site, learner): macro F1, accuracy and per-class F1, on ``bands``."""
    from CSC_Application.sampling import PatchSet

    scaling = Scaling.fixed(1.0)          # surface reflectance is already 0..1
    rows = []
    for test_site in SITES:
        train = data[data["site_name"] != test_site]
        test = data[data["site_name"] == test_site]
        rng = np.random.default_rng(seed)
        y_train = SCHEMA.to_index(train["class"].to_numpy())
        pick = balanced_index(y_train, per_class=per_class, rng=rng)
        pixels = train[bands].to_numpy(np.float32)[pick][:, None, :]   # (n, 1, bands) "image"
        patches = PatchSet(pixels, np.arange(len(pick)), np.zeros(len(pick), int),
                           y_train[pick], patch_size=1, scaling=scaling)
        strip = scaling.apply(test[bands].to_numpy(np.float32)[:, None, :])
        truth = test["class"].to_numpy().astype(np.uint8)
        for name, learner in learners(quick, seed, illumination, bands).items():
            if name == "mlp" and not mlp:
                continue
            start = time.perf_counter()
            learner.fit(patches, y_train[pick])
            proba = learner.predict_proba(strip)[:, 0]
            pred = SCHEMA.to_ids(np.argmax(proba, axis=-1))
            report = class_report(truth, pred, schema=SCHEMA).set_index("Class")["F1_score"]
            present = [SCHEMA.name_of(c) for c in np.unique(truth)]
            learnable = [SCHEMA.name_of(c) for c in np.unique(truth)
                         if c in set(train["class"])]
            row = {"test_site": test_site, "learner": name,
                   "train_points": len(train), "test_points": len(test),
                   "macro_f1": report["macro avg"],
                   "macro_f1_present": float(report[present].mean()),
                   "macro_f1_learnable": float(report[learnable].mean()),
                   "accuracy": report["accuracy"]}
            row.update({f"f1_{c}": report.get(c, np.nan) for c in SCHEMA.names})
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(f"  {test_site:>12} {name:>8}: macro F1 {row['macro_f1']:.3f} "
                  f"({row['seconds']:.1f} s)", flush=True)
    table = pd.DataFrame(rows)
    mean = (table.groupby("learner", sort=False)[["macro_f1", "macro_f1_present",
                                               "macro_f1_learnable", "accuracy"]]
            .mean()
            .reset_index().assign(test_site="mean"))
    table = pd.concat([table, mean], ignore_index=True)
    return table.astype({"train_points": "Int64", "test_points": "Int64"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trees and epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--illumination", action="store_true",
                        help="every learner (the MLP too) on the illumination-robust "
                             "features in place of the bands")
    parser.add_argument("--bands", default=",".join(BANDS),
                        help="comma-separated Sentinel-2 bands, in order (default %(default)s); "
                             "with B11 the trees add NDSI (green/SWIR)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_output" /
                        "spectra_baselines.csv")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"skipped: the real-data file {args.data} is absent (it lives in "
              "../shared/data/s2-glacier-spectra beside the repository)")
        return 0
    data = pd.read_csv(args.data)
    bands = [b.strip().upper() for b in args.bands.split(",") if b.strip()]
    missing = [b for b in bands if b not in data.columns]
    if missing:
        parser.error(f"--bands: {', '.join(missing)} not in {args.data} "
                     f"(it has {', '.join(c for c in data.columns if c.startswith('B'))})")
    print(f"{len(data)} points, bands {', '.join(bands)}; train on two sites, test on the third")
    table = run(data, quick=args.quick, seed=args.seed, illumination=args.illumination,
                bands=bands)
    from csc.files import write_csv

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(args.out, table.round(4))
    shown = table.drop(columns=["train_points", "test_points", "seconds"])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="–"))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
