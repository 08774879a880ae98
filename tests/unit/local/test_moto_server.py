"""The launcher's replacements return what moto's own methods return, on real moto shards."""

from __future__ import annotations

import base64
import datetime

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


class Clock:
    """moto's utcnow, made to tick 1.5013 ms a call: two runs of one scenario see the same
    arrival times, so their answers can be compared whole (times and millisBehindLatest too)."""

    def __init__(self):
        self.now = datetime.datetime(2024, 5, 1, 12, 0, 0, 999_000)

    def __call__(self):
        self.now += datetime.timedelta(microseconds=1501, milliseconds=0.3)
        return self.now


def _epoch(value):
    return (value - datetime.datetime(1970, 1, 1)).total_seconds()


def _kinesis_scenario(kinesis, clock):
    """Every call the pipeline and moto make on records: puts, reads at every iterator type and
    several limits, describe and list, a split after records were put (and puts after it), a
    merge, the deleted stream's iterator. Returns every answer."""
    answers = []

    def keep(answer):
        answer.pop("ResponseMetadata", None)
        answers.append(answer)
        return answer

    def read_all(shard_id, kind="TRIM_HORIZON", **position):
        it = kinesis.get_shard_iterator(
            StreamName="s", ShardId=shard_id, ShardIteratorType=kind, **position
        )["ShardIterator"]
        for limit in (1, 4, 10_000, 10_000):
            it = keep(kinesis.get_records(ShardIterator=it, Limit=limit))["NextShardIterator"]
        return it

    def shard_ids():
        return [s["ShardId"] for s in keep(kinesis.list_shards(StreamName="s"))["Shards"]]

    kinesis.create_stream(StreamName="s", ShardCount=2)
    began = _epoch(clock.now)
    for batch in range(3):
        keep(kinesis.put_records(StreamName="s", Records=[
            {"Data": bytes(range(i % 256)) + b"\xff" * batch, "PartitionKey": f"k{i}-\u00e9"}
            | ({"ExplicitHashKey": str(i * 2**121)} if i % 5 == 0 else {})
            for i in range(batch * 40, batch * 40 + 40)
        ]))  # fmt: skip
    keep(kinesis.put_record(StreamName="s", Data=b"", PartitionKey="empty"))
    ended = _epoch(clock.now)
    keep(kinesis.describe_stream(StreamName="s"))
    first, second = shard_ids()
    latest = read_all(first, "LATEST")
    for shard in (first, second):
        read_all(shard)
        read_all(shard, "AT_SEQUENCE_NUMBER", StartingSequenceNumber="7")
        read_all(shard, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber="7")
        for at in (began - 1, began + 0.0015, began + 0.04, (began + ended) / 2, ended + 1):
            read_all(shard, "AT_TIMESTAMP", Timestamp=at)
    keep(kinesis.put_record(StreamName="s", Data=b"late", PartitionKey="k1-\u00e9"))
    keep(kinesis.get_records(ShardIterator=latest))
    parent = kinesis.describe_stream(StreamName="s")["StreamDescription"]["Shards"][0]
    lo, hi = (int(parent["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
    kinesis.split_shard(
        StreamName="s", ShardToSplit=parent["ShardId"], NewStartingHashKey=str((lo + hi) // 2)
    )
    keep(kinesis.put_records(StreamName="s", Records=[
        {"Data": b"after the split %d" % i, "PartitionKey": f"k{i}-\u00e9"} for i in range(60)
    ]))  # fmt: skip
    keep(kinesis.describe_stream(StreamName="s"))
    for shard in shard_ids():
        read_all(shard)
    children = shard_ids()[-2:]
    kinesis.merge_shards(StreamName="s", ShardToMerge=children[0], AdjacentShardToMerge=children[1])
    for shard in shard_ids():
        read_all(shard)
    keep(kinesis.describe_stream_summary(StreamName="s"))
    kinesis.delete_stream(StreamName="s")
    with pytest.raises(ClientError) as gone:
        kinesis.get_records(ShardIterator=latest)
    answers.append(gone.value.response["Error"])
    return answers


def test_records_in_files_answer_as_moto_does(monkeypatch, tmp_path):
    """The whole launcher (every Kinesis fix, records in files) against moto as it is, through
    boto3: the same answers to the same calls at the same (made up) times, including a split
    after records were put; no Record kept by moto; no file left once the stream is deleted.
    moto as it is gets the launcher's one change of behaviour, the routing after a split
    (test_after_a_split_puts_go_to_the_children_and_the_parent_keeps_its_records)."""
    runs = []
    for patched in (False, True):
        with monkeypatch.context() as m, mock_aws():
            clock = Clock()
            m.setattr(models, "utcnow", clock)
            for owner, name, replacement in moto_server.kinesis_patches(tmp_path):
                if patched or name in ("get_shard_for_key", "split_shard"):
                    m.setattr(owner, name, replacement, raising=False)
            kept = len(models.Record.instances_tracked)
            kinesis = boto3.client("kinesis", region_name="eu-west-2")
            runs.append(_kinesis_scenario(kinesis, clock))
            if patched:
                assert len(models.Record.instances_tracked) == kept
                assert list(tmp_path.iterdir()) == []
    unpatched, patched = runs
    assert len(patched) == len(unpatched) > 100
    assert sum(len(a.get("Records", [])) for a in patched) > 1000
    assert any(a.get("MillisBehindLatest") for a in patched)
    for got, want in zip(patched, unpatched, strict=True):
        assert got == want


def test_epoch_ms_and_json_write_what_they_replaced():
    """_epoch_ms without a time tuple is calendar.timegm's; _json is json.dumps's values, and
    falls back to it for a lone surrogate, which orjson refuses."""
    import calendar
    import json
    import random

    rng = random.Random(5)
    epoch = datetime.datetime(1970, 1, 1)
    for _ in range(20_000):
        value = epoch + datetime.timedelta(microseconds=rng.randrange(-(6 * 10**16), 6 * 10**16))
        base = calendar.timegm(value.timetuple())
        want = base + (value.microsecond // 1000) / 1000.0 if value.microsecond else base
        got = moto_server._epoch_ms(value)
        assert got == want and type(got) is type(want)
    body = {"Records": [{"PartitionKey": "k\u00e9\U0001f600", "T": 1714564800.123, "N": 7}]}
    assert json.loads(moto_server._json(body)) == json.loads(json.dumps(body))
    lone = {"PartitionKey": "\ud800"}
    assert moto_server._json(lone) == json.dumps(lone)
