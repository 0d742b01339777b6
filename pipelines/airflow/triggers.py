"""Wait for the LLM endpoint without holding a worker slot: a deferrable sensor and the trigger it defers to.

The trigger polls the server's health check (`/health`, then `/v1/models`) from the triggerer, with the key of
the connection it names (the key is read there, never serialized into the trigger's arguments), and fires once
the server answers 200, or with `healthy: false` at its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from corpusforge.pipelines.airflow.connections import DEFAULT_LLM_CONN, LLMEndpoint, endpoint_from_connection

REQUEST_TIMEOUT_S = 10.0


async def check_health(endpoint: LLMEndpoint) -> dict[str, Any] | None:
    """The first health path that answers 200, with the served models when it lists them; None if none does."""
    import httpx

    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, headers=headers) as client:
        for path in endpoint.health_paths:
            try:
                response = await client.get(endpoint.root + path)
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                models: list[str] = []
                # /health answers plain text or nothing: being up is what counts.
                with contextlib.suppress(ValueError, AttributeError, KeyError, TypeError):
                    models = [m["id"] for m in response.json().get("data", [])]
                return {"path": path, "models": models}
    return None


class LLMHealthTrigger(BaseTrigger):
    """Polls the LLM endpoint of an Airflow connection until its health check answers 200 (or time runs out)."""

    def __init__(self, conn_id: str = DEFAULT_LLM_CONN, poll_interval: float = 30.0, timeout: float = 3600.0):
        super().__init__()
        self.conn_id, self.poll_interval, self.timeout = conn_id, poll_interval, timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"conn_id": self.conn_id, "poll_interval": self.poll_interval, "timeout": self.timeout},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.sdk import BaseHook

        endpoint = endpoint_from_connection(await BaseHook.aget_connection(self.conn_id))
        deadline = time.monotonic() + self.timeout
        attempts = 0
        while True:
            attempts += 1
            found = await check_health(endpoint)
            if found is not None:
                yield TriggerEvent(
                    {
                        "healthy": True,
                        "url": endpoint.root + found["path"],
                        "models": found["models"],
                        "attempts": attempts,
                    }
                )
                return
            if time.monotonic() + self.poll_interval > deadline:
                yield TriggerEvent({"healthy": False, "url": endpoint.root, "attempts": attempts})
                return
            self.log.info("LLM endpoint %s not healthy yet (attempt %d)", endpoint.root, attempts)
            await asyncio.sleep(self.poll_interval)


class LLMEndpointSensor(BaseSensorOperator):
    """Succeeds once the LLM endpoint of `conn_id` is healthy; deferrable, so no worker slot waits meanwhile."""

    template_fields = ("conn_id",)

    def __init__(
        self, *, conn_id: str = DEFAULT_LLM_CONN, poll_interval: float = 30.0, deferrable: bool = True, **kwargs: Any
    ):
        kwargs.setdefault("timeout", 3600)
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.conn_id, self.poll_interval, self.deferrable = conn_id, poll_interval, deferrable

    def execute(self, context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=LLMHealthTrigger(self.conn_id, self.poll_interval, float(self.timeout)),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 60),
        )

    def poke(self, context) -> bool:
        """The non-deferrable path: one health check per poke."""
        from airflow.sdk import BaseHook

        endpoint = endpoint_from_connection(BaseHook.get_connection(self.conn_id))
        return asyncio.run(check_health(endpoint)) is not None

    def execute_complete(self, context, event: dict[str, Any]) -> dict[str, Any]:
        """Resumed by the trigger: fail when the endpoint never became healthy."""
        if not event.get("healthy"):
            raise TimeoutError(f"LLM endpoint {event.get('url')} not healthy after {event.get('attempts')} checks")
        self.log.info("LLM endpoint healthy at %s; models: %s", event["url"], event.get("models"))
        return event
