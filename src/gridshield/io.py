"""Atomic file writes: a temp file in the target folder, fsync, then rename over the target."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` in one rename.

    A crash or Ctrl-C leaves either the old file or the new one, never a half-written file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_bytes(data))


def read_text_file(path: str | os.PathLike[str], what: str = "file", max_bytes: int | None = None) -> str:
    """The UTF-8 text of a file the user named, or a one-line error that says what is wrong with it.

    Refuses, before reading, a missing path, a folder, anything but a regular file (``/dev/zero``
    never ends) and a file larger than ``max_bytes`` (default
    :data:`~gridshield.limits.MAX_TEXT_FILE_BYTES`); then a file that is not UTF-8 text (a binary
    file) with the line of the first bad byte. A UTF-8 byte-order mark is dropped.
    """
    import stat

    from gridshield.errors import ParseError
    from gridshield.limits import MAX_TEXT_FILE_BYTES, LimitError, fmt_bytes

    p = Path(path)
    limit = MAX_TEXT_FILE_BYTES if max_bytes is None else int(max_bytes)
    try:
        info = p.stat()
    except OSError as exc:
        raise ParseError(str(p), None, f"cannot read the {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ParseError(str(p), None, f"is a folder; give the {what} itself")
    if not stat.S_ISREG(info.st_mode):
        raise ParseError(str(p), None, f"is not a regular file; give the {what} as a file")
    if info.st_size > limit:
        raise LimitError(f"{p}: {fmt_bytes(info.st_size)} is larger than the {fmt_bytes(limit)} a {what} may have; "
                         "check that it is the right file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ParseError(str(p), None, f"cannot read the {what}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(str(p), line, f"not UTF-8 text (byte 0x{data[exc.start]:02x}): a binary file? "
                         f"give the {what} as UTF-8 text") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ParseError(str(p), line, f"holds NUL bytes: a binary file, not a {what} in text form")
    return text
