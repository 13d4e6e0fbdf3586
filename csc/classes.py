"""Class schema: ids, names, colours and roles of the classes of a study.

The default is the seven-class glacier schema of Marochov et al. (2021). Any other class set
(rivers, glacier facies, glacial lakes) loads from a CSV with columns ``id,name,colour,role``::

    id,name,colour,role
    1,water,#1f78b4,
    2,sediment,#d9b365,
    3,vegetation,#33a02c,

``role`` marks what the calving-front step needs: ``ocean`` for the ocean classes, ``glacier``
for the glacier-ice class, ``rock`` for classes restored after the glacier is refined, and
``front`` for an output-only calving-front id. Id 0 is always "unlabelled" and never listed.
"""
import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from csc.errors import LabelMismatchError, SchemaError

UNLABELLED = 0
ROLES = ("", "ocean", "glacier", "rock", "front")


@dataclasses.dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    colour: str  # "#rrggbb"
    role: str = ""

    @property
    def rgb(self):
        return tuple(int(self.colour[i:i + 2], 16) for i in (1, 3, 5))


@dataclasses.dataclass(frozen=True)
class ClassSchema:
    """An ordered set of classes. ``classes`` are the learnable ones; ``front`` is output-only."""

    classes: tuple
    front: ClassInfo = None
    name: str = "custom"

    def __post_init__(self):
        ids = [c.id for c in self.classes]
        if not ids:
            raise SchemaError(f"class schema {self.name!r} lists no classes; add at least two rows")
        if len(set(ids)) != len(ids):
            raise SchemaError(f"class schema {self.name!r} repeats an id: {sorted(ids)}")
        bad = [i for i in ids if not 1 <= i <= 254]
        if bad:
            raise SchemaError(f"class schema {self.name!r}: ids must be 1..254 (0 is unlabelled), "
                              f"found {bad}")
        if self.front is not None and self.front.id in ids:
            raise SchemaError(f"class schema {self.name!r}: front id {self.front.id} is also "
                              "a class")

    # -- lookups -------------------------------------------------------------------------
    @property
    def ids(self):
        return np.array([c.id for c in self.classes], dtype=np.uint8)

    @property
    def names(self):
        return [c.name for c in self.classes]

    @property
    def n_classes(self):
        return len(self.classes)

    def name_of(self, class_id):
        for c in self.all_classes():
            if c.id == int(class_id):
                return c.name
        return "unlabelled" if int(class_id) == UNLABELLED else f"class {int(class_id)}"

    def all_classes(self):
        """The learnable classes plus the output-only front class, if any."""
        return self.classes + ((self.front,) if self.front is not None else ())

    def ids_with_role(self, role):
        return [c.id for c in self.all_classes() if c.role == role]

    @property
    def ocean_ids(self):
        return self.ids_with_role("ocean")

    @property
    def glacier_id(self):
        ids = self.ids_with_role("glacier")
        return ids[0] if ids else None

    @property
    def rock_ids(self):
        return self.ids_with_role("rock")

    @property
    def front_id(self):
        return None if self.front is None else self.front.id

    @property
    def has_front_roles(self):
        """True when the schema names ocean classes and a glacier class."""
        return bool(self.ocean_ids) and self.glacier_id is not None

    # -- label <-> index (networks predict 0..n-1) ----------------------------------------
    def to_index(self, labels):
        """Map class ids to 0..n_classes-1 (unlabelled and unknown ids become -1)."""
        lut = np.full(256, -1, dtype=np.int16)
        lut[self.ids] = np.arange(self.n_classes)
        return lut[np.asarray(labels, dtype=np.uint8)]

    def to_ids(self, index):
        """Map network outputs 0..n_classes-1 back to class ids."""
        return self.ids[np.asarray(index)]

    # -- colours --------------------------------------------------------------------------
    def colormap(self):
        """GDAL colour table {value: (r, g, b, a)} for all 256 uint8 values."""
        table = {v: (0, 0, 0, 0) for v in range(256)}
        for c in self.all_classes():
            table[c.id] = c.rgb + (255,)
        return table

    def rgb_lut(self):
        """(256, 3) float array in 0..1 for painting class maps; unlabelled is white."""
        lut = np.ones((256, 3))
        for c in self.all_classes():
            lut[c.id] = np.array(c.rgb) / 255.0
        return lut

    # -- validation -----------------------------------------------------------------------
    def check_labels(self, labels, path):
        """Raise ``LabelMismatchError`` unless ``labels`` holds integers in the schema (or 0);
        NaN and ±Inf in a float label raster are unlabelled (0)."""
        labels = np.asarray(labels)
        if labels.dtype.kind == "f":
            finite = np.isfinite(labels)
            if not finite.all():
                labels = np.where(finite, labels, 0)
            if np.any(labels != np.round(labels)):
                raise LabelMismatchError(
                    f"{path}: label raster holds non-integer values; labels must be whole class "
                    f"ids {self.describe_ids()}")
        elif labels.dtype.kind not in "iub":
            raise LabelMismatchError(f"{path}: label raster has type {labels.dtype}; "
                                     "save it as an integer raster of class ids")
        values = np.unique(labels)
        allowed = set(self.ids.tolist()) | {UNLABELLED}
        unknown = [v for v in values.tolist() if int(v) not in allowed]
        if unknown:
            shown = ", ".join(str(int(v)) for v in unknown[:10])
            raise LabelMismatchError(
                f"{path}: label ids {shown} are not in the class schema {self.name!r} "
                f"{self.describe_ids()}; pass the matching --classes CSV to csc tiles, "
                "baseline or front, or use a model trained on these classes (classify, "
                "evaluate and batch take the classes of the model)")
        return labels.astype(np.uint8)

    def describe_ids(self):
        return "(0 unlabelled, " + ", ".join(f"{c.id} {c.name}" for c in self.classes) + ")"

    # -- (de)serialisation ----------------------------------------------------------------
    def to_dict(self):
        return {"name": self.name,
                "classes": [dataclasses.asdict(c) for c in self.all_classes()]}

    @classmethod
    def from_dict(cls, d):
        rows = [ClassInfo(**c) for c in d["classes"]]
        return cls._from_rows(rows, name=d.get("name", "custom"))

    @classmethod
    def _from_rows(cls, rows, *, name):
        fronts = [r for r in rows if r.role == "front"]
        if len(fronts) > 1:
            raise SchemaError(f"class schema {name!r} has {len(fronts)} rows with role 'front'; "
                              "keep one")
        classes = tuple(r for r in rows if r.role != "front")
        return cls(classes=classes, front=fronts[0] if fronts else None, name=name)

    @classmethod
    def from_csv(cls, path):
        """Load a schema from a CSV with columns id,name,colour[,role].

        The text is UTF-8 (a byte-order mark, as Excel writes, is fine) or UTF-16 with its
        byte-order mark; the delimiter is a comma, or a semicolon or tab when the header
        holds no comma (spreadsheets in locales with a decimal comma)."""
        path = Path(path)
        text = _read_text(path)
        lines = text.splitlines()
        header = lines[0] if lines else ""
        delimiter = next((d for d in (",", ";", "\t") if d in header), ",")
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            fields = [h.strip().lower() for h in (reader.fieldnames or [])]
            missing = {"id", "name"} - set(fields)
            if missing:
                raise SchemaError(f"{path}: class CSV needs a header line id,name,colour,role "
                                  f"(comma-separated); missing {sorted(missing)}"
                                  + (f" in {header[:60]!r}" if header else ""))
            rows = []
            for i, raw in enumerate(reader, start=2):
                extra = raw.pop(None, None)
                if extra:
                    raise SchemaError(f"{path} line {i}: more cells than the header has "
                                      f"columns ({len(fields) + len(extra)} for "
                                      f"{len(fields)}); quote names that hold a "
                                      f"{delimiter!r}")
                row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
                if not any(row.values()):
                    continue   # blank line
                rows.append(_parse_row(row, path, i))
        except csv.Error as exc:
            raise SchemaError(f"{path}: not a readable CSV ({exc}); save it as a "
                              "comma-separated UTF-8 file") from exc
        return cls._from_rows(rows, name=path.stem)


def _read_text(path):
    """The text of a class CSV, or ``SchemaError`` naming the encoding to save it in."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"cannot read class CSV {path}: {exc.strerror}") from exc
    save = ("save it as UTF-8 (Excel: 'CSV UTF-8 (Comma delimited)'; LibreOffice: character "
            "set 'Unicode (UTF-8)')")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SchemaError(f"{path}: class CSV is not valid UTF-16 text ({exc.reason}); "
                              f"{save}") from exc
    if data.startswith(b"PK\x03\x04"):
        raise SchemaError(f"{path}: this is a spreadsheet workbook (.xlsx), not a CSV; {save}")
    if b"\x00" in data:
        raise SchemaError(f"{path}: class CSV holds NUL bytes (UTF-16 without a byte-order "
                          f"mark, or not text); {save}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SchemaError(f"{path} line {line}: class CSV is not UTF-8 text (byte "
                          f"0x{data[exc.start]:02x}, as Latin-1 or Windows-1252 files write "
                          f"accents); {save}") from exc


_PALETTE = ["#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3",
            "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99"]


def _parse_row(row, path, line):
    try:
        class_id = int(row["id"])
    except ValueError:
        raise SchemaError(f"{path} line {line}: id {row['id']!r} is not an integer") from None
    colour = row.get("colour") or row.get("color") or _PALETTE[class_id % len(_PALETTE)]
    if not (len(colour) == 7 and colour.startswith("#")):
        raise SchemaError(f"{path} line {line}: colour {colour!r} must look like #1f78b4")
    try:
        int(colour[1:], 16)
    except ValueError:
        raise SchemaError(f"{path} line {line}: colour {colour!r} is not hexadecimal") from None
    role = row.get("role", "").lower()
    if role not in ROLES:
        raise SchemaError(f"{path} line {line}: role {role!r} must be one of "
                          f"{', '.join(r or repr('') for r in ROLES)}")
    if not row["name"]:
        raise SchemaError(f"{path} line {line}: class {class_id} has no name")
    return ClassInfo(id=class_id, name=row["name"], colour=colour.lower(), role=role)


GLACIER = ClassSchema(
    name="glacier",
    classes=(
        ClassInfo(1, "open water", "#08306b", "ocean"),
        ClassInfo(2, "iceberg water", "#4292c6", "ocean"),
        ClassInfo(3, "melange", "#9ecae1", "ocean"),
        ClassInfo(4, "glacier ice", "#41b6c4", "glacier"),
        ClassInfo(5, "snow on ice", "#f7fcfd", ""),
        ClassInfo(6, "snow on rock", "#d9d9d9", "rock"),
        ClassInfo(7, "rock", "#8c510a", "rock"),
    ),
    front=ClassInfo(8, "calving front", "#e31a1c", "front"),
)


def load_schema(path=None):
    """The schema in ``path`` (a CSV), or the default glacier schema when ``path`` is None."""
    return GLACIER if path is None else ClassSchema.from_csv(path)
