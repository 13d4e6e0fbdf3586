"""The sidecar JSON saved beside every model (``MODEL.keras`` → ``MODEL.json``): what a model
needs to be applied identically elsewhere — tile size, bands, scaling and class schema — and
how it was trained."""
import dataclasses
import json
import math
from pathlib import Path

from csc import __version__
from csc.classes import ClassSchema
from csc.errors import ModelError
from csc.files import write_json
from csc.outputs import settle
from csc.scaling import Scaling


@dataclasses.dataclass
class ModelCard:
    tile_size: int
    bands: tuple              # 1-based band indexes read from each image
    scaling: Scaling
    schema: ClassSchema
    width: float = 1.0
    kind: str = "vgg16"
    training: dict = dataclasses.field(default_factory=dict)
    version: str = __version__

    @property
    def n_bands(self):
        return len(self.bands)

    def to_dict(self):
        return {"kind": self.kind, "tile_size": self.tile_size, "bands": list(self.bands),
                "scaling": self.scaling.to_dict(), "schema": self.schema.to_dict(),
                "width": self.width, "training": self.training, "version": self.version}

    @classmethod
    def from_dict(cls, d):
        """A card from its JSON form; ``ModelError`` naming the field that is missing or of
        the wrong type."""
        if not isinstance(d, dict):
            raise ModelError(f"a sidecar must be a JSON object, found {type(d).__name__}")
        for field in ("tile_size", "bands", "scaling", "schema"):
            if field not in d:
                raise ModelError(f"sidecar has no field {field!r}")
        field = None
        try:
            field = "tile_size"
            tile_size = _whole(d["tile_size"])
            field = "bands"
            if not isinstance(d["bands"], list) or not d["bands"]:
                raise TypeError(f"expected a list of 1-based band numbers, got "
                                f"{d['bands']!r}")
            bands = tuple(_whole(b) for b in d["bands"])
            field = "scaling"
            scaling = Scaling.from_dict(_object(d["scaling"]))
            field = "schema"
            schema = ClassSchema.from_dict(_object(d["schema"]))
            field = "width"
            width = d.get("width", 1.0)
            if isinstance(width, bool) or not isinstance(width, (int, float)) \
                    or not math.isfinite(width) or width <= 0:
                raise TypeError(f"expected a number > 0, got {width!r}")
            field = "kind"
            kind = d.get("kind", "vgg16")
            if not isinstance(kind, str):
                raise TypeError(f"expected text, got {kind!r}")
            field = "training"
            training = _object(d.get("training", {}))
            field = "version"
            version = str(d.get("version", "?"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = str(exc).strip() or type(exc).__name__
            if isinstance(exc, KeyError):
                reason = f"missing {reason}"
            raise ModelError(f"sidecar field {field!r} is not valid ({reason})") from exc
        return cls(tile_size=tile_size, bands=bands, scaling=scaling, schema=schema,
                   width=float(width), kind=kind, training=training, version=version)

    def save(self, model_path):
        path = sidecar_path(model_path)
        write_json(path, self.to_dict())
        return path


def sidecar_path(model_path):
    return Path(model_path).with_suffix(".json")


def load_card(model_path):
    """The sidecar of ``model_path``; a clear error when it is missing or unreadable. A commit
    of the model a kill interrupted is finished first, so the model and its sidecar match."""
    model_path = Path(model_path)
    if model_path.parent.is_dir():
        settle(model_path.parent, model_path.stem)
    if not model_path.exists():
        raise ModelError(f"{model_path}: no such model; train one with `csc train`")
    path = sidecar_path(model_path)
    if not path.exists():
        raise ModelError(f"{model_path} has no sidecar {path.name} beside it; keep the JSON that "
                         "`csc train` wrote next to the model")
    fix = (f"restore the {path.name} saved beside {model_path.name} by `csc train` (or "
           "re-train the model)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: sidecar is not readable JSON ({exc}); {fix}") from exc
    try:
        return ModelCard.from_dict(data)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}; {fix}") from exc


def _whole(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a whole number, got {value!r}")
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise ValueError(f"expected a whole number ≥ 1, got {value!r}")
    return int(value)


def _object(value):
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {value!r}"[:120])
    return value
