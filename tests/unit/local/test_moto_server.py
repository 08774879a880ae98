"""The launcher's replacements return what moto's own methods return, on real moto shards."""

from __future__ import annotations

import base64

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.kinesis import models, responses

from consumers.local import moto_server


def test_sequence_number_lookups_are_unchanged():
    original_max = models.Shard.get_max_sequence_number
    original_min = models.Shard.get_min_sequence_number
    shard = models.Shard(0, 0, 2**128)
    assert (moto_server._last_key(shard), moto_server._first_key(shard)) == (
        original_max(shard),
        original_min(shard),
    )
    for i in range(5):
        shard.put_record(str(i), "data", None)  # uses whichever implementation is installed
    assert (
        (moto_server._last_key(shard), moto_server._first_key(shard))
        == (
            original_max(shard),
            original_min(shard),
        )
        == (5, 1)
    )


def test_get_records_by_key_returns_what_motos_walk_returns():
    walk = models.Shard.get_records  # moto's own (this process never patches it)
    by_key = moto_server._records_after(walk)
    shard = models.Shard(0, 0, 2**128)
    assert by_key(shard, "0", 10) == walk(shard, "0", 10) == ([], 0, 0)
    for i in range(40):
        models.Shard.put_record(shard, str(i), "ZGF0YQ==", None)
    for position in ("0", "1", "7", "39", "40", "55"):
        for limit in (None, 1, 5, 10_000):  # Limit is 1..10000 or absent (API reference)
            got, want = by_key(shard, position, limit), walk(shard, position, limit)
            assert [r.sequence_number for r in got[0]] == [r.sequence_number for r in want[0]]
            assert got[1:] == want[1:], (position, limit)
    # Keys that are not consecutive (never made by moto's put): moto's own walk answers.
    del shard.records[20]
    assert [r.sequence_number for r in by_key(shard, "18", 3)[0]] == [19, 21, 22]


def test_get_records_answer_is_what_motos_serializer_writes(monkeypatch):
    """Through boto3 and moto's request handling (in process): the same parsed answer, at
    several limits, and the same error for an iterator of a stream that does not exist."""

    def read(kinesis, shard, limit):
        iterator = kinesis.get_shard_iterator(
            StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        answer = kinesis.get_records(ShardIterator=iterator, Limit=limit)
        answer.pop("ResponseMetadata")
        return answer

    def error(kinesis):
        with pytest.raises(ClientError) as e:
            kinesis.get_records(ShardIterator=iterator_of_missing_stream)
        return e.value.response["Error"]

    iterator_of_missing_stream = base64.b64encode(b"gone:shardId-000000000000:0").decode()
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="eu-west-2")
        kinesis.create_stream(StreamName="s", ShardCount=1)
        for _ in range(3):  # arrival times a few milliseconds apart
            kinesis.put_records(
                StreamName="s",
                Records=[
                    {"Data": bytes(range(i)) + b"\xff", "PartitionKey": f"k{i}"} for i in range(9)
                ],
            )
        shard = kinesis.list_shards(StreamName="s")["Shards"][0]["ShardId"]
        want = [read(kinesis, shard, n) for n in (1, 7, 100)]
        want_error = error(kinesis)
        monkeypatch.setattr(
            responses.KinesisResponse, "get_records", moto_server._get_records_response
        )
        got = [read(kinesis, shard, n) for n in (1, 7, 100)]
        got_error = error(kinesis)
    assert [len(a["Records"]) for a in got] == [1, 7, 27]
    assert got == want
    assert got_error == want_error


def test_put_records_answer_is_what_motos_serializer_writes(monkeypatch):
    def put(kinesis, stream):
        records = [{"Data": b"x" * i, "PartitionKey": f"k{i}"} for i in range(1, 30)]
        try:
            answer = kinesis.put_records(StreamName=stream, Records=records)
        except ClientError as e:
            return e.response["Error"]
        answer.pop("ResponseMetadata")
        return answer

    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="eu-west-2")
        for name in ("a", "b"):
            kinesis.create_stream(StreamName=name, ShardCount=2)
        want = [put(kinesis, "a"), put(kinesis, "missing")]
        monkeypatch.setattr(
            responses.KinesisResponse, "put_records", moto_server._put_records_response
        )
        got = [put(kinesis, "b"), put(kinesis, "missing")]
    assert len(got[0]["Records"]) == 29 and got[0]["FailedRecordCount"] == 0
    assert got == want  # same sequence numbers and shards: each stream starts from empty


def test_after_a_split_puts_go_to_the_children_and_the_parent_keeps_its_records(monkeypatch):
    monkeypatch.setattr(
        models.Stream, "get_shard_for_key",
        moto_server._open_shards_first(models.Stream.get_shard_for_key),
    )  # fmt: skip
    monkeypatch.setattr(
        models.Stream, "split_shard", moto_server._resharding_as_moto(models.Stream.split_shard)
    )

    def sequences(kinesis, shard_id):
        it = kinesis.get_shard_iterator(
            StreamName="s", ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return [r["SequenceNumber"] for r in kinesis.get_records(ShardIterator=it)["Records"]]

    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="eu-west-2")
        kinesis.create_stream(StreamName="s", ShardCount=2)
        records = [{"Data": b"x", "PartitionKey": str(i)} for i in range(100)]
        kinesis.put_records(StreamName="s", Records=records)
        parent = kinesis.list_shards(StreamName="s")["Shards"][0]
        before = sequences(kinesis, parent["ShardId"])
        lo, hi = (int(parent["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
        kinesis.split_shard(
            StreamName="s", ShardToSplit=parent["ShardId"], NewStartingHashKey=str((lo + hi) // 2)
        )
        kinesis.put_records(StreamName="s", Records=records)
        shards = kinesis.list_shards(StreamName="s")["Shards"]
        children = [s["ShardId"] for s in shards if s.get("ParentShardId") == parent["ShardId"]]
        after = sequences(kinesis, parent["ShardId"])
        in_children = sum(len(sequences(kinesis, c)) for c in children)
    assert len(before) > 10 and after == before  # closed: nothing new, its records kept
    assert in_children == len(before)  # the same keys, now in the children


def test_request_id_regex_skipped_only_where_it_cannot_match():
    """The patched _enrich_response: a body with <RequestId> gets its request id as moto's own
    does; any other body comes back as it was; the request id header and the status string are
    set either way."""
    from moto.core.responses import BaseResponse

    enrich = BaseResponse._enrich_response
    ids = iter(["id-1", "id-2", "id-3", "id-4"])

    def request_id(headers):
        headers["x-amzn-requestid"] = rid = next(ids)
        return rid

    patched = moto_server._request_id_only_in_xml(enrich, request_id)
    headers, body = patched({"status": 200}, "<R><RequestId>old</RequestId></R>")
    assert headers["status"] == "200"
    assert body == f"<R><RequestId>{headers['x-amzn-requestid']}</RequestId></R>"
    for other in ('{"RequestId": "a"}', b"<RequestId>bytes</RequestId>", None, "<R/>"):
        headers, out = patched({"status": 400}, other)
        assert out is other
        assert headers["status"] == "400" and headers["x-amzn-requestid"].startswith("id-")
        assert enrich({"status": 400}, other)[1] == other  # what moto's own returns


def test_moto_module_listing_read_once_is_motos_listing(monkeypatch):
    from moto import backends
    from moto.core.responses import BaseResponse

    original = list(backends.list_of_moto_modules())
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    monkeypatch.setattr(BaseResponse, "_enrich_response", BaseResponse.__dict__["_enrich_response"])
    assert moto_server.patch_dispatch()
    assert list(backends.list_of_moto_modules()) == original
    assert "kinesis" in original and "s3" in original
