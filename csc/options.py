"""Options declared once.

Every option of a command that also appears elsewhere (``csc classify`` and ``csc batch`` and
the job-list columns; ``csc front`` and the front step of ``csc classify``) is one
:class:`Option` in one :class:`OptionTable`. From a table come:

- the click options of each command (:meth:`OptionTable.click_options`);
- the job-list column parser (:meth:`OptionTable.parse_cell`);
- the options object, a frozen dataclass validated on construction
  (:meth:`OptionTable.dataclass`).

Each rule (whole number, range, odd size, choice, plain name) has one message, used at every
boundary: ``--patch-size must be an odd whole number ≥ 1 (1, 3, 5, 7, 15 …), got 4``, or with
the column name (``PatchSize …``) in a job list.
"""
import dataclasses
import math
import re

import click

from csc.classes import load_schema
from csc.errors import OptionError, PatchSizeError

#: What an unset option means (``None`` in a dataclass field, an empty job-list cell).
UNSET = None
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRUE, _FALSE = ("1", "1.0", "true", "yes"), ("0", "0.0", "false", "no")


@dataclasses.dataclass(frozen=True)
class Option:
    """One option: its name, type, range, default, job-list column and help.

    ``kind`` is ``int``, ``float``, ``bool``, ``str``, ``choice`` or ``name`` (a plain file-name
    part: letters, digits, ``_ . -``). ``low``/``high`` bound numbers (``low_open`` makes the
    lower bound strict); ``odd`` asks for an odd whole number ≥ 1; ``auto`` allows ``None``
    (meaning "decide from the data"), shown as ``auto`` in job lists. ``flag`` names the
    second spelling of a boolean (``--strips`` for ``--whole-image``); without it a boolean is
    ``--name/--no-name``."""

    name: str
    kind: str
    default: object = None
    help: str = ""
    low: float = None
    high: float = None
    low_open: bool = False
    odd: bool = False
    choices: tuple = None
    column: str = None
    auto: bool = False
    flag: str = None
    error: type = OptionError

    @property
    def cli_name(self):
        return "--" + self.name.replace("_", "-")

    # -- the rules, one message each ----------------------------------------------------------
    def check(self, value, *, label=None):
        """``value`` converted to the option's type, or ``error`` naming ``label`` (default
        the command-line name) and the rule."""
        label = label or self.cli_name
        if value is None:
            if self.auto or self.default is None:
                return None
            raise self.error(f"{label} needs a value")
        if self.kind == "bool":
            if isinstance(value, str):
                return self._flag_text(value, label)
            if value not in (True, False, 0, 1):
                raise self.error(f"{label} must be 1 or 0 (true or false), got {value!r}")
            return bool(value)
        if self.kind == "int":
            return self._bounded(self._whole(value, label), label)
        if self.kind == "float":
            return self._bounded(self._number(value, label), label)
        if self.kind == "choice":
            text = str(value).lower()
            if text not in self.choices:
                raise self.error(f"{label} must be one of {', '.join(self.choices)}, "
                                 f"got {value!r}")
            return text
        if self.kind == "name":
            text = str(value)
            if not _PLAIN_NAME.match(text):
                raise self.error(f"{label} must be a plain name (letters, digits, _ . -, not "
                                 f"starting with . or -), got {value!r}")
            return text
        return str(value)

    def _whole(self, value, label):
        rule = (f"{label} must be an odd whole number ≥ 1 (1, 3, 5, 7, 15 …), got {value!r}"
                if self.odd else f"{label} must be a whole number, got {value!r}")
        if isinstance(value, bool):
            raise self.error(rule)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.error(rule) from None
        if not math.isfinite(number) or number != int(number):
            raise self.error(rule)
        number = int(number)
        if self.odd and (number < 1 or number % 2 == 0):
            raise self.error(rule)
        return number

    def _number(self, value, label):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.error(f"{label} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise self.error(f"{label} must be a finite number, got {value!r}")
        return number

    def _bounded(self, number, label):
        low, high = self.low, self.high
        if low is not None and high is not None:
            if not (low < number if self.low_open else low <= number) or number > high:
                rule = (f"> {low:g} and ≤ {high:g}" if self.low_open
                        else f"between {low:g} and {high:g}")
                raise self.error(f"{label} must be {rule}, got {number:g}")
        elif low is not None and not (low < number if self.low_open else low <= number):
            sign = ">" if self.low_open else "≥"
            raise self.error(f"{label} must be {sign} {low:g}, got {number:g}")
        elif high is not None and number > high:
            raise self.error(f"{label} must be ≤ {high:g}, got {number:g}")
        return number

    def _flag_text(self, text, label):
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise self.error(f"{label} must be 1 or 0 (true or false), got {text!r}")

    def parse_cell(self, text):
        """The value of a job-list cell (text; ``auto`` for an automatic value)."""
        if self.auto and text.strip().lower() == "auto":
            return None
        return self.check(text, label=self.column)

    # -- click ---------------------------------------------------------------------------------
    def click_option(self, *, default=dataclasses.MISSING, required=False, help=None):
        """A click option for this option. ``default`` overrides the table's (``None`` for
        "not given", as ``csc batch`` uses to let the job list decide)."""
        value = self.default if default is dataclasses.MISSING else default
        text = help or self.help
        if self.column and default is None and not required:
            text = f"{text} Default for the {self.column} column."

        def callback(ctx, param, given):
            if given is None:
                return None
            try:
                return self.check(given)
            except OptionError as exc:
                raise click.BadParameter(str(exc).removeprefix(f"{self.cli_name} "),
                                         param_hint=self.cli_name) from None

        show = value is not None and default is dataclasses.MISSING
        if self.kind == "bool":
            second = self.flag or f"--no-{self.name.replace('_', '-')}"
            decls = [f"{self.cli_name}/{second}", self.name]
            if self.auto or default is None:
                return click.option(*decls, default=value, help=text, show_default=show)
            return click.option(*decls, default=bool(value), help=text, show_default=show)
        types = {"int": int, "float": float, "choice": click.Choice(self.choices or ()),
                 "str": str, "name": str}
        return click.option(self.cli_name, self.name, type=types[self.kind], default=value,
                            required=required, callback=callback, help=text, show_default=show)


class OptionTable:
    """Options in documentation order, with the dataclass, click options and job-list parser
    built from them."""

    def __init__(self, *options):
        self.options = tuple(options)
        self.by_name = {o.name: o for o in self.options}
        self.by_column = {o.column: o for o in self.options if o.column}

    def __iter__(self):
        return iter(self.options)

    def __getitem__(self, name):
        return self.by_name[name]

    def __contains__(self, name):
        return name in self.by_name

    @property
    def names(self):
        return tuple(self.by_name)

    def check(self, values, *, label=None):
        """Validate a dict of option values (unknown names are an error listing the valid)."""
        unknown = sorted(set(values) - set(self.by_name))
        if unknown:
            raise OptionError(f"unknown option(s) {', '.join(unknown)}; valid options are "
                              f"{', '.join(self.names)}")
        return {name: self.by_name[name].check(value) for name, value in values.items()}

    def dataclass(self, cls_name, *, namespace=None, doc=None):
        """A frozen dataclass with one field per option, validated on construction."""
        table = self

        def __post_init__(obj):
            for option in table:
                object.__setattr__(obj, option.name, option.check(getattr(obj, option.name)))

        def to_dict(obj):
            return dataclasses.asdict(obj)

        def replace(obj, **changes):
            return dataclasses.replace(obj, **changes)

        body = {"__post_init__": __post_init__, "to_dict": to_dict, "replace": replace,
                "__doc__": doc, "table": table, **(namespace or {})}
        fields = [(o.name, object, dataclasses.field(default=o.default)) for o in self]
        return dataclasses.make_dataclass(cls_name, fields, namespace=body, frozen=True)

    def click_options(self, *, names=None, unset=False, required=()):
        """A decorator adding the click options ``names`` (default all). With ``unset`` every
        default is ``None`` (the command then passes on only what the user gave)."""
        chosen = [self.by_name[n] for n in (names or self.names)]

        def decorate(f):
            for option in reversed(chosen):
                kwargs = {"required": option.name in required}
                if unset:
                    kwargs["default"] = None
                f = option.click_option(**kwargs)(f)
            return f

        return decorate


class FiniteFloatRange(click.FloatRange):
    """A ``click.FloatRange`` that also refuses ``nan`` and ``inf`` (which pass every
    comparison-based range check)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


# --- the classification options (csc classify, csc batch, job-list columns) ------------------

PHASE2_LEARNERS = ("nn", "mlp", "lightgbm", "rf")

PATCH_SIZE = Option(
    "patch_size", "int", default=1, odd=True, column="PatchSize", error=PatchSizeError,
    help="Phase-two patch size K (odd): 1 = pixel MLP, 3/5/7/15 … = patch CNN.")

CLASSIFY = OptionTable(
    PATCH_SIZE,
    Option("samples_per_class", "int", default=None, low=1, auto=True,
           column="SamplesPerClass",
           help="Training pixels per class: patch centres drawn balanced (default 20 000; "
                "the smaller classes repeated), or with --dense the most unique labelled "
                "pixels per class (default 30 000); LightGBM/RF draw without replacement."),
    Option("epochs", "int", default=300, low=1, column="Epochs",
           help="Most epochs of phase-two training (early stopping ends it sooner)."),
    Option("patience", "int", default=None, low=0, auto=True, column="Patience",
           help="Epochs without a gain in validation accuracy before stopping (default 10 "
                "without a 0.005 gain; with --dense 10 at K=1, 2 without a 0.01 gain at K≥3)."),
    Option("batch_size", "int", default=None, low=1, auto=True, column="BatchSize",
           help="Phase-two training batch: patches (default 1024), or with --dense labelled "
                "pixels per step (default 8192)."),
    Option("dense", "bool", default=False, column="Dense",
           help="Train the neural phase-two learner densely on blocks of the tile map: 2-3x "
                "faster training at K>=3 (slower at K=1), but up to 0.04 lower weighted F1 on "
                "the smaller benchmark scenes."),
    Option("illumination", "bool", default=False, column="Illumination",
           help="Phase two learns from illumination-robust pixel features: each band divided "
                "by the pixel's brightness, the log brightness, and the normalised differences "
                "of --band-roles, in place of the bands. Not with --dense."),
    Option("band_roles", "str", default=None, auto=True, column="BandRoles",
           help="Role of each band for the features of --illumination and --phase2 "
                "lightgbm|rf, e.g. red,green,blue,nir,swir (- for a band without one; default "
                "red,green,blue,nir for the first four bands): NDWI, NDVI and, with a swir "
                "band, NDSI."),
    Option("prior", "float", default=0.5, low=0.0, high=1.0, column="Prior",
           help="How far phase two's probabilities move from its class-balanced training "
                "towards the image's class shares in the tile map: 0 = as trained (a class "
                "phase one gave a few tiles spreads far beyond them), 1 = all the way (phase "
                "one's bias against a class it under-maps is kept)."),
    Option("local_prior", "float", default=None, low=0.0, high=1.0, auto=True,
           column="LocalPrior",
           help="How far each pixel's phase-two probabilities move towards the classes phase "
                "one's tiles around it hold (at each tile corner every class as likely as in "
                "the surest of the tiles meeting there, interpolated between corners), on "
                "top of --prior: 0 = not at all, 1 = all the way. Where tiles of different "
                "classes meet, phase two's own evidence places the boundary (default 0.5; 0 "
                "for the network with --dense, which it does not apply to)."),
    Option("clean", "bool", default=False, column="Clean",
           help="Drop the training pixels whose phase-one label phase two confidently "
                "contradicts (confident learning on out-of-fold predictions of two spatial "
                "folds), then train on the rest; about 2x the training time. Not with --dense."),
    Option("tile_weights", "bool", default=None, auto=True, column="TileWeights",
           help="Weigh each phase-two training pixel by the top probability of its "
                "phase-one tile, a softer --min-confidence (default: on, except for the "
                "network with --dense, which it does not apply to)."),
    Option("min_confidence", "float", default=0.0, low=0.0, high=1.0, column="MinConfidence",
           help="Leave phase-one tiles below this top probability unlabelled."),
    Option("despeckle", "int", default=2, low=0, column="Despeckle",
           help="Majority-filter radius in pixels (0 = off)."),
    Option("strip_rows", "int", default=None, low=1, auto=True, column="StripRows",
           help="Rows predicted per strip (default: from the available memory)."),
    Option("whole_image", "bool", default=False, flag="--strips", column="WholeImage",
           help="Predict the whole image in one pass (small images), or strip by strip."),
    Option("exp", "name", default=None, column="ExpShortHand",
           help="Experiment name; outputs are tagged <exp>_k<K> (default k<K>)."),
    Option("seed", "int", default=0, column="Seed",
           help="Random seed; the same seed gives the same outputs."),
    Option("phase2", "choice", default="nn", choices=PHASE2_LEARNERS, column="Phase2",
           help="Phase-two learner: nn (MLP at K=1, CNN at K≥3; mlp is an alias), or the "
                "LightGBM / random-forest baselines."),
    Option("front", "bool", default=None, auto=True, column="Front",
           help="Extract the calving front (default: when the schema has ocean and glacier "
                "roles)."),
    Option("confidence", "bool", default=True, column="Confidence",
           help="Write <stem>_confidence.tif (calibrated top-class probability, percent) and "
                "its calibration on labelled pixels."),
    Option("min_area", "float", default=0.0, low=0.0, column="MinArea",
           help="Leave regions smaller than this out of <stem>_classes.gpkg, in m² (pixels "
                "without a projected CRS); 0 keeps every region. The class map is unchanged."),
    Option("simplify", "float", default=0.0, low=0.0, column="Simplify",
           help="Simplify the polygon edges of <stem>_classes.gpkg with this tolerance, in m "
                "(pixels without a projected CRS); 0 keeps the exact pixel edges."),
)


# --- the supervised baseline (csc baseline) ---------------------------------------------------

BASELINE = OptionTable(
    Option("learner", "choice", default="lightgbm", choices=("lightgbm", "rf"),
           help="Pixel classifier."),
    Option("samples_per_class", "int", default=5000, low=1,
           help="Labelled training pixels drawn per class."),
    Option("window", "int", default=5, odd=True, error=PatchSizeError,
           help="Odd window (pixels) of the local mean/std texture features."),
    Option("illumination", "bool", default=False,
           help="Illumination-robust features: each band divided by the pixel's brightness, "
                "and the log brightness, in place of the bands (shadowed snow differs from "
                "ice mostly in band ratios)."),
    Option("strip_rows", "int", default=None, low=1, auto=True,
           help="Rows classified at a time (default: from the memory budget)."),
    *(dataclasses.replace(CLASSIFY[name], column=None) for name in ("min_area", "simplify")),
)


def _experiment(options):
    """``k<K>``, prefixed by ``exp`` when given (``NAME_k5``)."""
    k = f"k{options.patch_size}"
    return f"{options.exp}_{k}" if options.exp else k


def _with_experiment(options):
    return dict(dataclasses.asdict(options), experiment=options.experiment)


ClassifyOptions = CLASSIFY.dataclass(
    "ClassifyOptions",
    namespace={"experiment": property(_experiment), "to_dict": _with_experiment},
    doc="Options of one classification run (``csc classify``, a batch job): one field per "
        "row of :data:`CLASSIFY`, validated on construction.")
ClassifyOptions.__module__ = __name__


def check_patch_size(value):
    """``value`` as an odd whole number ≥ 1, or ``PatchSizeError`` (the one patch-size rule)."""
    return PATCH_SIZE.check(value)


# --- options shared by commands that are not in a table ----------------------------------------

def _schema(ctx, param, value):
    return load_schema(value)


classes_option = click.option(
    "--classes", "schema", type=click.Path(exists=True, dir_okay=False), callback=_schema,
    default=None, help="Class-schema CSV (id,name,colour,role); default: the glacier classes.")


def _bands(ctx, param, value):
    if value is None:
        return None
    try:
        bands = tuple(int(b) for b in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give 1-based band numbers like 1,2,3,4") from None
    if any(b < 1 for b in bands):
        raise click.BadParameter(f"{value!r}: band numbers start at 1")
    return bands


bands_option = click.option("--bands", callback=_bands, default=None,
                            help="1-based bands to read, e.g. 1,2,3,4 (default: all).")

seed_option = CLASSIFY["seed"].click_option()


def _scale(ctx, param, value):
    """A positive number, ``"percentile"`` or None."""
    if value is None or str(value).lower() == "percentile":
        return value
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a number (10000, 255) or 'percentile'",
                                 param_hint="--scale") from None
    if not number > 0:
        raise click.BadParameter(f"{value!r}: the scale must be positive", param_hint="--scale")
    return number


scale_option = click.option(
    "--scale", default=None, callback=_scale,
    help="Divide pixel values by this (10000 for Sentinel-2 L2A, 255 for 8-bit) or "
         "'percentile' for a per-band 2–98 % stretch. Default: from the data type.")

offset_option = click.option(
    "--offset", type=float, default=0.0, show_default=True,
    help="Added to pixel values before scaling (-1000 for Sentinel-2 baseline ≥ 04.00).")
