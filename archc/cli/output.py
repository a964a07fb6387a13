"""Writing an output file (``-o``): only regular files, always atomically.

The target's type is checked with ``os.stat`` before anything opens it, so a FIFO is never opened (that would
block until a reader comes) and a device, directory or socket is refused whatever the flags: ``os.replace``
onto ``/dev/null`` would put a regular file in the device node's place. A symbolic link to a regular file is
written through (the link stays). The text goes to a temporary file in the target's folder, then
``os.replace`` swaps it in, so a reader never sees half a file and an interrupted write leaves the old one.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from archc.errors import Loc, SpecError

# An existing file larger than this is not one archc wrote (the largest catalog model's file is ~20 KB):
# it is not read to look for archc's header, only replaced with --force.
MAX_READ = 16 * 2**20

_KINDS = [(stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")]


def target(output: str) -> tuple[Path, os.stat_result | None]:
    """The regular file to write for ``-o output`` and its current status (None: it does not exist yet)."""
    path = Path(output)
    where = Loc(output)
    try:
        info = os.stat(path)  # follows links: what a write would reach
    except FileNotFoundError:
        if os.path.lexists(path):
            raise SpecError(f"cannot write {output}: it is a symbolic link to nothing", where) from None
        if not path.parent.is_dir():
            raise SpecError(f"cannot write {output}: no such directory {path.parent}", where) from None
        return path, None
    except OSError as exc:
        raise SpecError(f"cannot write {output}: {exc.strerror or exc}", where) from None
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise SpecError(f"cannot write {output}: it is {kind}; archc writes only regular files (even with "
                        "--force)", where)
    return Path(os.path.realpath(path)), info


def read_existing(path: Path, info: os.stat_result) -> str | None:
    """The text of an existing regular file, or None when it is too large or not UTF-8 (not archc's)."""
    if info.st_size > MAX_READ:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_READ + 1)
        return data.decode("utf-8") if len(data) <= MAX_READ else None
    except (OSError, UnicodeDecodeError):
        return None


def write(path: Path, info: os.stat_result | None, text: str) -> None:
    """Write ``text`` to ``path`` atomically, keeping an existing file's permissions (mkstemp's are 0600;
    a new file gets the umask's, as open() would give it)."""
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SpecError(f"cannot write {path}: {exc.strerror or exc}", Loc(str(path))) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError):
            raise SpecError(f"cannot write {path}: {exc.strerror or exc}", Loc(str(path))) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
