"""The tile set on disk, shared by the writer (``tiles``), the balancer (``thinning``) and
training: its splits, the memory-mapped arrays written atomically, per-class counts, the
reader of a tile-set folder, and a Keras ``PyDataset`` that feeds shuffled batches straight
from the memory maps (the arrays are never loaded whole into RAM)."""
import contextlib
import dataclasses
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from csc.backend import load_keras
from csc.classes import ClassSchema
from csc.errors import EmptyTileSetError, ModelError
from csc.files import atomic_path
from csc.outputs import settle
from csc.scaling import Scaling

log = logging.getLogger(__name__)

#: split names of the arrays (``tiles_<split>.npy``) and their names in tables
SPLITS = ("train", "val")
SPLIT_NAMES = {"train": "train", "val": "validation"}
#: The key of a tile set's committed output set (its manifest is ``tiles_run.json``).
TILESET = "tiles"


@contextlib.contextmanager
def open_arrays(out_dir, split, *, n, tile_shape, dtype):
    """Allocate ``tiles_<split>.npy`` (n, *tile_shape) and ``labels_<split>.npy`` (n,) uint8
    once, as memory maps in temporary files that replace the targets only when the block
    exits without error. Yields the two writable arrays."""
    out_dir = Path(out_dir)
    with atomic_path(out_dir / f"tiles_{split}.npy") as tiles_tmp, \
            atomic_path(out_dir / f"labels_{split}.npy") as labels_tmp:
        tiles = np.lib.format.open_memmap(tiles_tmp, mode="w+", dtype=np.dtype(dtype),
                                          shape=(int(n),) + tuple(tile_shape))
        labels = np.lib.format.open_memmap(labels_tmp, mode="w+", dtype=np.uint8,
                                           shape=(int(n),))
        yield tiles, labels
        tiles.flush()
        labels.flush()
        del tiles, labels


def counts_table(labels_by_split, schema):
    """Per-class tile counts: id, class, train, validation, total."""
    rows = []
    for class_id, name in zip(schema.ids.tolist(), schema.names):
        row = {"id": class_id, "class": name}
        for split in SPLITS:
            row[SPLIT_NAMES[split]] = int(np.sum(np.asarray(labels_by_split[split]) == class_id))
        row["total"] = row["train"] + row["validation"]
        rows.append(row)
    return pd.DataFrame(rows, columns=["id", "class", "train", "validation", "total"])


class TileSet:
    """A tile-set folder: ``tiles.json`` plus ``tiles_<split>.npy`` / ``labels_<split>.npy``
    (split ``"train"`` or ``"val"``), ``tiles.csv`` and ``counts.csv``."""

    def summary(self):
        """What ``csc tiles`` prints: positions kept per image, the class counts, the scaling
        and the arrays written."""
        lines = []
        for rec in self.meta.get("images", []):
            lines.append(f"{Path(rec['image']).name}: {rec['kept']} of {rec['positions']} "
                         f"positions kept ({rec['rejected_unlabelled']} too unlabelled, "
                         f"{rec['rejected_purity']} impure); {rec['train']} train, "
                         f"{rec['validation']} validation, {rec['dropped_overlap']} dropped "
                         "for overlapping validation")
        lines.append(self.counts().to_string(index=False))
        lines.append(f"scaling {self.scaling.describe()}; {self.n('train')} training and "
                     f"{self.n('val')} validation tiles of {self.tile_shape} {self.dtype} in "
                     f"{self.path}")
        return "\n".join(lines)

    def __init__(self, path):
        self.path = Path(path)
        if self.path.is_dir():
            settle(self.path, TILESET)   # a commit a kill interrupted: read the complete set
        meta = self.path / "tiles.json"
        if not meta.is_file():
            raise EmptyTileSetError(f"{self.path} is not a tile set (no tiles.json in it); "
                                    "cut tiles first with `csc tiles IMAGES_DIR "
                                    f"{self.path}`")
        self._read_meta(meta)
        self.headers = {split: self._check_split_files(split) for split in SPLITS}
        self._check_counts()

    # -- opening: every check reads headers and small tables only, never the tile arrays --
    def _read_meta(self, meta):
        redo = "cut the tiles again with `csc tiles`"
        try:
            self.meta = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EmptyTileSetError(f"{meta}: tile-set description is not readable JSON "
                                    f"({_reason(exc)}); {redo}") from exc
        if not isinstance(self.meta, dict):
            raise EmptyTileSetError(f"{meta}: tile-set description must be a JSON object, "
                                    f"found {type(self.meta).__name__}; {redo}")
        field = None
        try:
            for field in ("tile_size", "stride", "bands", "scaling", "schema", "dtype"):
                if field not in self.meta:
                    raise EmptyTileSetError(f"{meta}: tile-set description has no field "
                                            f"{field!r}; {redo}")
            field = "tile_size"
            self.tile_size = _whole(self.meta["tile_size"], low=1)
            field = "stride"
            self.stride = _whole(self.meta["stride"], low=1)
            field = "bands"
            bands = self.meta["bands"]
            if not isinstance(bands, list) or not bands:
                raise TypeError("expected a list of 1-based band numbers")
            self.bands = tuple(_whole(b, low=1) for b in bands)
            field = "scaling"
            if not isinstance(self.meta["scaling"], dict):
                raise TypeError("expected an object")
            self.scaling = Scaling.from_dict(self.meta["scaling"])
            field = "schema"
            if not isinstance(self.meta["schema"], dict):
                raise TypeError("expected an object")
            self.schema = ClassSchema.from_dict(self.meta["schema"])
            field = "dtype"
            self.dtype = np.dtype(self.meta["dtype"])
            if self.dtype.kind != "f":
                raise TypeError(f"expected float16 or float32, got {self.dtype}")
        except EmptyTileSetError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmptyTileSetError(f"{meta}: tile-set description is not valid (field "
                                    f"{field!r}: {_reason(exc)}); {redo}") from exc

    def _check_split_files(self, split):
        """The (shape, dtype) headers of the two arrays of ``split``, checked against each
        other, tiles.json and the file sizes."""
        tiles_path, labels_path = self.files(split)
        tiles = _npy_header(tiles_path, self.path)
        labels = _npy_header(labels_path, self.path)
        redo = "cut the tiles again with `csc tiles`"
        if tiles.shape[1:] != self.tile_shape:
            raise EmptyTileSetError(f"{tiles_path} holds tiles of shape {tiles.shape[1:]} but "
                                    f"tiles.json describes {self.tile_shape} (tile size, tile "
                                    f"size, bands); the tile set is mixed, {redo}")
        if tiles.dtype != self.dtype:
            raise EmptyTileSetError(f"{tiles_path} holds {tiles.dtype} tiles but tiles.json "
                                    f"describes {self.dtype}; the tile set is mixed, {redo}")
        if len(labels.shape) != 1 or labels.dtype != np.uint8:
            raise EmptyTileSetError(f"{labels_path} must hold one uint8 class id per tile, "
                                    f"found {labels.dtype} of shape {labels.shape}; {redo}")
        if tiles.shape[0] != labels.shape[0]:
            raise EmptyTileSetError(f"tile set {self.path} is mixed (an interrupted run?): "
                                    f"{tiles_path.name} holds {tiles.shape[0]} tiles but "
                                    f"{labels_path.name} {labels.shape[0]} labels; {redo}")
        return {"tiles": tiles, "labels": labels}

    def _check_counts(self):
        """Tiles per split in the arrays against tiles.csv (the index) and tiles.json."""
        found = {s: self.headers[s]["labels"].shape[0] for s in SPLITS}
        redo = "cut the tiles again with `csc tiles`"
        index = self.path / "tiles.csv"
        listed = None
        if index.is_file():
            try:
                split_column = pd.read_csv(index, usecols=["split"])["split"]
            except (ValueError, OSError, pd.errors.ParserError) as exc:
                raise EmptyTileSetError(f"{index}: tile index is not readable "
                                        f"({_reason(exc)}); {redo}") from exc
            listed = {s: int((split_column == SPLIT_NAMES[s]).sum()) for s in SPLITS}
            if listed != found:
                raise EmptyTileSetError(
                    f"tile set {self.path} is mixed (an interrupted run?): the arrays hold "
                    f"{_describe(found)} tiles but tiles.csv lists {_describe(listed)}; {redo}")
        counts = self.meta.get("counts")
        if counts is None:
            return
        try:
            described = {s: int(sum(_whole(v, low=0)
                                    for v in counts[SPLIT_NAMES[s]].values()))
                         for s in SPLITS}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmptyTileSetError(f"{self.path / 'tiles.json'}: tile-set description is not "
                                    f"valid (field 'counts': {_reason(exc)}); {redo}") from exc
        if described != found:
            if listed == found:   # arrays and index agree: only the summary is stale
                log.info("%s: tiles.json counts %s are stale (arrays and tiles.csv hold %s)",
                         self.path, described, found)
                return
            raise EmptyTileSetError(
                f"tile set {self.path} is mixed (an interrupted run?): the arrays hold "
                f"{_describe(found)} tiles but tiles.json counts {_describe(described)}; "
                f"{redo}")

    def __repr__(self):
        return (f"TileSet({str(self.path)!r}, tile_size={self.tile_size}, bands={self.bands}, "
                f"train={self.n('train')}, val={self.n('val')})")

    @property
    def n_bands(self):
        return len(self.bands)

    @property
    def tile_shape(self):
        return self.tile_size, self.tile_size, self.n_bands

    def files(self, split):
        """(tiles, labels) paths of a split."""
        _check_split(split)
        return self.path / f"tiles_{split}.npy", self.path / f"labels_{split}.npy"

    def tiles(self, split, *, mmap_mode="r"):
        """Tiles (n, T, T, bands) of a split, memory-mapped read-only by default."""
        return self._load(self.files(split)[0], mmap_mode)

    def labels(self, split):
        """Class ids (n,) uint8 of a split."""
        return np.asarray(self._load(self.files(split)[1], None))

    def n(self, split):
        """Number of tiles in a split (read from the array header, no data loaded)."""
        _check_split(split)
        return int(_npy_header(self.files(split)[1], self.path).shape[0])

    def _load(self, path, mmap_mode):
        _npy_header(path, self.path)  # missing, cut short or not an array: one clear error
        try:
            return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise EmptyTileSetError(f"{path} is not a readable tile array ({_reason(exc)}); "
                                    "cut the tiles again with `csc tiles`") from exc

    def counts(self):
        """Per-class tile counts (id, class, train, validation, total) of the arrays."""
        return counts_table({s: self.labels(s) for s in SPLITS}, self.schema)

    def index(self):
        """The tiles.csv table: image, row, col, class, class_name, split, index,
        augmentation."""
        return pd.read_csv(self.path / "tiles.csv")

    def check_compatible(self, *, tile_size, bands, scaling, schema, what):
        """Raise ``ModelError`` naming both sides when this tile set does not match a model
        (``what`` names the model, e.g. its path)."""
        mismatches = []
        if int(tile_size) != self.tile_size:
            mismatches.append(f"tile size {tile_size} vs {self.tile_size}")
        if tuple(bands) != self.bands:
            mismatches.append(f"bands {list(bands)} vs {list(self.bands)}")
        if scaling.to_dict() != self.scaling.to_dict():
            mismatches.append(f"scaling {scaling.describe()} vs {self.scaling.describe()}")
        if (schema.ids.tolist(), schema.names) != (self.schema.ids.tolist(), self.schema.names):
            mismatches.append(f"classes {schema.describe_ids()} vs "
                              f"{self.schema.describe_ids()}")
        if mismatches:
            raise ModelError(f"model {what} does not match tile set {self.path}: "
                             + "; ".join(mismatches) + " (model vs tiles); cut the tiles again "
                             "with `csc tiles` and the model's --tile-size, --bands, --scale "
                             "and --classes")


    def check_trainable(self):
        """Refuse a tile set nothing can be learnt from; return warnings about a weak one.

        One class only among the training tiles is a ``EmptyTileSetError`` with the counts.
        Warnings (a list of one-line texts, also logged): classes of the schema without
        training tiles, and a validation set of one class (its accuracy then measures
        nothing). Reads the label arrays only."""
        counts = self.counts()
        table = ", ".join(f"{name} {train}/{val}" for name, train, val in
                          zip(counts["class"], counts["train"], counts["validation"]))
        trained = counts[counts["train"] > 0]
        if len(trained) < 2:
            found = ("no training tiles" if trained.empty else
                     f"training tiles of one class only ({trained['class'].iloc[0]})")
            raise EmptyTileSetError(
                f"tile set {self.path} holds {found}; a classifier needs at least two "
                f"classes (train/validation tiles per class: {table}); label more classes, or "
                "cut the tiles again with `csc tiles` and a lower --purity or --stride")
        warnings = []
        empty = counts[counts["train"] == 0]
        if not empty.empty:
            warnings.append(
                f"tile set {self.path}: classes {', '.join(empty['class'])} of the schema have "
                f"no training tiles, so the model will never predict them (train/validation "
                f"tiles per class: {table})")
        validated = counts[counts["validation"] > 0]
        if len(validated) == 1:
            warnings.append(
                f"tile set {self.path}: the validation tiles are all of one class "
                f"({validated['class'].iloc[0]}, {int(validated['validation'].iloc[0])} "
                "tiles), so the validation accuracy is not a measure of anything; cut the "
                "tiles again with `csc tiles` and a larger --val-fraction or --block-size, "
                "or --split image")
        for text in warnings:
            log.warning("%s", text)
        return warnings


@dataclasses.dataclass(frozen=True)
class _Header:
    shape: tuple
    dtype: np.dtype


def _npy_header(path, tileset):
    """(shape, dtype) of the ``.npy`` file at ``path`` from its header alone, after checking
    the file holds every byte the header announces."""
    path = Path(path)
    redo = "cut the tiles again with `csc tiles`"
    if not path.is_file():
        raise EmptyTileSetError(f"{path} is missing from tile set {tileset}; {redo}")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
    except (ValueError, OSError, SyntaxError, TypeError) as exc:
        raise EmptyTileSetError(f"{path} is cut short or not a NumPy array file "
                                f"({_reason(exc)}); the tile set is damaged, {redo}") from exc
    if dtype.hasobject:
        raise EmptyTileSetError(f"{path} holds Python objects, not tiles; {redo}")
    expected = offset + math.prod(shape) * dtype.itemsize
    size = path.stat().st_size
    if size < expected:
        raise EmptyTileSetError(f"{path} is cut short: {size} bytes of the {expected} its "
                                f"header announces (an interrupted copy or write?); {redo}, "
                                "or copy the tile set again")
    return _Header(tuple(int(n) for n in shape), dtype)


def _whole(value, *, low):
    """``value`` as an int ≥ ``low``; ``TypeError``/``ValueError`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a whole number, got {value!r}")
    if not math.isfinite(value) or value != int(value) or value < low:
        raise ValueError(f"expected a whole number ≥ {low}, got {value!r}")
    return int(value)


def _reason(exc):
    text = str(exc).strip() or type(exc).__name__
    return f"missing {text}" if isinstance(exc, KeyError) else text


def _describe(per_split):
    return f"{per_split['train']} train / {per_split['val']} validation"


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


_CLASSES = {}


def tile_batches(tileset, split, *, batch_size=32, shuffle=True, seed=0, **kwargs):
    """A ``keras.utils.PyDataset`` of (tiles float32, class index int32) batches read from
    the memory-mapped split of ``tileset``; reshuffled every epoch from ``seed``."""
    if "TileBatches" not in _CLASSES:
        _CLASSES["TileBatches"] = _define_tile_batches()
    return _CLASSES["TileBatches"](tileset, split, batch_size=batch_size, shuffle=shuffle,
                                   seed=seed, **kwargs)


def _define_tile_batches():
    keras = load_keras()

    class TileBatches(keras.utils.PyDataset):
        """Batches of a tile-set split straight from its memory map."""

        def __init__(self, tileset, split, *, batch_size=32, shuffle=True, seed=0, **kwargs):
            super().__init__(**kwargs)
            self.tiles = tileset.tiles(split)
            self.index = tileset.schema.to_index(tileset.labels(split)).astype(np.int32)
            if np.any(self.index < 0):
                raise EmptyTileSetError(f"{tileset.path}: labels_{split}.npy holds ids outside "
                                        "the tile set's class schema; cut the tiles again")
            self.batch_size = int(batch_size)
            self.shuffle = shuffle
            self.rng = np.random.default_rng(seed)
            self.order = np.arange(len(self.index))
            if shuffle:
                self.rng.shuffle(self.order)

        def __len__(self):
            return -(-len(self.order) // self.batch_size)

        def __getitem__(self, i):
            # sorted indexes read the memory map in file order; the batch stays shuffled
            # across batches and epochs
            take = np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size])
            return np.asarray(self.tiles[take], dtype=np.float32), self.index[take]

        def on_epoch_end(self):
            if self.shuffle:
                self.rng.shuffle(self.order)

    return TileBatches
