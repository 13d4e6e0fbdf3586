"""Accuracy reports: per-class precision, recall, F1 and support from scikit-learn, in the CSV
layout of the published workflow (``Class, Precision, Recall, F1_score, Support``)."""
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from csc.classes import UNLABELLED
from csc.files import write_csv

COLUMNS = ["Class", "Precision", "Recall", "F1_score", "Support"]


def scored_pixels(truth, pred, valid=None):
    """Flattened (truth, pred) over labelled, valid pixels only."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth {truth.shape} and prediction {pred.shape} differ in shape")
    mask = truth != UNLABELLED
    if valid is not None:
        mask &= np.asarray(valid, dtype=bool)
    return truth[mask], pred[mask]


def class_report(truth, pred, *, schema, valid=None):
    """Per-class report over labelled, valid pixels: one row per class present in the truth or
    the prediction, by name, then ``accuracy``, ``macro avg``, ``weighted avg``.

    A predicted 0 (a pixel left unlabelled) counts as wrong."""
    t, p = scored_pixels(truth, pred, valid)
    present = np.union1d(np.unique(t), np.unique(p))
    labels = [int(c) for c in schema.ids if c in present]
    rows = []
    if len(t) and labels:
        prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=labels,
                                                             zero_division=0)
        for i, c in enumerate(labels):
            rows.append([schema.name_of(c), prec[i], rec[i], f1[i], int(sup[i])])
        acc = float(np.mean(t == p))
        n = int(len(t))
        rows.append(["accuracy", acc, acc, acc, n])
        rows.append(["macro avg", prec.mean(), rec.mean(), f1.mean(), n])
        w = sup / max(sup.sum(), 1)
        rows.append(["weighted avg", float(prec @ w), float(rec @ w), float(f1 @ w), n])
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_scores(report):
    """{"weighted_f1", "macro_f1", "accuracy"} from a ``class_report`` frame (NaN if empty)."""
    by = report.set_index("Class")["F1_score"]
    return {"weighted_f1": float(by.get("weighted avg", np.nan)),
            "macro_f1": float(by.get("macro avg", np.nan)),
            "accuracy": float(by.get("accuracy", np.nan))}


def class_f1(report, name):
    """F1 of one class by name from a ``class_report`` frame (NaN when absent)."""
    by = report.set_index("Class")["F1_score"]
    return float(by.get(name, np.nan))


def write_report(path, report):
    write_csv(path, report.round(6))
    return path


def confusion(truth, pred, *, schema, valid=None):
    """Confusion matrix over the schema's classes (rows truth, columns prediction)."""
    t, p = scored_pixels(truth, pred, valid)
    return confusion_matrix(t, p, labels=[int(c) for c in schema.ids])


#: Bins of the expected calibration error and the reliability diagram.
CALIBRATION_BINS = 15


def calibration(truth, pred, confidence, *, valid=None, bins=CALIBRATION_BINS):
    """Calibration of a map's confidence on labelled valid pixels: ``confidence`` is the
    top-class probability in percent (uint8 0–100). Returns ``{"ece", "pixels", "bins"}``:
    the expected calibration error (Guo et al. 2017: the pixel-weighted mean of
    |accuracy − mean confidence| over ``bins`` equal-width confidence bins) and per bin its
    ``lower``/``upper`` edge, ``pixels``, ``confidence`` and ``accuracy``. A predicted 0
    counts as wrong, as in :func:`class_report`."""
    keep = truth != UNLABELLED
    if valid is not None:
        keep &= valid
    conf = confidence[keep].astype(np.float64) / 100.0
    right = (pred[keep] == truth[keep])
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    right_sum = np.bincount(which, weights=right, minlength=bins)
    rows = []
    gap = 0.0
    for b in range(bins):
        n = int(count[b])
        mean_conf = conf_sum[b] / n if n else float("nan")
        acc = right_sum[b] / n if n else float("nan")
        if n:
            gap += n * abs(acc - mean_conf)
        rows.append({"lower": float(edges[b]), "upper": float(edges[b + 1]), "pixels": n,
                     "confidence": float(mean_conf), "accuracy": float(acc)})
    total = int(count.sum())
    return {"ece": float(gap / total) if total else float("nan"), "pixels": total,
            "bins": rows}
