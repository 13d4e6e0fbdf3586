"""Explicit radiometric scaling, recorded with a model so phase one and phase two always
normalise identically.

- ``Scaling.fixed(10000)``: Sentinel-2 L2A reflectance ×10000 → 0..1 (optionally after the
  processing-baseline offset of −1000 DN, ``offset=-1000``).
- ``Scaling.fixed(255)``: 8-bit imagery.
- ``Scaling.percentile(data, lo=2, hi=98)``: per-band stretch fitted once on training data.
"""
import dataclasses

import numpy as np

from csc.errors import BandError, ScalingError


@dataclasses.dataclass(frozen=True)
class Scaling:
    mode: str = "fixed"          # "fixed" | "percentile"
    scale: float = 1.0           # fixed divisor
    offset: float = 0.0          # added to DN before scaling (−1000 for S2 baseline ≥ 04.00)
    low: tuple = ()              # per-band lower bounds (percentile mode)
    high: tuple = ()             # per-band upper bounds (percentile mode)

    @classmethod
    def fixed(cls, scale, *, offset=0.0):
        if not scale or scale <= 0:
            raise ScalingError(f"--scale must be a positive number (10000 for Sentinel-2 L2A, "
                               f"255 for 8-bit) or 'percentile', got {scale}")
        return cls(mode="fixed", scale=float(scale), offset=float(offset))

    @classmethod
    def percentile(cls, data, *, lo=2.0, hi=98.0, valid=None, offset=0.0):
        """Fit a per-band stretch on ``data`` (rows, cols, bands); ``valid`` masks nodata."""
        data = np.asarray(data)
        pixels = data.reshape(-1, data.shape[-1]) if valid is None else data[valid]
        if len(pixels) > 1_000_000:  # a regular subsample is plenty for percentiles
            pixels = pixels[:: len(pixels) // 1_000_000]
        pixels = pixels.astype(np.float64) + offset
        low = np.percentile(pixels, lo, axis=0)
        high = np.percentile(pixels, hi, axis=0)
        high = np.where(high > low, high, low + 1.0)
        return cls(mode="percentile", offset=float(offset), low=tuple(low.tolist()),
                   high=tuple(high.tolist()))

    @classmethod
    def parse(cls, text, *, offset=0.0, data=None, valid=None):
        """From a CLI value: a number (``10000``, ``255``) or ``percentile``."""
        if str(text).lower() == "percentile":
            if data is None:
                raise ScalingError("percentile scaling needs data to fit on")
            return cls.percentile(data, valid=valid, offset=offset)
        return cls.fixed(float(text), offset=offset)

    def apply(self, data, *, dtype=np.float32, valid=None):
        """Scale an array (..., bands) to floats; values are not clipped above 1.

        NaN and ±Inf (float images masked by NaN) become 0, and so does every band of the
        pixels where ``valid`` (the array's shape without its band axis) is False, so nodata
        never reaches a learner as a value: a NaN-masked image and its twin with a declared
        nodata value scale identically."""
        out = np.asarray(data).astype(dtype)  # always a copy: the input is never modified
        if self.offset:
            out += dtype(self.offset)
        if self.mode == "fixed":
            out /= dtype(self.scale)
        else:
            low = np.asarray(self.low, dtype=dtype)
            high = np.asarray(self.high, dtype=dtype)
            if out.shape[-1] != len(low):
                raise BandError(f"the scaling was fitted on {len(low)} bands but the data has "
                                f"{out.shape[-1]}; read the bands the model was trained on")
            out -= low
            out /= high - low
        out[~np.isfinite(out)] = 0
        if valid is not None:
            out[~np.asarray(valid, dtype=bool)] = 0
        return np.maximum(out, dtype(0), out=out)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["low"], d["high"] = list(self.low), list(self.high)
        return d

    @classmethod
    def from_dict(cls, d):
        return cls(mode=d["mode"], scale=d.get("scale", 1.0), offset=d.get("offset", 0.0),
                   low=tuple(d.get("low", ())), high=tuple(d.get("high", ())))

    def describe(self):
        if self.mode == "fixed":
            off = f" after offset {self.offset:+g}" if self.offset else ""
            return f"÷{self.scale:g}{off}"
        return "per-band percentile stretch"


def default_scaling(dtype):
    """A sensible fixed scale for a raster data type: 255 for 8-bit, 10000 for 16-bit
    reflectance, 1 for floats."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return Scaling.fixed(255)
    if dtype.kind in "iu":
        return Scaling.fixed(10000)
    return Scaling.fixed(1)
