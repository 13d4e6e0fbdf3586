"""Atomic file writing: write to a temporary file beside the target, then rename, so a crash
never leaves a half-written output that looks finished."""
import contextlib
import os
import tempfile
from pathlib import Path

from csc.errors import OutputError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path, *, suffix=None):
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    The temporary name keeps the target's suffix (GDAL picks drivers by extension)."""
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix or path.suffix,
                                   dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write in {folder}: {exc.strerror}; "
                          "choose a writable output folder") from exc
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give them the usual permissions
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".aux.xml")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(path, frame, **kwargs):
    """Write a pandas DataFrame to CSV atomically."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)


def write_json(path, obj):
    """Write ``obj`` as indented JSON atomically (numpy scalars and paths converted)."""
    import json

    import numpy as np

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    write_text(path, json.dumps(obj, indent=2, default=default) + "\n")


@contextlib.contextmanager
def output_folder(path):
    """:func:`ensure_writable_dir` for the length of a run: the folders it makes are removed
    again when the run leaves them empty, so an input refused before anything is written
    leaves no empty output folder behind (a folder another run has written into stays)."""
    made = missing_folders(path)
    try:
        yield ensure_writable_dir(path)
    finally:
        remove_empty(made)


def missing_folders(path):
    """The folders of ``path`` (itself and its parents) that do not exist yet, innermost
    first: what making it will create, for :func:`remove_empty`."""
    path = Path(path)
    try:
        return [p for p in (path, *path.parents) if not p.exists()]
    except OSError as exc:   # a parent that cannot be looked into
        raise OutputError(f"output folder {path} is not writable ({exc.strerror}); "
                          "choose another output folder") from exc


def remove_empty(folders):
    """Remove ``folders`` (innermost first, as :func:`missing_folders` lists them) while they
    are empty; one already gone is skipped, the first that holds something stops it."""
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:   # not empty: keep it and what holds it
            break


def ensure_writable_dir(path):
    """Create ``path`` if needed and check that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe"):
            pass
    except OSError as exc:
        raise OutputError(f"output folder {path} is not writable ({exc.strerror}); "
                          "choose another output folder") from exc
    return path
