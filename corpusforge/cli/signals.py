"""A run stopped with SIGTERM (`kill PID`, a scheduler's timeout) takes its worker processes with it.

By default SIGTERM ends the driver at once and leaves its descendants running: the local engine's process
manager, forkserver and pool workers (which may go on computing tasks of a run nobody waits for), a Spark JVM,
a local Ray cluster. Here the driver first stops every descendant, then exits through `SystemExit`, so its
`finally` blocks run: scratch folders go, and the output's lease is released for the next run.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import psutil

GRACE_S = 5.0  # descendants get this long to exit on SIGTERM before they are killed
# The clean-up then gets this long: a process pool's exit handler can wait for good on the helpers just stopped.
EXIT_GRACE_S = 15.0


def stop_descendants_on_sigterm() -> None:
    """Install the handler in this process (its forked children fall back to the default action)."""
    owner = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked child inherited the handler: behave as if it had none
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        stop_descendants()
        watchdog = threading.Timer(EXIT_GRACE_S, os._exit, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def stop_descendants() -> None:
    """SIGTERM to every descendant of this process, SIGKILL to those still alive after the grace period."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=GRACE_S)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
