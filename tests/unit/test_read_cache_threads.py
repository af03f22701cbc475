"""The per-worker read cache under gunicorn's threads: one computation, no stale keeps."""

import threading
import time

from aurea.storage.cache import MAX_ENTRIES, ReadCache


def test_threads_missing_the_same_key_compute_it_once():
    cache = ReadCache(60.0)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return "answer"

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == ["answer"] * 8
    assert len(calls) == 1


def test_a_value_read_before_a_clear_is_not_kept():
    cache = ReadCache(60.0)

    def compute_while_another_thread_writes():
        cache.clear()  # a commit by another thread, while this value was being computed
        return "read before the write"

    assert cache.get_or_compute("k", compute_while_another_thread_writes) == "read before the write"
    assert cache.get("k") is None
    assert cache.get_or_compute("k", lambda: "fresh") == "fresh"
    assert cache.get("k") == "fresh"


def test_entries_expire_after_the_ttl():
    cache = ReadCache(1.0)
    now = [100.0]
    cache.clock = lambda: now[0]
    cache.put("k", "v")
    assert cache.get("k") == "v"
    now[0] += 1.5
    assert cache.get("k") is None


def test_a_zero_ttl_keeps_nothing():
    cache = ReadCache(0.0)
    cache.put("k", "v")
    assert cache.get("k") is None
    assert cache.get_or_compute("k", lambda: "computed") == "computed"


def test_a_value_read_from_a_snapshot_older_than_the_last_clear_is_not_kept():
    began = {"generation": 0}
    cache = ReadCache(60.0, snapshot=lambda: began["generation"])
    cache.clear()  # a write committed after this thread's read transaction began
    assert cache.get_or_compute("k", lambda: "from the old snapshot") == "from the old snapshot"
    assert cache.get("k") is None
    began["generation"] = cache.generation  # a transaction begun after the write
    cache.get_or_compute("k", lambda: "fresh")
    assert cache.get("k") == "fresh"


def test_a_value_derived_from_another_expires_with_it():
    cache = ReadCache(10.0)
    now = [0.0]
    cache.clock = lambda: now[0]
    cache.put("inputs", "i")
    now[0] = 8.0
    cache.put("answer", "a", expires=cache.expires_at("inputs"))
    now[0] = 10.5
    assert cache.get("inputs") is None and cache.get("answer") is None


def test_a_full_cache_drops_expired_entries_first_then_only_the_least_recently_used():
    cache = ReadCache(10.0)
    now = [0.0]
    cache.clock = lambda: now[0]
    cache.put("short-lived", "s", expires=1.0)
    for i in range(MAX_ENTRIES - 1):
        cache.put(i, i)

    def kept(key) -> bool:  # without reading it, which would count as a use
        return cache.expires_at(key) is not None

    now[0] = 2.0  # "short-lived" has expired: it makes the room
    cache.put("new", "n")
    assert kept("new") and all(kept(i) for i in range(MAX_ENTRIES - 1))
    cache.put("newer", "n2")  # nothing expired: only the least recently used entry goes
    assert not kept(0)
    assert kept("new") and kept("newer") and all(kept(i) for i in range(1, MAX_ENTRIES - 1))


def test_a_value_put_again_or_read_counts_as_just_used_when_room_is_made():
    cache = ReadCache(10.0)
    for i in range(MAX_ENTRIES):
        cache.put(i, i)
    cache.put(0, "again")
    assert cache.get(1) == 1  # e.g. the inputs every select answer is built from
    cache.put("new", "n")
    cache.put("newer", "n")
    assert cache.get(0) == "again" and cache.get(1) == 1
    assert cache.get(2) is None and cache.get(3) is None


def test_the_shared_inputs_survive_many_distinct_answers_that_read_them():
    cache = ReadCache(10.0)
    cache.put("inputs", "i")
    for i in range(3 * MAX_ENTRIES):  # each distinct query reads the inputs, then is kept
        assert cache.get("inputs") == "i"
        cache.put(("answer", i), i)
    assert cache.get("inputs") == "i"
