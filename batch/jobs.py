"""Job lists: one CSV row per classification experiment, validated as a whole before anything
runs.

A job list is the spreadsheet of the published CSC workflow::

    Model,DataSource,OutFolder,ExpShortHand,Dims,PatchSize,TileSize,WholeImage,Patience,Done
    vgg16_t50,scenes/helheim,results/helheim,hh,4,3,50,1,10,0

``Model`` names a model in the models folder (``<Model>.keras`` with its ``<Model>.json``
sidecar), ``DataSource`` a folder of images with their ``SCLS_``/``EDGE_`` rasters, and
``OutFolder`` the output folder, to which the patch size is appended
(``results/helheim_patch3/``). Relative paths are taken from the job list's own folder.
Further columns set classification options by name (``SamplesPerClass``, ``Epochs`` …; see
:data:`COLUMNS`). ``Done`` is 0 for a job still to run, 1 once it has finished and -1 when it
failed (its ``Error`` column then says why).
"""
import csv
import dataclasses
import difflib
from pathlib import Path

import pandas as pd

from csc.errors import CscError, JobListError, OptionError
from csc.modelcard import load_card
from csc.options import CLASSIFY, ClassifyOptions, Option
from csc.scenes import find_scenes
from CSC_Application.run import option_problems

#: Values of the ``Done`` column.
PENDING, DONE, FAILED = 0, 1, -1
#: Column names the published job lists misspelt, and the name they stand for.
ALIASES = {"EportShortHand": "ExpShortHand"}
#: Temporary folders beside a job's output folder: ``.<name>.partial-<pid>`` while it runs,
#: ``.<name>.old-<pid>`` while an earlier result is being replaced.
PARTIAL_TAG, OLD_TAG = ".partial-", ".old-"


# -- cell parsers of the columns that are not classification options: text -> value ----------
def _text(text):
    return text


_DIMS = Option("dims", "int", low=1, column="Dims")
_TILE_SIZE = Option("tile_size", "int", low=1, column="TileSize")
_GPU = Option("gpu", "bool", default=False, column="GPU")


def _done(text):
    value = Option("done", "int", column="Done").parse_cell(text)
    if value not in (PENDING, DONE, FAILED):
        raise OptionError(f"Done must be 0 (to run), 1 (done) or -1 (failed), got {text!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Column:
    """One job-list column: its parser, the classification option it sets (if any)."""

    name: str
    parse: object
    option: str = None
    required: bool = False
    help: str = ""


def _option_column(name, *, required=False):
    """The column of the classification option ``name`` (declared once, in
    ``csc.options.CLASSIFY``)."""
    option = CLASSIFY[name]
    return Column(option.column, option.parse_cell, option=option.name, required=required,
                  help=option.help)


#: Every column a job list may hold, in documentation order.
COLUMNS = (
    Column("Model", _text, required=True,
           help="model name without extension, looked up as MODELS_DIR/<Model>.keras"),
    Column("DataSource", _text, required=True,
           help="folder of images with their SCLS_/EDGE_ rasters (relative to the job list)"),
    Column("OutFolder", _text, required=True,
           help="output folder; the patch size is appended: <OutFolder>_patch<K>/"),
    _option_column("exp"),
    Column("Dims", _DIMS.parse_cell, help="number of bands; must equal the model's sidecar"),
    _option_column("patch_size", required=True),
    Column("TileSize", _TILE_SIZE.parse_cell,
           help="phase-one tile size; must equal the model's sidecar"),
    _option_column("whole_image"),
    _option_column("patience"),
    Column("Done", _done, help="0 = to run, 1 = finished, -1 = failed (rewritten by the sweep)"),
    *(_option_column(name) for name in ("samples_per_class", "epochs", "batch_size",
                                        "min_confidence", "despeckle", "strip_rows", "seed",
                                        "phase2", "dense", "clean", "tile_weights", "prior",
                                        "local_prior", "illumination", "band_roles", "front",
                                        "confidence", "min_area", "simplify")),
    Column("GPU", _GPU.parse_cell, help="1 = run on a Dask worker offering the resource GPU"),
    Column("Error", _text, help="why the job failed (written by the sweep)"),
    Column("Notes", _text, help="free text, ignored"),
)
COLUMN_BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)


@dataclasses.dataclass(frozen=True)
class Job:
    """One validated row of a job list."""

    row: int              # 0-based position among the job list's rows
    line: int             # line of the job list the row is on (the header is line 1)
    model: str
    model_path: Path
    data_source: Path
    out_dir: Path         # the final output folder <OutFolder>_patch<K>
    patch_size: int
    tile_size: int        # from the model's sidecar
    bands: int            # number of bands, from the model's sidecar
    done: int = PENDING
    gpu: bool = False
    options: dict = dataclasses.field(default_factory=dict)  # ClassifyOptions fields set by the row

    @property
    def exp(self):
        return self.options.get("exp")

    def partial_dir(self, tag):
        """The temporary folder the job writes into before it is moved onto ``out_dir``."""
        return self.out_dir.with_name(f".{self.out_dir.name}{PARTIAL_TAG}{tag}")

    def classify_options(self, defaults=None):
        """The ``ClassifyOptions`` of this job: the row's values over ``defaults`` over the
        built-in defaults."""
        merged = {**(defaults or {}), **self.options}
        try:
            return ClassifyOptions(**CLASSIFY.check(merged))
        except OptionError as exc:
            raise JobListError(f"line {self.line}: {exc}") from exc


# -- reading -------------------------------------------------------------------------------
def read_table(path):
    """The job list as a DataFrame of stripped text cells, with its original column names
    (so it can be written back unchanged apart from ``Done`` and ``Error``)."""
    path = Path(path)
    if not path.is_file():
        raise JobListError(f"{path}: no such job list; give the CSV with one row per job")
    try:
        header, lines = _scan(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise JobListError(f"{path}: not a readable CSV job list ({exc}); save it as "
                           "comma-separated UTF-8 text") from exc
    header = [h.strip() for h in header]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise JobListError(f"{path}: column(s) {', '.join(repeated)} appear more than once; "
                           "keep one of each")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            skip_blank_lines=True, index_col=False)
    except pd.errors.ParserError as exc:
        raise JobListError(f"{path}: not a readable CSV job list ({' '.join(str(exc).split())}); "
                           "save it as comma-separated UTF-8 text") from exc
    table.columns = header
    table = table.apply(lambda col: col.str.strip())
    _check_columns(table.columns, path)
    # line numbers of the rows, for messages (blank lines are skipped)
    table.attrs["lines"] = lines if len(lines) == len(table) else None
    return table


def _scan(path):
    """The header cells and the line number of each non-blank row; rows with cells beyond
    the header are an error."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise JobListError(f"{path}: empty job list; the first line must name the columns "
                               f"({', '.join(REQUIRED)} …)")
        lines = []
        for row in reader:
            if len(row) > len(header) and any(cell.strip() for cell in row[len(header):]):
                raise JobListError(f"{path} line {reader.line_num} has {len(row)} cells but the "
                                   f"header names {len(header)} columns; remove the extra cells "
                                   "or name their column")
            if row:
                lines.append(reader.line_num)
    return header, lines


def canonical_name(column):
    return ALIASES.get(column, column)


def _check_columns(columns, path):
    names = [canonical_name(c) for c in columns]
    unknown = [c for c in columns if canonical_name(c) not in COLUMN_BY_NAME]
    if unknown:
        hints = []
        for c in unknown:
            close = difflib.get_close_matches(c, list(COLUMN_BY_NAME), n=1, cutoff=0.6)
            hints.append(f"{c!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise JobListError(f"{path}: unknown column(s) {', '.join(hints)}; valid columns are "
                           f"{', '.join(COLUMN_BY_NAME)}")
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise JobListError(f"{path}: columns {' and '.join(sorted(set(columns)))} say the same "
                           f"thing ({', '.join(doubled)}); keep one of them")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise JobListError(f"{path}: missing column(s) {', '.join(missing)}; a job list needs "
                           f"at least {', '.join(REQUIRED)}")


def read_jobs(path, *, models_dir):
    """The validated jobs of the job list ``path`` (every row, whatever its ``Done``).

    Every row is checked before any is returned; all problems are reported together in one
    ``JobListError`` naming each line and column."""
    path = Path(path)
    return parse_jobs(read_table(path), path=path, models_dir=models_dir)


def parse_jobs(table, *, path, models_dir):
    """Validate the rows of ``table`` (as returned by :func:`read_table`) into jobs."""
    path = Path(path)
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise JobListError(f"models folder {models_dir} does not exist; pass the folder holding "
                           "<Model>.keras and <Model>.json with --models-dir")
    if table.empty:
        raise JobListError(f"{path}: the job list has no rows; add one row per job")
    base = path.resolve().parent
    lines = table.attrs.get("lines")
    problems = []
    cards = {}
    jobs = []
    owners = {}
    for row, record in enumerate(table.to_dict("records")):
        cells = {canonical_name(k): v for k, v in record.items()}
        line = lines[row] if lines else row + 2
        bad = []

        def note(column, reason, _line=line, _cells=cells, _bad=bad):
            _bad.append(f"line {_line}, {column} {_cells.get(column, '')!r}: {reason}")

        values = {}
        for name, text in cells.items():
            column = COLUMN_BY_NAME[name]
            if text == "":
                if column.required:
                    note(name, "empty; every job needs one")
                continue
            try:
                values[name] = column.parse(text)
            except OptionError as exc:
                note(name, str(exc).removeprefix(f"{name} "))

        card = None
        if "Model" in values:
            card = _model_card(values["Model"], models_dir, cards, note)
        if card is not None:
            if "TileSize" in values and values["TileSize"] != card.tile_size:
                note("TileSize", f"model {values['Model']} was trained on {card.tile_size}-pixel "
                                 "tiles (its sidecar says so); fix TileSize or Model")
            if "Dims" in values and values["Dims"] != card.n_bands:
                note("Dims", f"model {values['Model']} reads {card.n_bands} bands "
                             f"({','.join(map(str, card.bands))}); fix Dims or Model")
            if not bad:
                chosen = ClassifyOptions(**{COLUMN_BY_NAME[n].option: v
                                            for n, v in values.items()
                                            if COLUMN_BY_NAME[n].option})
                for name, reason in option_problems(chosen, bands=card.bands):
                    note(CLASSIFY[name].column, reason)
        source = None
        if "DataSource" in values:
            source = _resolve(values["DataSource"], base)
            reason = _source_problem(source)
            if reason:
                note("DataSource", reason)
        out_dir = None
        if "OutFolder" in values and "PatchSize" in values:
            folder = _resolve(values["OutFolder"], base)
            out_dir = folder.with_name(f"{folder.name}_patch{values['PatchSize']}")
            reason = _out_problem(out_dir, source=source,
                                  model=_model_path(values["Model"], models_dir)
                                  if "Model" in values else None)
            if reason:
                note("OutFolder", reason)
            elif out_dir in owners:
                note("OutFolder", f"writes to {out_dir}, like line {owners[out_dir]}; give each "
                                  "job its own OutFolder (or PatchSize)")
            else:
                owners[out_dir] = line
        problems.extend(bad)
        if bad:
            continue
        options = {COLUMN_BY_NAME[n].option: v for n, v in values.items()
                   if COLUMN_BY_NAME[n].option}
        jobs.append(Job(row=row, line=line, model=values["Model"],
                        model_path=_model_path(values["Model"], models_dir),
                        data_source=source, out_dir=out_dir, patch_size=values["PatchSize"],
                        tile_size=card.tile_size, bands=card.n_bands,
                        done=values.get("Done", PENDING), gpu=values.get("GPU", False),
                        options=options))
    if problems:
        raise JobListError(f"{path}: {len(problems)} problem(s) in the job list, nothing was "
                           "run; fix them and start again:\n  " + "\n  ".join(problems))
    return jobs


def _out_problem(out_dir, *, source, model):
    """Why a job may not write to ``out_dir`` (None when it may): a job's folder is replaced
    whole when it finishes, so it must be a folder (or not exist yet) and hold neither the
    job's DataSource nor its model."""
    if out_dir.exists() and not out_dir.is_dir():
        return (f"{out_dir} exists and is a file, not a folder; move the file away or give "
                "another OutFolder")
    resolved = out_dir.resolve()
    for what, path in (("DataSource", source), ("model", model)):
        if path is not None and (path.resolve() == resolved or resolved in path.resolve().parents):
            return (f"{out_dir} holds the job's {what} {path}, which replacing the folder with "
                    "the job's results would delete; give an OutFolder outside it")
    return None


def _resolve(text, base):
    p = Path(text).expanduser()
    return p if p.is_absolute() else base / p


def _model_path(name, models_dir):
    return models_dir / (name if name.endswith(".keras") else f"{name}.keras")


def _model_card(name, models_dir, cache, note):
    if name in cache:
        card, reason = cache[name]
    else:
        model_path = _model_path(name, models_dir)
        card, reason = None, None
        if not model_path.is_file():
            known = sorted(p.stem for p in models_dir.glob("*.keras"))
            listing = ", ".join(known[:12]) + (" …" if len(known) > 12 else "")
            reason = (f"unknown model: no {model_path.name} in {models_dir} "
                      f"({'models there: ' + listing if known else 'it holds no .keras models'})")
        else:
            try:
                card = load_card(model_path)
            except CscError as exc:
                reason = str(exc)
        cache[name] = card, reason
    if reason:
        note("Model", reason)
    return card


def _source_problem(source):
    if not source.exists():
        return f"no such folder {source}"
    try:
        find_scenes(source)
    except CscError as exc:
        return str(exc)
    return None
