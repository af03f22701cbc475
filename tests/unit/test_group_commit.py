"""Group commit without a database: who writes, what each waiting request gets back."""

import threading
import time

import pytest

from aurea.services.group_commit import GroupCommit, GroupWaitTimeout, Job
from tests.support.queued import run_queued


def start_queued(gc, jobs, write):
    """Hold the write lock while the jobs queue up, then let them go; return their outcomes."""
    return run_queued(gc, [lambda job=job: gc.submit(job, write) for job in jobs])


def test_jobs_queued_behind_a_commit_are_written_together_by_one_thread():
    groups = []

    def write(take):
        group = take()
        groups.append([job.records for job in group])
        for job in group:
            job.finish([f"stored {r}" for r in job.records])

    jobs = [Job([f"r{i}a", f"r{i}b"], batch=True) for i in range(6)]
    outcomes = start_queued(GroupCommit(), jobs, write)
    assert len(groups) == 1 and len(groups[0]) == 6
    assert outcomes == [[f"stored r{i}a", f"stored r{i}b"] for i in range(6)]


def test_a_job_refused_on_its_own_fails_alone():
    def write(take):
        group = take()
        for job in group:
            if job.records == ["bad"]:
                job.finish(error=ValueError("bad record"))
            else:
                job.finish(["ok"])

    outcomes = start_queued(GroupCommit(), [Job(["good"], False), Job(["bad"], False)], write)
    assert outcomes[0] == ["ok"]
    assert isinstance(outcomes[1], ValueError)


def test_a_failed_transaction_fails_every_job_of_its_group_and_the_next_group_runs():
    calls = []

    def write(take):
        group = take()
        calls.append(len(group))
        if len(calls) == 1:
            raise ConnectionError("database gone")
        for job in group:
            job.finish(["ok"])

    gc = GroupCommit()
    outcomes = start_queued(gc, [Job([i], False) for i in range(3)], write)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert gc.submit(Job(["later"], False), write) == ["ok"]
    assert not gc.pending


def test_a_job_refused_before_the_transaction_failed_keeps_its_own_error():
    def write(take):
        group = take()
        group[0].finish(error=ValueError("refused on its own"))
        raise ConnectionError("database gone")

    outcomes = start_queued(GroupCommit(), [Job([i], False) for i in range(3)], write)
    kinds = sorted(type(o).__name__ for o in outcomes)
    assert kinds == ["ConnectionError", "ConnectionError", "ValueError"]


def test_a_writer_that_forgets_a_job_does_not_leave_it_waiting():
    def write(take):
        group = take()
        group[0].finish(["only the first"])

    outcomes = start_queued(GroupCommit(), [Job([1], False), Job([2], False)], write)
    finished = [o for o in outcomes if o == ["only the first"]]
    forgotten = [o for o in outcomes if isinstance(o, RuntimeError)]
    assert len(finished) == 1 and len(forgotten) == 1


def test_one_thread_alone_writes_its_own_job():
    gc = GroupCommit()
    assert gc.submit(Job(["x"], False), lambda take: take()[0].finish(["done"])) == ["done"]
    assert gc.largest_group == 1


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_submitters_each_get_their_own_statuses(threads):
    def write(take):
        group = take()
        time.sleep(0.002)  # a commit's flush: others queue behind it
        for job in group:
            job.finish([f"{r}!" for r in job.records])

    gc = GroupCommit()
    results = {}

    def worker(n):
        for k in range(20):
            results[(n, k)] = gc.submit(Job([f"{n}-{k}"], False), write)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(10)
    assert results == {(n, k): [f"{n}-{k}!"] for n in range(threads) for k in range(20)}


def test_jobs_arriving_while_the_writer_waits_for_the_database_join_its_group():
    gc = GroupCommit()
    waiting, groups = threading.Event(), []

    def write(take):
        waiting.set()
        time.sleep(0.2)  # another worker holds the database's write lock
        group = take()
        groups.append(len(group))
        for job in group:
            job.finish(["ok"])

    late = []

    def latecomer():
        waiting.wait(5)
        late.append(gc.submit(Job(["late"], False), write))

    helper = threading.Thread(target=latecomer)
    helper.start()
    assert gc.submit(Job(["first"], False), write) == ["ok"]
    helper.join(5)
    assert late == [["ok"]]
    assert groups == [2]


def test_a_writer_failing_before_it_takes_the_queue_fails_only_its_own_job():
    gc = GroupCommit()
    queued = Job(["queued"], False)
    gc.pending.append(queued)  # submitted by a thread that waits for the write lock

    def write(take):
        raise TimeoutError("the database's lock never came")

    with pytest.raises(TimeoutError):
        gc.submit(Job(["own"], False), write)
    assert gc.pending == [queued] and not queued.done


def test_a_writer_that_never_takes_the_queue_does_not_leave_its_job_waiting():
    gc = GroupCommit()
    with pytest.raises(RuntimeError):
        gc.submit(Job(["own"], False), lambda take: None)
    assert not gc.pending


def test_a_job_still_queued_when_its_budget_runs_out_is_withdrawn_and_never_written():
    written = []

    def write(take):
        for job in take():
            written.append(job.records)
            job.finish(["ok"])

    gc = GroupCommit()
    gc.write_lock.acquire()  # another request's group is being written
    started = time.monotonic()
    with pytest.raises(GroupWaitTimeout):
        gc.submit(Job(["late"], False), write, timeout=0.05)
    assert 0.05 <= time.monotonic() - started < 1
    assert gc.pending == []
    gc.write_lock.release()
    assert gc.submit(Job(["next"], False), write) == ["ok"]
    assert written == [["next"]]


def test_a_job_taken_by_the_group_being_written_waits_for_that_commit_past_its_budget():
    gc = GroupCommit()
    writing, taken, go_on = threading.Event(), threading.Event(), threading.Event()

    def slow_write(take):
        writing.set()
        deadline = time.monotonic() + 5
        while len(gc.pending) < 2 and time.monotonic() < deadline:  # the follower queued
            time.sleep(0.001)
        group = take()
        taken.set()
        go_on.wait(5)  # the commit outlasts the follower's budget
        for job in group:
            job.finish(["committed"])

    outcomes = {}

    def submit(name, **timeout):
        outcomes[name] = gc.submit(Job([name], False), slow_write, **timeout)

    leader = threading.Thread(target=submit, args=("leader",))
    leader.start()
    assert writing.wait(5)
    follower = threading.Thread(target=submit, args=("follower",), kwargs={"timeout": 0.05})
    follower.start()
    assert taken.wait(5)
    time.sleep(0.2)  # well past its 0.05 s budget: still waiting for the commit
    assert "follower" not in outcomes and follower.is_alive()
    go_on.set()
    follower.join(5)
    leader.join(5)
    assert outcomes == {"leader": ["committed"], "follower": ["committed"]}
