"""Finding images and the rasters that sit beside them.

For an image ``<stem>.<ext>`` the convention is::

    SCLS_<stem>.tif|png   manual class labels (same grid as the image)
    EDGE_<stem>.tif|png   manual calving front (1-pixel line raster)
    VM_<stem>.tif|png     manual valley margins (line raster)

Files with those prefixes are never treated as images.
"""
import dataclasses
import logging
from pathlib import Path

import numpy as np

from csc.errors import (BandError, ClassificationError, LabelMismatchError, MissingLabelError,
                        PatchSizeError, RasterReadError)
from csc.rasters import (RasterInfo, check_label_values, grid_problem, raster_info, read_image,
                         read_labels)

log = logging.getLogger(__name__)

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


# --- the open stage: every check that needs no model -------------------------------------------

#: The companions of an image, by ``Scene`` field, with the prefix users know them by.
COMPANIONS = (("labels", "SCLS_"), ("edge", "EDGE_"), ("margins", "VM_"))


@dataclasses.dataclass(frozen=True)
class OpenScene:
    """A scene whose image and companions passed every check that needs no model."""

    scene: Scene
    info: RasterInfo
    bands: tuple          # 1-based bands read from the image
    schema: object        # the ClassSchema its labels were checked against
    n_valid: int          # pixels that are not nodata

    @property
    def stem(self):
        return self.scene.stem

    @property
    def image(self):
        return self.scene.image

    @property
    def labels(self):
        return self.scene.labels

    @property
    def shape(self):
        return self.info.shape

    def read_labels(self):
        """The manual labels (uint8 ids, 0 = unlabelled), or None without ``SCLS_``."""
        if self.scene.labels is None:
            return None
        return read_labels(self.scene.labels, schema=self.schema, shape=self.shape,
                           image_path=self.image)


def open_scene(scene, *, schema, bands=None, model=None, require_labels=False, min_size=1,
               size_hint="choose a smaller --patch-size"):
    """The *open* stage of a scene run: the image and its ``SCLS_``/``EDGE_``/``VM_``
    companions opened and checked before any model is loaded or any output written.

    - the image is readable; ``bands`` (1-based; ``model`` is a description such as "model
      m.keras" naming where they come from) exist in it;
    - every companion has the image's size, CRS and transform (to a hundredth of a pixel);
    - the labels are whole ids of ``schema`` (read strip by strip);
    - the image is at least ``min_size`` pixels on each side and not entirely nodata.
    """
    info = raster_info(scene.image)
    if bands is None:
        bands = tuple(range(1, info.count + 1))
    bands = tuple(int(b) for b in bands)
    missing = [b for b in bands if not 1 <= b <= info.count]
    if missing:
        if model:
            raise BandError(f"{model} reads bands {bands} but image {scene.image} has "
                            f"{info.count} band(s); classify images with the bands the model "
                            "was trained on, or train a model on these bands (csc tiles "
                            "--bands)")
        raise BandError(f"{scene.image} has {info.count} band(s); cannot read band(s) "
                        f"{missing}. Choose --bands within 1..{info.count}")
    if require_labels and scene.labels is None:
        raise MissingLabelError(f"{scene.image}: no label raster SCLS_{scene.stem}.tif beside "
                                "it; add it or move the image out of the folder")
    for field, prefix in COMPANIONS:
        path = getattr(scene, field)
        if path is None:
            continue
        companion_info = raster_info(path)
        problem = grid_problem(companion_info, info)
        if problem:
            raise LabelMismatchError(
                f"{prefix} raster {path} is {problem}; companions must lie on the image's grid "
                "(never resized): rasterise the vectors onto the image's grid or warp the "
                "raster onto it (e.g. gdalwarp -te/-tr from the image)")
        if companion_info.georeferenced != info.georeferenced:
            log.warning("%s: one of %s and its image %s is georeferenced and the other is not; "
                        "their grids are compared by size only", path, prefix, scene.image)
    if scene.labels is not None:
        check_label_values(scene.labels, schema=schema)
    if min(info.shape) < int(min_size):
        raise PatchSizeError(f"{scene.image} is {info.height}x{info.width} pixels, smaller "
                             f"than the {min_size}x{min_size} patch; {size_hint}")
    n_valid = _count_valid(scene.image, info, bands)
    if n_valid == 0:
        raise ClassificationError(f"{scene.image}: every pixel is nodata (value {info.nodata}); "
                                  "check the image or its nodata value")
    return OpenScene(scene=scene, info=info, bands=bands, schema=schema, n_valid=n_valid)


def _count_valid(path, info, bands, scan_rows=1024):
    if info.nodata is None and np.dtype(info.dtype).kind != "f":
        return info.height * info.width
    return sum(int(np.count_nonzero(read_image(path, bands=bands,
                                               window=(r0, min(r0 + scan_rows, info.height)))
                                    .valid))
               for r0 in range(0, info.height, scan_rows))
