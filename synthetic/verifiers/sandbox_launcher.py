"""The process that runs one untrusted Python program; started by `sandbox.Sandbox` as a script, stdlib only.

    python -I -S sandbox_launcher.py JOB_FD STATUS_FD PARENT_PID

It reads a job from JOB_FD (a marshal-encoded dict: marshal needs no imports, json would pull in `re` and cost
start-up time on every test), then (isolated mode) unshares mount, network, PID, IPC and UTS namespaces and
forks the namespace's PID 1, which mounts a private /tmp (the working directory lives there and vanishes with
the namespace), a fresh /proc, tmpfs over the other world-writable directories, and makes the interpreter's
directories traversable for the unprivileged uid. PID 1 forks the program's process, which sets the resource
limits, drops to a uid of its own (as root, RLIMIT_NPROC only binds a non-root uid) and runs the program in the
already started interpreter (no second interpreter start-up). PID 1 writes the program's exit status and rusage
to STATUS_FD (marshal) and exits; the kernel then kills whatever the program left behind in the namespace.
If the launcher is killed (wall timeout), PID 1 gets SIGKILL through PR_SET_PDEATHSIG, with the same effect.
"""

import atexit
import ctypes
import marshal
import os
import resource
import signal
import sys
import types

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 8192, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SANDBOX_TMP = "/tmp"
SANDBOX_WORKDIR = "/tmp/work"

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None
    _check(
        _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
        f"mount {fstype or source} on {target}",
    )


def _report(status_fd: int, status: dict) -> None:
    os.write(status_fd, marshal.dumps(status))


def _read_job(job_fd: int) -> dict:
    chunks = []
    while chunk := os.read(job_fd, 1 << 16):
        chunks.append(chunk)
    os.close(job_fd)
    return marshal.loads(b"".join(chunks))


def _expose(pairs: list[list[str]]) -> None:
    """Make each `child` path under a non-traversable `blocking` dir reachable: tmpfs over `blocking`, child
    bound back in (the interpreter may live under /root, mode 700)."""
    stage = os.path.join(SANDBOX_TMP, ".expose")
    os.mkdir(stage, 0o700)
    children: dict[str, list[str]] = {}
    for blocking, child in pairs:  # several children may share one blocking dir: one tmpfs over it for all
        children.setdefault(blocking, []).append(child)
    for blocking in sorted(children, key=lambda path: path.count("/")):
        holds = []
        for child in children[blocking]:
            hold = os.path.join(stage, str(len(os.listdir(stage))))
            os.mkdir(hold)
            _mount(child, hold, None, MS_BIND | MS_REC)
            holds.append((hold, os.path.join(blocking, os.path.basename(child))))
        _mount("tmpfs", blocking, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        for hold, target in holds:
            os.makedirs(target, exist_ok=True)
            _mount(hold, target, None, MS_MOVE)
            os.rmdir(hold)
    os.rmdir(stage)


def _setup_namespace(job: dict) -> list[str]:
    """Mounts inside the new mount namespace (PID 1, still root); returns notes on what could not be done."""
    notes = []
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the host
    _mount("tmpfs", SANDBOX_TMP, "tmpfs", MS_NOSUID | MS_NODEV, f"size={job['workdir_mb']}m,mode=1777")
    _expose(job["expose"])
    for path in job["hide"]:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=1777")
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # only this namespace's processes
    except OSError as exc:
        notes.append(f"fresh /proc not mounted: {exc}")
    return notes


def _run_program(job: dict, workdir: str) -> None:
    """In the program's process: limits, privileges, then the program itself; never returns."""
    stdin_fd = os.open(os.path.join(workdir, job["stdin_file"]) if job["stdin_file"] else os.devnull, os.O_RDONLY)
    os.dup2(stdin_fd, 0)
    first_closed = 3
    if job["result_fd"] is not None:
        os.dup2(job["result_fd"], 3)
        first_closed = 4
    os.closerange(first_closed, 1 << 16)
    lim = job["limits"]
    mib = 1 << 20
    for which, value in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_AS, lim["memory_mb"] * mib),
        (resource.RLIMIT_FSIZE, lim["file_size_mb"] * mib),
        (resource.RLIMIT_NOFILE, lim["open_files"]),
        (resource.RLIMIT_NPROC, lim["processes"]),
    ):
        resource.setrlimit(which, (value, value))
    # SIGXCPU at the soft limit, SIGKILL one second later if the program ignores it.
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
    if job["uid"] is not None:
        os.setgroups([])
        os.setgid(job["gid"])
        os.setuid(job["uid"])
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    os.environ.clear()
    os.environ.update(job["env"])
    os.chdir(workdir)
    path = os.path.join(workdir, job["main"])
    main = types.ModuleType("__main__")
    main.__file__ = path
    sys.modules["__main__"] = main
    sys.argv = [job["main"]]
    sys.path[0] = workdir
    code = 0
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        exec(compile(source, path, "exec"), main.__dict__)  # running the program is the point
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException as exc:  # the program's own failure, printed as Python would
        import traceback

        tb = exc.__traceback__
        traceback.print_exception(type(exc), exc, tb.tb_next if tb else None)
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # stdout closed or broken by the program; its exit code says enough
        code = code or 120
    os._exit(code & 0xFF)


def _supervise(job: dict, status_fd: int, workdir: str, notes: list[str]) -> None:
    """Fork the program, wait for it, report its status; never returns."""
    pid = os.fork()
    if pid == 0:
        try:
            os.close(status_fd)
            _run_program(job, workdir)
        except BaseException as exc:  # whatever failed, the child must not return into our loop
            os.write(2, f"sandbox: program setup failed: {exc!r}\n".encode())
            os._exit(125)
    _, status, usage = os.wait4(pid, 0)
    _report(
        status_fd,
        {
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss,
            "notes": notes,
        },
    )
    os._exit(0)


def _prepare_workdir(job: dict, workdir: str) -> None:
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    for name, text in job["files"].items():
        with open(os.path.join(workdir, name), "w", encoding="utf-8") as f:
            f.write(text)
    if job["uid"] is not None:
        for name in os.listdir(workdir):
            os.chown(os.path.join(workdir, name), job["uid"], job["gid"])
        os.chown(workdir, job["uid"], job["gid"])


def main() -> None:
    """Entry point: run the job read from argv[1]'s fd, report on argv[2]'s fd."""
    job_fd, status_fd, parent = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    # Die with the caller: a verifier killed mid-run must not leave a sleeping program behind.
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    if os.getppid() != parent:
        os._exit(0)
    job = _read_job(job_fd)
    if not job["isolate"]:
        os.setpgid(0, 0)  # the caller kills this group (the program and what it leaves) when the run ends
        workdir = job["workdir"]
        _prepare_workdir(job, workdir)
        _supervise(job, status_fd, workdir, ["no namespaces: network, /tmp and /proc are the host's"])
    try:
        _check(
            _libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS),
            "unshare(mount, network, pid, ipc, uts namespaces)",
        )
    except OSError as exc:
        _report(status_fd, {"error": f"{exc} (running as uid {os.geteuid()})", "stage": "unshare"})
        os._exit(0)
    pid = os.fork()
    if pid:
        os.close(status_fd)
        os.waitpid(pid, 0)
        os._exit(0)
    try:
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
        notes = _setup_namespace(job)
        _prepare_workdir(job, SANDBOX_WORKDIR)
    except OSError as exc:
        _report(status_fd, {"error": str(exc), "stage": "namespace setup"})
        os._exit(0)
    _supervise(job, status_fd, SANDBOX_WORKDIR, notes)


if __name__ == "__main__":
    main()
