"""Megatron-LM indexed datasets (.bin + .idx), byte for byte what megatron-core's IndexedDataset reads.

Layout of `.idx` (megatron/core/datasets/indexed_dataset.py, `_IndexWriter`): the 9-byte magic
`MMIDIDX\\x00\\x00`, version `<Q` 1, dtype code `<B`, sequence count `<Q`, document-index count `<Q`,
then int32 sequence lengths, int64 byte pointers into `.bin`, int64 document indices (0, 1, ..., n:
one sequence per document, as `tools/preprocess_data.py` writes without sentence splitting).
`.bin` is the tokens back to back in the dtype. Written through fsspec so s3:// works; locally each
file goes to a temporary name and is renamed, and a shard counts as committed only when its marker
(`core.markers`: `<prefix>.done.json`, written after both files) exists, so a killed export never
leaves a half shard that a rerun would trust.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from fsspec.utils import merge_offset_ranges

from corpusforge.core import markers, storage

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
# megatron.core.datasets.indexed_dataset.DType codes
DTYPE_CODES: dict[type, int] = {
    np.uint8: 1,
    np.int8: 2,
    np.int16: 3,
    np.int32: 4,
    np.int64: 5,
    np.float64: 6,
    np.float32: 7,
    np.uint16: 8,
}
CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}
_HEADER_BYTES = len(INDEX_HEADER) + 8 + 1 + 8 + 8


@dataclass
class WrittenDataset:
    """What one .bin/.idx pair holds, with sizes and checksums for the manifest."""

    prefix: str
    documents: int
    tokens: int
    bin_bytes: int
    bin_sha256: str
    idx_bytes: int
    idx_sha256: str


def index_bytes(lengths: np.ndarray, dtype: type) -> bytes:
    """The .idx contents for documents of these token lengths (one sequence per document)."""
    lengths = np.asarray(lengths, dtype=np.int32)
    n = len(lengths)
    itemsize = np.dtype(dtype).itemsize
    pointers = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(lengths[:-1].astype(np.int64) * itemsize, out=pointers[1:])
    header = INDEX_HEADER + struct.pack("<Q", INDEX_VERSION) + struct.pack("<B", DTYPE_CODES[dtype])
    header += struct.pack("<Q", n) + struct.pack("<Q", n + 1)
    return header + lengths.tobytes() + pointers.tobytes() + np.arange(n + 1, dtype=np.int64).tobytes()


def write_indexed_dataset(
    prefix: str, chunks: Iterable[tuple[np.ndarray, np.ndarray]], dtype: type, marker: dict | None = None
) -> WrittenDataset:
    """Write `(document lengths, concatenated tokens)` chunks as `prefix.bin` + `prefix.idx`, then the marker."""
    lengths: list[np.ndarray] = []
    h = hashlib.sha256()
    size = 0
    info = np.iinfo(dtype)
    with storage.atomic_write(prefix + ".bin", "wb") as f:
        for chunk_lengths, tokens in chunks:
            tokens = np.asarray(tokens)
            if int(np.sum(chunk_lengths)) != tokens.size:
                raise ValueError(f"{prefix}: chunk lengths sum to {int(np.sum(chunk_lengths))}, tokens {tokens.size}")
            if tokens.size and (tokens.min() < info.min or tokens.max() > info.max):
                raise ValueError(f"{prefix}: token id outside the {np.dtype(dtype).name} range")
            data = tokens.astype(dtype, copy=False).tobytes()
            f.write(data)
            h.update(data)
            size += len(data)
            lengths.append(np.asarray(chunk_lengths, dtype=np.int64))
    all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    idx = index_bytes(all_lengths, dtype)
    with storage.atomic_write(prefix + ".idx", "wb") as f:
        f.write(idx)
    written = WrittenDataset(
        prefix, len(all_lengths), int(all_lengths.sum()), size, h.hexdigest(), len(idx), hashlib.sha256(idx).hexdigest()
    )
    markers.commit(prefix, dict(sorted({**asdict(written), **(marker or {})}.items())))
    return written


def read_index(idx: bytes) -> tuple[type, np.ndarray, np.ndarray]:
    """(dtype, sequence lengths, byte pointers) from .idx contents."""
    if idx[: len(INDEX_HEADER)] != INDEX_HEADER:
        raise ValueError("not a Megatron .idx file (bad magic)")
    version, code, n, _ = struct.unpack("<QBQQ", idx[len(INDEX_HEADER) : _HEADER_BYTES])
    if version != INDEX_VERSION:
        raise ValueError(f"unsupported .idx version {version}")
    lengths = np.frombuffer(idx, dtype=np.int32, count=n, offset=_HEADER_BYTES)
    pointers = np.frombuffer(idx, dtype=np.int64, count=n, offset=_HEADER_BYTES + 4 * n)
    return CODE_DTYPES[code], lengths, pointers


class TokenFile:
    """Random access to the documents of one .bin/.idx pair: memory-mapped locally, ranged reads on object stores."""

    # Nearby documents of a remote file are fetched in one request when the gap between them is small.
    MAX_GAP = 1 << 20
    MAX_BLOCK = 64 << 20

    def __init__(self, prefix: str):
        self._fs, self._bin = storage.filesystem(prefix + ".bin")
        self.dtype, self.lengths, self.pointers = read_index(storage.read_bytes(prefix + ".idx"))
        self._itemsize = np.dtype(self.dtype).itemsize
        self._tokens = None
        if storage.is_local(self._fs):
            total = int(self.lengths.sum())
            self._tokens = (
                np.memmap(self._bin, dtype=self.dtype, mode="r", shape=(total,))
                if total
                else np.zeros(0, dtype=self.dtype)
            )

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.read([i])[0]

    def read(self, ids: list[int]) -> list[np.ndarray]:
        """The token arrays of documents `ids`, in that order."""
        starts = [int(self.pointers[i]) for i in ids]
        ends = [s + int(self.lengths[i]) * self._itemsize for s, i in zip(starts, ids)]
        if self._tokens is not None:
            return [self._tokens[s // self._itemsize : e // self._itemsize] for s, e in zip(starts, ends)]
        _, block_starts, block_ends = merge_offset_ranges(
            [self._bin] * len(ids), starts, ends, max_gap=self.MAX_GAP, max_block=self.MAX_BLOCK
        )
        blocks = self._fs.cat_ranges([self._bin] * len(block_starts), block_starts, block_ends, on_error="raise")
        out: list[np.ndarray] = []
        for s, e in zip(starts, ends):
            b = bisect.bisect_right(block_starts, s) - 1
            offset = s - block_starts[b]
            out.append(np.frombuffer(blocks[b], dtype=self.dtype, count=(e - s) // self._itemsize, offset=offset))
        return out

    def close(self) -> None:
        self._tokens = None
