"""PutRecords: partial failures resend only the failed entries, nothing is lost or doubled;
puts run behind the capture, in order, with a bounded queue, and a failure reaches the capture."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from consumers.capture.kinesis_sink import IN_FLIGHT, MAX_RECORDS, KinesisSink
from consumers.capture.messages import Record
from consumers.errors import TerminalError, TransientError


class FlakyKinesis:
    """Fails every other entry of each call, `failures` times over."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.accepted: list[bytes] = []
        self.calls = 0

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        out = []
        for i, r in enumerate(Records):
            if self.failures > 0 and i % 2 == 0:
                out.append({"ErrorCode": "ProvisionedThroughputExceededException"})
            else:
                self.accepted.append(r["Data"])
                out.append({"SequenceNumber": "1", "ShardId": "shardId-000000000000"})
        self.failures -= 1
        return {"FailedRecordCount": sum("ErrorCode" in o for o in out), "Records": out}


def _records(n: int) -> list[Record]:
    return [Record("public.t", str(i), f"r{i}".encode()) for i in range(n)]


def test_failed_entries_are_retried_until_accepted():
    client = FlakyKinesis(failures=3)
    sink = KinesisSink(client, "s")
    for r in _records(1200):  # more than one 500-record request
        sink.add(r)
    sink.flush()
    assert sorted(client.accepted) == sorted(r.data for r in _records(1200))
    assert sink.put["public.t"] == 1200 and not sink.buffer


def test_persistent_rejection_is_a_transient_error():
    sink = KinesisSink(FlakyKinesis(failures=10**6), "s", attempts=3)
    sink.add(_records(1)[0])
    with pytest.raises(TransientError, match="kept rejecting"):
        sink.flush()


def test_a_record_over_one_mib_is_refused_with_the_fix():
    sink = KinesisSink(FlakyKinesis(0), "s")
    with pytest.raises(TerminalError, match="1 MiB"):
        sink.add(Record("public.t", "k", b"x" * (1024 * 1024)))


class GatedKinesis:
    """Accepts everything, in call order, each call waiting until `gate` is open."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[list[bytes]] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        assert self.gate.wait(10), "the test never opened the gate"
        self.calls.append([r["Data"] for r in Records])
        n = sum(len(c) for c in self.calls)
        return {
            "FailedRecordCount": 0,
            "Records": [
                {"SequenceNumber": str(n - len(Records) + i), "ShardId": "shardId-000000000000"}
                for i in range(len(Records))
            ],
        }


def test_the_capture_fills_the_next_batches_while_a_put_is_on_the_wire():
    client = GatedKinesis()
    sink = KinesisSink(client, "s")
    records = _records(MAX_RECORDS * (IN_FLIGHT + 1))  # one on the wire, IN_FLIGHT waiting
    for r in records:
        sink.add(r)  # returns although no put has completed: the gate is shut
    flushed = threading.Event()
    flusher = threading.Thread(target=lambda: (sink.flush(), flushed.set()))
    flusher.start()
    assert not flushed.wait(0.3)  # flush waits for Kinesis to accept everything
    client.gate.set()
    flusher.join(10)
    assert flushed.is_set()
    assert [d for call in client.calls for d in call] == [r.data for r in records]  # in order
    assert [len(c) for c in client.calls] == [MAX_RECORDS] * (IN_FLIGHT + 1)
    assert sink.last_sequence == {"shardId-000000000000": len(records) - 1}


def test_a_full_queue_holds_the_capture_back():
    client = GatedKinesis()
    sink = KinesisSink(client, "s")
    adder = threading.Thread(
        target=lambda: [sink.add(r) for r in _records(MAX_RECORDS * (IN_FLIGHT + 3))]
    )
    adder.start()
    adder.join(0.5)
    assert adder.is_alive()  # memory stays bounded: at most IN_FLIGHT batches wait
    client.gate.set()
    adder.join(10)
    sink.flush()
    assert sum(len(c) for c in client.calls) == MAX_RECORDS * (IN_FLIGHT + 3)


def test_after_a_failed_put_nothing_more_is_sent_and_the_capture_hears_of_it():
    client = FlakyKinesis(failures=10**6)  # rejects every other entry, always
    sink = KinesisSink(client, "s", attempts=2)
    with pytest.raises(TransientError, match="kept rejecting"):
        for r in _records(MAX_RECORDS * 6):
            sink.add(r)
        sink.flush()
    assert client.calls == 2  # the first batch's two attempts; no later batch was sent
    with pytest.raises(TransientError, match="kept rejecting"):
        sink.flush()  # and a later flush never reports success
