"""The *commit* stage of a scene run: all outputs of one image in one output folder appear
together, with a manifest, or not at all.

A run writes its outputs into a staging folder inside the output folder
(``.csc-<stem>.staging-<pid>/``). On commit the manifest ``<stem>_run.json`` — every output
with its size and SHA-256 — is written last into the staging folder, and a journal
``.csc-<stem>.commit.json`` names the files to move into place and the outputs of the earlier
run of the same image that this run does not produce (to remove). Only then are the files
moved, the manifest last. A run killed before the journal exists leaves the earlier outputs
untouched; one killed after it is rolled forward by :func:`recover` at the start of the next
run into that folder. Either way the folder then holds one complete set, never a mix, and no
staging file survives.
"""
import contextlib
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from csc.errors import OutputError
from csc.files import write_json, write_text

log = logging.getLogger(__name__)

_PREFIX = ".csc-"
_STAGING = ".staging-"
_JOURNAL = ".commit.json"
#: Output sets of this process entered and not yet closed (see :func:`close_open_sets`).
_OPEN = []


def manifest_name(stem):
    return f"{stem}_run.json"


def sha256(path, *, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _journal(out_dir, stem):
    return Path(out_dir) / f"{_PREFIX}{stem}{_JOURNAL}"


def recorded_outputs(manifest):
    """The output file names a manifest (``<stem>_run.json``) lists, or () when it is absent
    or unreadable."""
    try:
        record = json.loads(Path(manifest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    names = []
    for entry in record.get("outputs", []) if isinstance(record, dict) else []:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and name and Path(name).name == name:
            names.append(name)
    return tuple(names)


def recover(out_dir, stem=None):
    """Finish or undo what interrupted runs left in ``out_dir`` (for ``stem``, or all): a
    journal is rolled forward, a staging folder without one is removed."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return
    pattern = f"{_PREFIX}{stem if stem is not None else '*'}"
    for journal in sorted(out_dir.glob(pattern + _JOURNAL)):
        log.info("completing the interrupted commit of %s", journal.parent)
        _roll_forward(journal)
    for staging in sorted(out_dir.glob(pattern + _STAGING + "*")):
        log.info("removing %s, left by an interrupted run", staging)
        shutil.rmtree(staging, ignore_errors=True)


def settle(folder, key):
    """Roll forward a commit of ``key`` interrupted in ``folder`` (its journal is there), so a
    reader sees one complete set. Staging folders of a run still writing are left alone; the
    next run committing into ``folder`` removes those of killed runs."""
    folder = Path(folder)
    journal = _journal(folder, key)
    if journal.exists():
        log.info("completing the interrupted commit of %s", folder)
        _roll_forward(journal)


def _roll_forward(journal):
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
        staging = journal.parent / plan["staging"]
        move, remove = list(plan["move"]), list(plan["remove"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"{journal}: unreadable commit journal ({exc}); delete it and the "
                          f"{_PREFIX}*{_STAGING}* folders beside it, then run again") from exc
    for name in move:
        staged = staging / name
        if staged.exists():
            os.replace(staged, journal.parent / name)
    for name in remove:
        with contextlib.suppress(FileNotFoundError):
            (journal.parent / name).unlink()
    shutil.rmtree(staging, ignore_errors=True)
    journal.unlink()


class OutputSet:
    """The outputs of one image in one folder, staged and then committed together.

    Usage::

        with OutputSet(out_dir, stem) as outputs:
            write_something(outputs.path("x.csv"))
            outputs.commit(record)            # record: the manifest's content
    """

    def __init__(self, out_dir, stem):
        self.out_dir = Path(out_dir)
        self.stem = stem
        self.staging = None
        self.committed = None

    def __enter__(self):
        recover(self.out_dir, self.stem)
        self.staging = self.out_dir / f"{_PREFIX}{self.stem}{_STAGING}{os.getpid()}"
        _OPEN.append(self)   # before the folder exists: an interrupt can land anywhere after
        try:
            self.staging.mkdir(parents=True)
        except OSError as exc:
            self._close()
            raise OutputError(f"cannot write in {self.out_dir}: {exc.strerror}; choose a "
                              "writable output folder") from exc
        return self

    @property
    def folder(self):
        """The staging folder (for steps that write their own files into a folder)."""
        return self.staging

    def path(self, name):
        """Where to write output ``name`` (a plain file name) before the commit."""
        if Path(name).name != name:
            raise ValueError(f"output names are plain file names, got {name!r}")
        return self.staging / name

    def commit(self, record):
        """Write the manifest ``<stem>_run.json`` (``record`` plus ``outputs``: every staged
        file with its size and SHA-256), then move the set into place; earlier outputs of this
        image that the set does not hold are removed. Returns the manifest's path."""
        manifest = manifest_name(self.stem)
        names = sorted(p.name for p in self.staging.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.name != manifest)
        outputs = [{"name": n, "bytes": (self.staging / n).stat().st_size,
                    "sha256": sha256(self.staging / n)} for n in names]
        write_json(self.staging / manifest, dict(record, outputs=outputs))
        move = names + [manifest]
        stale = sorted(set(recorded_outputs(self.out_dir / manifest)) - set(move))
        journal = _journal(self.out_dir, self.stem)
        write_text(journal, json.dumps({"staging": self.staging.name, "move": move,
                                        "remove": stale}) + "\n")
        _roll_forward(journal)
        self.committed = self.out_dir / manifest
        return self.committed

    def __exit__(self, exc_type, exc, tb):
        self._close()
        return False

    def _close(self):
        """Leave the folder as the commit left it: finish a journalled commit, else remove
        the staging folder (the earlier set stays)."""
        if self.committed is None and self.staging is not None:
            journal = _journal(self.out_dir, self.stem)
            if journal.exists():   # interrupted while moving the set: finish the commit
                log.info("completing the interrupted commit of %s", self.out_dir)
                _roll_forward(journal)
            else:
                shutil.rmtree(self.staging, ignore_errors=True)
        with contextlib.suppress(ValueError):
            _OPEN.remove(self)


def close_open_sets():
    """Close every output set of this process still open: for a stop (Ctrl-C) that landed
    where a ``with`` block's ``__exit__`` does not run, e.g. inside ``__enter__`` right after
    the staging folder was made."""
    for outputs in list(_OPEN):
        outputs._close()
