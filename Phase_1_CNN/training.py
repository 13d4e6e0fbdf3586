"""Training and fine-tuning of the phase-one VGG16 on a tile set.

Batches are read from the memory-mapped tile arrays (``dataset.tile_batches``), so a tile set
larger than RAM trains as well. Training stops when the validation accuracy reaches a target
or by early stopping (best weights restored). ``csc.backend.setup_backend`` picks the
distribution strategy: the model is built and compiled inside its scope, so a GPU node gets
mixed precision and all its GPUs without code changes.

Outputs beside ``MODEL.keras``: ``MODEL.json`` (the ``ModelCard`` sidecar), ``MODEL_history.csv``
and ``.png``, ``MODEL_CNN_validation.csv`` (per-class report on the validation tiles) and
``MODEL_run.json``, the manifest. They are committed as one set (:class:`csc.outputs.OutputSet`
keyed by the model's stem): written into ``.csc-MODEL.staging-<pid>/`` beside the model, then
moved into place under a journal, so a run stopped or killed at any moment leaves the earlier
model with its own sidecar (or, rolled forward by the next run on that model, the new pair),
never a new model with an old sidecar. ``finetune`` may write over the model it starts from
(``OUT`` = ``MODEL``): the replacement is that same commit. A model is never written inside the
tile set it trains on (``OutputError``): ``csc tiles`` replaces that folder's set as a whole and
the sidecar ``tiles.json`` of a model named ``tiles`` would be the tile set's description.
"""
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from csc import __version__
from csc.backend import device_name, load_keras, setup_backend
from csc.errors import EmptyTileSetError, ModelError, OutputError
from csc.figures import plot_history
from csc.files import write_csv
from csc.metrics import class_report, summary_scores, write_report
from csc.modelcard import ModelCard, load_card, sidecar_path
from csc.outputs import OutputSet, settle
from Phase_1_CNN.dataset import TILESET, TileSet, tile_batches
from Phase_1_CNN.model import (build_vgg16, compile_model, load_imagenet_weights, load_model,
                               predict_classes)

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainingResult:
    """What a training run wrote and measured."""

    model_path: Path
    card: object               # csc.modelcard.ModelCard
    history: pd.DataFrame      # one row per epoch (all runs for a fine-tuned model)
    report: pd.DataFrame       # per-class report on the validation tiles
    files: dict                # name -> path of every output

    @property
    def run(self):
        """Figures of the latest run (epochs, best_val_accuracy, seconds_per_epoch, ...)."""
        return self.card.training["runs"][-1]

    def summary(self):
        """What ``csc train``/``finetune`` print: the validation report, how training
        stopped, and the files written."""
        run = self.run
        return "\n".join([
            self.report.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
            f"{run['epochs']} epoch(s), stopped by {run['stopped_by']}; best validation "
            f"accuracy {run['best_val_accuracy']:.3f} at epoch {run['best_epoch']}; "
            f"{run.get('seconds_per_epoch'):.1f} s per epoch on {run['device']}",
            "wrote " + ", ".join(str(p) for p in self.files.values())])


def output_paths(model_path):
    """Paths of the files written beside ``model_path``."""
    model_path = Path(model_path)
    stem = model_path.with_suffix("")
    return {"model": model_path, "sidecar": sidecar_path(model_path),
            "history_csv": Path(f"{stem}_history.csv"),
            "history_png": Path(f"{stem}_history.png"),
            "report": Path(f"{stem}_CNN_validation.csv")}


def _check_model_path(path):
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelError(f"{path}: a model file must end in .keras (Keras format); "
                         f"use {path.with_suffix('.keras').name}")
    return path


def _open_tiles(tiles_dir, model_path):
    """The tile set in ``tiles_dir`` (an interrupted commit rolled forward first);
    ``OutputError`` when ``model_path`` lies inside it."""
    tiles_dir, model_path = Path(tiles_dir), Path(model_path)
    if tiles_dir.is_dir() and tiles_dir.resolve() in model_path.resolve().parents:
        raise OutputError(f"{model_path} is inside the tile set {tiles_dir}; write the model "
                          f"outside it, e.g. {tiles_dir.resolve().parent / model_path.name}")
    settle(tiles_dir, TILESET)
    return TileSet(tiles_dir)


def _check_tiles(tileset):
    n_train, n_val = tileset.n("train"), tileset.n("val")
    if n_train == 0:
        raise EmptyTileSetError(f"{tileset.path} holds no training tiles; cut tiles with "
                                "`csc tiles`")
    if n_val == 0:
        raise EmptyTileSetError(f"{tileset.path} holds no validation tiles, which training "
                                "needs to stop and to report; cut the tiles again with `csc "
                                "tiles --val-fraction 0.2` (or a smaller --block-size)")
    tileset.check_trainable()   # one class: an error; missing classes: warnings with counts
    return n_train, n_val


_CLASSES = {}


def _callbacks(*, target_accuracy, patience):
    """The target-accuracy stop, early stopping (best weights restored) and an epoch timer."""
    if "callbacks" not in _CLASSES:
        _CLASSES["callbacks"] = _define_callbacks()
    TargetAccuracy, EpochTimer = _CLASSES["callbacks"]
    keras = load_keras()
    target = TargetAccuracy(target_accuracy)
    early = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                          patience=int(patience), restore_best_weights=True)
    timer = EpochTimer()
    return target, early, timer


def _define_callbacks():
    keras = load_keras()

    class TargetAccuracy(keras.callbacks.Callback):
        """Stop once the validation accuracy reaches ``target``."""

        def __init__(self, target):
            super().__init__()
            self.target = target
            self.reached = None

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get("val_accuracy")
            if self.target and value is not None and value >= self.target:
                self.reached = epoch + 1
                self.model.stop_training = True

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return TargetAccuracy, EpochTimer


def _fit(model, tileset, *, epochs, batch_size, target_accuracy, patience, seed, verbose):
    """Fit ``model`` on the tile set; the history (one row per epoch) and the run figures."""
    n_train, n_val = _check_tiles(tileset)
    train = tile_batches(tileset, "train", batch_size=batch_size, shuffle=True, seed=seed)
    val = tile_batches(tileset, "val", batch_size=batch_size, shuffle=False)
    target, early, timer = _callbacks(target_accuracy=target_accuracy, patience=patience)
    log.info("training on %d tiles, validating on %d", n_train, n_val)
    fitted = model.fit(train, validation_data=val, epochs=int(epochs), verbose=verbose,
                       callbacks=[target, early, timer])
    history = pd.DataFrame(fitted.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    history["seconds"] = timer.seconds[:len(history)]
    best = int(history["val_accuracy"].idxmax())
    stopped_by = ("target accuracy" if target.reached else
                  "early stopping" if early.stopped_epoch > 0 else "epochs")
    run = {"epochs": int(len(history)), "best_epoch": best + 1,
           "best_val_accuracy": float(history["val_accuracy"].iloc[best]),
           # the first epoch includes graph tracing; later ones show the steady speed
           "seconds_per_epoch": _steady_seconds(timer.seconds),
           "seconds_first_epoch": float(timer.seconds[0]) if timer.seconds else None,
           "stopped_by": stopped_by, "batch_size": int(batch_size),
           "target_accuracy": target_accuracy, "patience": int(patience), "seed": seed,
           "tiles": str(tileset.path), "n_train": n_train, "n_val": n_val,
           "tile_counts": {col: dict(zip(c["class"], c[col].tolist()))
                           for c in [tileset.counts()] for col in ("train", "validation")}}
    return history, run


def validation_report(model, tileset, *, batch_size=256):
    """Per-class report (csc.metrics.class_report) of the model's tile predictions against
    the validation tiles' labels, and the predicted class ids."""
    truth = tileset.labels("val")
    pred, _ = predict_classes(model, tileset.tiles("val"), tileset.schema,
                              batch_size=batch_size)
    return class_report(truth, pred, schema=tileset.schema), pred


def _save(model, card, history, report, model_path, *, command):
    """Stage every output of a training run, then commit them together (manifest
    ``<stem>_run.json``); returns their final paths."""
    paths = output_paths(model_path)
    with OutputSet(paths["model"].parent, paths["model"].stem) as staged:
        model.save(staged.path(paths["model"].name))
        card.save(staged.path(paths["model"].name))
        write_csv(staged.path(paths["history_csv"].name), history.round(6))
        plot_history(history, staged.path(paths["history_png"].name),
                     title=f"training of {paths['model'].name}")
        write_report(staged.path(paths["report"].name), report)
        staged.commit({"command": command, "version": __version__,
                       "model": paths["model"].name, "training": card.training})
    return paths


def train(tiles_dir, model_path, *, epochs=20, batch_size=32, target_accuracy=0.985,
          patience=5, width=1.0, weights=None, learning_rate=1e-4, seed=0, verbose=0):
    """Train a VGG16 tile classifier on the tile set in ``tiles_dir`` and save it to
    ``model_path`` (``.keras``) with its sidecar, history and validation report.

    ``width`` scales every convolution filter count (1.0 is the published network).
    ``weights`` is a local VGG16 'notop' ImageNet weights file (``.h5``), copied into the
    convolutional layers (full width only); bands beyond the third start from the RGB mean.
    Adam (amsgrad) at ``learning_rate``. Returns a ``TrainingResult``."""
    model_path = _check_model_path(model_path)
    tileset = _open_tiles(tiles_dir, model_path)
    _check_tiles(tileset)
    if weights is not None and float(width) != 1.0:
        raise ModelError(f"ImageNet weights ({weights}) fit the full-width VGG16 only, but "
                         f"--width is {width}; train at --width 1.0 or drop --weights")
    strategy = setup_backend(seed=seed)
    with strategy.scope():
        model = build_vgg16(tileset.tile_size, tileset.n_bands, tileset.schema.n_classes,
                            width=width)
        if weights is not None:
            load_imagenet_weights(model, weights)
        compile_model(model, learning_rate=learning_rate)
    history, run = _fit(model, tileset, epochs=epochs, batch_size=batch_size,
                        target_accuracy=target_accuracy, patience=patience, seed=seed,
                        verbose=verbose)
    report, _ = validation_report(model, tileset)
    run.update(kind="train", learning_rate=learning_rate, width=float(width),
               weights=None if weights is None else str(weights), device=device_name(),
               params=int(model.count_params()), validation=_scores(report))
    history.insert(0, "run", 1)
    card = ModelCard(tile_size=tileset.tile_size, bands=tileset.bands, scaling=tileset.scaling,
                     schema=tileset.schema, width=float(width), kind="vgg16",
                     training={**_latest(run), "runs": [run]})
    files = _save(model, card, history, report, model_path, command="train")
    return TrainingResult(model_path=model_path, card=card, history=history, report=report,
                          files=files)


def finetune(model_path, tiles_dir, out_path, *, learning_rate=1e-5, epochs=10, batch_size=32,
             target_accuracy=0.985, patience=5, seed=0, verbose=0):
    """Continue training the model at ``model_path`` on the tile set in ``tiles_dir`` and save
    it to ``out_path`` with its sidecar (training runs appended) and history.

    The tile set must match the model's tile size, bands, scaling and classes (``ModelError``
    naming both otherwise)."""
    out_path = _check_model_path(out_path)
    model_path = Path(model_path)
    tileset = _open_tiles(tiles_dir, out_path)
    settle(model_path.parent, model_path.stem)   # a commit of this model a kill interrupted
    old = load_card(model_path)
    tileset.check_compatible(tile_size=old.tile_size, bands=old.bands, scaling=old.scaling,
                             schema=old.schema, what=str(model_path))
    _check_tiles(tileset)
    strategy = setup_backend(seed=seed)
    with strategy.scope():
        model, card = load_model(model_path)
        compile_model(model, learning_rate=learning_rate)
    history, run = _fit(model, tileset, epochs=epochs, batch_size=batch_size,
                        target_accuracy=target_accuracy, patience=patience, seed=seed,
                        verbose=verbose)
    report, _ = validation_report(model, tileset)
    runs = list(card.training.get("runs", []))
    run.update(kind="finetune", learning_rate=learning_rate, width=float(card.width),
               finetuned_from=str(model_path), device=device_name(),
               params=int(model.count_params()), validation=_scores(report))
    runs.append(run)
    history.insert(0, "run", len(runs))
    previous = output_paths(model_path)["history_csv"]
    if previous.is_file():
        history = pd.concat([pd.read_csv(previous), history], ignore_index=True)
    new_card = ModelCard(tile_size=card.tile_size, bands=card.bands, scaling=card.scaling,
                         schema=card.schema, width=card.width, kind=card.kind,
                         training={**_latest(run), "runs": runs})
    files = _save(model, new_card, history, report, out_path, command="finetune")
    return TrainingResult(model_path=out_path, card=new_card, history=history, report=report,
                          files=files)


def _steady_seconds(seconds):
    if not seconds:
        return None
    return float(np.mean(seconds[1:] if len(seconds) > 1 else seconds))


def _scores(report):
    return {k: (None if not np.isfinite(v) else round(v, 6))
            for k, v in summary_scores(report).items()}


def _latest(run):
    keys = ("kind", "epochs", "best_epoch", "best_val_accuracy", "seconds_per_epoch",
            "stopped_by", "learning_rate", "n_train", "n_val", "tile_counts")
    return {k: run[k] for k in keys if k in run}
