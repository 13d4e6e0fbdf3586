"""Tiles cut from labelled images: which positions make a training tile, the leak-free
train/validation split, augmentation, and the tile set written to disk.

A position is kept when at most ``max_unlabelled`` of its pixels are unlabelled (label 0) or
nodata, and its dominant class — the mode of its labelled pixels — covers at least ``purity``
of them. Every position of the grid is examined, last row and column included
(``csc.tiling.tile_grid``); per-class pixel counts come from summed-area tables
(``csc.tiling.window_sums``), never from loops over pixels.

The tile set is a folder::

    tiles_train.npy   (n, T, T, bands) float16|float32, memory-mappable
    labels_train.npy  (n,) uint8 class ids
    tiles_val.npy, labels_val.npy
    tiles.csv         image, row, col, class, class_name, split, index, augmentation
    counts.csv        per-class tile counts per split
    tiles.json        tile size, stride, bands, scaling, schema, rules, split, dtype, per image
    tiles_run.json    the manifest: every file of the set with its size and SHA-256

The set is committed as a whole (:class:`csc.outputs.OutputSet` keyed ``"tiles"``): it is
written into ``OUT_DIR/.csc-tiles.staging-<pid>/`` and moved into place under a journal, so a
run stopped or killed at any moment leaves the earlier tile set complete (or, once rolled
forward by the next ``csc tiles``/``thin``/``train`` on the folder, the new one), never a mix,
and an earlier set's files the new one does not hold are removed. Other files in ``OUT_DIR``
are left alone. ``OUT_DIR`` may not be the folder of the images (nor hold them), so a tile set
never mixes with the scenes it was cut from; a sub-folder of it is fine (scenes are not
searched recursively).
"""
import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from csc import __version__
from csc.classes import GLACIER, UNLABELLED
from csc.errors import EmptyTileSetError, OutputError
from csc.files import output_folder, write_csv, write_json
from csc.outputs import OutputSet
from csc.pixels import resolve_scaling
from csc.rasters import common_bands, raster_info, read_image
from csc.scenes import find_scenes, open_scene
from csc.tiling import extract_tiles, tile_grid, window_sums
from Phase_1_CNN.dataset import (SPLIT_NAMES, SPLITS, TILESET, TileSet, counts_table,
                                 open_arrays)

log = logging.getLogger(__name__)

N_ORIENTATIONS = 8
#: image rows read at once; bounds memory on large scenes
STRIP_ROWS = 1024
#: tiles scaled and written per step
WRITE_BATCH = 2048


# --------------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TileSelection:
    """The tile positions of one image that pass the rules, and why the others failed."""

    rows: np.ndarray          # origins of kept tiles
    cols: np.ndarray
    classes: np.ndarray       # uint8 class id (the mode) of each kept tile
    purity: np.ndarray        # fraction of the labelled pixels in the dominant class
    n_positions: int          # positions examined
    rejected_unlabelled: int  # positions with too many unlabelled / nodata pixels
    rejected_purity: int      # positions whose dominant class is not pure enough
    best_purity: float        # highest purity among positions passing the unlabelled rule
    least_unlabelled: float   # lowest unlabelled fraction among all positions

    @property
    def n(self):
        return len(self.rows)

    def subset(self, keep):
        """The selection restricted to ``keep`` (a boolean mask or index array)."""
        return dataclasses.replace(self, rows=self.rows[keep], cols=self.cols[keep],
                                   classes=self.classes[keep], purity=self.purity[keep])


def origin_groups(rows, *, tile_size, strip_rows=STRIP_ROWS):
    """Group tile row origins into strips of about ``strip_rows`` image rows.

    Yields ``(first_origin, last_origin, mask)``; the rows to read are
    ``first_origin:last_origin + tile_size``."""
    rows = np.asarray(rows)
    if len(rows) == 0:
        return
    origins = np.unique(rows)
    group = (origins - origins[0]) // max(strip_rows - tile_size, 1)
    for g in np.unique(group):
        members = origins[group == g]
        yield int(members[0]), int(members[-1]), (rows >= members[0]) & (rows <= members[-1])


def class_counts(labels, *, tile_size, rows, cols, ids, strip_rows=STRIP_ROWS):
    """Pixel counts (n, len(ids)) of each class id in the tiles at ``rows``, ``cols``.

    One summed-area table per class and per strip of tile rows, so memory stays bounded by
    the strip whatever the image size."""
    labels = np.asarray(labels)
    rows, cols = np.asarray(rows), np.asarray(cols)
    counts = np.zeros((len(rows), len(ids)), dtype=np.int64)
    for first, last, in_strip in origin_groups(rows, tile_size=tile_size,
                                               strip_rows=strip_rows):
        strip = labels[first:last + tile_size]
        for k, class_id in enumerate(ids):
            counts[in_strip, k] = window_sums(strip == class_id, tile_size,
                                              rows[in_strip] - first, cols[in_strip])
    return counts


def select_tiles(labels, *, tile_size, stride, schema=GLACIER, valid=None, purity=0.95,
                 max_unlabelled=0.10):
    """Tile positions of a label raster that make training tiles.

    ``valid`` (rows, cols) marks image pixels holding data; nodata counts as unlabelled.
    The class of a kept tile is its mode (most frequent labelled class), never its median;
    its purity is the share of the labelled pixels in that class."""
    labels = np.asarray(labels)
    if valid is not None:
        labels = np.where(np.asarray(valid, dtype=bool), labels, UNLABELLED)
    rows, cols = tile_grid(labels.shape, tile_size, stride)
    counts = class_counts(labels, tile_size=tile_size, rows=rows, cols=cols, ids=schema.ids)
    labelled = counts.sum(axis=1)
    unlabelled = 1.0 - labelled / float(tile_size * tile_size)
    dominant = counts.argmax(axis=1) if len(rows) else np.zeros(0, dtype=np.int64)
    top = counts.max(axis=1) if len(rows) else np.zeros(0, dtype=np.int64)
    tile_purity = top / np.maximum(labelled, 1)
    ok_unlabelled = (unlabelled <= max_unlabelled + 1e-9) & (labelled > 0)
    ok_purity = tile_purity >= purity - 1e-9
    keep = ok_unlabelled & ok_purity
    return TileSelection(
        rows=rows[keep], cols=cols[keep], classes=schema.ids[dominant[keep]],
        purity=tile_purity[keep], n_positions=len(rows),
        rejected_unlabelled=int((~ok_unlabelled).sum()),
        rejected_purity=int((ok_unlabelled & ~ok_purity).sum()),
        best_purity=float(tile_purity[ok_unlabelled].max()) if ok_unlabelled.any() else np.nan,
        least_unlabelled=float(unlabelled.min()) if len(rows) else np.nan)


def tile_image(data, rows, cols, *, tile_size, scaling, dtype=np.float32):
    """Scaled tiles (n, T, T, bands) cut from an image array (rows, cols, bands)."""
    tiles = extract_tiles(np.asarray(data), tile_size, np.asarray(rows), np.asarray(cols))
    return scaling.apply(tiles).astype(dtype, copy=False)


# --------------------------------------------------------------------------------------------
# augmentation
# --------------------------------------------------------------------------------------------
def orient(tiles, k):
    """Orientation ``k`` (0..7) of the dihedral group applied to tiles (n, T, T, ...):
    ``k % 4`` quarter turns, then a left-right flip when ``k >= 4``. ``k = 0`` is identity."""
    out = np.rot90(tiles, k % 4, axes=(1, 2))
    return out[:, :, ::-1] if k >= 4 else out


def augment_tiles(tiles, *, noise=0.0, rng=None):
    """The 8 rotations/flips of each tile, (8n, T, T, bands) float32 in tile order, and the
    orientation code (0..7) of each output.

    ``noise`` adds uniform noise in ±``noise`` (scaled units) to the seven new orientations —
    in float, after scaling — clipped to [0, max(1, tile maximum)], so dark and saturated
    pixels stay dark and saturated (integers never wrap)."""
    tiles = np.asarray(tiles, dtype=np.float32)
    n = len(tiles)
    out = np.empty((n, N_ORIENTATIONS) + tiles.shape[1:], dtype=np.float32)
    for k in range(N_ORIENTATIONS):
        out[:, k] = orient(tiles, k)
    if noise and n:
        rng = rng if rng is not None else np.random.default_rng(0)
        high = np.maximum(1.0, tiles.reshape(n, -1).max(axis=1))
        high = high.reshape((n, 1) + (1,) * (tiles.ndim - 1))
        out[:, 1:] += rng.uniform(-noise, noise, size=out[:, 1:].shape).astype(np.float32)
        np.clip(out, 0.0, high, out=out)
    codes = np.tile(np.arange(N_ORIENTATIONS, dtype=np.uint8), n)
    return out.reshape((n * N_ORIENTATIONS,) + tiles.shape[1:]), codes


# --------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------
def coverage_mask(shape, rows, cols, *, tile_size):
    """(rows, cols) bool: pixels covered by any of the tiles (a 2-D difference array)."""
    diff = np.zeros((shape[0] + 1, shape[1] + 1), dtype=np.int32)
    rows, cols = np.asarray(rows), np.asarray(cols)
    np.add.at(diff, (rows, cols), 1)
    np.add.at(diff, (rows + tile_size, cols), -1)
    np.add.at(diff, (rows, cols + tile_size), -1)
    np.add.at(diff, (rows + tile_size, cols + tile_size), 1)
    return np.cumsum(np.cumsum(diff, axis=0), axis=1)[:-1, :-1] > 0


def overlaps(shape, rows, cols, other_rows, other_cols, *, tile_size):
    """True for each tile at (rows, cols) sharing a pixel with any tile at (other_*)."""
    if len(other_rows) == 0 or len(rows) == 0:
        return np.zeros(len(rows), dtype=bool)
    covered = coverage_mask(shape, other_rows, other_cols, tile_size=tile_size)
    return window_sums(covered, tile_size, np.asarray(rows), np.asarray(cols)) > 0


def block_split(shape, selection, *, tile_size, block_size, val_fraction, rng):
    """Split one image's tiles by spatial block: ``(train_mask, val_mask)``.

    The image is cut into ``block_size`` pixel blocks; blocks (holding each tile's centre) go
    to validation in random order until about ``val_fraction`` of the tiles are there. Any
    training tile that overlaps a validation tile's pixels is then dropped (in neither)."""
    n = selection.n
    val = np.zeros(n, dtype=bool)
    if n and val_fraction > 0:
        centre_r = selection.rows + tile_size // 2
        centre_c = selection.cols + tile_size // 2
        n_block_cols = -(-shape[1] // block_size)
        block = (centre_r // block_size) * n_block_cols + centre_c // block_size
        blocks, sizes = np.unique(block, return_counts=True)
        order = rng.permutation(len(blocks))
        cumulative = np.concatenate([[0], np.cumsum(sizes[order])])
        take = int(np.argmin(np.abs(cumulative - val_fraction * n)))
        val = np.isin(block, blocks[order[:take]])
    train = ~val
    leak = overlaps(shape, selection.rows[train], selection.cols[train], selection.rows[val],
                    selection.cols[val], tile_size=tile_size)
    train[np.flatnonzero(train)[leak]] = False
    return train, val


def image_split(n_images, *, val_fraction, rng):
    """Boolean per image: True for validation images (about ``val_fraction`` of them, at
    least one when ``val_fraction`` > 0, never all)."""
    is_val = np.zeros(n_images, dtype=bool)
    if val_fraction <= 0:
        return is_val
    if n_images < 2:
        raise EmptyTileSetError(f"--split image needs at least two images, found {n_images}; "
                                "use --split block to validate on held-out blocks of one image")
    n_val = min(max(int(round(val_fraction * n_images)), 1), n_images - 1)
    is_val[rng.permutation(n_images)[:n_val]] = True
    return is_val


# --------------------------------------------------------------------------------------------
# the tile set on disk
# --------------------------------------------------------------------------------------------
#: the key of a tile set's commit (``.csc-tiles.*`` staging and journal, ``tiles_run.json``)


def _inside(path, folder):
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def check_out_dir(images, out_dir):
    """``OutputError`` when the tile set ``out_dir`` would be written over its images: the
    folder of the images (or one holding it)."""
    images = Path(images)
    source = images if images.is_dir() else images.parent
    if _inside(source, out_dir):
        raise OutputError(f"OUT_DIR {out_dir} is the folder of the images {images} (or holds "
                          "it); write the tile set into a folder of its own, e.g. "
                          f"{source / 'tiles'}")


def check_images(scenes, bands):
    """Resolved 1-based bands, the images' RasterInfo and their data types; ``BandError``
    when an image lacks a requested band or band counts differ and no bands were chosen."""
    infos = [raster_info(s.image) for s in scenes]
    bands = common_bands(infos, bands)
    return bands, infos, {np.dtype(info.dtype) for info in infos}


def _valid_and_sample(path, *, bands, height, n_sample, strip_rows=STRIP_ROWS):
    """Validity mask (rows, cols) of an image, read strip by strip, and a regular sample of
    about ``n_sample`` valid pixels (n, bands) when ``n_sample`` > 0."""
    masks, samples = [], []
    step = None
    for start in range(0, height, strip_rows):
        strip = read_image(path, bands=bands, window=(start, min(start + strip_rows, height)))
        masks.append(strip.valid)
        if n_sample:
            step = step or max(1, (height * strip.shape[1]) // n_sample)
            samples.append(strip.data[strip.valid][::step])
    return np.concatenate(masks, axis=0), (np.concatenate(samples) if n_sample else None)


def empty_message(records, *, tile_size, stride, purity, max_unlabelled):
    """Why no tile survived, with the numbers to try."""
    n_pos = sum(r["positions"] for r in records)
    if n_pos == 0:
        smallest = min(min(r["height"], r["width"]) for r in records)
        return (f"no tile of {tile_size}x{tile_size} pixels fits in the images (smallest side "
                f"{smallest} pixels); try --tile-size {smallest} or less")
    rej_u = sum(r["rejected_unlabelled"] for r in records)
    rej_p = sum(r["rejected_purity"] for r in records)
    best = max([r["best_purity"] for r in records if r["best_purity"] is not None] + [-1.0])
    least = min([r["least_unlabelled"] for r in records if r["least_unlabelled"] is not None]
                + [2.0])
    tips = []
    if rej_u and least < 1:
        tips.append(f"--max-unlabelled {np.ceil(least * 100) / 100:.2f} (the least unlabelled "
                    f"position is {least:.0%} unlabelled or nodata)")
    if rej_p and best >= 0:
        tips.append(f"--purity {np.floor(best * 100) / 100:.2f} (the purest position is "
                    f"{best:.1%} one class)")
    tips.append(f"a --tile-size smaller than {tile_size}")
    return (f"no tile passed the rules: of {n_pos} positions ({tile_size} px tiles, stride "
            f"{stride}) {rej_u} were rejected by the unlabelled rule (more than "
            f"{max_unlabelled:.0%} unlabelled or nodata) and {rej_p} by the purity rule "
            f"(dominant class under {purity:.0%} of the labelled pixels); try "
            + ", or ".join(tips))


def make_tileset(images, out_dir, *, tile_size=50, stride=25, purity=0.95, max_unlabelled=0.10,
                 augment=True, noise=0.02, bands=None, scale=None, offset=0.0, schema=GLACIER,
                 split="block", val_fraction=0.2, block_size=None, dtype="float16", seed=0,
                 progress=False):
    """Cut training and validation tiles from every labelled image in ``images`` (a folder, or
    one image with its ``SCLS_`` raster beside it) and write the tile set to ``out_dir``.

    ``scale``: a ``Scaling``, a divisor, ``"percentile"`` (fitted on the training images'
    valid pixels) or None (from the data type: 255 for 8-bit, 10000 for 16-bit). ``split``:
    ``"block"`` (spatial blocks of ``block_size`` pixels, default 4 tiles, held out in every
    image; training tiles overlapping a validation tile are dropped) or ``"image"`` (whole
    images held out). Only training tiles are augmented (8 orientations + ``noise``).
    Returns the ``TileSet`` written."""
    if split not in ("block", "image"):
        raise ValueError(f"split must be 'block' or 'image', got {split!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    tile_size, stride = int(tile_size), int(stride)
    if tile_size < 1 or stride < 1:
        raise ValueError(f"tile size and stride must be positive, got {tile_size}, {stride}")
    block_size = int(block_size or 4 * tile_size)
    dtype = np.dtype(dtype)
    check_out_dir(images, out_dir)
    with output_folder(out_dir) as out_dir:
        scenes = find_scenes(images, require_labels=True)
        bands, infos, dtypes = check_images(scenes, bands)
        # the open stage: each SCLS_ (and EDGE_/VM_) on its image's grid (size, CRS, transform)
        # and holding ids of the schema, before any tile is selected or written
        opened = [open_scene(scene, schema=schema, bands=bands, require_labels=True)
                  for scene in scenes]
        val_image = (image_split(len(scenes), val_fraction=val_fraction,
                                 rng=np.random.default_rng(seed))
                     if split == "image" else np.zeros(len(scenes), dtype=bool))
        fit_percentile = str(scale).lower() == "percentile"
        n_train_images = max(1, int((~val_image).sum()))

        # pass 1: select and split tile positions; sample pixels for a percentile stretch
        selections, records, samples = [], [], []
        for i, scene in enumerate(_progress(scenes, progress, "selecting tiles")):
            info = infos[i]
            labels = opened[i].read_labels()
            n_sample = 1_000_000 // n_train_images if fit_percentile and not val_image[i] else 0
            valid, sample = _valid_and_sample(scene.image, bands=bands, height=info.height,
                                              n_sample=n_sample)
            if sample is not None:
                samples.append(sample)
            sel = select_tiles(labels, tile_size=tile_size, stride=stride, schema=schema,
                               valid=valid, purity=purity, max_unlabelled=max_unlabelled)
            del labels, valid
            if split == "image":
                train_mask = np.full(sel.n, not val_image[i])
                val_mask = ~train_mask
            else:
                train_mask, val_mask = block_split(
                    info.shape, sel, tile_size=tile_size, block_size=block_size,
                    val_fraction=val_fraction, rng=np.random.default_rng([seed, i]))
            selections.append({"train": sel.subset(train_mask), "val": sel.subset(val_mask)})
            records.append({"image": str(scene.image), "labels": str(scene.source("labels")),
                            "height": info.height, "width": info.width,
                            "positions": sel.n_positions, "kept": sel.n,
                            "rejected_unlabelled": sel.rejected_unlabelled,
                            "rejected_purity": sel.rejected_purity,
                            "best_purity": _number(sel.best_purity),
                            "least_unlabelled": _number(sel.least_unlabelled),
                            "train": int(train_mask.sum()), "validation": int(val_mask.sum()),
                            "dropped_overlap": int(sel.n - train_mask.sum() - val_mask.sum())})
            log.info("%s: %d of %d positions kept (%d too unlabelled, %d impure)", scene.image.name,
                     sel.n, sel.n_positions, sel.rejected_unlabelled, sel.rejected_purity)
        n_kept = sum(r["kept"] for r in records)
        if n_kept == 0:
            raise EmptyTileSetError(empty_message(records, tile_size=tile_size, stride=stride,
                                                  purity=purity, max_unlabelled=max_unlabelled))
        if sum(s["train"].n for s in selections) == 0:
            raise EmptyTileSetError(
                f"all {n_kept} kept tiles fell in the validation split or overlap it; lower "
                f"--val-fraction (now {val_fraction}), use a smaller --block-size (now "
                f"{block_size}) or add images")
        scaling = resolve_scaling(scale, offset=offset, dtypes=dtypes,
                                  sample=np.concatenate(samples) if samples else None)

        # pass 2: cut, scale, augment and write each split into one preallocated memory map, all
        # into the staging folder; the set is then committed whole
        with OutputSet(out_dir, TILESET) as staged:
            meta = _write_tileset(staged.folder, scenes, selections, records, bands=bands,
                                  scaling=scaling, schema=schema, tile_size=tile_size,
                                  stride=stride, augment=augment, noise=noise, dtype=dtype,
                                  seed=seed, purity=purity, max_unlabelled=max_unlabelled,
                                  split=split, val_fraction=val_fraction, block_size=block_size)
            staged.commit({"command": "tiles", "version": __version__,
                           "images": [r["image"] for r in records], "counts": meta["counts"]})
    return TileSet(out_dir)


def _write_tileset(out_dir, scenes, selections, records, *, bands, scaling, schema, tile_size,
                   stride, augment, noise, dtype, seed, purity, max_unlabelled, split,
                   val_fraction, block_size):
    """Write the arrays, tiles.csv, counts.csv and tiles.json of a tile set into ``out_dir``
    (the staging folder); returns the tiles.json content."""
    copies = {"train": N_ORIENTATIONS if augment else 1, "val": 1}
    tile_shape = (tile_size, tile_size, len(bands))
    index_frames, labels_by_split = [], {}
    for part_name in SPLITS:
        n = sum(s[part_name].n for s in selections) * copies[part_name]
        with open_arrays(out_dir, part_name, n=n, tile_shape=tile_shape,
                         dtype=dtype) as (tiles_out, labels_out):
            at = 0
            for i, scene in enumerate(scenes):
                sel = selections[i][part_name]
                rng = np.random.default_rng([seed, i, 1])
                for first, last, group in origin_groups(sel.rows, tile_size=tile_size):
                    strip = read_image(scene.image, bands=bands,
                                       window=(first, last + tile_size))
                    members = np.flatnonzero(group)
                    for part in np.array_split(members, -(-len(members) // WRITE_BATCH)):
                        tiles = tile_image(strip.data, sel.rows[part] - first, sel.cols[part],
                                           tile_size=tile_size, scaling=scaling)
                        codes = np.zeros(len(part), dtype=np.uint8)
                        if copies[part_name] > 1:
                            tiles, codes = augment_tiles(tiles, noise=noise, rng=rng)
                        take = np.repeat(part, copies[part_name])
                        tiles_out[at:at + len(tiles)] = tiles
                        labels_out[at:at + len(tiles)] = sel.classes[take]
                        index_frames.append(pd.DataFrame({
                            "image": scene.image.name, "row": sel.rows[take],
                            "col": sel.cols[take], "class": sel.classes[take],
                            "split": SPLIT_NAMES[part_name],
                            "index": np.arange(at, at + len(tiles)), "augmentation": codes}))
                        at += len(tiles)
            labels_by_split[part_name] = np.array(labels_out)

    index = pd.concat(index_frames, ignore_index=True)
    index["class_name"] = [schema.name_of(c) for c in index["class"]]
    index = index[["image", "row", "col", "class", "class_name", "split", "index",
                   "augmentation"]]
    counts = counts_table(labels_by_split, schema)
    write_csv(out_dir / "tiles.csv", index)
    write_csv(out_dir / "counts.csv", counts)
    meta = {
        "version": __version__, "tile_size": tile_size, "stride": stride, "bands": list(bands),
        "scaling": scaling.to_dict(), "schema": schema.to_dict(), "dtype": dtype.name,
        "rules": {"purity": purity, "max_unlabelled": max_unlabelled,
                  "class": "mode of the labelled pixels",
                  "purity_of": "labelled pixels (unlabelled and nodata excluded)"},
        "split": {"mode": split, "val_fraction": val_fraction,
                  "block_size": block_size if split == "block" else None, "seed": seed},
        "augment": {"orientations": copies["train"], "noise": noise if augment else 0.0},
        "counts": {SPLIT_NAMES[s]: dict(zip(counts["class"], counts[SPLIT_NAMES[s]].tolist()))
                   for s in SPLITS},
        "images": records, "thinning": None,
    }
    write_json(out_dir / "tiles.json", meta)
    return meta


def _number(value):
    """A float for JSON, None for NaN."""
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _progress(items, enabled, desc):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="image", disable=None)  # no bar when not a terminal
