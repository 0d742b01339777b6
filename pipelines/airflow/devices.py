"""Which device a proxy task trains on: one per GPU of the host, never shared, claimed with a lock file.

The Airflow pool caps how many proxies run at once (one slot per device); the lock decides which device each
running proxy gets, so two proxies on one host never land on the same GPU whatever order they start and end in.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator

CLAIM_WAIT_S = 5.0


def study_devices(spec) -> list[str]:
    """The devices the study's proxies train on: `devices`, else `train.device`, else every GPU, else the CPU."""
    if spec.devices:
        return list(spec.devices)
    if spec.train.get("device", "auto") != "auto":
        return [spec.train["device"]]
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]


def device_pool_slots() -> int:
    """Slots for the proxies' pool on this host: one per GPU, one on a CPU-only worker."""
    import torch

    return max(1, torch.cuda.device_count())


@contextlib.contextmanager
def claim_device(devices: list[str], lock_dir: str | None = None) -> Iterator[str]:
    """Hold one of `devices` that no other process of this host holds (an exclusive lock file per device)."""
    folder = lock_dir or os.path.join(tempfile.gettempdir(), "corpusforge-devices")
    os.makedirs(folder, exist_ok=True)
    while True:
        for device in devices:
            with open(os.path.join(folder, device.replace(":", "_") + ".lock"), "w") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield device
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                return
        # More proxies than devices on this host: the pool is larger than the GPUs it stands for.
        time.sleep(CLAIM_WAIT_S)
