"""Figures: training curves, confusion matrices and class-map panels (matplotlib, Agg)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from csc.files import atomic_path  # noqa: E402


def save(fig, path, *, dpi=120):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def stretch_rgb(image, *, bands=(0, 1, 2), lo=2, hi=98, valid=None):
    """Contrast-stretched RGB (rows, cols, 3) in 0..1 from an image's first three bands (or a
    single band repeated). Percentiles come from valid pixels only."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    idx = [b if b < image.shape[-1] else 0 for b in bands]
    rgb = image[..., idx]
    px = rgb[valid] if valid is not None and valid.any() else rgb.reshape(-1, 3)
    if len(px) > 500_000:
        px = px[:: len(px) // 500_000]
    low, high = np.percentile(px, lo, axis=0), np.percentile(px, hi, axis=0)
    out = np.clip((rgb - low) / np.maximum(high - low, 1e-6), 0, 1)
    if valid is not None:
        out[~valid] = 1.0
    return out


def paint(classes, schema):
    """RGB picture of a class map using the schema's colours."""
    return schema.rgb_lut()[np.asarray(classes, dtype=np.uint8)]


def legend_handles(schema, ids=None):
    ids = schema.ids if ids is None else ids
    return [Patch(facecolor=np.array(c.rgb) / 255, edgecolor="0.3", label=f"{c.id} {c.name}")
            for c in schema.all_classes() if c.id in set(int(i) for i in ids)]


def plot_history(history, path, *, title="training"):
    """Loss and accuracy curves from a Keras history dict or DataFrame."""
    import pandas as pd

    h = pd.DataFrame(history)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ["loss", "accuracy"]):
        for col, style in [(key, "-"), (f"val_{key}", "--")]:
            if col in h:
                ax.plot(np.arange(1, len(h) + 1), h[col], style, label=col)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save(fig, path)


def plot_confusion(matrix, names, path, *, title="confusion matrix"):
    """Row-normalised confusion matrix with counts."""
    matrix = np.asarray(matrix, dtype=float)
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * n, 0.8 + 0.8 * n))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save(fig, path)


def plot_panels(panels, path, *, schema, title=None):
    """Side-by-side panels: ``panels`` is a list of (caption, array, kind) with kind "rgb" for
    pictures and "classes" for class maps; one legend from the schema below."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6))
    axes = np.atleast_1d(axes)
    shown = set()
    for ax, (caption, array, kind) in zip(axes, panels):
        if kind == "classes":
            ax.imshow(paint(array, schema), interpolation="nearest")
            shown |= set(np.unique(array).tolist())
        else:
            ax.imshow(array, interpolation="nearest")
        ax.set_title(caption, fontsize=10)
        ax.set_axis_off()
    handles = legend_handles(schema, [i for i in shown if i])
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=9,
                   frameon=False)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(bottom=0.14)
    return save(fig, path)


def plot_reliability(result, path, *, title="reliability"):
    """Reliability diagram of a :func:`csc.metrics.calibration` result: accuracy against
    mean confidence per bin (bar width = bin), the diagonal of perfect calibration, and the
    share of pixels per bin."""
    bins = result["bins"]
    lower = np.array([b["lower"] for b in bins])
    width = np.array([b["upper"] - b["lower"] for b in bins])
    acc = np.array([b["accuracy"] for b in bins])
    share = np.array([b["pixels"] for b in bins], dtype=float) / max(result["pixels"], 1)
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.6, 5.6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(lower, np.nan_to_num(acc), width=width, align="edge", color="#4c72b0",
           edgecolor="white", label="accuracy")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy on labelled pixels")
    ax.set_title(f"{title}\nECE {result['ece']:.3f} ({result['pixels']} pixels)")
    ax.legend(loc="upper left", fontsize=8)
    hist.bar(lower, share, width=width, align="edge", color="#999999", edgecolor="white")
    hist.set_xlim(0, 1)
    hist.set_xlabel("confidence")
    hist.set_ylabel("share of pixels")
    return save(fig, path)
