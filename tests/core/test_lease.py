"""The output lease: one writer per output prefix, a clear refusal naming the holder, takeover of a dead holder."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from corpusforge.core.lease import Lease, LeaseHeld, LeaseLost, lease_path


def _holder(output: str) -> dict:
    with open(lease_path(output)) as f:
        return json.load(f)


def _forge(path: str, **holder) -> None:
    """A lease left by another run (written as that run would have)."""
    record = {
        "owner": "f" * 32,
        "host": "other-host",
        "pid": 4242,
        "command": "corpusforge run x.yaml",
        "what": "pipeline x",
        "started": time.time() - 60,
        "heartbeat": time.time(),
        **holder,
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f)


def test_second_writer_is_refused_with_the_holder_named(tmp_path):
    out = str(tmp_path / "out")
    with Lease(out, what="pipeline a"):
        with pytest.raises(LeaseHeld) as refused:
            Lease(out).acquire()
        message = str(refused.value)
        assert f"pid {os.getpid()} on {socket.gethostname()}" in message and "pipeline a" in message
        assert out in message and _holder(out)["pid"] == os.getpid()
    assert not os.path.exists(lease_path(out))  # released
    with Lease(out):  # free again
        pass
    assert os.listdir(tmp_path / "out" / "_work") == []  # nothing left behind


def test_a_live_holder_elsewhere_is_respected_and_a_stale_one_taken_over(tmp_path):
    out = str(tmp_path / "out")
    _forge(lease_path(out))
    with pytest.raises(LeaseHeld, match="pid 4242 on other-host"):
        Lease(out).acquire()
    _forge(lease_path(out), heartbeat=time.time() - 3600)
    with Lease(out, stale_s=60) as lease:
        assert lease.took_over["pid"] == 4242 and lease.took_over["reason"] == "heartbeat stale"
        assert _holder(out)["owner"] == lease.owner


def test_a_killed_holder_on_this_host_is_taken_over_at_once(tmp_path):
    out = str(tmp_path / "out")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _forge(lease_path(out), host=socket.gethostname(), pid=dead.pid)  # fresh heartbeat, but the process is gone
    with Lease(out) as lease:
        assert lease.took_over["reason"] == "process gone"


def test_a_holder_whose_lease_was_taken_over_notices(tmp_path):
    out = str(tmp_path / "out")
    lease = Lease(out, heartbeat_s=0.05)
    lease.acquire()
    _forge(lease_path(out))  # another run took it over while this one stalled
    deadline = time.time() + 10
    while lease.lost is None and time.time() < deadline:
        time.sleep(0.05)
    with pytest.raises(LeaseLost, match="taken over by pid 4242"):
        lease.check()
    lease.release()
    assert _holder(out)["pid"] == 4242  # the new holder's lease is left alone


@pytest.mark.slow
def test_lease_on_s3_uses_conditional_puts(s3_server):
    out = f"{s3_server}/runs/web"
    with Lease(out, what="pipeline a") as first:
        with pytest.raises(LeaseHeld, match=f"pid {os.getpid()}"):
            Lease(out).acquire()
        # a stale heartbeat (the holder was killed on another machine) is taken over, atomically
        first._stop.set()
        first._thread.join()
        import s3fs

        fs = s3fs.S3FileSystem(
            client_kwargs={"endpoint_url": os.environ["CORPUSFORGE_S3_ENDPOINT"]}, skip_instance_cache=True
        )
        record = json.loads(fs.cat_file(lease_path(out)[5:]))
        fs.pipe_file(lease_path(out)[5:], json.dumps({**record, "host": "gone", "heartbeat": 0}).encode())
        with Lease(out) as second:
            assert second.took_over["host"] == "gone"
            first.release()  # the old holder's release must not delete the new holder's lease
            assert json.loads(fs.cat_file(lease_path(out)[5:]))["owner"] == second.owner
    assert not fs.exists(lease_path(out)[5:])
