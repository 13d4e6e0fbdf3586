"""Damaged project files (tile sets, sidecars, models, pixel samples, class CSVs) and numeric
options outside their meaning: each refused with one line naming the file or option, exit code
2, and nothing that existed before changed (rows of the bad-input table, ``bad_inputs.py``)."""
import json

import numpy as np
import pytest

from bad_inputs import bad_inputs_template, workspace_fixture  # noqa: F401
from bad_inputs import Case, check, damage

from csc.classes import GLACIER, ClassSchema
from csc.errors import EmptyTileSetError, ModelError, SchemaError
from csc.modelcard import load_card
from Phase_1_CNN.dataset import TileSet, open_arrays


# --- setups -------------------------------------------------------------------------------------

def truncate(name, keep=0.5):
    def setup(ws):
        path = ws.path(name)
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * keep)])
    return setup


def remove(name):
    return lambda ws: ws.path(name).unlink()


def edit_json(name, change):
    def setup(ws):
        path = ws.path(name)
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return setup


def save_npy(name, array):
    def setup(ws):
        with open(ws.path(name), "wb") as f:   # np.save would add .npy to the name
            np.save(f, array)
    return setup


def save_npz(name, **arrays):
    def setup(ws):
        with open(ws.path(name), "wb") as f:
            np.savez(f, **arrays)
    return setup


def write_text(name, text, encoding):
    return lambda ws: ws.path(name).write_bytes(text.encode(encoding))


def three_train_tiles(ws):
    """Arrays that agree with each other but not with tiles.csv / tiles.json (a mixed set)."""
    tiles = np.load(ws.path("tiles/tiles_train.npy"))
    np.save(ws.path("tiles/tiles_train.npy"), np.concatenate([tiles, tiles[:1]]))
    np.save(ws.path("tiles/labels_train.npy"), np.array([1, 3, 3], np.uint8))


def mixed_counts(ws):
    ws.path("tiles/tiles.csv").unlink()
    edit_json("tiles/tiles.json", lambda d: d["counts"]["train"].update(water=7))(ws)


def labels_of_class(value):
    def setup(ws):
        from csc.rasters import write_class_raster

        from phase2_data import TRANSFORM, UTM

        write_class_raster(ws.path("labels"), np.full((64, 96), value, np.uint8), schema=GLACIER,
                           crs=UTM, transform=TRANSFORM)
    return setup


def set_field(field, value):
    return lambda d: d.update({field: value})


def drop_field(field):
    return lambda d: d.pop(field)


TRAIN = ("train", "{tiles}", "{root}/new.keras", "--epochs", "1")
THIN = ("thin", "{tiles}", "--max-per-class", "1")
FINETUNE = ("finetune", "{model}", "{tiles}", "{root}/ft.keras", "--epochs", "1")
CLASSIFY = ("classify", "{image}", "--model", "{model}", "--out", "{out}", "--patch-size", "1")
EVALUATE = ("evaluate", "{model}", "{scenes}")
TILES = ("tiles", "{scenes}", "{out}", "--tile-size", "32", "--stride", "16")
SUMMARIZE = ("summarize", "{results}")
LATIN1 = "id,name,colour,role\n1,glace bleue \u00e9paisse,#1f78b4,\n2,roche,#8c510a,\n"

CASES = [
    # tile sets
    Case("train-tiles-cut-short", TRAIN, r"tiles_train\.npy is cut short.*csc tiles",
         setup=truncate("tiles/tiles_train.npy")),
    Case("thin-tiles-cut-short", THIN, r"tiles_train\.npy is cut short",
         setup=truncate("tiles/tiles_train.npy", keep=0.9)),
    Case("finetune-labels-cut-short", FINETUNE, r"labels_train\.npy is cut short",
         setup=truncate("tiles/labels_train.npy", keep=0.995)),
    Case("train-labels-header-cut-short", TRAIN, r"labels_train\.npy is cut short or not a "
         r"NumPy array file", setup=truncate("tiles/labels_train.npy", keep=0.5)),
    Case("train-tiles-not-an-array", TRAIN, r"tiles_train\.npy is cut short or not a NumPy array file",
         setup=damage("tiles/tiles_train.npy")),
    Case("train-array-missing", TRAIN, r"labels_val\.npy is missing from tile set",
         setup=remove("tiles/labels_val.npy")),
    Case("thin-array-missing", THIN, r"tiles_train\.npy is missing from tile set",
         setup=remove("tiles/tiles_train.npy")),
    Case("thin-arrays-of-different-lengths", THIN,
         r"mixed .*tiles_train\.npy holds 2 tiles but labels_train\.npy 5 labels",
         setup=save_npy("tiles/labels_train.npy", np.ones(5, np.uint8))),
    Case("train-arrays-disagree-with-index", TRAIN,
         r"mixed .*arrays hold 3 train / 0 validation tiles but tiles\.csv lists 2 train",
         setup=three_train_tiles),
    Case("finetune-arrays-disagree-with-description", FINETUNE,
         r"mixed .*tiles\.json counts 8 train", setup=mixed_counts),
    Case("train-description-not-json", TRAIN, r"tiles\.json: tile-set description is not "
         r"readable JSON.*csc tiles", setup=damage("tiles/tiles.json", b"{\"tile_size\": 3")),
    Case("train-description-tile-size-text", TRAIN, r"tiles\.json: .*field 'tile_size'.*'big'",
         setup=edit_json("tiles/tiles.json", set_field("tile_size", "big"))),
    Case("thin-description-bands-number", THIN, r"tiles\.json: .*field 'bands'",
         setup=edit_json("tiles/tiles.json", set_field("bands", 4))),
    Case("finetune-description-without-schema", FINETUNE, r"tiles\.json: .*no field 'schema'",
         setup=edit_json("tiles/tiles.json", drop_field("schema"))),
    # sidecars
    Case("classify-sidecar-not-json", CLASSIFY, r"m\.json: sidecar is not readable JSON.*"
         r"restore the m\.json", setup=damage("sidecar", b"\x00\x01binary")),
    Case("evaluate-sidecar-bands-text", EVALUATE, r"m\.json: sidecar field 'bands'.*'1,2,3,4'",
         setup=edit_json("sidecar", set_field("bands", "1,2,3,4"))),
    Case("classify-sidecar-without-schema", CLASSIFY, r"m\.json: sidecar has no field 'schema'",
         setup=edit_json("sidecar", drop_field("schema"))),
    Case("finetune-sidecar-tile-size-text", FINETUNE, r"m\.json: sidecar field 'tile_size'",
         setup=edit_json("sidecar", set_field("tile_size", "32px"))),
    Case("evaluate-sidecar-width-zero", EVALUATE, r"m\.json: sidecar field 'width'",
         setup=edit_json("sidecar", set_field("width", 0))),
    # model files
    Case("classify-model-cut-short", CLASSIFY, r"m\.keras: the model file is damaged.*re-train "
         r"it with `csc train` or copy it again", setup=truncate("model")),
    Case("evaluate-model-not-keras", EVALUATE, r"m\.keras: the model file is damaged",
         setup=damage("model")),
    # pixel samples
    Case("summarize-sample-not-npz", SUMMARIZE, r"a_k1_pixels\.npz: not a pixel sample",
         setup=damage("results/a_k1_pixels.npz")),
    Case("summarize-sample-missing-arrays", SUMMARIZE,
         r"a_k1_pixels\.npz: not a pixel sample .*no csc, stem, exp, schema array",
         setup=save_npz("results/a_k1_pixels.npz", truth=np.ones(3, np.uint8))),
    Case("summarize-sample-single-array", SUMMARIZE, r"a_k1_pixels\.npz: a single NumPy array",
         setup=save_npy("results/a_k1_pixels.npz", np.ones(3))),
    # class CSVs
    Case("tiles-classes-latin1", (*TILES, "--classes", "{classes}"),
         r"river\.csv line 2: class CSV is not UTF-8.*save it as UTF-8",
         setup=write_text("classes", LATIN1, "latin-1")),
    Case("tiles-classes-workbook", (*TILES, "--classes", "{classes}"),
         r"river\.csv: this is a spreadsheet workbook", setup=damage("classes", b"PK\x03\x04xx")),
    Case("tiles-classes-without-header", (*TILES, "--classes", "{classes}"),
         r"river\.csv: class CSV needs a header line id,name",
         setup=write_text("classes", "1 water\n2 rock\n", "utf-8")),
    # messages name options the command has
    Case("evaluate-labels-outside-model-classes", EVALUATE,
         r"SCLS_a\.tif: label ids 7 .*use a model trained on these classes",
         setup=labels_of_class(7)),
    # numeric options
    Case("tiles-tile-size-zero", (*TILES[:3], "--tile-size", "0"), r"--tile-size.*0"),
    Case("tiles-stride-negative", (*TILES[:3], "--stride", "-4"), r"--stride.*-4"),
    Case("tiles-noise-nan", (*TILES, "--noise", "nan"), r"--noise.*nan"),
    Case("tiles-noise-above-one", (*TILES, "--noise", "3"), r"--noise.*3"),
    Case("tiles-val-fraction-zero", (*TILES, "--val-fraction", "0"), r"--val-fraction.*0"),
    Case("tiles-block-size-zero", (*TILES, "--block-size", "0"), r"--block-size.*0"),
    Case("train-epochs-zero", (*TRAIN[:3], "--epochs", "0"), r"--epochs.*0"),
    Case("train-lr-above-one", (*TRAIN, "--lr", "5"), r"--lr.*5"),
    Case("train-lr-nan", (*TRAIN, "--lr", "nan"), r"--lr.*nan"),
    Case("train-width-inf", (*TRAIN, "--width", "inf"), r"--width.*inf"),
    Case("train-batch-size-zero", (*TRAIN, "--batch-size", "0"), r"--batch-size.*0"),
    Case("finetune-patience-zero", (*FINETUNE, "--patience", "0"), r"--patience.*0"),
    Case("finetune-target-accuracy-zero", (*FINETUNE, "--target-accuracy", "0"),
         r"--target-accuracy.*0"),
    Case("thin-max-per-class-zero", ("thin", "{tiles}", "--max-per-class", "0"),
         r"--max-per-class.*0"),
    Case("evaluate-purity-above-one", (*EVALUATE, "--purity", "1.5"), r"--purity.*1\.5"),
    Case("evaluate-stride-zero", (*EVALUATE, "--stride", "0"), r"--stride.*0"),
    Case("synth-size-too-small", ("synth", "{out}", "--size", "16"), r"--size.*16"),
    Case("synth-scenes-zero", ("synth", "{out}", "--scenes", "0"), r"--scenes.*0"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(workspace, case):
    check(workspace, case)


# --- unit tests -------------------------------------------------------------------------------

def rewrite_tiles(folder, train, val):
    """Give the tile set in ``folder`` the label arrays ``train`` and ``val`` (tiles of zeros,
    tiles.csv to match, no per-class counts in tiles.json)."""
    import pandas as pd

    tileset = TileSet(folder)
    rows = []
    for split, labels in (("train", train), ("val", val)):
        with open_arrays(folder, split, n=len(labels), tile_shape=tileset.tile_shape,
                         dtype=tileset.dtype) as (tiles_out, labels_out):
            tiles_out[:] = 0
            labels_out[:] = labels
        rows += [{"split": "train" if split == "train" else "validation", "index": i,
                  "class": int(c)} for i, c in enumerate(labels)]
    pd.DataFrame(rows).to_csv(folder / "tiles.csv", index=False)
    meta = json.loads((folder / "tiles.json").read_text())
    meta.pop("counts")
    (folder / "tiles.json").write_text(json.dumps(meta))
    return TileSet(folder)


def test_check_trainable_refuses_one_class(workspace):
    tileset = rewrite_tiles(workspace.path("tiles"), [1, 1, 1, 1], [1, 3])
    with pytest.raises(EmptyTileSetError, match=r"one class only \(water\).*water 4/1, "
                                                 r"sediment 0/0, vegetation 0/1"):
        tileset.check_trainable()


def test_check_trainable_warns_of_missing_classes_and_one_class_validation(workspace):
    tileset = rewrite_tiles(workspace.path("tiles"), [1, 1, 3, 3], [1, 1, 1])
    warnings = tileset.check_trainable()
    assert len(warnings) == 2
    assert "sediment" in warnings[0] and "no training tiles" in warnings[0]
    assert "water 2/3" in warnings[0]
    assert "all of one class (water, 3 tiles)" in warnings[1]
    assert "not a measure of anything" in warnings[1]


def test_check_trainable_is_quiet_for_a_good_set(workspace):
    tileset = rewrite_tiles(workspace.path("tiles"), [1, 2, 3, 1], [1, 2, 3])
    assert tileset.check_trainable() == []


def test_stale_counts_are_accepted_when_arrays_and_index_agree(workspace):
    """What thinning leaves between writing tiles.csv and tiles.json: still a usable set."""
    folder = workspace.path("tiles")
    edit_json("tiles/tiles.json", lambda d: d["counts"]["train"].update(water=7))(workspace)
    assert TileSet(folder).n("train") == 2


def test_tileset_opening_reads_no_tile_data(workspace, monkeypatch):
    calls = []
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(a))
    tileset = TileSet(workspace.path("tiles"))
    assert (tileset.n("train"), tileset.n("val")) == (2, 0)
    assert calls == []


RIVER = "id,name,colour,role\n1,water,#1f78b4,\n2,sédiment,#d9b365,\n"


@pytest.mark.parametrize("text,encoding", [
    (RIVER, "utf-8"), (RIVER, "utf-8-sig"), (RIVER, "utf-16"),
    (RIVER.replace(",", ";"), "utf-8"), (RIVER.replace(",", "\t"), "utf-16")],
    ids=["utf8", "utf8-bom", "utf16", "semicolons", "excel-unicode-text"])
def test_class_csv_encodings_and_delimiters_are_read(tmp_path, text, encoding):
    path = tmp_path / "river.csv"
    path.write_bytes(text.encode(encoding))
    schema = ClassSchema.from_csv(path)
    assert schema.names == ["water", "sédiment"]
    assert schema.ids.tolist() == [1, 2]


def test_latin1_class_csv_names_the_encoding_fix(tmp_path):
    path = tmp_path / "river.csv"
    path.write_bytes(RIVER.encode("latin-1"))
    with pytest.raises(SchemaError, match=r"river\.csv line 3: class CSV is not UTF-8 text "
                                          r"\(byte 0xe9.*save it as UTF-8"):
        ClassSchema.from_csv(path)


def test_semicolon_row_with_extra_cells_is_refused(tmp_path):
    path = tmp_path / "river.csv"
    path.write_text("id;name;colour;role\n1;water;#1f78b4;;extra\n")
    with pytest.raises(SchemaError, match=r"line 2: more cells than the header"):
        ClassSchema.from_csv(path)


@pytest.mark.parametrize("change,match", [
    (set_field("tile_size", True), r"field 'tile_size'"),
    (set_field("tile_size", 31.5), r"field 'tile_size'.*31\.5"),
    (set_field("bands", [1, "two"]), r"field 'bands'.*'two'"),
    (set_field("bands", []), r"field 'bands'"),
    (set_field("scaling", "fixed"), r"field 'scaling'"),
    (set_field("schema", {"classes": "water"}), r"field 'schema'"),
    (set_field("training", []), r"field 'training'"),
    (drop_field("tile_size"), r"no field 'tile_size'"),
])
def test_sidecar_fields_of_the_wrong_type(workspace, change, match):
    edit_json("sidecar", change)(workspace)
    with pytest.raises(ModelError, match=r"m\.json: (sidecar )?" + ".*" + match):
        load_card(workspace.path("model"))


def test_sidecar_that_is_not_an_object(workspace):
    workspace.path("sidecar").write_text("[1, 2]")
    with pytest.raises(ModelError, match=r"m\.json: a sidecar must be a JSON object, found "
                                         r"list"):
        load_card(workspace.path("model"))
