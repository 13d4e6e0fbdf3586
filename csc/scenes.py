"""Finding images and the rasters that sit beside them.

For an image ``<stem>.<ext>`` the convention is::

    SCLS_<stem>.tif|png   manual class labels (same grid as the image)
    EDGE_<stem>.tif|png   manual calving front (1-pixel line raster)
    VM_<stem>.tif|png     manual valley margins (line raster)

Files with those prefixes are never treated as images.
"""
import dataclasses
from pathlib import Path

from csc.errors import MissingLabelError, RasterReadError

IMAGE_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".jp2")
LABEL_SUFFIXES = (".tif", ".tiff", ".png")
COMPANION_PREFIXES = ("SCLS_", "EDGE_", "VM_")


@dataclasses.dataclass(frozen=True)
class Scene:
    image: Path
    labels: Path = None
    edge: Path = None
    margins: Path = None

    @property
    def stem(self):
        return self.image.stem


def companion(path, prefix, *, stem=None):
    """The ``<prefix><stem>.tif|.tiff|.png`` raster beside ``path`` (``stem`` defaults to
    ``path``'s own), or None."""
    path = Path(path)
    stem = path.stem if stem is None else stem
    for suffix in LABEL_SUFFIXES:
        candidate = path.with_name(f"{prefix}{stem}{suffix}")
        if candidate.exists():
            return candidate
    return None


def is_image(path):
    path = Path(path)
    return (path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
            and not path.name.startswith(COMPANION_PREFIXES))


def scene_for(image):
    """The scene of one image file, with whichever companions exist."""
    image = Path(image)
    if not image.exists():
        raise RasterReadError(f"{image}: no such file; check the path")
    if image.name.startswith(COMPANION_PREFIXES):
        raise RasterReadError(f"{image} is a label/edge/margin raster, not an image; "
                              f"give the image {image.name.split('_', 1)[1]} instead")
    return Scene(image=image, labels=companion(image, "SCLS_"), edge=companion(image, "EDGE_"),
                 margins=companion(image, "VM_"))


def find_scenes(path, *, require_labels=False):
    """The scenes of one image or of every image in a folder, sorted by name.

    With ``require_labels`` an image without ``SCLS_`` is an error naming the expected file."""
    path = Path(path)
    if path.is_file():
        scenes = [scene_for(path)]
    elif path.is_dir():
        scenes = [scene_for(p) for p in sorted(path.iterdir()) if p.is_file() and is_image(p)]
        if not scenes:
            raise RasterReadError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                                  "point to the folder with your scenes")
    else:
        raise RasterReadError(f"{path}: no such file or folder; check the path")
    if require_labels:
        for scene in scenes:
            if scene.labels is None:
                raise MissingLabelError(
                    f"{scene.image}: no label raster SCLS_{scene.stem}.tif beside it; "
                    "add it or move the image out of the folder")
    return scenes
