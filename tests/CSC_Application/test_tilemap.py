"""The phase-one tile map of a whole image."""
import numpy as np
import pytest

from CSC_Application.tilemap import (LOCAL_PRIOR_FLOOR, corner_probability, local_log_prior,
                                     tile_confidence, tile_map, tile_probability,
                                     tile_probability_at)
from csc.errors import ClassificationError
from csc.modelcard import ModelCard
from csc.scaling import Scaling
from phase2_data import SCHEMA, TILE, image_for, nearest_mean_model


@pytest.fixture(scope="module")
def model_card():
    card = ModelCard(tile_size=TILE, bands=(1, 2, 3, 4), scaling=Scaling.fixed(10000),
                     schema=SCHEMA)
    return nearest_mean_model(), card


def test_tiles_cover_the_whole_image_incl_remainder(model_card):
    model, card = model_card
    # 70 x 75: the grid leaves 6 rows / 11 columns, covered by shifted last tiles
    labels = np.ones((70, 75), dtype=np.uint8)
    labels[:, 43:] = 3            # the shifted last column of tiles (cols 43..74) is all 3
    labels[38:, :43] = 2          # the shifted last row of tiles (rows 38..69) is all 2
    data = image_for(labels)
    valid = np.ones(labels.shape, dtype=bool)
    cmap, tiles = tile_map(data, valid=valid, model=model, card=card)
    assert cmap.shape == labels.shape and cmap.dtype == np.uint8
    assert (cmap > 0).all()                               # every pixel, edges included
    np.testing.assert_array_equal(tiles["row_origins"], [0, 32, 38])
    np.testing.assert_array_equal(tiles["col_origins"], [0, 32, 43])
    assert (cmap[:, 64:] == 3).all()                      # remainder columns: shifted tile
    assert (cmap[64:, :32] == 2).all()                    # remainder rows: shifted tile
    assert (cmap[:32, :32] == 1).all()
    # the remainder rows and columns take the shifted tiles' confidence
    conf = tile_confidence(tiles, np.array([69, 69, 5, 37]), np.array([74, 5, 70, 31]))
    np.testing.assert_array_equal(conf, tiles["confidence"][[2, 2, 0, 1], [2, 0, 2, 0]])
    # each grid tile is one class
    for r0 in (0, 32):
        for c0 in (0, 32):
            assert len(np.unique(cmap[r0:r0 + 32, c0:c0 + 32])) == 1


def test_nodata_and_low_confidence_left_unlabelled(model_card):
    model, card = model_card
    labels = np.ones((64, 64), dtype=np.uint8)
    labels[:, 32:] = 2
    data = image_for(labels)
    mix = image_for(np.full((32, 32), 1, np.uint8)) // 2 + \
        image_for(np.full((32, 32), 2, np.uint8)) // 2
    data[:32, 32:] = mix           # a 50/50 spectral mix: the least confident tile
    valid = np.ones(labels.shape, dtype=bool)
    valid[40:50, 5:12] = False
    cmap, tiles = tile_map(data, valid=valid, model=model, card=card)
    assert (cmap[40:50, 5:12] == 0).all()
    assert (cmap[valid] > 0).all()
    conf = tiles["confidence"]
    threshold = float(conf[0, 1]) + 1e-3     # just above the mixed tile's confidence
    assert conf.min() == conf[0, 1] and threshold < 1
    # each pixel's confidence is that of the tile that labels it
    rr, cc = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    per_pixel = tile_confidence(tiles, rr, cc)
    assert (per_pixel[:32, 32:] == conf[0, 1]).all() and (per_pixel[32:, :32] == conf[1, 0]).all()
    assert len(np.unique(per_pixel)) == len(np.unique(conf))
    cmap2, _ = tile_map(data, valid=valid, model=model, card=card, min_confidence=threshold)
    assert (cmap2[:32, 32:] == 0).all()
    np.testing.assert_array_equal(cmap2[32:][valid[32:]], cmap[32:][valid[32:]])


def test_all_nodata_tile_skipped(model_card):
    model, card = model_card
    data = image_for(np.ones((64, 64), dtype=np.uint8))
    valid = np.ones((64, 64), dtype=bool)
    valid[:32, :32] = False
    cmap, tiles = tile_map(data, valid=valid, model=model, card=card)
    assert tiles["ids"][0, 0] == 0 and (cmap[:32, :32] == 0).all()
    assert (cmap[valid] == 1).all()


def test_image_smaller_than_tile(model_card):
    model, card = model_card
    data = np.ones((20, 50, 4), dtype=np.uint16)
    with pytest.raises(ClassificationError, match=r"small\.tif is 20x50 pixels, smaller than "
                                                  r"the model's 32x32 tiles"):
        tile_map(data, valid=np.ones((20, 50), bool), model=model, card=card, path="small.tif")


def test_vgg16_phase_one_map_is_tile_constant():
    from Phase_1_CNN.model import build_vgg16

    model = build_vgg16(32, 4, 3, width=1 / 16)
    card = ModelCard(tile_size=32, bands=(1, 2, 3, 4), scaling=Scaling.fixed(10000),
                     schema=SCHEMA)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 8000, (70, 66, 4)).astype(np.uint16)
    cmap, tiles = tile_map(data, valid=np.ones((70, 66), bool), model=model, card=card)
    assert set(np.unique(cmap)) <= {1, 2, 3} and (cmap > 0).all()
    assert tiles["ids"].shape == (3, 3)
    np.testing.assert_array_equal(cmap[:32, :32], tiles["ids"][0, 0])
    np.testing.assert_array_equal(cmap[64:, 64:], tiles["ids"][2, 2])


def _three_tiles():
    """Three 32-px tiles side by side: class 0 sure, class 0 sure, class 1 sure."""
    grid = np.array([[[0.9, 0.1], [0.9, 0.1], [0.2, 0.8]]], dtype=np.float32)
    return {"tile_size": 32, "row_origins": np.array([0]),
            "col_origins": np.array([0, 32, 64]), "probability": grid}


def test_corners_allow_every_class_of_the_tiles_that_meet_there():
    corners = corner_probability(_three_tiles())
    assert corners.shape == (2, 4, 2)
    np.testing.assert_allclose(corners.sum(axis=-1), 1, atol=1e-6)
    np.testing.assert_allclose(corners[:, :2], [[[0.9, 0.1]] * 2] * 2, atol=1e-6)  # all 0
    np.testing.assert_allclose(corners[:, 2], [[0.9 / 1.7, 0.8 / 1.7]] * 2, atol=1e-6)
    np.testing.assert_allclose(corners[:, 3], [[0.2, 0.8]] * 2, atol=1e-6)


def test_tiles_without_data_do_not_weaken_their_neighbours():
    tiles = _three_tiles()
    tiles["probability"] = tiles["probability"].copy()
    tiles["probability"][0, 2] = 0                      # the last tile holds no data
    corners = corner_probability(tiles)
    np.testing.assert_allclose(corners[:, 2], [[0.9, 0.1]] * 2, atol=1e-6)
    tiles["probability"][:] = 0                         # no tile holds data: no prior
    np.testing.assert_allclose(corner_probability(tiles), 0.5)


def test_tile_probability_is_continuous_and_flat_inside_agreeing_tiles():
    tiles = _three_tiles()
    p = tile_probability(tiles, 0, 32, 96)
    assert p.shape == (32, 96, 2) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=-1), 1, atol=1e-6)
    np.testing.assert_allclose(p[:, :32, 0], 0.9, atol=1e-6)      # two tiles of class 0
    # across the middle tile the other class rises linearly to the edge it shares with the
    # last tile (column 64, where both are allowed), and on to the last tile's far edge
    assert (np.diff(p[0, :, 1]) >= -1e-7).all() and (np.diff(p[0, 32:, 1]) > 0).all()
    np.testing.assert_allclose(p[0, 63, 1], 0.1 + (0.8 / 1.7 - 0.1) * 31.5 / 32, atol=1e-6)
    # the point version agrees with the strip version, and strips with the whole
    rows, cols = np.array([0, 7, 31, 20]), np.array([0, 33, 95, 64])
    np.testing.assert_allclose(tile_probability_at(tiles, rows, cols), p[rows, cols], atol=1e-6)
    np.testing.assert_allclose(tile_probability(tiles, 10, 20, 96), p[10:20], atol=1e-6)


def test_local_log_prior_floors_and_scales():
    p = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    prior = local_log_prior(p.copy(), 0.5)
    floor = LOCAL_PRIOR_FLOOR / 2
    np.testing.assert_allclose(prior[0], 0.5 * np.log([1 - floor, floor]), rtol=1e-5)
    np.testing.assert_allclose(prior[1, 0], prior[1, 1])    # an unsure tile favours no class
    assert np.isfinite(local_log_prior(p.copy(), 1.0)).all()  # no class impossible
    np.testing.assert_array_equal(local_log_prior(p.copy(), 0.0), 0)


def test_tile_map_keeps_each_tiles_probabilities(model_card):
    model, card = model_card
    labels = np.ones((64, 64), dtype=np.uint8)
    labels[:, 32:] = 2
    valid = np.ones(labels.shape, dtype=bool)
    valid[:32, :32] = False                               # a tile without data
    cmap, tiles = tile_map(image_for(labels), valid=valid, model=model, card=card)
    proba = tiles["probability"]
    assert proba.shape == (2, 2, SCHEMA.n_classes)
    np.testing.assert_array_equal(proba[0, 0], 0)                   # no data: nothing
    np.testing.assert_allclose(proba.max(axis=-1)[1], tiles["confidence"][1], rtol=1e-6)
    assert (SCHEMA.to_ids(proba.argmax(axis=-1))[1] == tiles["ids"][1]).all()


def test_given_tile_probabilities_take_the_networks_place(model_card):
    _, card = model_card
    labels = np.ones((70, 75), dtype=np.uint8)
    seen = []

    def shares(path, rows, cols, tile):
        seen.append((path, tile, len(rows)))
        # class 3 right of column 40, class 2 below row 30, else class 1; rows sum to 2
        out = np.full((len(rows), 3), 0.2, dtype=np.float32)
        out[np.arange(len(rows)), np.where(cols >= 40, 2, np.where(rows >= 30, 1, 0))] = 1.6
        return out

    cmap, tiles = tile_map(image_for(labels), valid=np.ones(labels.shape, bool), model=None,
                           card=card, path="scene.tif", tile_probabilities=shares)
    assert seen == [("scene.tif", TILE, 9)]            # one batch of the 3 x 3 tiles
    np.testing.assert_array_equal(tiles["ids"], [[1, 1, 3], [2, 2, 3], [2, 2, 3]])
    assert (cmap[:32, :32] == 1).all() and (cmap[:, 64:] == 3).all() and (cmap[64:, :32] == 2).all()
    # normalised to sum to 1
    np.testing.assert_allclose(tiles["probability"].sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(tiles["confidence"], 0.8, rtol=1e-6)
    # a tile without data is not asked for, and stays unlabelled
    valid = np.ones(labels.shape, bool)
    valid[:32, 32:64] = False
    seen.clear()
    cmap, tiles = tile_map(image_for(labels), valid=valid, model=None, card=card,
                           path="scene.tif", tile_probabilities=shares)
    assert seen == [("scene.tif", TILE, 8)]
    assert tiles["ids"][0, 1] == 0 and (cmap[:32, 32:64] == 0).all()
    np.testing.assert_array_equal(tiles["ids"], [[1, 0, 3], [2, 2, 3], [2, 2, 3]])


@pytest.mark.parametrize("bad", ["shape", "nan", "zero"])
def test_given_tile_probabilities_are_checked(model_card, bad):
    _, card = model_card
    labels = np.ones((64, 64), dtype=np.uint8)

    def source(path, rows, cols, tile):
        out = np.full((len(rows), 3), 1 / 3, dtype=np.float32)
        if bad == "shape":
            return out[:, :2]
        out[0] = np.nan if bad == "nan" else 0.0
        return out

    with pytest.raises(ValueError, match="tile probabilities|a tile has"):
        tile_map(image_for(labels), valid=np.ones(labels.shape, bool), model=None, card=card,
                 tile_probabilities=source)
