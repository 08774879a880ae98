"""The Kinesis client's fast timestamp parser gives the instants botocore's own parser gives."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.utils import parse_timestamp
from moto import mock_aws

from consumers import aws


def test_epoch_and_text_timestamps_parse_to_the_same_instants():
    for value in (0, 1764490000, 1764490000.123, "2026-11-30T09:00:00.5Z", "1764490000.25"):
        fast, default = aws.epoch_timestamp(value), parse_timestamp(value)
        assert fast == default and fast.utcoffset() is not None, value
    assert aws.epoch_timestamp(1764490000.123).tzinfo is UTC


def test_kinesis_records_arrive_with_the_same_arrival_times():
    with mock_aws():
        ours = aws.client("kinesis", endpoint_url=None, region="eu-west-2")
        plain = boto3.client("kinesis", region_name="eu-west-2")
        ours.create_stream(StreamName="s", ShardCount=1)
        ours.put_records(
            StreamName="s", Records=[{"Data": b"x", "PartitionKey": str(i)} for i in range(5)]
        )
        shard = ours.list_shards(StreamName="s")["Shards"][0]["ShardId"]

        def arrivals(client):
            it = client.get_shard_iterator(
                StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            return [
                r["ApproximateArrivalTimestamp"]
                for r in client.get_records(ShardIterator=it)["Records"]
            ]

        got, want = arrivals(ours), arrivals(plain)
    assert len(got) == 5 and got == want
    assert all(isinstance(t, datetime) and t.tzinfo is UTC for t in got)  # the fast parser ran
