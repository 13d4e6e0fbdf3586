"""The tile set on disk, shared by the writer (``tiles``), the balancer (``thinning``) and
training: its splits, the memory-mapped arrays written atomically, per-class counts, the
reader of a tile-set folder, and a Keras ``PyDataset`` that feeds shuffled batches straight
from the memory maps (the arrays are never loaded whole into RAM)."""
import contextlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from csc.backend import load_keras
from csc.classes import ClassSchema
from csc.errors import EmptyTileSetError, ModelError
from csc.files import atomic_path
from csc.scaling import Scaling

#: split names of the arrays (``tiles_<split>.npy``) and their names in tables
SPLITS = ("train", "val")
SPLIT_NAMES = {"train": "train", "val": "validation"}


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
        meta = self.path / "tiles.json"
        if not meta.is_file():
            raise EmptyTileSetError(f"{self.path} is not a tile set (no tiles.json in it); "
                                    "cut tiles first with `csc tiles IMAGES_DIR "
                                    f"{self.path}`")
        try:
            self.meta = json.loads(meta.read_text())
            self.tile_size = int(self.meta["tile_size"])
            self.stride = int(self.meta["stride"])
            self.bands = tuple(int(b) for b in self.meta["bands"])
            self.scaling = Scaling.from_dict(self.meta["scaling"])
            self.schema = ClassSchema.from_dict(self.meta["schema"])
            self.dtype = np.dtype(self.meta["dtype"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EmptyTileSetError(f"{meta}: tile-set description is not valid ({exc}); "
                                    "cut the tiles again with `csc tiles`") from exc

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
        return int(self._load(self.files(split)[1], "r").shape[0])

    def _load(self, path, mmap_mode):
        if not path.is_file():
            raise EmptyTileSetError(f"{path} is missing from tile set {self.path}; cut the tiles "
                                    "again with `csc tiles`")
        return np.load(path, mmap_mode=mmap_mode)

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
                             + "; ".join(mismatches) + " (model vs tiles); cut the tiles with "
                             "the model's --tile-size, --bands, --scale and --classes")


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
