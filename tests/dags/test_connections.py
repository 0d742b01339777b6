"""Connection settings reach a pipeline's LLM backends and never its config's key fields (no Airflow needed)."""
import os

from corpusforge.pipelines.airflow.connections import LLMEndpoint, environment, point_at_endpoint

ENDPOINT = LLMEndpoint(root="http://vllm:8000", base_url="http://vllm:8000/v1", api_key="sk-secret",
                       model="Qwen/Qwen2.5-72B-Instruct", health_paths=("/health", "/v1/models"))


def test_every_openai_backend_points_at_the_connection_and_gets_its_key_by_variable():
    config = {"name": "rephrase", "stages": [
        {"type": "rephrase", "backend": {"type": "openai", "base_url": "http://localhost:8000/v1", "model": "x",
                                         "api_key_env": "VLLM_KEY"}},
        {"type": "judge", "backends": [{"type": "openai", "model": "y"}, {"type": "embedded"}]},
    ]}
    pointed, env = point_at_endpoint(config, ENDPOINT)
    first, judge = pointed["stages"][0]["backend"], pointed["stages"][1]["backends"]
    assert first["base_url"] == judge[0]["base_url"] == "http://vllm:8000/v1"
    assert first["model"] == judge[0]["model"] == "Qwen/Qwen2.5-72B-Instruct"
    assert judge[1] == {"type": "embedded"}
    assert env == {"VLLM_KEY": "sk-secret", "OPENAI_API_KEY": "sk-secret"}
    assert "sk-secret" not in repr(pointed) and "sk-secret" not in repr(ENDPOINT)
    assert config["stages"][0]["backend"]["base_url"] == "http://localhost:8000/v1"  # the input is not modified


def test_task_environment_is_restored_after_the_task():
    os.environ["CORPUSFORGE_TEST_KEEP"] = "before"
    os.environ.pop("CORPUSFORGE_TEST_NEW", None)
    with environment({"CORPUSFORGE_TEST_KEEP": "during", "CORPUSFORGE_TEST_NEW": "x"}):
        assert os.environ["CORPUSFORGE_TEST_KEEP"] == "during" and os.environ["CORPUSFORGE_TEST_NEW"] == "x"
    assert os.environ.pop("CORPUSFORGE_TEST_KEEP") == "before" and "CORPUSFORGE_TEST_NEW" not in os.environ
