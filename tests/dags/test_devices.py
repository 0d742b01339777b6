"""Proxy tasks on one host claim distinct devices, and a finished proxy frees its device (no Airflow needed)."""

from corpusforge.pipelines.airflow.devices import claim_device, study_devices
from corpusforge.trainer.study import StudySpec

SOURCES = [{"name": "a", "prefixes": ["p"]}, {"name": "b", "prefixes": ["q"]}]


def test_concurrent_proxies_never_share_a_device(tmp_path):
    gpus = ["cuda:0", "cuda:1"]
    with claim_device(gpus, str(tmp_path)) as first, claim_device(gpus, str(tmp_path)) as second:
        assert (first, second) == ("cuda:0", "cuda:1")
    with claim_device(gpus, str(tmp_path)) as again:
        assert again == "cuda:0"  # released when the first proxy ended


def test_devices_come_from_the_study_then_its_train_device():
    assert study_devices(StudySpec(out_dir="x", sources=SOURCES, devices=["cuda:0", "cuda:1"])) == ["cuda:0", "cuda:1"]
    assert study_devices(StudySpec(out_dir="x", sources=SOURCES, train={"device": "cpu"})) == ["cpu"]
