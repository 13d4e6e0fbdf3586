"""Error hierarchy. Every error a user can fix is a ``CscError``; the CLI prints its message on
one line and exits with code 2. Each subclass also inherits the matching builtin so callers can
catch it as usual (``except ValueError``)."""


class CscError(Exception):
    """Root of every error glacier-csc raises on bad input."""


class RasterReadError(CscError, OSError):
    """A raster could not be opened or read."""


class OutputError(CscError, OSError):
    """An output could not be written."""


class MissingLabelError(CscError, FileNotFoundError):
    """An image has no SCLS_ label raster beside it."""


class LabelMismatchError(CscError, ValueError):
    """A label raster does not match its image (shape) or the class schema (values)."""


class BandError(CscError, ValueError):
    """Requested bands are not available, or a model's bands differ from an image's."""


class ScalingError(CscError, ValueError):
    """A radiometric scaling is invalid or does not fit the data."""


class SchemaError(CscError, ValueError):
    """A class-schema file is malformed."""


class EmptyTileSetError(CscError, ValueError):
    """No tile survived the tiling rules."""


class ModelError(CscError, ValueError):
    """A model or its sidecar is missing or inconsistent with the data."""


class OptionError(CscError, ValueError):
    """An option or job-list cell holds a value outside its meaning."""


class PatchSizeError(OptionError):
    """A phase-two patch size is not a positive odd integer, or does not fit the image."""


class ClassificationError(CscError, ValueError):
    """Phase two cannot proceed (e.g. the phase-one map holds a single class)."""


class FrontError(CscError, ValueError):
    """No calving front can be extracted from a class map."""


class JobListError(CscError, ValueError):
    """A batch job list has bad rows or columns."""


class SceneSizeError(CscError, ValueError):
    """A synthetic scene was asked for with too few pixels (or too few scenes)."""


class VectorError(CscError, ValueError):
    """A vector file (labels, front or margins drawn in QGIS) cannot be burned onto a grid."""


class CompositeError(CscError, ValueError):
    """Band files cannot be stacked into a composite (CRS, type, AOI, missing band)."""
