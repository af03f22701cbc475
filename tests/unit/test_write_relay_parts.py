"""The write relay's pure parts: frames, records on the wire, when a relay runs and where."""

import stat
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from aurea.services.records import Record
from aurea.services.write_relay import (
    MAX_FRAME,
    MAX_SOCKET_PATH,
    decode_records,
    encode_records,
    frame,
    relay_paths,
    relay_wanted,
    unframe,
    unsafe_directory,
)


def test_frames_split_anywhere_come_out_whole_and_in_order():
    messages = [{"n": i, "records": [["gpt-4", 0.5, 0.01, True]] * i} for i in range(4)]
    stream = b"".join(frame(m) for m in messages)
    for cut in range(len(stream) + 1):
        buffer = bytearray(stream[:cut])
        received = unframe(buffer)
        buffer += stream[cut:]
        received += unframe(buffer)
        assert received == messages
        assert buffer == b""


def test_a_frame_announcing_more_than_the_limit_is_refused():
    buffer = bytearray((MAX_FRAME + 1).to_bytes(4, "big") + b"{}")
    with pytest.raises(ValueError, match="frame of"):
        unframe(buffer)


def test_records_cross_the_wire_unchanged():
    records = [
        Record("gpt-4", 0.25, 0.001, True),
        Record("claude", 1.5, 0.02, False, task="chat", request_id="call-7"),
        Record("llama", 3.0, 0.0, True, at=datetime(2026, 6, 15, 9, 30, tzinfo=UTC)),
        Record(
            "llama",
            3.0,
            0.0,
            True,
            at=datetime(2026, 6, 15, 11, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
    ]
    assert decode_records(encode_records(records)) == records


@pytest.mark.parametrize(
    "setting, url, wanted",
    [
        ("auto", "postgresql+psycopg://u@h/db", True),
        ("auto", "sqlite:////srv/aurea.db", False),
        ("on", "sqlite:////srv/aurea.db", True),
        ("on", "sqlite://", False),  # in memory: a database of its own per process
        ("off", "postgresql+psycopg://u@h/db", False),
    ],
)
def test_a_relay_runs_where_the_setting_and_the_database_call_for_one(setting, url, wanted):
    assert relay_wanted(setting, sa.create_engine(url)) is wanted


def test_each_database_gets_its_own_socket_and_a_too_long_path_gets_none(tmp_path):
    lock, sock = relay_paths("/run/aurea", "postgresql+psycopg://u@h/one")
    assert lock.startswith("/run/aurea/relay-") and lock.endswith(".lock")
    assert sock == lock[: -len(".lock")] + ".sock"
    assert relay_paths("/run/aurea", "postgresql+psycopg://u@h/two")[1] != sock
    assert relay_paths("/" + "d" * MAX_SOCKET_PATH, "sqlite:////srv/aurea.db") is None


def test_a_folder_other_users_may_write_to_is_refused(tmp_path):
    private = tmp_path / "private"
    assert unsafe_directory(str(private)) is None  # created, for this user only
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert unsafe_directory(str(shared)) == "is writable by other users"
