"""Atomic writes: a temp file in the same folder, fsync, rename. Readers never see half a file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch

from .errors import UserError

# The process umask (reading it means setting it), to give atomically written files normal modes.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the result a normal file's mode
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line and flush it to disk (a log, so appending is safe enough)."""
    with open(path, "a") as f:
        f.write(json.dumps(record, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


_WHOLE_FILE_LIMIT = 256 * 2**20   # larger files are fingerprinted by their size, head and tail
_EDGE = 8 * 2**20


def file_fingerprint(path: str | os.PathLike) -> str:
    """A short content hash of a file (or of every file in a folder), to tell whether an input
    changed between two runs that name the same path. Files up to 256 MiB are hashed whole;
    larger ones by their size and their first and last 8 MiB."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}:{size}".encode())
        with open(file, "rb") as f:
            if size <= _WHOLE_FILE_LIMIT:
                _hash_blocks(digest, f)
            else:
                digest.update(f.read(_EDGE))
                f.seek(size - _EDGE)
                digest.update(f.read(_EDGE))
    return digest.hexdigest()[:16]


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's whole content (hex), e.g. to check a shipped file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        _hash_blocks(digest, f)
    return digest.hexdigest()


def _hash_blocks(digest, f) -> None:
    for block in iter(lambda: f.read(2**20), b""):
        digest.update(block)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """An output folder that can be made: no regular file in its way, and a writable place for it.
    Checked before any work, so that an hour of training does not end in a failed write."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: a file is there, expected a folder (or nothing)")
    _check_folder_can_be_made(path, f"{flag} {path}")
    return path


def _check_folder_can_be_made(folder: Path, named: str) -> None:
    """`folder` exists or can be made, and can be written into; errors start with `named` (the flag
    and the path the user gave)."""
    existing = _nearest_existing(folder.absolute())
    if not existing.is_dir():
        raise UserError(f"{named}: {existing} is a file, so no folder can be made under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{named}: {existing} is not writable")


def check_output_file(path: str | os.PathLike, force: bool, flag: str = "--out") -> Path:
    """An output file that may be written: its folder can be made, and an existing file is replaced
    only with --force."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: a folder is there, expected a file name")
    _check_folder_can_be_made(path.parent, f"{flag} {path}")
    if path.exists() and not force:
        raise UserError(f"{flag} {path}: the file exists; pass --force to replace it")
    return path
