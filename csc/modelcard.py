"""The sidecar JSON saved beside every model (``MODEL.keras`` → ``MODEL.json``): what a model
needs to be applied identically elsewhere — tile size, bands, scaling and class schema — and
how it was trained."""
import dataclasses
import json
from pathlib import Path

from csc import __version__
from csc.classes import ClassSchema
from csc.errors import ModelError
from csc.files import write_json
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
        return cls(tile_size=int(d["tile_size"]), bands=tuple(d["bands"]),
                   scaling=Scaling.from_dict(d["scaling"]),
                   schema=ClassSchema.from_dict(d["schema"]), width=d.get("width", 1.0),
                   kind=d.get("kind", "vgg16"), training=d.get("training", {}),
                   version=d.get("version", "?"))

    def save(self, model_path):
        path = sidecar_path(model_path)
        write_json(path, self.to_dict())
        return path


def sidecar_path(model_path):
    return Path(model_path).with_suffix(".json")


def load_card(model_path):
    """The sidecar of ``model_path``; a clear error when it is missing or unreadable."""
    model_path = Path(model_path)
    if not model_path.exists():
        raise ModelError(f"{model_path}: no such model; train one with `csc train`")
    path = sidecar_path(model_path)
    if not path.exists():
        raise ModelError(f"{model_path} has no sidecar {path.name} beside it; keep the JSON that "
                         "`csc train` wrote next to the model")
    try:
        return ModelCard.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: sidecar is not valid ({exc}); "
                         "re-save it with `csc train`") from exc
