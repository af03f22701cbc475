"""aurea_client.litellm with the real litellm package and its mock responses (no network),
against Aurea under gunicorn on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import litellm
import pytest
import sqlalchemy as sa
from aurea_client import AureaClient
from aurea_client.litellm import (
    AureaCallback,
    AureaRoutingStrategy,
    deployment_model,
    task_label,
)

from aurea.storage.extensions import db
from tests.support.server import free_port
from tests.support.tcp_proxy import TcpProxy

# The Router follows a deterministic choice: the seed's weighted mode (utility mode draws).
pytestmark = [pytest.mark.slow, pytest.mark.weighted_objective]

HELLO = [{"role": "user", "content": "hello"}]


def stored(live_aurea, model: str) -> list[dict]:
    with live_aurea.app.app_context():
        rows = db.session.execute(
            sa.text(
                "SELECT model, latency, cost, success, task, request_id FROM request_metrics "
                "WHERE model = :model ORDER BY id"
            ),
            {"model": model},
        )
        found = [dict(row._mapping) for row in rows]
        db.session.remove()
    return found


def wait_for_rows(live_aurea, callback: AureaCallback, model: str, count: int) -> list[dict]:
    """LiteLLM runs its hooks after the call returns (async ones on its logging worker)."""
    deadline = time.monotonic() + 30
    rows = stored(live_aurea, model)
    while len(rows) < count and time.monotonic() < deadline:
        callback.reporter.flush(timeout=5)
        time.sleep(0.05)
        rows = stored(live_aurea, model)
    return rows


@pytest.fixture
def installed():
    """Install callbacks as litellm.callbacks for one test, then put the list back."""
    saved = list(litellm.callbacks)
    made: list[AureaCallback] = []

    def install(callback: AureaCallback) -> AureaCallback:
        made.append(callback)
        litellm.callbacks = [callback]
        return callback

    yield install
    for callback in made:
        # LiteLLM copies litellm.callbacks into its success and failure lists, and skips a
        # callback whose settings equal one there: take it out of all of them.
        litellm.logging_callback_manager.remove_callback_from_all_lists(callback)
        callback.close(1)  # what a test needs it waited for; an unreachable URL would retry
    litellm.callbacks = saved


@pytest.fixture
def admin(live_aurea) -> AureaClient:
    with AureaClient(live_aurea.base_url, token=live_aurea.tokens["admin"]) as client:
        yield client


def router(*names: str) -> litellm.Router:
    """A Router with one model group, "chat": a deployment per name, each answering its name."""
    return litellm.Router(
        model_list=[
            {
                "model_name": "chat",
                "litellm_params": {"model": "openai/gpt-4o-mini", "mock_response": name},
                "model_info": {"id": name, "aurea_model": name},
            }
            for name in names
        ]
    )


def reported(callback: AureaCallback) -> int:
    """How many outcomes the callback's hooks have handed to its reporter so far."""
    r = callback.reporter
    return r.queued + r.sent + r.dropped + r.rejected + r.failed


async def hooks_ran(count: int) -> None:
    """Keep the event loop alive until LiteLLM's logging worker has run ``count`` more hooks
    of the installed callback (asyncio.run would cancel them when the loop ends)."""
    (callback,) = litellm.callbacks
    deadline = time.monotonic() + 30
    while reported(callback) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def answers(routed: litellm.Router, count: int, **request) -> list[str]:
    async def ask() -> list[str]:
        (callback,) = litellm.callbacks
        before = reported(callback)
        said = []
        for _ in range(count):
            response = await routed.acompletion(model="chat", messages=HELLO, **request)
            said.append(response.choices[0].message.content)
        await hooks_ran(before + count)
        return said

    return asyncio.run(ask())


def test_completion_calls_appear_as_rows_successes_and_failures(live_aurea, installed):
    callback = installed(AureaCallback(live_aurea.base_url, live_aurea.tokens["recorder"]))
    for _ in range(3):
        litellm.completion(
            model="openai/gpt-4o", messages=HELLO, mock_response="hi", metadata={"aurea_task": "qa"}
        )
    with pytest.raises(litellm.exceptions.InternalServerError):
        litellm.completion(model="openai/gpt-4o", messages=HELLO, mock_response=Exception("down"))
    # LiteLLM runs sync success hooks on a thread pool: in no particular order.
    rows = sorted(wait_for_rows(live_aurea, callback, "gpt-4o", 4), key=lambda r: -r["success"])
    assert [bool(row["success"]) for row in rows] == [True, True, True, False]
    assert [row["task"] for row in rows] == ["qa", "qa", "qa", None]
    assert all(row["cost"] > 0 for row in rows[:3]) and rows[3]["cost"] == 0.0
    assert all(row["latency"] >= 0 for row in rows)
    assert len({row["request_id"] for row in rows}) == 4
    assert callback.reporter.failed == callback.reporter.rejected == 0


def test_async_calls_are_reported_with_the_task_from_a_tag(live_aurea, installed):
    callback = installed(AureaCallback(live_aurea.base_url, live_aurea.tokens["recorder"]))

    async def calls() -> None:
        await litellm.acompletion(
            model="openai/gpt-4.1-mini",
            messages=HELLO,
            mock_response="hi",
            metadata={"tags": ["team:x", "task:summarize"]},
        )
        with pytest.raises(litellm.exceptions.InternalServerError):
            await litellm.acompletion(
                model="openai/gpt-4.1-mini", messages=HELLO, mock_response=Exception("x")
            )
        await hooks_ran(2)

    asyncio.run(calls())
    rows = wait_for_rows(live_aurea, callback, "gpt-4.1-mini", 2)
    # The success hook runs on LiteLLM's logging worker, maybe after the failure's.
    found = sorted((bool(row["success"]), row["task"] or "") for row in rows)
    assert found == [(False, ""), (True, "summarize")]


def test_a_router_calls_the_deployment_aurea_selects(live_aurea, installed, admin):
    # Globally ll-b is faster and cheaper; on the task "code" ll-a is. (No failures: a model
    # failing half its calls would cool down.)
    for _ in range(5):
        admin.record("ll-a", 3.0, 0.08, True)
        admin.record("ll-b", 0.2, 0.001, True)
    for _ in range(3):
        admin.record("ll-a", 0.1, 0.0005, True, task="code")
        admin.record("ll-b", 3.0, 0.08, True, task="code")
    assert admin.select(models=["ll-a", "ll-b"])["selected_model"] == "ll-b"
    assert admin.select(models=["ll-a", "ll-b"], task="code")["selected_model"] == "ll-a"
    callback = installed(AureaCallback(live_aurea.base_url, live_aurea.tokens["admin"]))
    routed = router("ll-a", "ll-b")
    assert answers(routed, 10) == ["ll-b"] * 10
    assert answers(routed, 10, metadata={"aurea_task": "code"}) == ["ll-a"] * 10
    # The callback recorded each call under the deployment's Aurea name.
    rows = wait_for_rows(live_aurea, callback, "ll-a", 8 + 10)
    assert [row["task"] for row in rows].count("code") == 3 + 10
    rows = wait_for_rows(live_aurea, callback, "ll-b", 8 + 10)
    assert sum(row["task"] is None for row in rows) == 5 + 10


def test_a_router_keeps_its_own_choice_when_aurea_is_down_or_refuses(live_aurea, installed, admin):
    for _ in range(3):
        admin.record("ll-down-a", 2.0, 0.05, True)
        admin.record("ll-down-b", 0.2, 0.001, True)
    port = int(live_aurea.base_url.rsplit(":", 1)[1])
    with TcpProxy("127.0.0.1", port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        installed(AureaCallback(url, live_aurea.tokens["admin"], select_timeout=0.3))
        routed = router("ll-down-a", "ll-down-b")
        assert answers(routed, 5) == ["ll-down-b"] * 5  # Aurea decides while it is up
        for outage in (proxy.refuse, proxy.black_hole):
            outage()
            said = answers(routed, 24)
            # LiteLLM's own shuffle over both: all 24 on one would be a 1 in 8 million chance.
            assert set(said) == {"ll-down-a", "ll-down-b"}, outage.__name__
        proxy.restore()
        assert answers(routed, 5) == ["ll-down-b"] * 5
    refused = installed(AureaCallback(live_aurea.base_url, "aurea_not-a-token"))
    assert set(answers(routed, 24)) == {"ll-down-a", "ll-down-b"}  # select answered 401
    deadline = time.monotonic() + 30
    while refused.reporter.rejected < 24 and time.monotonic() < deadline:
        refused.reporter.flush(timeout=1)
    assert refused.reporter.rejected == 24  # its records got 401 too: counted, never raised


def routed_sync(*names: str, callback: AureaCallback) -> litellm.Router:
    """A router() whose picks, sync ones included, go through an AureaRoutingStrategy."""
    routed = router(*names)
    routed.register_plugin(AureaRoutingStrategy(routed, callback))
    return routed


def sync_answers(routed: litellm.Router, count: int, **request) -> list[str]:
    said = []
    for _ in range(count):
        response = routed.completion(model="chat", messages=HELLO, **request)
        said.append(response.choices[0].message.content)
    return said


def test_a_routers_sync_completion_calls_the_deployment_aurea_selects(live_aurea, installed, admin):
    # As above: globally ll-sync-b is better, on the task "code" ll-sync-a is.
    for _ in range(5):
        admin.record("ll-sync-a", 3.0, 0.08, True)
        admin.record("ll-sync-b", 0.2, 0.001, True)
    for _ in range(3):
        admin.record("ll-sync-a", 0.1, 0.0005, True, task="code")
        admin.record("ll-sync-b", 3.0, 0.08, True, task="code")
    callback = installed(AureaCallback(live_aurea.base_url, live_aurea.tokens["admin"]))
    routed = routed_sync("ll-sync-a", "ll-sync-b", callback=callback)
    assert sync_answers(routed, 10) == ["ll-sync-b"] * 10
    assert sync_answers(routed, 10, metadata={"aurea_task": "code"}) == ["ll-sync-a"] * 10
    # The strategy picks the async calls too.
    assert answers(routed, 5) == ["ll-sync-b"] * 5
    assert answers(routed, 5, metadata={"aurea_task": "code"}) == ["ll-sync-a"] * 5
    # A deployment asked for by its id is the one called.
    response = routed.completion(model="ll-sync-a", messages=HELLO)
    assert response.choices[0].message.content == "ll-sync-a"
    rows = wait_for_rows(live_aurea, callback, "ll-sync-a", 8 + 10 + 5 + 1)
    assert [row["task"] for row in rows].count("code") == 3 + 10 + 5


def test_a_sync_pick_made_on_the_strategys_own_loop_thread_does_not_deadlock(
    live_aurea, installed, admin
):
    for _ in range(3):
        admin.record("ll-nested-a", 2.0, 0.05, True)
        admin.record("ll-nested-b", 0.2, 0.001, True)
    callback = installed(AureaCallback(live_aurea.base_url, live_aurea.tokens["admin"]))
    routed = router("ll-nested-a", "ll-nested-b")
    strategy = AureaRoutingStrategy(routed, callback)
    routed.register_plugin(strategy)
    assert sync_answers(routed, 1) == ["ll-nested-b"]  # starts the strategy's loop thread

    async def sync_completion_on_the_loop() -> str:
        # A hook running on that loop that calls the sync API: its pick must not wait for
        # the loop it is blocking.
        response = routed.completion(model="chat", messages=HELLO)
        return response.choices[0].message.content

    nested = asyncio.run_coroutine_threadsafe(sync_completion_on_the_loop(), strategy._loop)
    assert nested.result(timeout=30) == "ll-nested-b"
    assert sync_answers(routed, 3) == ["ll-nested-b"] * 3  # the loop thread still serves
    strategy.close()


def test_a_routers_sync_completion_keeps_its_own_choice_when_aurea_is_down(
    live_aurea, installed, admin
):
    for _ in range(3):
        admin.record("ll-sync-down-a", 2.0, 0.05, True)
        admin.record("ll-sync-down-b", 0.2, 0.001, True)
    port = int(live_aurea.base_url.rsplit(":", 1)[1])
    with TcpProxy("127.0.0.1", port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        callback = installed(AureaCallback(url, live_aurea.tokens["admin"], select_timeout=0.3))
        routed = routed_sync("ll-sync-down-a", "ll-sync-down-b", callback=callback)
        assert sync_answers(routed, 5) == ["ll-sync-down-b"] * 5
        for outage in (proxy.refuse, proxy.black_hole):
            outage()
            said = sync_answers(routed, 24)
            assert set(said) == {"ll-sync-down-a", "ll-sync-down-b"}, outage.__name__
        proxy.restore()
        assert sync_answers(routed, 5) == ["ll-sync-down-b"] * 5
    refused = installed(AureaCallback(live_aurea.base_url, "aurea_not-a-token"))
    routed = routed_sync("ll-sync-down-a", "ll-sync-down-b", callback=refused)
    assert set(sync_answers(routed, 24)) == {"ll-sync-down-a", "ll-sync-down-b"}  # 401


def test_an_unreachable_aurea_never_fails_a_completion(installed):
    callback = installed(AureaCallback(f"http://127.0.0.1:{free_port()}", "t", retry_for=0))
    response = litellm.completion(model="openai/gpt-4o", messages=HELLO, mock_response="fine")
    assert response.choices[0].message.content == "fine"
    deadline = time.monotonic() + 10
    while callback.reporter.failed == 0 and time.monotonic() < deadline:
        callback.reporter.flush(timeout=1)
    assert callback.reporter.failed == 1  # given up, counted, not raised


def test_names_and_task_labels_are_read_from_deployments_and_metadata():
    assert deployment_model({"litellm_params": {"model": "openai/gpt-4o"}}) == "openai/gpt-4o"
    named = {"litellm_params": {"model": "azure/gpt-4o"}, "model_info": {"aurea_model": "eu"}}
    assert deployment_model(named) == "eu"
    assert task_label([{"aurea_task": "code"}], ["task:other"]) == "code"
    assert task_label([None, {"tags": ["a", "task:sql"]}]) == "sql"
    assert task_label([{}], ["task:", "task: qa "]) == "qa"
    assert task_label([{"tags": "task:x"}]) is None  # a string is not a list of tags
