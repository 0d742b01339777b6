"""Storage and LLM settings from Airflow connections: DAG files and XComs never hold a key.

Storage: an `aws` connection (`aws_default` unless a DAG run names another) becomes the variables s3fs and
corpusforge read (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION`,
`CORPUSFORGE_S3_ENDPOINT`), set only while a task runs. Every engine forwards them to its workers
(`pipelines/engines/worker_env.py`), so the same values reach local processes, Spark and Ray tasks.

LLM endpoint: an `http` connection (host, port, schema; the API key as its password; extra `model`,
`base_path` (default `/v1`) and `health_paths`) gives the server the synthetic pipelines call.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_AWS_CONN = "aws_default"
DEFAULT_LLM_CONN = "corpusforge_llm"
# vLLM, SGLang and TGI answer GET /health when the model is loaded; any OpenAI-compatible server lists /v1/models.
DEFAULT_HEALTH_PATHS = ("/health", "/v1/models")


def _get_connection(conn_id: str):
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def storage_env(conn_id: str | None = DEFAULT_AWS_CONN) -> dict[str, str]:
    """The storage variables an `aws` connection defines (empty: no connection, use the worker's environment).

    A missing `aws_default` falls back to the worker's own credentials (instance role, variables), as Airflow's
    Amazon provider does; a missing connection the run names explicitly is an error.
    """
    if not conn_id:
        return {}
    conn = _get_connection(conn_id)
    if conn is None:
        if conn_id != DEFAULT_AWS_CONN:
            raise ValueError(f"aws_conn_id: no Airflow connection named {conn_id!r}")
        log.info("no %s connection: storage uses the worker's environment", conn_id)
        return {}
    extra: dict[str, Any] = conn.extra_dejson or {}
    endpoint = (
        extra.get("endpoint_url") or (extra.get("service_config") or {}).get("s3", {}).get("endpoint_url") or conn.host
    )
    env = {
        "AWS_ACCESS_KEY_ID": conn.login,
        "AWS_SECRET_ACCESS_KEY": conn.password,
        "AWS_SESSION_TOKEN": extra.get("aws_session_token"),
        "AWS_DEFAULT_REGION": extra.get("region_name"),
        "CORPUSFORGE_S3_ENDPOINT": endpoint,
    }
    return {k: str(v) for k, v in env.items() if v}


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Set variables for the duration of a task and restore the previous values after it."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass(frozen=True)
class LLMEndpoint:
    """Where the LLM server is, how to check it is up, and its key (kept out of configs, logs and XComs)."""

    root: str  # scheme://host:port
    base_url: str  # what OpenAI-compatible clients call: root + base_path
    api_key: str | None
    model: str | None
    health_paths: tuple[str, ...]

    def __repr__(self) -> str:  # the key must never reach a log line
        return f"LLMEndpoint(base_url={self.base_url!r}, model={self.model!r})"


def endpoint_from_connection(conn) -> LLMEndpoint:
    """An `http` connection as the LLM server's address, key and health paths."""
    extra: dict[str, Any] = conn.extra_dejson or {}
    host = (conn.host or "").rstrip("/")
    if not host:
        raise ValueError(f"connection {conn.conn_id}: set `host` to the LLM server (e.g. vllm-host)")
    root = host if "://" in host else f"{conn.schema or 'http'}://{host}"
    if conn.port and root.count(":") < 2:
        root = f"{root}:{conn.port}"
    base = "/" + str(extra.get("base_path", "/v1")).strip("/")
    paths = tuple(extra.get("health_paths") or DEFAULT_HEALTH_PATHS)
    return LLMEndpoint(root, root + base.rstrip("/"), conn.password or None, extra.get("model"), paths)


def llm_endpoint(conn_id: str = DEFAULT_LLM_CONN) -> LLMEndpoint:
    """The LLM endpoint of the named connection (an error naming it when it does not exist)."""
    conn = _get_connection(conn_id)
    if conn is None:
        raise ValueError(f"llm_conn_id: no Airflow connection named {conn_id!r} (an http connection to the server)")
    return endpoint_from_connection(conn)


# The backend types of synthetic/backends: an LLM stage's `backend` mapping names one of them.
BACKEND_TYPES = ("openai", "embedded", "vllm_offline")


def point_at_endpoint(config: dict[str, Any], endpoint: LLMEndpoint) -> tuple[dict[str, Any], dict[str, str]]:
    """The pipeline config with every LLM backend served by the endpoint, and the variables holding its key.

    An OpenAI-compatible backend (`type: openai`) keeps its settings and gets the connection's `base_url` (and
    `model`, when the connection names one). An in-process backend (the embedded demo model, vLLM offline) becomes
    an OpenAI-compatible one at the endpoint: a gated DAG runs its LLM stages against the server it waited for, and
    the connection must name the served `model` (extra). The key goes to the variable `api_key_env` names.
    """
    env: dict[str, str] = {}

    def backend(node: dict[str, Any]) -> dict[str, Any]:
        if node.get("type") != "openai":
            if not endpoint.model:
                raise ValueError(
                    f"the LLM connection names no `model` (extra), and the pipeline's {node.get('type')} "
                    "backend must be replaced by the served model"
                )
            node = {
                "type": "openai",
                **({"context_tokens": node["context_tokens"]} if node.get("context_tokens") else {}),
            }
        node = {**node, "base_url": endpoint.base_url, **({"model": endpoint.model} if endpoint.model else {})}
        if endpoint.api_key:
            env[node.get("api_key_env") or "OPENAI_API_KEY"] = endpoint.api_key
        return node

    def walk(node: Any, key: str | None = None) -> Any:
        if isinstance(node, dict):
            if key == "backend" and node.get("type") in BACKEND_TYPES:
                return backend(node)
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(config), env
