"""PutRecords partial failures: only the failed entries are resent, nothing is lost or doubled."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.capture.kinesis_sink import KinesisSink
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
