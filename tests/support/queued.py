"""Start work in threads while a group-commit write lock is held, so it all queues up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def run_queued(gc, calls: list[Callable[[], object]]) -> list[object]:
    """Run each call in a thread behind ``gc``'s held write lock; return results or errors.

    The lock is released once every call's job is pending, so one thread writes them all.
    """
    outcomes: dict[int, object] = {}

    def run(i: int, call: Callable[[], object]) -> None:
        try:
            outcomes[i] = call()
        except Exception as error:  # noqa: BLE001 - the caller inspects it
            outcomes[i] = error

    gc.write_lock.acquire()
    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(gc.pending) < len(calls) and time.monotonic() < deadline:
        time.sleep(0.001)
    gc.write_lock.release()
    for t in threads:
        t.join(10)
    return [outcomes[i] for i in range(len(calls))]
