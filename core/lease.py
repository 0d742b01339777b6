"""A lease on an output prefix: one run writes to an output at a time.

The lease is one small JSON object, `<output>/_work/lease.json`, naming its holder (owner id, host, pid,
command) and a heartbeat the holder refreshes every `heartbeat_s`. It is taken atomically: on object stores by
a conditional PUT (`If-None-Match: *` to create, `If-Match: <etag>` to refresh, take over or release; S3, MinIO
and moto honour both), locally by a file created with a hard link (which fails if the file exists) and replaced
under a short `flock`. A second run finds the lease held and stops before writing anything, naming the holder.
A lease whose heartbeat is older than `stale_s`, or whose holder is a process of this host that no longer
exists, is stale: the next run takes it over (the holder was killed) and resumes the output.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from corpusforge.core import storage

log = logging.getLogger(__name__)

# A holder refreshes its heartbeat this often; a lease not refreshed for `STALE_S` belongs to a dead run. The
# margin covers a store that stalls for a while (a refresh is retried like any storage call).
HEARTBEAT_S = float(os.environ.get("CORPUSFORGE_LEASE_HEARTBEAT_S", 10))
STALE_S = float(os.environ.get("CORPUSFORGE_LEASE_STALE_S", 120))


class LeaseHeld(RuntimeError):
    """Another live run holds the output."""


class LeaseLost(RuntimeError):
    """This run's lease was taken over (its heartbeat stopped for longer than the stale limit)."""


def lease_path(output: str) -> str:
    return storage.join(output, "_work", "lease.json")


@dataclass
class _Seen:
    """A lease as read from the store, with the version a conditional write must match."""

    holder: dict[str, Any]
    version: str


class Lease:
    """Hold `<output>/_work/lease.json` while a run writes to `output` (a context manager)."""

    def __init__(self, output: str, what: str = "run", heartbeat_s: float | None = None, stale_s: float | None = None):
        self.output, self.path = output, lease_path(output)
        self.heartbeat_s = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        self.stale_s = STALE_S if stale_s is None else stale_s
        self.owner = uuid.uuid4().hex
        self.what = what
        self.started = time.time()
        self.took_over: dict[str, Any] | None = None
        self.lost: str | None = None
        self._store = _store_for(self.path)
        self._version: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ holding

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lease, or raise LeaseHeld naming the live holder."""
        while True:
            version = self._store.create(self._record())
            if version is not None:
                break
            seen = self._store.read()
            if seen is None:
                continue  # released between our create and read: try again
            reason = self._stale(seen.holder)
            if reason is None:
                raise LeaseHeld(
                    f"output {self.output} is in use by another run: {describe(seen.holder)}. "
                    f"Wait for it to finish or choose another `output` "
                    f"(a holder that stops heartbeating for {self.stale_s:.0f} s is taken over)."
                )
            version = self._store.replace(seen.version, self._record())
            if version is not None:
                self.took_over = {**seen.holder, "reason": reason}
                log.warning("took over the lease on %s from %s: %s", self.output, describe(seen.holder), reason)
                break
        self._version = version
        self._thread = threading.Thread(target=self._beat, name="corpusforge-lease", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise LeaseLost if another run took this lease over."""
        if self.lost:
            raise LeaseLost(self.lost)

    def release(self) -> None:
        """Stop heartbeating and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._version is not None and not self.lost:
            try:
                self._store.delete(self._version)
            except Exception as e:  # an unreachable store: the lease goes stale, the next run takes it
                log.warning("could not release the lease on %s (%s); the next run takes it over", self.output, e)
        self._version = None

    # ------------------------------------------------------------------ internals

    def _record(self) -> dict[str, Any]:
        now = time.time()
        return {
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pid_started": _process_start(os.getpid()),
            "command": " ".join(sys.argv)[:300],
            "what": self.what,
            "started": self.started,
            "heartbeat": now,
        }

    def _stale(self, holder: dict[str, Any]) -> str | None:
        """Why a holder is dead ("process gone", "heartbeat stale"), or None if it may be alive."""
        if holder.get("host") == socket.gethostname() and not _alive(holder.get("pid"), holder.get("pid_started")):
            return "process gone"
        if time.time() - float(holder.get("heartbeat", 0)) > self.stale_s:
            return "heartbeat stale"
        return None

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                version = self._store.replace(self._version, self._record())
            except Exception:  # an unreachable store: the next beat tries again
                continue
            if version is None:
                seen = self._store.read()
                self.lost = (
                    f"the lease on {self.output} was taken over by "
                    f"{describe(seen.holder) if seen else 'another run'} while this run held it"
                )
                return
            self._version = version


def describe(holder: dict[str, Any]) -> str:
    """One line naming a lease holder."""
    beat = time.time() - float(holder.get("heartbeat", 0))
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("started", 0))))
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('what', 'run')} started {started}, "
        f"last heartbeat {beat:.0f} s ago, owner {holder.get('owner', '?')[:8]}: {holder.get('command', '')})"
    )


def _process_start(pid: int) -> str:
    """The start time of a process (field 22 of /proc/<pid>/stat), so a reused pid is not taken for its holder."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except OSError:
        return ""


def _alive(pid: Any, started: Any) -> bool:
    if not isinstance(pid, int):
        return True  # not ours to judge: wait for the heartbeat to go stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or _process_start(pid) in ("", started)


# ---------------------------------------------------------------------------- stores


def _store_for(path: str) -> _LocalStore | _ObjectStore:
    fs, p = storage.filesystem(path)
    return _LocalStore(p) if storage.is_local(fs) else _ObjectStore(fs, p)


class _LocalStore:
    """Conditional create / replace / delete of one local file (version: its content)."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)

    def create(self, record: dict) -> str | None:
        data = json.dumps(record)
        tmp = storage.temp_name(self.path)
        with open(tmp, "w") as f:
            f.write(data)
        try:
            os.link(tmp, self.path)  # atomic: fails if a lease exists
        except FileExistsError:
            return None
        finally:
            os.remove(tmp)
        return data

    def read(self) -> _Seen | None:
        try:
            with open(self.path) as f:
                data = f.read()
        except FileNotFoundError:
            return None
        try:
            holder = json.loads(data)
        except ValueError:
            holder = {"heartbeat": 0}  # a torn lease from a crashed writer is stale
        return _Seen(holder, data)

    def replace(self, version: str | None, record: dict) -> str | None:
        with self._locked():
            seen = self.read()
            if seen is None or seen.version != version:
                return None
            data = json.dumps(record)
            tmp = storage.temp_name(self.path)
            with open(tmp, "w") as f:
                f.write(data)
            os.replace(tmp, self.path)
            return data

    def delete(self, version: str) -> None:
        with self._locked():
            seen = self.read()
            if seen is not None and seen.version == version:
                os.remove(self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock on the lease's folder serialises the read-compare-replace of competing runs (no lock file is
        # left behind), and the kernel drops it if a holder dies.
        fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


class _ObjectStore:
    """The same operations as conditional requests on S3 (version: the object's ETag)."""

    def __init__(self, fs, path: str):
        self.fs = fs
        self.bucket, _, self.key = path.partition("/")

    def create(self, record: dict) -> str | None:
        return self._put(record, IfNoneMatch="*")

    def read(self) -> _Seen | None:
        try:
            out = storage.retrying(
                "read lease",
                f"s3://{self.bucket}/{self.key}",
                self.fs.call_s3,
                "get_object",
                Bucket=self.bucket,
                Key=self.key,
            )
        except FileNotFoundError:
            return None
        data = _read_body(self.fs, out["Body"])
        try:
            holder = json.loads(data)
        except ValueError:
            holder = {"heartbeat": 0}
        return _Seen(holder, out["ETag"])

    def replace(self, version: str | None, record: dict) -> str | None:
        if version is None:
            return None
        return self._put(record, IfMatch=version)

    def delete(self, version: str) -> None:
        try:
            storage.retrying(
                "release lease",
                f"s3://{self.bucket}/{self.key}",
                self.fs.call_s3,
                "delete_object",
                Bucket=self.bucket,
                Key=self.key,
                IfMatch=version,
            )
        except (FileNotFoundError, OSError) as e:
            if not _precondition_failed(e) and not isinstance(e, FileNotFoundError):
                raise

    def _put(self, record: dict, **condition: str) -> str | None:
        try:
            out = storage.retrying(
                "write lease",
                f"s3://{self.bucket}/{self.key}",
                self.fs.call_s3,
                "put_object",
                Bucket=self.bucket,
                Key=self.key,
                Body=json.dumps(record).encode(),
                **condition,
            )
        except OSError as e:
            if _precondition_failed(e):
                return None
            raise
        return out["ETag"]


def _precondition_failed(e: BaseException) -> bool:
    if isinstance(e, FileExistsError):
        return True
    cause = getattr(e, "__cause__", None)
    code = (getattr(cause, "response", None) or {}).get("Error", {}).get("Code", "")
    # 409 ConditionalRequestConflict: a concurrent conditional write to the same key won; we lost the race.
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or "pre-condition" in str(e)


def _read_body(fs, body) -> bytes:
    from fsspec.asyn import sync

    async def read() -> bytes:
        async with body as stream:
            return await stream.read()

    return sync(fs.loop, read)
