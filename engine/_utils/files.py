"""Output folders and files written atomically, owned by sdsynth, and private where they hold sensitive data.

Every output is written into a temporary sibling (`.NAME.PID.XXXX.partial`) and renamed into place when complete,
so a failed or interrupted run never leaves a half-written release. A completed folder holds a marker file:
`--overwrite` replaces only folders that carry it (an earlier sdsynth output), and never one that holds an input
of the run. A temporary folder left behind by a killed run (its process is gone) is removed by the next run that
writes next to it. Private outputs (anything computed from the sensitive records) are readable by their owner
only: folders 0700 and files 0600, whatever the umask.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sdsynth.errors import OutputError

MARKER = ".sdsynth-output"
_MARKER_TEXT = "written by sdsynth; `--overwrite` may replace this folder\n"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _input_paths(inputs: Iterable[Any]) -> list[Path]:
    return [Path(p).resolve() for p in inputs if isinstance(p, str | Path) and Path(p).exists()]


def check_output_dir(path: str | Path, overwrite: bool, inputs: Iterable[Any] = ()) -> Path:
    """Refuse an output folder that cannot or must not be (re)written; called before any work starts.

    `inputs` are the run's input files (data, schema, ledger): a folder that contains one is never replaced."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists; choose another `out` or pass `overwrite`")
    if out.exists():
        target = out.resolve()
        for given in _input_paths(inputs):
            if given == target or target in given.parents:
                raise OutputError(f"{out}: holds an input of this run ({given.name}); `overwrite` would delete it, "
                                  "choose another output folder")  # fmt: skip
        if not (out / MARKER).is_file():
            raise OutputError(f"{out}: exists and was not written by sdsynth (no {MARKER} marker); `overwrite` only "
                              "replaces sdsynth outputs: remove it yourself or choose another folder")  # fmt: skip
    parent = out.resolve().parent
    if not parent.exists():
        raise OutputError(f"{parent}: the parent folder of the output does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{parent}: not writable")
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(out: Path) -> list[Path]:
    """Temporary folders and files that a killed run left next to `out` (its process no longer exists)."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(?:(\d+)\..+\.partial|old-(\d+))$")
    removed = []
    parent = out.resolve().parent
    for entry in parent.iterdir() if parent.is_dir() else ():
        match = pattern.match(entry.name)
        if match is None:
            continue
        pid = int(match.group(1) or match.group(2))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def make_private(folder: Path) -> None:
    """Owner-only permissions on a folder and everything in it."""
    folder.chmod(PRIVATE_DIR_MODE)
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            (Path(root) / d).chmod(PRIVATE_DIR_MODE)
        for f in files:
            (Path(root) / f).chmod(PRIVATE_FILE_MODE)


@contextmanager
def atomic_directory(
    path: str | Path, overwrite: bool = False, private: bool = False, inputs: Iterable[Any] = ()
) -> Iterator[Path]:
    """Yield a temporary folder next to `path`; on success it replaces `path`, on failure it is removed.

    `private`: the folder stays 0700 from the start (nothing in it is ever readable by others) and its files are
    made 0600 before the rename."""
    out = check_output_dir(path, overwrite, inputs)
    remove_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".partial", dir=out.resolve().parent))
    if not private:  # mkdtemp makes it 0700; a public folder gets the user's usual permissions
        tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        (tmp / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
        if private:
            make_private(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(path: str | Path, overwrite: bool = True, private: bool = False) -> Iterator[Path]:
    """Yield a temporary file path next to `path`, renamed into place on success (`private`: mode 0600)."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists; pass `overwrite` to replace it")
    if not out.resolve().parent.exists():
        raise OutputError(f"{out.resolve().parent}: the folder does not exist")
    remove_stale(out)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".partial", dir=out.resolve().parent)
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(PRIVATE_FILE_MODE if private else 0o666 & ~_umask())
    try:
        yield tmp
        if private:  # writers may have replaced the file
            tmp.chmod(PRIVATE_FILE_MODE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
