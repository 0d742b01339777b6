"""Connection settings reach a pipeline's LLM backends and never its config's key fields (no Airflow needed)."""

import os

import pytest

from corpusforge.pipelines.airflow.connections import LLMEndpoint, environment, point_at_endpoint

ENDPOINT = LLMEndpoint(
    root="http://vllm:8000",
    base_url="http://vllm:8000/v1",
    api_key="sk-secret",
    model="Qwen/Qwen2.5-72B-Instruct",
    health_paths=("/health", "/v1/models"),
)


def test_every_llm_backend_is_served_by_the_connection_and_gets_its_key_by_variable():
    config = {
        "name": "rephrase",
        "stages": [
            {
                "type": "nemotron_rephrase",
                "backend": {
                    "type": "openai",
                    "base_url": "http://localhost:8000/v1",
                    "model": "x",
                    "api_key_env": "VLLM_KEY",
                    "concurrency": 8,
                },
            },
            {"type": "llm_generate", "backend": {"type": "embedded", "batch_size": 8, "context_tokens": 4096}},
            {"type": "exact_dedup", "buckets": 2},
        ],
    }
    pointed, env = point_at_endpoint(config, ENDPOINT)
    served, replaced = pointed["stages"][0]["backend"], pointed["stages"][1]["backend"]
    assert served == {
        "type": "openai",
        "base_url": "http://vllm:8000/v1",
        "model": "Qwen/Qwen2.5-72B-Instruct",
        "api_key_env": "VLLM_KEY",
        "concurrency": 8,
    }
    assert replaced == {
        "type": "openai",
        "context_tokens": 4096,
        "base_url": "http://vllm:8000/v1",
        "model": "Qwen/Qwen2.5-72B-Instruct",
    }
    assert pointed["stages"][2] == {"type": "exact_dedup", "buckets": 2}
    assert env == {"VLLM_KEY": "sk-secret", "OPENAI_API_KEY": "sk-secret"}
    assert "sk-secret" not in repr(pointed) and "sk-secret" not in repr(ENDPOINT)
    assert config["stages"][1]["backend"]["type"] == "embedded"  # the input is not modified


def test_an_in_process_backend_needs_the_served_model_named():
    nameless = LLMEndpoint("http://vllm:8000", "http://vllm:8000/v1", None, None, ("/health",))
    with pytest.raises(ValueError, match="names no `model`"):
        point_at_endpoint({"stages": [{"type": "nemotron_rephrase", "backend": {"type": "embedded"}}]}, nameless)


def test_task_environment_is_restored_after_the_task():
    os.environ["CORPUSFORGE_TEST_KEEP"] = "before"
    os.environ.pop("CORPUSFORGE_TEST_NEW", None)
    with environment({"CORPUSFORGE_TEST_KEEP": "during", "CORPUSFORGE_TEST_NEW": "x"}):
        assert os.environ["CORPUSFORGE_TEST_KEEP"] == "during" and os.environ["CORPUSFORGE_TEST_NEW"] == "x"
    assert os.environ.pop("CORPUSFORGE_TEST_KEEP") == "before" and "CORPUSFORGE_TEST_NEW" not in os.environ
