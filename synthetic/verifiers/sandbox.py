"""Run one untrusted Python program under limits: a process per run, namespaces, rlimits, a throwaway /tmp.

Each run starts `sandbox_launcher.py` (see its docstring for what happens inside) with a scrubbed environment,
feeds it the program, its files and stdin through a pipe, reads stdout and stderr with a byte cap and kills it at
the wall-clock deadline. Without the kernel's permission to create a network namespace the sandbox refuses to
run and says why, unless the config allows running without one (`allow_unsandboxed_network`).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import queue
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

LAUNCHER = Path(__file__).with_name("sandbox_launcher.py")
# World-writable places a program could leave files in: each gets a private tmpfs inside the namespace.
HIDDEN_WRITABLE_DIRS = ("/var/tmp", "/dev/shm", "/run/lock")
# Python's exit code for a program killed by SIGXCPU is a signal; these map rlimit breaches to named outcomes.
_SIGNAL_OUTCOMES: dict[int, str] = {int(signal.SIGXCPU): "cpu_limit", int(signal.SIGXFSZ): "file_size_limit"}


class SandboxUnavailable(RuntimeError):
    """The kernel refused the isolation the config asks for; the message says what failed and how to proceed."""


class SandboxConfig(BaseModel):
    """Limits for one run. Defaults follow NeMo Gym code_gen (10 s per unit test, RECIPES.md 4.3)."""

    wall_timeout_s: float = Field(10.0, gt=0)
    cpu_timeout_s: int = Field(10, gt=0)  # RLIMIT_CPU; SIGKILL one second past it
    memory_mb: int = Field(1024, gt=0)  # RLIMIT_AS: address space, so it includes the interpreter's own mappings
    file_size_mb: int = Field(16, gt=0)  # RLIMIT_FSIZE: largest file the program may write
    processes: int = Field(32, gt=0)  # RLIMIT_NPROC for the program's own uid (a fork bomb stops here)
    open_files: int = Field(64, gt=3)  # RLIMIT_NOFILE
    workdir_mb: int = Field(64, gt=0)  # the private /tmp tmpfs (working directory included)
    output_limit_bytes: int = Field(1 << 20, gt=0)  # stdout + stderr kept; past it the run is killed
    uid_base: int = Field(200_000, ge=1000)  # program uids: uid_base + slot; unused by real accounts
    allow_unsandboxed_network: bool = False  # run with rlimits only where namespaces are refused
    # Programs see the standard library only (interpreter started with -S, which also saves the site start-up);
    # true adds the interpreter's site-packages.
    site_packages: bool = False
    python: str = sys.executable


@dataclass
class RunResult:
    """How one run ended. `outcome` is one of: ok, runtime_error, timeout, cpu_limit, memory_limit,
    file_size_limit, output_limit, killed, sandbox_error."""

    outcome: str
    exit_code: int | None = None
    signal: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    result: bytes = b""  # what the program wrote to fd 3 (the test harness's channel), when asked for
    wall_s: float = 0.0
    cpu_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def _blocking_ancestors(path: str) -> list[list[str]]:
    """[(dir, child)] for each ancestor of `path` that others may not traverse, top-down."""
    pairs = []
    parts = Path(path).resolve().parts
    for depth in range(1, len(parts) - 1):
        ancestor = Path(*parts[: depth + 1])
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            pairs.append([str(ancestor), str(Path(*parts[: depth + 2]))])
    return pairs


def interpreter_exposures(python: str) -> list[list[str]]:
    """The bind-mount pairs that make the interpreter and its libraries reachable by an unprivileged uid."""
    if os.path.abspath(python) == os.path.abspath(sys.executable):  # a venv is known by its (unresolved) path
        roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    else:
        probe = subprocess.run(
            [python, "-I", "-c", "import sys; print(sys.prefix, sys.base_prefix, sep='\\n')"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        roots = set(probe.stdout.split("\n")[:2])
    roots.add(os.path.realpath(python))
    pairs: list[list[str]] = []
    for root in sorted(roots):
        for pair in _blocking_ancestors(root):
            if pair not in pairs:
                pairs.append(pair)
    return pairs


class Sandbox:
    """Runs Python programs, one process per run, under the limits of its config (thread-safe)."""

    def __init__(self, config: SandboxConfig | None = None, slots: int = 256):
        self.config = config or SandboxConfig()
        self.isolated = os.geteuid() == 0
        self._slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(slots):
            self._slots.put(slot)
        self._exposures: list[list[str]] = []
        self._probe_lock = threading.Lock()
        self._probed = False

    def check(self) -> None:
        """Probe the isolation once; raise SandboxUnavailable (or fall back, if allowed) when it is refused."""
        with self._probe_lock:
            if self._probed:
                return
            if os.geteuid() != 0 and not self.config.allow_unsandboxed_network:
                raise SandboxUnavailable(
                    f"the code sandbox needs root (uid 0) to create network, PID and mount namespaces and to run "
                    f"programs under a uid of their own; this process runs as uid {os.geteuid()}. Run it as root "
                    f"(e.g. in a container) or set allow_unsandboxed_network: true to run with rlimits only "
                    f"(programs can then reach the network and the host's /tmp)."
                )
            if os.geteuid() == 0:
                self._exposures = interpreter_exposures(self.config.python)
                probe = self._run_once({"main.py": "pass\n"}, "main.py", "", False, isolate=True)
                if probe.outcome == "sandbox_error":
                    if not self.config.allow_unsandboxed_network:
                        raise SandboxUnavailable(
                            f"the kernel refused the code sandbox's isolation: {probe.stderr.decode()}. Programs are "
                            f"not run without a private network namespace unless allow_unsandboxed_network: true."
                        )
                    self.isolated = False
            self._probed = True

    def run(
        self,
        files: dict[str, str],
        main: str = "main.py",
        stdin: str = "",
        want_result: bool = False,
        wall_timeout_s: float | None = None,
    ) -> RunResult:
        """Run `files[main]` with `files` in an empty working directory and `stdin` as its standard input
        (`wall_timeout_s` overrides the config's wall limit for this run)."""
        self.check()
        return self._run_once(files, main, stdin, want_result, isolate=self.isolated, wall_timeout_s=wall_timeout_s)

    def _run_once(
        self,
        files: dict[str, str],
        main: str,
        stdin: str,
        want_result: bool,
        isolate: bool,
        wall_timeout_s: float | None = None,
    ) -> RunResult:
        cfg = self.config
        files = dict(files)
        if stdin:
            files[".stdin"] = stdin
        slot = self._slots.get()
        root = os.geteuid() == 0
        workdir = None if isolate else tempfile.mkdtemp(prefix="corpusforge-sandbox-")
        job = {
            "files": files,
            "main": main,
            "stdin_file": ".stdin" if stdin else None,
            "isolate": isolate,
            "workdir": workdir,
            "expose": self._exposures,
            "hide": list(HIDDEN_WRITABLE_DIRS),
            "uid": cfg.uid_base + slot if root else None,
            "gid": cfg.uid_base + slot if root else None,
            "workdir_mb": cfg.workdir_mb,
            "result_fd": None,
            "limits": {
                "cpu_s": cfg.cpu_timeout_s,
                "memory_mb": cfg.memory_mb,
                "file_size_mb": cfg.file_size_mb,
                "open_files": cfg.open_files,
                "processes": cfg.processes,
            },
            "env": {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "HOME": workdir or "/tmp/work",
                "TMPDIR": workdir or "/tmp/work",
            },
        }
        fds: list[int] = []
        try:
            job_r, job_w = os.pipe()
            status_r, status_w = os.pipe()
            fds += [job_r, job_w, status_r, status_w]
            passed = [job_r, status_w]
            result_r = None
            if want_result:
                result_r, result_w = os.pipe()
                fds += [result_r, result_w]
                passed.append(result_w)
                job["result_fd"] = result_w
            wall = wall_timeout_s or cfg.wall_timeout_s
            return self._launch(job, job_r, job_w, status_r, status_w, result_r, passed, fds, wall)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._slots.put(slot)
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)

    def _launch(
        self,
        job: dict,
        job_r: int,
        job_w: int,
        status_r: int,
        status_w: int,
        result_r: int | None,
        passed: list[int],
        fds: list[int],
        wall_timeout_s: float,
    ) -> RunResult:
        cfg = self.config
        start = time.monotonic()
        proc = subprocess.Popen(
            [
                cfg.python,
                "-I",
                *([] if cfg.site_packages else ["-S"]),
                str(LAUNCHER),
                str(job_r),
                str(status_w),
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=passed,
            cwd="/",
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
        )  # nothing of ours leaks in
        for fd in passed:
            os.close(fd)
            fds.remove(fd)
        with contextlib.suppress(BrokenPipeError):  # a launcher that died early is reported by its status
            os.write(job_w, marshal.dumps(job))  # the launcher reads it whole before doing anything else
        os.close(job_w)
        fds.remove(job_w)
        assert proc.stdout is not None and proc.stderr is not None  # both are pipes
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        streams = {out_fd: bytearray(), err_fd: bytearray(), status_r: bytearray()}
        if result_r is not None:
            streams[result_r] = bytearray()
        outcome = self._pump(streams, (out_fd, err_fd), status_r, start + wall_timeout_s)
        if outcome:
            proc.kill()
        if not job["isolate"]:
            self._kill_leftovers(proc.pid, job["uid"])
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        wall = time.monotonic() - start
        status = marshal.loads(streams[status_r]) if streams[status_r] else {}
        res = RunResult(
            outcome="ok",
            stdout=bytes(streams[out_fd]),
            stderr=bytes(streams[err_fd]),
            result=bytes(streams[result_r]) if result_r is not None else b"",
            wall_s=wall,
            exit_code=status.get("exit_code"),
            signal=status.get("signal"),
            cpu_s=status.get("cpu_s", 0.0),
            notes=status.get("notes", []),
        )
        if "error" in status:
            res.outcome, res.stderr = "sandbox_error", f"{status['stage']}: {status['error']}".encode()
        elif outcome:
            res.outcome = outcome
        elif not status:
            res.outcome = "sandbox_error"
        else:
            res.outcome = self._classify(res)
        return res

    def _pump(
        self, streams: dict[int, bytearray], out_fds: tuple[int, int], status_fd: int, deadline: float
    ) -> str | None:
        """Read every pipe until all close; return "timeout" or "output_limit" when the run must be killed.

        Once the status pipe closes the program has ended; descendants it left holding stdout (possible only
        without namespaces) get a short grace, then the run is over rather than timed out."""
        cap = self.config.output_limit_bytes
        ended = False
        with selectors.DefaultSelector() as sel:
            for fd in streams:
                sel.register(fd, selectors.EVENT_READ)
            open_fds = len(streams)
            while open_fds:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None if ended else "timeout"
                for key, _ in sel.select(timeout=left):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fd)
                        open_fds -= 1
                        if key.fd == status_fd:
                            ended, deadline = True, min(deadline, time.monotonic() + 0.5)
                        continue
                    streams[key.fd] += chunk
                    if key.fd in out_fds and sum(len(streams[fd]) for fd in out_fds) > cap:
                        out, err = out_fds
                        del streams[out][cap:]
                        del streams[err][cap - len(streams[out]) :]
                        return "output_limit"
        return None

    @staticmethod
    def _kill_leftovers(launcher_pid: int, uid: int | None) -> None:
        """Without namespaces: kill the run's process group and, as root, every process of the run's own uid
        (descendants that left the group). Called before the launcher is reaped, so its pid is not reused."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(launcher_pid, signal.SIGKILL)
        if uid is None:
            return
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    uids = next(line.split()[1:] for line in f if line.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if str(uid) in uids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry), signal.SIGKILL)

    def _classify(self, res: RunResult) -> str:
        if res.signal is not None:
            if res.signal == signal.SIGKILL and res.cpu_s >= self.config.cpu_timeout_s:
                return "cpu_limit"
            return _SIGNAL_OUTCOMES.get(res.signal, "killed")
        if res.exit_code == 0:
            return "ok"
        tail = res.stderr[-4096:]
        if b"MemoryError" in tail:
            return "memory_limit"
        if b"File too large" in tail:  # Python ignores SIGXFSZ, so RLIMIT_FSIZE surfaces as EFBIG
            return "file_size_limit"
        return "runtime_error"
