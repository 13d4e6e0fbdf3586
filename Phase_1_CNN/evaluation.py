"""Tile-level accuracy of a phase-one model on held-out labelled images.

The held-out images are tiled with the model's tile size and the same purity rules as the
training tiles (no augmentation); the report compares each tile's predicted class with its mode
label, in the per-class CSV layout used everywhere else."""
import logging

import numpy as np

from csc.metrics import class_report
from csc.modelcard import load_card
from csc.rasters import read_image
from csc.scenes import find_scenes, open_scene
from Phase_1_CNN.model import load_model, predict_classes
from Phase_1_CNN.tiles import select_tiles, tile_image

log = logging.getLogger(__name__)


def evaluate_tiles(model_path, images, *, stride=None, purity=0.95, max_unlabelled=0.10,
                   batch_size=256):
    """Per-class report (``csc.metrics.class_report``) of ``model_path`` on the tiles of every
    labelled image in ``images`` (a file or a folder). ``stride`` defaults to the tile size
    (non-overlapping tiles)."""
    # the open stage first (the sidecar only, no network): every image has the model's bands
    # and its SCLS_ lies on the image's grid (size, CRS, transform) with the model's class ids
    card = load_card(model_path)
    opened = [open_scene(scene, schema=card.schema, bands=card.bands, scaling=card.scaling,
                         model=f"model {model_path}", require_labels=True)
              for scene in find_scenes(images, require_labels=True)]
    model, card = load_model(model_path)
    tile = card.tile_size
    truth, pred = [], []
    for scene in opened:
        image = read_image(scene.image, bands=scene.bands)
        labels = scene.read_labels()
        sel = select_tiles(labels, tile_size=tile, stride=stride or tile, schema=card.schema,
                           valid=image.valid, purity=purity, max_unlabelled=max_unlabelled)
        if not sel.n:
            log.warning("%s: no tile passes the purity rules", scene.image)
            continue
        tiles = tile_image(image.data, sel.rows, sel.cols, tile_size=tile, scaling=card.scaling)
        ids, _ = predict_classes(model, tiles, card.schema, batch_size=batch_size)
        truth.append(sel.classes)
        pred.append(ids)
    truth = np.concatenate(truth) if truth else np.zeros(0, np.uint8)
    pred = np.concatenate(pred) if pred else np.zeros(0, np.uint8)
    return class_report(truth, pred, schema=card.schema)
