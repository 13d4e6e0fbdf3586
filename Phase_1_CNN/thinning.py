"""Class balancing of the training tiles: cap every class at ``max_per_class`` tiles by random
choice, and optionally bring rare classes up to it by repeating their tiles in random
orientations. Validation tiles are never touched."""
import contextlib
import dataclasses
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from csc import __version__
from csc.errors import EmptyTileSetError
from csc.files import write_csv, write_json
from csc.outputs import OutputSet, settle
from Phase_1_CNN.dataset import TileSet, counts_table, open_arrays
from Phase_1_CNN.tiles import N_ORIENTATIONS, TILESET, orient

log = logging.getLogger(__name__)


def thin_indices(labels, *, max_per_class, oversample=False, seed=0):
    """Indexes into ``labels`` (sorted) of a balanced selection: at most ``max_per_class`` of
    each class, chosen at random without replacement; with ``oversample`` a class with fewer
    tiles is brought up to ``max_per_class`` by repeating its tiles.

    Returns ``(index, repeat)``: ``repeat`` is 0 for a tile's first use and 1, 2, … for its
    repetitions."""
    labels = np.asarray(labels)
    if int(max_per_class) < 1:
        raise ValueError(f"max_per_class must be at least 1, got {max_per_class}")
    rng = np.random.default_rng(seed)
    chosen, repeats = [], []
    for class_id in np.unique(labels):
        members = np.flatnonzero(labels == class_id)
        if len(members) >= max_per_class:
            pick = np.sort(rng.choice(members, size=max_per_class, replace=False))
            chosen.append(pick)
            repeats.append(np.zeros(len(pick), dtype=np.int64))
        else:
            chosen.append(members)
            repeats.append(np.zeros(len(members), dtype=np.int64))
            if oversample:
                extra = np.sort(rng.choice(members, size=max_per_class - len(members),
                                           replace=True))
                # 1 for the first repetition of a tile, 2 for its second, ... (extra is sorted)
                rank = np.arange(len(extra)) - np.searchsorted(extra, extra, side="left") + 1
                chosen.append(extra)
                repeats.append(rank)
    index, repeat = np.concatenate(chosen), np.concatenate(repeats)
    order = np.lexsort((repeat, index))
    return index[order], repeat[order]


@dataclasses.dataclass
class ThinResult:
    """Training tiles per class before and after thinning."""

    before: pd.DataFrame
    after: pd.DataFrame

    def summary(self):
        table = self.before[["id", "class"]].assign(before=self.before["train"],
                                                    after=self.after["train"])
        return (f"{table.to_string(index=False)}\ntraining tiles: "
                f"{int(self.before['train'].sum())} -> {int(self.after['train'].sum())}")


def thin_tileset(tileset, *, max_per_class, oversample=False, seed=0, batch=2048):
    """Balance the training split of ``tileset`` (a ``TileSet`` or its folder) in place.

    The new set is written into a staging folder (the validation arrays linked, or copied,
    unchanged) and committed whole with ``csc tiles``'s journal (:class:`csc.outputs.OutputSet`
    keyed ``"tiles"``): a run stopped or killed at any moment leaves the old set or the new
    one, never arrays of one with tables of the other. Repeated tiles get a random
    orientation other than their own. Returns a :class:`ThinResult` (the per-class counts
    before and after)."""
    path = tileset.path if isinstance(tileset, TileSet) else Path(tileset)
    settle(path, TILESET)   # finish a commit a killed run left, so we read one complete set
    tileset = TileSet(path)
    before = tileset.counts()
    labels = tileset.labels("train")
    if len(labels) == 0:
        raise EmptyTileSetError(f"{tileset.path} has no training tiles to thin; cut tiles "
                                "with `csc tiles` first")
    index, repeat = thin_indices(labels, max_per_class=max_per_class, oversample=oversample,
                                 seed=seed)
    rng = np.random.default_rng([seed, 1])
    turn = np.where(repeat > 0, rng.integers(1, N_ORIENTATIONS, size=len(index)), 0)
    table = tileset.index()
    is_train = (table["split"] == "train").to_numpy()
    train_rows = table[is_train].set_index("index").loc[index].reset_index()
    with OutputSet(tileset.path, TILESET) as staged:
        stage = staged.folder
        source = tileset.tiles("train")
        with open_arrays(stage, "train", n=len(index), tile_shape=tileset.tile_shape,
                         dtype=source.dtype) as (tiles_out, labels_out):
            for start in range(0, len(index), batch):
                take = index[start:start + batch]
                tiles = np.asarray(source[take])
                for k in np.unique(turn[start:start + batch]):
                    if k:
                        sel = turn[start:start + batch] == k
                        tiles[sel] = orient(tiles[sel], int(k))
                tiles_out[start:start + len(take)] = tiles
                labels_out[start:start + len(take)] = labels[take]
            del source  # release the old map before the new file replaces it
        for kept in tileset.files("val"):
            _link_or_copy(kept, stage / kept.name)
        # the orientation of a turned tile composes with its stored orientation; record both
        train_rows["index"] = np.arange(len(index))
        train_rows["repeat"] = repeat
        train_rows["turn"] = turn
        others = table[~is_train].assign(repeat=0, turn=0)
        columns = list(dict.fromkeys(list(table.columns) + ["repeat", "turn"]))
        write_csv(stage / "tiles.csv", _concat(train_rows[columns], others[columns]))
        after = counts_table({"train": labels[index], "val": tileset.labels("val")},
                             tileset.schema)
        write_csv(stage / "counts.csv", after)
        meta = dict(tileset.meta)
        meta["counts"] = {col: dict(zip(after["class"], after[col].tolist()))
                          for col in ("train", "validation")}
        meta["thinning"] = {"max_per_class": int(max_per_class), "oversample": bool(oversample),
                            "seed": seed,
                            "before": dict(zip(before["class"], before["train"].tolist()))}
        write_json(stage / "tiles.json", meta)
        staged.commit({"command": "thin", "version": __version__, "counts": meta["counts"],
                       "thinning": meta["thinning"]})
    log.info("thinned %s: %d -> %d training tiles", tileset.path, len(labels), len(index))
    return ThinResult(before=before, after=after)


def _link_or_copy(src, dst):
    """``dst`` as a hard link to ``src`` (no copy of the data), or a copy where links fail."""
    with contextlib.suppress(FileNotFoundError):
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _concat(*frames):
    return pd.concat(frames, ignore_index=True)
