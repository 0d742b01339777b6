"""Repository snapshots: the files of a folder, a tarball, a zip or a bare git repository at a ref.

Every snapshot lists its entries first (path, size, kind), then reads a file's bytes on demand,
so the reader can find the license files before it emits anything. Damage never raises out of
a snapshot: an entry it cannot read becomes an `Entry` whose `error` names the reason, and a
listing that stops half way (a truncated tarball, a corrupt git tree) ends with one such entry.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tarfile
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

from corpusforge.core import storage

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ZIP_SUFFIXES = (".zip",)


@dataclass(slots=True)
class Entry:
    """One thing a snapshot holds: a regular file to read, or something that is not one (`error`)."""

    path: str  # relative, '/'-separated
    size: int
    error: str | None = None  # drop reason when the entry is not a readable regular file
    key: object = None  # how the snapshot finds the bytes again (member, blob id, ...)


class SnapshotError(Exception):
    """The snapshot cannot be opened at all; the message is the drop reason."""


class Snapshot(ABC):
    """Base: `entries()` lists, `read(entry)` returns bytes or raises OSError; `commit` if known."""

    kind = "snapshot"
    commit: str | None = None
    max_file_bytes: int = 1 << 62  # larger files are listed with error "too_large" and never read

    @abstractmethod
    def entries(self) -> Iterator[Entry]:
        """Every entry, regular files and the rest, in a stable order."""

    def read(self, entry: Entry) -> bytes:
        """The bytes of a regular-file entry (snapshots that stream override `files` instead)."""
        raise OSError("this snapshot is read as a stream")

    def files(self) -> Iterator[tuple[Entry, bytes | None, str | None]]:
        """Every entry with its bytes (or the reason it has none), in listing order."""
        for e in self.entries():
            if e.error:
                yield e, None, e.error
                continue
            try:
                yield e, self.read(e), None
            except Exception as exc:
                yield e, None, _read_reason(exc)

    def close(self) -> None:
        """Release what the snapshot holds open."""


def _read_reason(exc: Exception) -> str:
    if str(exc) == "corrupt_git_object":
        return "corrupt_git_object"
    if isinstance(exc, OSError):
        return "unreadable_file"
    return "corrupt_archive_member"


def _file_entry(path: str, size: int, max_depth: int, max_bytes: int, key: object = None) -> Entry:
    """A regular file's entry, or its reason for not being read."""
    if _depth(path) >= max_depth:
        return Entry(path, size, "too_deep")
    if size > max_bytes:
        return Entry(path, size, "too_large")
    return Entry(path, size, key=key)


def _depth(path: str) -> int:
    return path.count("/")


class FolderSnapshot(Snapshot):
    """A checked-out tree on local disk; symlinks are never followed (a link loop costs nothing)."""

    kind = "folder"

    def __init__(self, root: str, max_depth: int):
        self.root, self.max_depth = root, max_depth

    def entries(self) -> Iterator[Entry]:
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            try:
                with os.scandir(os.path.join(self.root, rel_dir)) as it:
                    items = sorted(it, key=lambda d: d.name)
            except OSError:
                yield Entry(rel_dir or ".", 0, "unreadable_folder")
                continue
            subdirs = []
            for d in items:
                rel = f"{rel_dir}/{d.name}" if rel_dir else d.name
                if d.name == ".git" and d.is_dir(follow_symlinks=False):
                    continue  # version-control metadata, not repository content
                try:
                    st = d.stat(follow_symlinks=False)
                except OSError:
                    yield Entry(rel, 0, "unreadable_file")
                    continue
                if stat.S_ISLNK(st.st_mode):
                    yield Entry(rel, 0, "symlink")
                elif stat.S_ISDIR(st.st_mode):
                    if _depth(rel) >= self.max_depth:
                        yield Entry(rel, 0, "too_deep")
                    else:
                        subdirs.append(rel)
                elif not stat.S_ISREG(st.st_mode):
                    yield Entry(rel, 0, "not_regular_file")
                else:
                    yield _file_entry(rel, st.st_size, self.max_depth + 1, self.max_file_bytes)
            stack.extend(reversed(subdirs))

    def read(self, entry: Entry) -> bytes:
        # O_NOFOLLOW: a file swapped for a link after listing is refused, not followed.
        fd = os.open(os.path.join(self.root, entry.path), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            return f.read()


class TarSnapshot(Snapshot):
    """A tarball (any compression tarfile knows), read as a stream: local or s3://."""

    kind = "tar"

    def __init__(self, path: str, max_depth: int):
        self.path, self.max_depth = path, max_depth

    def _open(self) -> tuple[IO, tarfile.TarFile]:
        f = storage.open_file(self.path, "rb")
        try:
            return f, tarfile.open(fileobj=f, mode="r|*")
        except Exception:
            f.close()
            raise

    def entries(self) -> Iterator[Entry]:
        for entry, _ in self._walk(read=False):
            yield entry

    def files(self) -> Iterator[tuple[Entry, bytes | None, str | None]]:
        for entry, data in self._walk(read=True):
            yield entry, data, entry.error

    def _walk(self, read: bool) -> Iterator[tuple[Entry, bytes | None]]:
        try:
            f, tar = self._open()
        except (FileNotFoundError, PermissionError):
            yield Entry(PurePosixPath(self.path).name, 0, "unreadable_file"), None
            return
        except (OSError, EOFError, zlib.error, tarfile.TarError):
            yield Entry(PurePosixPath(self.path).name, 0, "corrupt_archive"), None
            return
        with f, tar:
            try:
                for m in tar:
                    path = self._relative(m.name)
                    if path is None:
                        continue
                    if m.issym() or m.islnk():
                        yield Entry(path, 0, "symlink"), None
                    elif m.isdir():
                        continue
                    elif not m.isfile():
                        yield Entry(path, 0, "not_regular_file"), None
                    else:
                        entry = _file_entry(path, m.size, self.max_depth + 1, self.max_file_bytes)
                        if read and not entry.error:
                            fobj = tar.extractfile(m)
                            yield entry, fobj.read() if fobj else b""
                        else:
                            yield entry, None
            except (OSError, EOFError, zlib.error, tarfile.TarError):
                # A truncated or corrupt stream: what was read stays read, the rest is one counted loss.
                yield Entry(PurePosixPath(self.path).name, 0, "corrupt_archive"), None

    @staticmethod
    def _relative(name: str) -> str | None:
        """Member path without leading `./`; None for absolute or escaping paths (never read)."""
        while name.startswith("./"):
            name = name[2:]
        if not name or name.startswith("/") or ".." in PurePosixPath(name).parts:
            return None
        return name


class ZipSnapshot(Snapshot):
    """A zip archive (GitHub's "Download ZIP" shape included)."""

    kind = "zip"

    def __init__(self, path: str, max_depth: int):
        self.path, self.max_depth = path, max_depth
        try:
            self._file = storage.open_file(path, "rb")
            self._zip = zipfile.ZipFile(self._file)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            reason = "unreadable_file" if isinstance(exc, FileNotFoundError) else "corrupt_archive"
            raise SnapshotError(reason) from exc

    def entries(self) -> Iterator[Entry]:
        for info in self._zip.infolist():
            path = info.filename
            if info.is_dir() or not path or path.startswith("/") or ".." in PurePosixPath(path).parts:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                yield Entry(path, 0, "symlink")
            else:
                yield _file_entry(path, info.file_size, self.max_depth + 1, self.max_file_bytes, info)

    def read(self, entry: Entry) -> bytes:
        assert isinstance(entry.key, zipfile.ZipInfo)
        return self._zip.read(entry.key)

    def close(self) -> None:
        self._zip.close()
        self._file.close()


class GitSnapshot(Snapshot):
    """A bare (or non-bare) git repository read at a ref with git's plumbing: nothing is checked out."""

    kind = "git"

    def __init__(self, path: str, ref: str, max_depth: int, timeout: float = 600.0):
        self.path, self.max_depth, self.timeout = path, max_depth, timeout
        try:
            out = self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except (OSError, subprocess.SubprocessError) as exc:
            raise SnapshotError("unreadable_git_repo") from exc
        if out.returncode != 0 or not out.stdout.strip():
            raise SnapshotError("corrupt_git_repo")
        self.commit: str = out.stdout.decode().strip()
        self._batch: subprocess.Popen | None = None

    def _git(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", f"--git-dir={self.path}", *args], capture_output=True, timeout=self.timeout)

    def entries(self) -> Iterator[Entry]:
        try:
            out = self._git("ls-tree", "-r", "-z", "--long", "--full-tree", self.commit)
        except (OSError, subprocess.SubprocessError):
            yield Entry(".", 0, "corrupt_git_object")
            return
        records = out.stdout.split(b"\0")
        for rec in records:
            if not rec:
                continue
            meta, _, raw_path = rec.partition(b"\t")
            mode, otype, oid, size = meta.decode().split()
            path = raw_path.decode("utf-8", "surrogateescape")
            if mode == "120000":
                yield Entry(path, 0, "symlink")
            elif otype == "commit":
                yield Entry(path, 0, "submodule")
            elif not size.isdigit():
                yield Entry(path, 0, "corrupt_git_object")  # ls-tree --long prints BAD for an unreadable blob
            else:
                yield _file_entry(path, int(size), self.max_depth + 1, self.max_file_bytes, oid)
        if out.returncode != 0:
            # ls-tree stops at the first tree it cannot read: the rest of the listing is one counted loss.
            yield Entry(".", 0, "corrupt_git_object")

    def read(self, entry: Entry) -> bytes:
        proc = self._cat_file()
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None  # opened with PIPE
        try:
            stdin.write(f"{entry.key}\n".encode())
            stdin.flush()
            header = stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                raise _CorruptObject()
            size = int(header[2])
            data = stdout.read(size)
            stdout.read(1)  # the newline after each object
            if len(data) != size:
                raise _CorruptObject()
            return data
        except (_CorruptObject, BrokenPipeError, ValueError):
            # git exits on a corrupt object: restart it for the next read and report this one.
            self._stop()
            raise OSError("corrupt_git_object") from None

    def _cat_file(self) -> subprocess.Popen:
        if self._batch is None or self._batch.poll() is not None:
            self._batch = subprocess.Popen(
                ["git", f"--git-dir={self.path}", "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._batch

    def _stop(self) -> None:
        if self._batch is not None:
            try:
                self._batch.kill()
                self._batch.wait(timeout=10)
            except OSError:
                pass
            self._batch = None

    def close(self) -> None:
        if self._batch is not None:
            if self._batch.stdin is not None:
                self._batch.stdin.close()
            self._batch.wait(timeout=30)
            self._batch = None


class _CorruptObject(Exception):
    pass


def is_git_dir(path: str) -> bool:
    """A bare repository (HEAD, objects/, refs/) or a checkout's .git folder."""
    return os.path.isfile(os.path.join(path, "HEAD")) and os.path.isdir(os.path.join(path, "objects"))


def snapshot_kind(path: str) -> str | None:
    """git, folder, tar or zip for a path the repository reader accepts; None otherwise."""
    lower = path.lower().rstrip("/")
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    if lower.endswith(ZIP_SUFFIXES):
        return "zip"
    if "://" not in path and os.path.isdir(path):
        return "git" if is_git_dir(path) else "folder"
    return None


def open_snapshot(path: str, ref: str = "HEAD", max_depth: int = 64, max_file_bytes: int = 1 << 62) -> Snapshot:
    """The snapshot for a path; raises SnapshotError with the drop reason when it cannot be opened."""
    kind = snapshot_kind(path)
    snap: Snapshot
    if kind == "tar":
        snap = TarSnapshot(path, max_depth)
    elif kind == "zip":
        snap = ZipSnapshot(path, max_depth)
    elif kind == "git":
        snap = GitSnapshot(path, ref, max_depth)
    elif kind == "folder":
        snap = FolderSnapshot(path, max_depth)
    else:
        raise SnapshotError("unsupported_input")
    snap.max_file_bytes = max_file_bytes
    return snap


def repo_name_of(path: str) -> str:
    """The repository name a snapshot path implies: its base name without archive or .git suffix."""
    name = PurePosixPath(path.rstrip("/")).name
    for suffix in (*TAR_SUFFIXES, *ZIP_SUFFIXES, ".git"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
