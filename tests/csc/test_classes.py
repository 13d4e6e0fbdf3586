from pathlib import Path

import numpy as np
import pytest

import csc
from csc.classes import GLACIER, ClassSchema, load_schema
from csc.errors import SchemaError

SCHEMAS = Path(csc.__file__).parent / "schemas"


def test_default_glacier_schema_roles():
    assert GLACIER.ids.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert GLACIER.name_of(3) == "melange"
    assert GLACIER.ocean_ids == [1, 2, 3]
    assert GLACIER.glacier_id == 4
    assert GLACIER.rock_ids == [6, 7]
    assert GLACIER.front_id == 8
    assert GLACIER.has_front_roles


def test_shipped_glacier_csv_equals_default():
    assert ClassSchema.from_csv(SCHEMAS / "glacier.csv").to_dict()["classes"] == \
        GLACIER.to_dict()["classes"]


def test_river_schema_from_csv_has_no_front_roles():
    river = load_schema(SCHEMAS / "river.csv")
    assert river.names == ["water", "sediment", "vegetation"]
    assert not river.has_front_roles and river.front_id is None


def test_index_round_trip_with_gaps_in_ids(tmp_path):
    csv = tmp_path / "lakes.csv"
    csv.write_text("id,name,colour,role\n2,lake,#0000ff,ocean\n5,ice,#00ffff,glacier\n"
                   "9,moraine,#996633,rock\n")
    schema = load_schema(csv)
    labels = np.array([[0, 2, 5], [9, 9, 7]])
    index = schema.to_index(labels)
    assert index.tolist() == [[-1, 0, 1], [2, 2, -1]]
    assert schema.to_ids([0, 1, 2]).tolist() == [2, 5, 9]


def test_sidecar_round_trip():
    assert ClassSchema.from_dict(GLACIER.to_dict()) == GLACIER


@pytest.mark.parametrize("text, message", [
    ("id,name\nx,water\n", "id 'x' is not an integer"),
    ("id,colour\n1,#000000\n", r"missing \['name'\]"),
    ("id,name,colour\n1,water,blue\n", "colour 'blue' must look like #1f78b4"),
    ("id,name,role\n1,water,sea\n", "role 'sea' must be one of"),
    ("id,name\n1,water\n1,ice\n", "repeats an id"),
    ("id,name\n0,water\n", r"ids must be 1..254"),
])
def test_bad_schema_csv_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(SchemaError, match=message):
        ClassSchema.from_csv(path)
