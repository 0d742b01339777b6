"""Read repository snapshots (folder, tarball, zip, bare git repo at a ref) into one document per file.

Each input path is one repository. The reader lists it, reads and classifies its license files
first (`licenses.py`; ScanCode instead with `license_detector: scancode`), and gives every file
the licenses of the license files in its folder and the folders above (The Stack v2, StarCoder2
paper section 2.1). Files that are not source text are counted under a reason and never stop
the run: symlinks (a link loop costs nothing), special files, submodules, paths deeper than the
traversal limit, files over the size cap, binary content, invalid UTF-8, empty files, unreadable
files and corrupt archive members or git objects.
"""

from __future__ import annotations

import codecs
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field

from corpusforge.core import storage
from corpusforge.core.document import Document, make_id
from corpusforge.stages.base import Reader, StageConfig
from corpusforge.stages.code import licenses
from corpusforge.stages.code.snapshot import Snapshot, SnapshotError, open_snapshot, repo_name_of, snapshot_kind

# git's own binary test: a NUL byte in the first 8000 bytes (xdiff's buffer_is_binary).
BINARY_SNIFF = 8000
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_source(data: bytes, utf16: str = "decode") -> tuple[str | None, str]:
    """(text, encoding) or (None, drop reason): BOM-marked UTF-8/16/32, else strict UTF-8; NULs mean binary."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            if codec != "utf-8-sig" and utf16 == "drop":
                return None, "utf16_file"
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                return None, "invalid_encoding"
    if b"\0" in data[:BINARY_SNIFF]:
        return None, "binary_file"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return None, "invalid_utf8"


class RepoReader(Reader):
    """One repository snapshot per input path; one document per file, with repo, path, license and commit."""

    type = "repo"
    config: Config

    class Config(StageConfig):
        paths: list[str]
        source: str = "code"
        ref: str = "HEAD"  # git repositories: the ref read (The Stack v2 reads the main branch only)
        repo_name: str | None = None  # default: the input's base name without .git / .tar.gz / .zip
        # The Stack v2 (StarCoder2 paper section 2.1): files up to 10 MB, folder depth at most 64.
        max_file_bytes: int = Field(10 * 1024 * 1024, ge=1)
        max_depth: int = Field(64, ge=1)
        license_files: str = licenses.LICENSE_FILE_PATTERN  # The Stack v2 appendix A.3 naming rule
        license_detector: Literal["fast", "scancode"] = "fast"
        max_license_file_bytes: int = Field(1 << 20, ge=1)  # a larger "LICENSE" is not a license text
        # UTF-16/32 files with a byte-order mark: decoded to text (counted in extra.encodings) or dropped.
        utf16: Literal["decode", "drop"] = "decode"

    @classmethod
    def expand_inputs(cls, patterns: list[str]) -> list[str]:
        """Folders, bare git repositories and archives matched by the patterns, one repository each."""
        found: set[str] = set()
        for pattern in patterns:
            fs, p = storage.filesystem(pattern)
            matches = fs.glob(p) if any(c in p for c in "*?[") else ([p] if fs.exists(p) else [])
            for m in matches:
                path = storage.protocol_path(fs, m)
                if fs.isfile(m) or snapshot_kind(path) is not None:
                    found.add(path)
        return sorted(found)

    def setup(self) -> None:
        self._license_re = re.compile(self.config.license_files)
        if self.config.license_detector == "scancode":
            from corpusforge.stages.code.scancode import scancode_licenses

            self._classify = scancode_licenses
        else:
            self._classify = licenses.classify

    def read(self, path: str) -> Iterator[Document]:
        cfg = self.config
        repo = cfg.repo_name or repo_name_of(path)
        try:
            snap = open_snapshot(path, cfg.ref, cfg.max_depth, cfg.max_file_bytes)
        except SnapshotError as exc:
            self.seen()
            self.drop_record(str(exc))
            return
        self.ledger.histogram("snapshots", snap.kind)
        try:
            folder_licenses, n_files = self._licenses(snap)
            yield from self._documents(snap, repo, folder_licenses, n_files)
        finally:
            snap.close()

    def _licenses(self, snap: Snapshot) -> tuple[dict[str, list[str]], int]:
        """Licenses found per folder ('' is the root) and the number of regular files."""
        found: dict[str, set[str]] = defaultdict(set)
        n_files = 0
        candidates = []
        for entry in snap.entries():
            if entry.error:
                continue
            n_files += 1
            name = entry.path.rsplit("/", 1)[-1]
            if entry.size <= self.config.max_license_file_bytes and self._license_re.match(name):
                candidates.append(entry)
        if candidates:
            wanted = {e.path for e in candidates}
            for entry, data, error in self._read_some(snap, wanted):
                if error or data is None:
                    continue
                text, _ = decode_source(data)
                if text is None:
                    continue
                ids = self._classify(text)
                self.ledger.count("license_files")
                for spdx in ids:
                    self.ledger.histogram("license_file_ids", spdx)
                folder = entry.path.rsplit("/", 1)[0] if "/" in entry.path else ""
                found[folder].update(ids)
        return {k: sorted(v) for k, v in found.items() if v}, n_files

    @staticmethod
    def _read_some(snap: Snapshot, wanted: set[str]) -> Iterator[tuple]:
        if snap.kind == "tar":  # a stream: one pass, keeping the wanted members
            for entry, data, error in snap.files():
                if entry.path in wanted:
                    yield entry, data, error
            return
        for entry in snap.entries():
            if entry.path in wanted and not entry.error:
                try:
                    yield entry, snap.read(entry), None
                except Exception:
                    yield entry, None, "unreadable_file"

    def _documents(
        self, snap: Snapshot, repo: str, folder_licenses: dict[str, list[str]], n_files: int
    ) -> Iterator[Document]:
        cfg = self.config
        ledger = self.ledger
        for entry, data, error in snap.files():
            self.seen(entry.size)
            if error or data is None:
                self.drop_record(error or "unreadable_file", entry.size)
                continue
            text, encoding = decode_source(data, cfg.utf16)
            if text is None:
                self.drop_record(encoding, entry.size)
                continue
            if not text.strip():
                self.drop_record("empty_file", entry.size)
                continue
            ledger.histogram("encodings", encoding)
            meta = {"repo": repo, "path": entry.path, "size": entry.size, "repo_files": n_files}
            if snap.commit:
                meta["commit"] = snap.commit
            found = _inherited(folder_licenses, entry.path)
            if found:
                meta["license"] = " AND ".join(found)
            locator = f"{repo}@{snap.commit or ''}:{entry.path}"
            yield Document(make_id(cfg.source, locator), text, cfg.source, meta)


def _inherited(folder_licenses: dict[str, list[str]], path: str) -> list[str]:
    """Licenses of the license files in the file's folder and every folder above it."""
    found: set[str] = set(folder_licenses.get("", ()))
    parts = PurePosixPath(path).parts[:-1]
    for i in range(1, len(parts) + 1):
        found.update(folder_licenses.get("/".join(parts[:i]), ()))
    return sorted(found)
