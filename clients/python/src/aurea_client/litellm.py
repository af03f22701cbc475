"""LiteLLM integration: report every call to Aurea, and let Aurea pick a Router's deployment.

Needs ``pip install 'aurea-client[litellm]'``; this module is the only one that imports LiteLLM.

.. code-block:: python

    import litellm
    from aurea_client.litellm import AureaCallback

    litellm.callbacks = [AureaCallback("http://127.0.0.1:8000", token="aurea_...")]

:class:`AureaCallback` is a LiteLLM ``CustomLogger``:

- Its success and failure hooks (sync and async) queue one outcome per call, or per attempt
  of a Router's retries, through a :class:`~aurea_client.BufferedReporter`: the model, the
  latency (``end_time - start_time``), the cost (``kwargs["standard_logging_object"]
  ["response_cost"]``, 0 when LiteLLM has none), success or failure, and the task label.
  They never raise into LiteLLM and never wait for the network.
- Its ``async_filter_deployments``, which ``litellm.Router`` runs on the healthy deployments
  of a model group before its routing strategy picks one (for ``acompletion`` and the other
  async calls; LiteLLM runs no deployment filter for sync calls), asks
  ``GET /router/select?models=...&task=...`` and narrows the list to the chosen deployment.
  When Aurea is unreachable, slow (``select_timeout``), or answers an error (no model
  qualifies, a bad token), the list is kept whole and LiteLLM chooses as it would alone.

:class:`AureaRoutingStrategy` routes a Router's sync calls (``completion``) too. It is a
LiteLLM ``CustomRoutingStrategyBase``, registered with ``router.register_plugin(...)``, which
LiteLLM then asks for every pick, sync and async: it takes the Router's own healthy
deployments (``router.select(kind="healthy")``: cooldowns, pre-call checks and deployment
filters), narrows them with the callback's filter, and picks among those left with LiteLLM's
``simple_shuffle`` (deployment weights), in place of the Router's ``routing_strategy``.

The name Aurea knows a call's model by: a deployment's ``model_info["aurea_model"]`` when set,
else the deployment's ``litellm_params["model"]`` (e.g. ``"openai/gpt-4o"``), which both the
hooks and the filter read; for a call outside a Router, LiteLLM's model name (e.g.
``"gpt-4o"``). The task label: ``metadata["aurea_task"]`` of the request (on the proxy, the
request body's ``metadata``), else its first tag ``"task:<name>"`` (``metadata["tags"]``, or
the proxy's request tags); no label otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger
    from litellm.router_strategy.simple_shuffle import simple_shuffle
    from litellm.types.router import CustomRoutingStrategyBase
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "aurea_client.litellm needs LiteLLM: pip install 'aurea-client[litellm]'"
    ) from error

from aurea_client.client import AureaClient, AureaError
from aurea_client.reporter import BufferedReporter

__all__ = [
    "MODEL_INFO_KEY",
    "TASK_METADATA_KEY",
    "TASK_TAG_PREFIX",
    "AureaCallback",
    "AureaRoutingStrategy",
    "deployment_model",
    "task_label",
]

logger = logging.getLogger("aurea_client.litellm")

MODEL_INFO_KEY = "aurea_model"  # model_info key: the deployment's name in Aurea
TASK_METADATA_KEY = "aurea_task"  # metadata key: the request's task label
TASK_TAG_PREFIX = "task:"  # or a tag "task:<name>"
METADATA_KEYS = ("metadata", "litellm_metadata")  # where LiteLLM keeps a request's metadata


def deployment_model(deployment: Mapping[str, Any]) -> str | None:
    """The name Aurea knows a Router deployment by (see the module's docstring)."""
    info = deployment.get("model_info") or {}
    named = info.get(MODEL_INFO_KEY) if isinstance(info, Mapping) else None
    if isinstance(named, str) and named:
        return named
    params = deployment.get("litellm_params") or {}
    model = params.get("model") if isinstance(params, Mapping) else None
    return model if isinstance(model, str) and model else None


def task_label(metadatas: Iterable[Any], tags: Iterable[Any] = ()) -> str | None:
    """The first ``aurea_task`` of ``metadatas``, else the first ``task:<name>`` tag."""
    metadatas = [m for m in metadatas if isinstance(m, Mapping)]
    for metadata in metadatas:
        task = metadata.get(TASK_METADATA_KEY)
        if isinstance(task, str) and task.strip():
            return task.strip()
    tag_lists = [m.get("tags") for m in metadatas] + [tags]
    for tag_list in tag_lists:
        if isinstance(tag_list, str) or not isinstance(tag_list, Iterable):
            continue
        for tag in tag_list:
            if isinstance(tag, str) and tag.startswith(TASK_TAG_PREFIX):
                task = tag[len(TASK_TAG_PREFIX) :].strip()
                if task:
                    return task
    return None


class AureaCallback(CustomLogger):
    """Report LiteLLM calls to Aurea and route ``litellm.Router`` deployments by its selection.

    ``base_url`` and ``token`` default to the ``AUREA_URL`` and ``AUREA_TOKEN`` environment
    variables (for the proxy's config file). ``token`` records (role ``recorder`` or
    ``admin``); ``select_token`` (default ``AUREA_SELECT_TOKEN``, else ``token``) selects
    (``reader`` or ``admin``). ``route=False`` turns the Router hook off. ``select_params``
    are passed to every select (e.g. ``{"min_success_rate": 0.9, "window": "24h"}``).
    ``reporter`` replaces the BufferedReporter built from ``reporter_settings``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        select_token: str | None = None,
        route: bool = True,
        select_timeout: float = 0.5,
        select_params: Mapping[str, Any] | None = None,
        reporter: BufferedReporter | None = None,
        **reporter_settings: Any,
    ) -> None:
        super().__init__()
        base_url = base_url or os.environ.get("AUREA_URL") or "http://127.0.0.1:8000"
        token = token or os.environ.get("AUREA_TOKEN") or None
        self.base_url = base_url
        self.select_token = select_token or os.environ.get("AUREA_SELECT_TOKEN") or token
        self.route = route
        self.select_timeout = select_timeout
        self.select_params = dict(select_params or {})
        self.reporter = reporter or BufferedReporter(base_url, token, **reporter_settings)
        self._local = threading.local()  # one select client per thread (requests.Session)

    # -- reporting: LiteLLM's logging hooks -----------------------------------------------

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._report(kwargs, start_time, end_time, True)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._report(kwargs, start_time, end_time, False)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._report(kwargs, start_time, end_time, True)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._report(kwargs, start_time, end_time, False)

    def _report(self, kwargs: Any, start_time: Any, end_time: Any, success: bool) -> None:
        try:
            outcome = self.outcome(kwargs, start_time, end_time, success)
            if outcome is not None:
                self.reporter.record(**outcome)
        except Exception:  # noqa: BLE001 - never into LiteLLM's call
            logger.debug("could not report a LiteLLM call to Aurea", exc_info=True)

    @staticmethod
    def outcome(
        kwargs: Mapping[str, Any], start_time: Any, end_time: Any, success: bool
    ) -> dict[str, Any] | None:
        """What one hook call reports: BufferedReporter.record's arguments, or None."""
        latency = _seconds(start_time, end_time)
        if latency is None:
            return None
        params = kwargs.get("litellm_params") or {}
        logged = kwargs.get("standard_logging_object") or {}
        metadatas = [params.get(key) for key in METADATA_KEYS]
        logged_metadata = logged.get("metadata") or {}
        metadatas.append(logged_metadata.get("requester_metadata"))
        model = _called_model(kwargs, params, metadatas, logged)
        if model is None:
            return None
        cost = logged.get("response_cost")
        if cost is None:
            cost = kwargs.get("response_cost")
        tags = logged.get("request_tags") or kwargs.get("tags") or ()
        return {
            "model": model,
            "latency": latency,
            "cost": float(cost) if isinstance(cost, int | float) and cost >= 0 else 0.0,
            "success": success,
            "task": task_label(metadatas, tags),
            "request_id": _request_id(kwargs, start_time),
        }

    # -- routing: the Router's deployment filter ------------------------------------------

    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list,
        messages: list | None,
        request_kwargs: dict | None = None,
        parent_otel_span: Any = None,
    ) -> list[dict]:
        """Keep the deployments of the model Aurea selects among ``healthy_deployments``."""
        if not self.route or len(healthy_deployments) < 2:
            return healthy_deployments
        try:
            by_name: dict[str, list[dict]] = {}
            for deployment in healthy_deployments:
                name = deployment_model(deployment) if isinstance(deployment, Mapping) else None
                if name is not None:
                    by_name.setdefault(name, []).append(deployment)
            if len(by_name) < 2:
                return healthy_deployments
            request = request_kwargs or {}
            task = task_label(
                (request.get(key) for key in METADATA_KEYS), request.get("tags") or ()
            )
            chosen = await asyncio.wait_for(
                asyncio.to_thread(self.select, list(by_name), task), self.select_timeout
            )
        except (TimeoutError, AureaError) as error:
            logger.info("Aurea gave no choice for %s (%s): LiteLLM chooses", model, error)
            return healthy_deployments
        except Exception:  # noqa: BLE001 - never into LiteLLM's routing
            logger.warning("Aurea routing hook failed for %s", model, exc_info=True)
            return healthy_deployments
        if chosen not in by_name:
            logger.info("Aurea chose %r, not one of %s: LiteLLM chooses", chosen, list(by_name))
            return healthy_deployments
        return by_name[chosen]

    def select(self, models: Sequence[str], task: str | None = None) -> str | None:
        """Aurea's choice among ``models`` (GET /router/select); raises AureaError."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = AureaClient(
                self.base_url, token=self.select_token, timeout=self.select_timeout, retries=0
            )
            self._local.client = client
        params = {**self.select_params, "models": list(models)}
        if task is not None:
            params["task"] = task
        return client.select(**params).get("selected_model")

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued (see BufferedReporter.close)."""
        return self.reporter.close(timeout)


class AureaRoutingStrategy(CustomRoutingStrategyBase):
    """Route every pick of ``router``, sync and async, by ``callback``'s selection.

    .. code-block:: python

        router.register_plugin(AureaRoutingStrategy(router, callback))

    LiteLLM calls ``get_available_deployment`` for ``Router.completion`` and
    ``async_get_available_deployment`` for ``acompletion``. Both take the Router's healthy
    deployments (``router.select(..., kind="healthy")``, which raises LiteLLM's own error when
    there are none), keep those of the model Aurea selects (``callback``'s
    ``async_filter_deployments``: all of them when Aurea cannot answer) and pick one with
    LiteLLM's ``simple_shuffle``. The sync pick runs that on the strategy's own event loop
    thread, since LiteLLM's healthy chain is async.
    """

    def __init__(self, router: Any, callback: AureaCallback) -> None:
        self.router = router
        self.callback = callback
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._loop_lock = threading.Lock()

    async def async_get_available_deployment(
        self,
        model: str,
        messages: list[dict[str, str]] | None = None,
        input: str | list | None = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict | None = None,
    ) -> dict:
        request = request_kwargs if request_kwargs is not None else {}
        healthy = await self.router.select(
            model,
            request,
            kind="healthy",
            messages=messages,
            input=input,
            specific_deployment=specific_deployment,
        )
        if isinstance(healthy, Mapping):  # a deployment named by its id, or specific_deployment
            return healthy
        # When the callback is in litellm.callbacks, the healthy chain has run its filter
        # already: what is left is one model's, and this asks Aurea nothing more.
        kept = await self.callback.async_filter_deployments(
            model=model,
            healthy_deployments=list(healthy),
            messages=messages,
            request_kwargs=request,
        )
        return simple_shuffle(self._alias, kept or list(healthy), model, request)

    def get_available_deployment(
        self,
        model: str,
        messages: list[dict[str, str]] | None = None,
        input: str | list | None = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict | None = None,
    ) -> dict:
        pick = self.async_get_available_deployment(
            model=model,
            messages=messages,
            input=input,
            specific_deployment=specific_deployment,
            request_kwargs=request_kwargs,
        )
        return self._run(pick)

    def close(self) -> None:
        """Stop the sync picks' event loop thread (a later sync pick starts another)."""
        with self._loop_lock:
            loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)

    def _alias(self, name: str) -> str | None:
        try:
            return self.router.registry().resolve(name, kind="alias")
        except Exception:  # noqa: BLE001 - an alias only scopes request weights
            return None

    def _run(self, coroutine: Coroutine[Any, Any, dict]) -> dict:
        """Run ``coroutine`` on this strategy's event loop thread and return what it returns.

        A sync pick made on that thread itself (a hook running on the loop that calls
        ``Router.completion``) would wait for its own loop forever: it runs on a loop of its
        own in a one-off thread instead.
        """
        with self._loop_lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="aurea-litellm-routing", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            loop, thread = self._loop, self._thread
        if threading.current_thread() is thread:
            return _run_in_new_thread(coroutine)
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


def _run_in_new_thread(coroutine: Coroutine[Any, Any, dict]) -> dict:
    """``asyncio.run(coroutine)`` on a new thread, waited for; its exception re-raised."""
    done: dict[str, Any] = {}

    def target() -> None:
        try:
            done["result"] = asyncio.run(coroutine)
        except BaseException as error:  # noqa: BLE001 - handed to the caller below
            done["error"] = error

    worker = threading.Thread(target=target, name="aurea-litellm-routing-nested", daemon=True)
    worker.start()
    worker.join()
    if "error" in done:
        raise done["error"]
    return done["result"]


def _seconds(start: Any, end: Any) -> float | None:
    if isinstance(start, datetime) and isinstance(end, datetime):
        seconds = (end - start).total_seconds()
    elif isinstance(start, int | float) and isinstance(end, int | float):
        seconds = float(end - start)
    else:
        return None
    return max(seconds, 0.0)


def _called_model(
    kwargs: Mapping[str, Any],
    params: Mapping[str, Any],
    metadatas: list[Any],
    logged: Mapping[str, Any],
) -> str | None:
    info = params.get("model_info") or {}
    named = info.get(MODEL_INFO_KEY) if isinstance(info, Mapping) else None
    if isinstance(named, str) and named:
        return named
    for metadata in metadatas:
        # A Router call: the deployment's litellm_params["model"], as the filter names it.
        if isinstance(metadata, Mapping) and isinstance(metadata.get("deployment"), str):
            return metadata["deployment"]
    for name in (logged.get("model"), kwargs.get("model")):
        if isinstance(name, str) and name:
            return name
    return None


def _request_id(kwargs: Mapping[str, Any], start_time: Any) -> str | None:
    """One key per LiteLLM call attempt: a hook that fires twice for it is counted once.

    The attempt's start (milliseconds, hex) leads, so the keys grow in time like the
    reporter's own UUIDv7 ones; LiteLLM's ``litellm_call_id`` (one per attempt) follows.
    """
    call_id = kwargs.get("litellm_call_id")
    if not isinstance(call_id, str) or not call_id or len(call_id) > 100:
        return None
    started = start_time.timestamp() if isinstance(start_time, datetime) else start_time
    if not isinstance(started, int | float):
        return None
    return f"{int(started * 1000):012x}-{call_id}"
