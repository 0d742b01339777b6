"""Read Common Crawl WARC files into HTML documents, counting every record that is not one.

The fast path is fastwarc over the whole file. When fastwarc stops on damage (a corrupt gzip
member, a truncated or malformed record) the reader switches, from the last good record on, to
a recovery path: gzip members are split with zlib, a corrupt member is skipped by resyncing on
the next gzip header that decompresses to a WARC record, and each record is parsed with warcio.
A damaged file therefore loses only its damaged records, each counted under a named reason.

A file larger than `task_bytes` runs as several tasks: each finds the first record that starts in its byte
range (the next gzip member that decompresses to a WARC header; in an uncompressed file the next line that
opens one) and reads the records that start before its end.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import urlsplit

from pydantic import Field

from corpusforge.core import storage
from corpusforge.core.charset import decode_html
from corpusforge.core.document import Document, make_id
from corpusforge.stages.base import WHOLE_FILE, ByteRange, Reader, StageConfig
from corpusforge.stages.io.ranges import DEFAULT_TASK_BYTES, fixed_ranges

_WARC_TYPES = frozenset(
    {"warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion", "continuation"}
)
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_GZIP_MAGIC = b"\x1f\x8b\x08"
_DUMP = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_NON_HTML_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"RIFF", b"\x00\x00\x01\x00")
_HTML_SNIFF = re.compile(
    rb"<(!doctype\s+html|html|head|body|title|div|p|meta|table|script|!--|span|a|h[1-6]|ul|form|link|style)\b", re.I
)


@dataclass(slots=True)
class RawRecord:
    """One WARC record as either parser sees it, before it becomes a document."""

    rec_type: str
    headers: dict[str, str]
    status: int | None
    http_headers: dict[str, str]  # lower-case names
    payload: bytes | None  # None when skipped for size
    length: int  # WARC Content-Length (bytes of the record block)
    offset: int


@dataclass(slots=True)
class Damage:
    """A stretch of the file that yielded no record, with the reason and its size."""

    reason: str
    nbytes: int
    offset: int  # where the damaged stretch starts (the part holding it counts it)


class WarcReader(Reader):
    """Reads `.warc`/`.warc.gz` (local or s3://); HTML `response` records become documents."""

    type = "warc"
    config: Config

    class Config(StageConfig):
        paths: list[str] = []
        # Common Crawl truncates payloads at 1 MiB (WARC-Truncated: length); anything far above
        # that is not a CC page, and holding it would only cost memory.
        max_payload_bytes: int = 16 * 1024 * 1024
        # Documents per input file, -1 for all (datatrove readers' `limit`; a limited file is not split).
        limit: int = -1
        # False: `docs_in` counts response records only (what a user means by "pages read");
        # request/metadata/warcinfo records go to extra["records_by_type"]. True: they are
        # counted in and dropped as `not_response`.
        count_non_response: bool = False
        # Drop pages Common Crawl cut at its 1 MiB limit; kept by default, as datatrove does.
        drop_warc_truncated: bool = False
        # A replacement-character share above this means the bytes are not text at all.
        max_replacement_fraction: float = 0.1
        dump: str | None = None  # e.g. CC-MAIN-2024-10; default: taken from the file name or warcinfo
        # Files larger than this run as several tasks (whole records): bounded, parallel, resumable.
        task_bytes: int = Field(DEFAULT_TASK_BYTES, ge=1)

        def input_paths(self) -> dict[str, list[str]]:
            return {f"paths[{i}]": [p] for i, p in enumerate(self.paths)}

    def ranges(self, path: str, size: int) -> list[ByteRange]:
        if self.config.limit >= 0:
            return [WHOLE_FILE]
        return fixed_ranges(size, self.config.task_bytes)

    def read(self, path: str) -> Iterator[Document]:
        return self.read_range(path, WHOLE_FILE)

    def read_range(self, path: str, part: ByteRange) -> Iterator[Document]:
        cfg = self.config
        dump = cfg.dump or _dump_from(path)
        if dump is None and part.start > 0:
            dump = _leading_dump(path)  # the file's warcinfo record is in the first part
        filename = _warc_filename(path)
        made = 0
        for item in self._records(path, part.start):
            if not part.holds(item.offset) and (isinstance(item, RawRecord) or _record_starts_at(path, item.offset)):
                return  # the first record of the next part: where that part's reading starts
            # (a damaged stretch the next part's start skips over is this part's to count)
            if isinstance(item, Damage):
                self.seen(item.nbytes)
                self.drop_record(item.reason, item.nbytes)
                continue
            if item.rec_type == "warcinfo" and dump is None:
                dump = _dump_from(item.payload.decode("utf-8", "replace") if item.payload else "")
            doc = self._to_document(item, filename, dump)
            if doc is not None:
                yield doc
                made += 1
                if 0 <= cfg.limit <= made:
                    return

    # -- record -> document ------------------------------------------------------------------

    def _to_document(self, rec: RawRecord, filename: str, dump: str | None) -> Document | None:
        cfg = self.config
        if rec.rec_type not in _WARC_TYPES:
            self.seen(rec.length)  # unreadable WARC-Type: it may have been a page, so it counts
            self.drop_record("broken_header", rec.length)
            return None
        if rec.rec_type != "response":
            self.ledger.histogram("records_by_type", rec.rec_type)
            if cfg.count_non_response:
                self.seen(rec.length)
                self.drop_record("not_response", rec.length)
            return None
        self.seen(rec.length)
        reason = self._reject(rec)
        if reason is not None:
            self.drop_record(reason, rec.length)
            return None
        text, charset, outcome = decode_html(
            rec.payload, rec.http_headers.get("content-type", ""), cfg.max_replacement_fraction
        )
        if outcome != "ok":
            self.ledger.count(outcome)
        if text is not None and _looks_binary(text, cfg.max_replacement_fraction):
            text = None
        if text is None:
            self.drop_record("undecodable", rec.length)
            return None
        if rec.headers.get("WARC-Truncated"):
            self.ledger.count("warc_truncated_kept")
        record_id = rec.headers.get("WARC-Record-ID", f"{filename}@{rec.offset}")
        url = rec.headers.get("WARC-Target-URI", "").strip("<>")
        meta = {
            "url": url,
            "domain": (urlsplit(url).hostname or "") if url else "",
            "warc_record_id": record_id,
            "warc_date": rec.headers.get("WARC-Date", ""),
            "warc_filename": filename,
            "content_type": _payload_type(rec) or "",
            "charset": charset,
        }
        if dump:
            meta["dump"] = dump
        return Document(make_id("web", record_id), text, "web", meta)

    def _reject(self, rec: RawRecord) -> str | None:
        if rec.payload is None:
            return "too_large"
        if rec.headers.get("WARC-Truncated") and self.config.drop_warc_truncated:
            return "warc_truncated"
        if rec.status is not None and not 200 <= rec.status < 300:
            return "http_status"
        if not rec.payload.strip():
            return "empty_payload"
        if not is_html(rec):
            return "non_html"
        return None

    # -- records -----------------------------------------------------------------------------

    def _records(self, path: str, begin: int = 0) -> Iterator[RawRecord | Damage]:
        try:
            f = storage.open_file(path, "rb")
        except Exception as e:
            yield Damage(f"unreadable_file:{type(e).__name__}", 0, 0)
            return
        with f:
            gz = f.read(2) == b"\x1f\x8b"
            start: int | None = begin if begin == 0 else _first_record(f, begin, gz)
            while start is not None:
                f.seek(start)
                # A record is handed on only once the next one parsed: when fastwarc stops on damage, the
                # record before it (a short Content-Length leaves its tail where the next header should be)
                # is judged by the strict path too.
                held: RawRecord | None = None
                try:
                    for rec in _fastwarc_records(f, self.config.max_payload_bytes):
                        if held is not None:
                            yield held
                        held = rec
                    if held is not None:
                        yield held
                    return
                except (OSError, ValueError, IndexError, UnicodeError) as e:
                    self.ledger.histogram(
                        "recovered_after", "malformed_record" if isinstance(e, _NeedsRecovery) else type(e).__name__
                    )
                # fastwarc stopped on damage: the strict path takes over from the record it still holds,
                # and hands back once it is past the damage.
                resume: list[int] = []
                yield from _recover(
                    f, held.offset if held else start, 2 if held else 1, gz, self.config.max_payload_bytes, resume
                )
                start = resume[0] if resume else None
                if start is not None:
                    self.ledger.count("fast_path_resumed")


# -- fast path -----------------------------------------------------------------------------------


def _swallowed_next_record(payload: bytes) -> bool:
    return b"WARC/1.0\r\nWARC-" in payload or b"WARC/1.1\r\nWARC-" in payload


class _NeedsRecovery(ValueError):
    """fastwarc read something the strict recovery path must judge."""


def _fastwarc_records(f: IO[bytes], max_payload: int) -> Iterator[RawRecord]:
    from fastwarc.warc import ArchiveIterator

    for r in ArchiveIterator(f, parse_http=True, auto_decode="all"):
        rec_type = str(r.record_type)
        headers = dict(r.headers.items())
        if rec_type in ("unknown", "no_type") or not headers.get("Content-Length", "").strip().isdigit():
            # fastwarc is lenient where we want a named reason: let the strict path decide.
            raise _NeedsRecovery(f"malformed record at {r.stream_pos}")
        http = r.http_headers
        status = http.status_code if http is not None else None
        http_headers = {k.lower(): v for k, v in http.items()} if http is not None else {}
        if r.content_length > max_payload:
            payload = None
        elif rec_type in ("response", "warcinfo"):
            payload = r.reader.read()
            encoded = "content-encoding" in http_headers or "transfer-encoding" in http_headers
            if len(payload) < r.content_length and not encoded:
                raise _NeedsRecovery(f"short record at {r.stream_pos}")
            if _swallowed_next_record(payload):
                # A wrong Content-Length ran this record into the next one, which fastwarc
                # would then skip without a trace.
                raise _NeedsRecovery(f"record at {r.stream_pos} runs into the next")
        else:
            payload = b""
        yield RawRecord(rec_type, headers, status, http_headers, payload, r.content_length, r.stream_pos)


# -- recovery path -------------------------------------------------------------------------------


class _Window:
    """Forward-only buffered view of a file with absolute offsets (bounded memory)."""

    def __init__(self, f: IO[bytes], start: int):
        f.seek(start)
        self.f, self.base, self.buf, self.eof = f, start, b"", False

    def get(self, pos: int, n: int) -> bytes:
        self._fill(pos + n)
        return self.buf[max(pos - self.base, 0) : max(pos - self.base + n, 0)]

    def find(self, needle: bytes, pos: int, limit: int | None = None, forget: bool = False) -> int:
        """Offset of `needle` at or after `pos` (within `limit` bytes), or -1.

        With `forget`, bytes before the search point are released while scanning, so a long
        damaged stretch is skipped in constant memory.
        """
        while True:
            i = self.buf.find(needle, max(pos - self.base, 0))
            if i >= 0 and (limit is None or self.base + i - pos <= limit):
                return self.base + i
            scanned = self.base + len(self.buf) - pos
            if self.eof or (limit is not None and scanned > limit):
                return -1
            if forget:
                self.forget(max(pos, self.base + len(self.buf) - len(needle)))
            self._fill(self.base + len(self.buf) + (1 << 20))

    def forget(self, pos: int) -> None:
        if pos > self.base:
            self.buf, self.base = self.buf[pos - self.base :], pos

    def end(self) -> int:
        """Offset of the end of the file (reads to the end, holding nothing)."""
        while not self.eof:
            self.forget(self.base + len(self.buf))
            self._fill(self.base + (1 << 20))
        return self.base + len(self.buf)

    def _fill(self, upto: int) -> None:
        while not self.eof and self.base + len(self.buf) < upto:
            chunk = self.f.read(max(upto - self.base - len(self.buf), 1 << 20))
            if not chunk:
                self.eof = True
            self.buf += chunk


def _recover(
    f: IO[bytes], start: int, judge: int, gz: bool, max_payload: int, resume: list[int]
) -> Iterator[RawRecord | Damage]:
    """Records from `start` by the strict path; appends to `resume` where fastwarc can take over.

    The first `judge` units (the record fastwarc still held, then the one it failed on) are judged here;
    fastwarc takes over again at the next whole unit.
    """
    units = _gzip_members(f, start, max_payload) if gz else _plain_segments(f, start, max_payload)
    judged = 0
    for unit in units:
        if isinstance(unit, Damage):
            yield unit
            judged = max(judged + 1, judge)  # the damage fastwarc stopped on is behind us
            continue
        offset, data, complete = unit
        if judged >= judge and complete:
            resume.append(offset)
            return
        for item in _parse_block(data, offset, max_payload):
            if isinstance(item, Damage) and not complete:
                continue  # the cut-off tail is part of the damage counted next
            yield item
        judged += 1


def _gzip_members(f: IO[bytes], start: int, max_payload: int) -> Iterator[tuple[int, bytes, bool] | Damage]:
    """Decompressed gzip members from `start` as (offset, data, complete); a damaged stretch becomes one Damage.

    A damaged member still gives what decompressed before the damage (complete=False), so a
    file gzipped as one member keeps the records ahead of a corrupt spot.
    """
    win = _Window(f, start)
    pos = start
    cap = max_payload + (1 << 20)
    while win.get(pos, 1):
        data, next_pos, err = _inflate(win, pos, cap)
        if err is None:
            yield (pos, data, True)
            pos = next_pos
            win.forget(pos)
            continue
        if data:
            yield (pos, data, False)
        # Damaged member: find the next gzip header that really starts a WARC record.
        found = _resync(win, pos + 1)
        end = found if found >= 0 else win.end()
        yield Damage(err, end - pos, pos)
        if found < 0:
            return
        pos = found
        win.forget(pos)


def _inflate(win: _Window, pos: int, cap: int) -> tuple[bytes, int, str | None]:
    d = zlib.decompressobj(31)
    out, size, i = [], 0, pos
    while not d.eof:
        chunk = win.get(i, 1 << 16)  # small steps: what precedes a corrupt spot is kept
        if not chunk:
            return b"".join(out), i, "truncated_record"
        try:
            part = d.decompress(chunk, cap - size + 1)
        except zlib.error:
            return b"".join(out), i, "corrupt_gzip"
        out.append(part)
        size += len(part)
        if size > cap:
            return b"".join(out), i, "too_large"
        i += len(chunk) - len(d.unused_data) - len(d.unconsumed_tail)
    return b"".join(out), i, None


def _resync(win: _Window, pos: int) -> int:
    while True:
        cand = win.find(_GZIP_MAGIC, pos, forget=True)
        if cand < 0:
            return -1
        try:
            head = zlib.decompressobj(31).decompress(win.get(cand, 4096), 16)
        except zlib.error:
            head = b""
        if head.startswith(b"WARC/"):
            return cand
        pos = cand + 1


# A version line followed by a WARC header: specific enough to split on even mid-line, where a
# truncated record runs straight into the next one.
_WARC_START = re.compile(rb"WARC/1\.[01]\r?\nWARC-")


def _plain_segments(f: IO[bytes], start: int, max_payload: int) -> Iterator[tuple[int, bytes, bool] | Damage]:
    """Uncompressed WARC split where a record starts ("WARC/1.x" then a WARC- header)."""
    win = _Window(f, start)
    pos = start
    cap = max_payload + (1 << 20)
    while win.get(pos, 1):
        nxt = _next_warc_line(win, pos + 1, cap)
        if nxt >= 0 or win.eof:
            end = nxt if nxt >= 0 else win.base + len(win.buf)
            yield (pos, win.get(pos, end - pos), True)
        else:  # no record start within the cap: skip the oversized stretch in constant memory
            nxt = _next_warc_line(win, pos + cap, None, forget=True)
            end = nxt if nxt >= 0 else win.end()
            yield Damage("too_large", end - pos, pos)
        if nxt < 0:
            return
        pos = nxt
        win.forget(pos)


def _next_warc_line(win: _Window, pos: int, limit: int | None, forget: bool = False) -> int:
    while True:
        i = win.find(b"WARC/1.", pos, limit, forget)
        if i < 0:
            return -1
        if _WARC_START.match(win.get(i, 16)):
            return i
        pos = i + 1


def _parse_block(data: bytes, offset: int, max_payload: int) -> Iterator[RawRecord | Damage]:
    """Records of one recovered member or segment, checked strictly, parsed with warcio."""
    from warcio.archiveiterator import ArchiveIterator

    pos = 0
    while pos < len(data) and data[pos:].strip():
        head_end = data.find(b"\r\n\r\n", pos)
        lines = data[pos:head_end].split(b"\r\n") if head_end >= 0 else []
        if not lines or not lines[0].startswith(b"WARC/1.") or any(b":" not in ln for ln in lines[1:]):
            yield Damage("broken_header", len(data) - pos, offset + pos)
            return
        fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
        try:
            length = int(fields.get(b"content-length", b""))
        except ValueError:
            yield Damage("broken_header", len(data) - pos, offset + pos)
            return
        body_start = head_end + 4
        if len(data) - body_start < length:
            yield Damage("truncated_record", len(data) - pos, offset + pos)
            return
        end = body_start + length
        after = end
        while data[after : after + 2] == b"\r\n":
            after += 2
        if data[after:].strip() and not _WARC_START.match(data, after):
            # Bytes that are neither a record nor the end: the Content-Length was short and the record's
            # tail is left over. The record is damaged (its page would be cut): one drop, then resync on
            # the next record header.
            nxt = _WARC_START.search(data, after)
            stop = nxt.start() if nxt else len(data)
            yield Damage("short_content_length", stop - pos, offset + pos)
            pos = stop
            continue
        try:
            rec = next(iter(ArchiveIterator(io.BytesIO(data[pos:end] + b"\r\n\r\n"), check_digests=False)))
            yield _from_warcio(rec, length, offset + pos, max_payload)
        except Exception:
            yield Damage("broken_header", length, offset + pos)
        pos = after


def _from_warcio(rec, length: int, offset: int, max_payload: int) -> RawRecord:
    headers = {k: v for k, v in rec.rec_headers.headers}
    http = rec.http_headers
    status = None
    http_headers: dict[str, str] = {}
    if http is not None and rec.rec_type == "response":
        try:
            status = int(http.get_statuscode())
        except (TypeError, ValueError):
            status = None
        http_headers = {k.lower(): v for k, v in http.headers}
    if length > max_payload:
        payload = None
    elif rec.rec_type in ("response", "warcinfo"):
        payload = rec.content_stream().read()
    else:
        payload = b""
    return RawRecord(rec.rec_type, headers, status, http_headers, payload, length, offset)


# -- byte ranges ---------------------------------------------------------------------------------


def _first_record(f: IO[bytes], start: int, gz: bool) -> int | None:
    """Offset of the first record that starts at or after `start`, or None if there is none."""
    win = _Window(f, start)
    if gz:
        found = _resync(win, start)
    else:
        found = start - 1
        while True:
            found = _next_warc_line(win, found + 1, None, forget=True)
            # a record opens a line: the bytes before it end the previous record ("\r\n\r\n")
            if found <= 0 or win.get(found - 1, 1) == b"\n":
                break
    return found if found >= 0 else None


def _record_starts_at(path: str, offset: int) -> bool:
    """Whether a part starting at `offset` would start reading there (its first record boundary)."""
    with storage.open_file(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
        return _first_record(f, offset, gz) == offset


def _leading_dump(path: str) -> str | None:
    """The crawl named in the file's warcinfo record (its first record), if it has one."""
    try:
        with storage.open_file(path, "rb") as f:
            for rec in _fastwarc_records(f, 1 << 20):
                if rec.rec_type != "warcinfo":
                    return None
                return _dump_from((rec.payload or b"").decode("utf-8", "replace"))
    except (OSError, ValueError, IndexError, UnicodeError):
        return None
    return None


# -- content type and charset --------------------------------------------------------------------


def _payload_type(rec: RawRecord) -> str | None:
    # Common Crawl sets WARC-Identified-Payload-Type from content detection (Tika); it beats
    # the server's Content-Type, which is often wrong.
    ident = rec.headers.get("WARC-Identified-Payload-Type")
    if ident:
        return ident.split(";")[0].strip().lower()
    ctype = rec.http_headers.get("content-type")
    if ctype:
        return ctype.split(";")[0].strip().lower()
    return None


def is_html(rec: RawRecord) -> bool:
    """HTML by identified payload type (Common Crawl's detection), else Content-Type confirmed by a sniff."""
    head = rec.payload[:4096].lstrip() if rec.payload else b""
    if head.startswith(_NON_HTML_MAGIC):
        return False  # PDF/image/archive magic bytes outrank any label
    ident = rec.headers.get("WARC-Identified-Payload-Type")
    if ident:
        return ident.split(";")[0].strip().lower() in HTML_TYPES
    ptype = _payload_type(rec)
    if ptype is not None and ptype not in HTML_TYPES:
        return False
    # Servers label JSON, feeds and plain text as text/html: without a detected type, the
    # first bytes must look like markup.
    return bool(_HTML_SNIFF.search(head))


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _looks_binary(text: str, max_fraction: float) -> bool:
    """Control characters do not occur in real HTML; many of them mean a binary payload."""
    head = text[:65536]
    return len(_CONTROL.findall(head)) > max_fraction * max(len(head), 1)


def _dump_from(text: str) -> str | None:
    m = _DUMP.search(text)
    return m.group(0) if m else None


def _warc_filename(path: str) -> str:
    # Common Crawl names files by their path under crawl-data/; keep that, else the base name.
    i = path.find("crawl-data/")
    return path[i:] if i >= 0 else path.rsplit("/", 1)[-1]
