"""The hostile suite: programs that try to harm the host or the run are contained and named (small limits)."""

from __future__ import annotations

import os

import pytest
from verifier_cases import HOSTILE_OUTCOMES, run_hostile_suite

from corpusforge.synthetic.verifiers.sandbox import (
    Sandbox,
    SandboxConfig,
    SandboxUnavailable,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox isolates programs only when run as root")

# CPU-bound programs stop at the 1 s CPU limit; the wall limit only has to outlast a loaded CI box (the sleeping
# program of the suite gets 2 s).
SMALL = SandboxConfig(
    wall_timeout_s=30,
    cpu_timeout_s=1,
    memory_mb=256,
    processes=16,
    file_size_mb=8,
    open_files=32,
    workdir_mb=16,
    output_limit_bytes=1 << 16,
)


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox(SMALL)


def test_hostile_suite_is_contained(sandbox):
    rows = run_hostile_suite(sandbox)
    assert {r["name"] for r in rows} == set(HOSTILE_OUTCOMES)
    harmed = [r for r in rows if r["harm"]]
    assert not harmed
    unexpected = [(r["name"], r["outcome"]) for r in rows if not r["expected_outcome"]]
    assert not unexpected
    outcome = {r["name"]: r["outcome"] for r in rows}
    assert outcome["huge_stdout"] == "output_limit"
    assert outcome["memory_bomb"] == "memory_limit"
    assert outcome["huge_file"] == "file_size_limit"
    assert outcome["sleep_forever"] == "timeout"


def test_process_cap_holds_as_root_and_nothing_is_left_behind(sandbox):
    program = (
        "import os, time\nn = 0\nfor _ in range(100):\n    try:\n        pid = os.fork()\n"
        "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n"
        "    n += 1\nprint(n)\n"
    )
    run = sandbox.run({"main.py": program})
    assert run.outcome == "ok"
    assert int(run.stdout) == SMALL.processes - 1  # itself plus the children RLIMIT_NPROC allows
    leftover = [pid for pid in os.listdir("/proc") if pid.isdigit() and _uid_of(pid) >= SMALL.uid_base]
    assert not leftover  # the sleeping children died with the PID namespace


def _uid_of(pid: str) -> int:
    """The uid of a live process (-1 for one that is gone or a zombie waiting to be reaped by init)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return -1
    return -1 if fields.get("State", "").strip().startswith("Z") else int(fields["Uid"].split()[0])


def test_each_run_starts_in_an_empty_private_directory(sandbox):
    first = sandbox.run({"main.py": "import os\nopen('left.txt', 'w').write('x')\nprint(sorted(os.listdir('.')))\n"})
    second = sandbox.run({"main.py": "import os\nprint(sorted(os.listdir('.')))\n"})
    assert first.stdout.decode().strip() == "['left.txt', 'main.py']"
    assert second.stdout.decode().strip() == "['main.py']"


def test_stdin_and_exit_codes(sandbox):
    run = sandbox.run({"main.py": "import sys\nprint(sys.stdin.read()[::-1])\nsys.exit(3)\n"}, stdin="abc")
    assert (run.outcome, run.exit_code, run.stdout) == ("runtime_error", 3, b"cba\n")


def test_refuses_without_privileges_and_says_why():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child that gives up root, then asks for a sandbox; it must never return into pytest
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            Sandbox(SandboxConfig()).check()
            os.write(write, b"no refusal")
        except SandboxUnavailable as exc:
            os.write(write, str(exc).encode())
        except BaseException as exc:  # report anything else to the parent
            os.write(write, repr(exc).encode())
        finally:
            os._exit(0)
    os.close(write)
    message = os.read(read, 4096).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert "needs root" in message and "allow_unsandboxed_network" in message


def test_fallback_without_namespaces_still_cleans_up():
    # The path taken where the kernel refuses namespaces and the config allows running without them.
    fallback = Sandbox(SMALL.model_copy(update={"allow_unsandboxed_network": True}))
    fallback.check()
    fallback.isolated = False
    program = "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        time.sleep(60)\nprint('done')\n"
    run = fallback.run({"main.py": program})
    assert (run.outcome, run.stdout) == ("ok", b"done\n")  # the sleeping children do not hold the run open
    assert "no namespaces" in run.notes[0]
    leftover = [pid for pid in os.listdir("/proc") if pid.isdigit() and _uid_of(pid) >= SMALL.uid_base]
    assert not leftover
