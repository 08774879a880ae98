"""The local AWS endpoint: moto's own server, with efficiency fixes to its Kinesis shards and
answers, a fix to its routing after a split, and the stand-ins that let its Step Functions
interpreter run the load state machine (load_standins.py: Lambda handlers in-process, the
Redshift Data API against the local warehouse).

moto's Shard.get_max_sequence_number builds `list(self.records.keys())` and is called for every
record put, so PutRecords costs O(records already in the shard) per record: 60 ms for 500
records on an empty stream, ~350 ms at 80k (measured here), which makes a sustained local run
slow down minute by minute. The replacements return exactly the same values in O(1): the
records dict keeps insertion order and sequence numbers only grow.

moto's Shard.get_records walks the shard's records from its first to find those after the
iterator's position, so every GetRecords (the consumers poll each shard several times a
second) costs O(records ever put to the shard): a sustained local run at thousands of changes
per second fell further behind every minute (bench/throughput.py, README "Throughput"). A
shard's sequence numbers are consecutive integers (each put takes the last + 1, and moto never
removes a record from a shard), so the records after a position are found by key; where they
are not consecutive, moto's own walk runs. Same records, same next position, same
millisBehindLatest.

The answers of GetRecords and PutRecords went through moto's generic response serializer, field
by field for every record: a quarter of the server's time at 1000 changes/s (py-spy,
bench/throughput.py --profile), and still 12 % once GetRecords was direct. The replacements
write the same JSON directly: the data in base64, the arrival time in epoch seconds truncated to
milliseconds (what the serializer writes, Smithy's rule), the same keys and values; errors
still go through moto's own handling.

After a split, moto kept routing puts to the closed parent (the first shard whose hash range
holds the key), which AWS never does ("Resharding a stream": after the reshard, records go to
the child shards): a consumer that read the parent to its end in between lost the later
records, and whether it did depended on timing. Puts now go to the open shard holding the key;
the split itself still re-puts the parent's records into the parent, as moto does, so the
parent keeps its records and sequence numbers.

Two costs on every request, whatever the service (py-spy, bench/throughput.py --quick
--profile, at 8,000 changes/s): moto's BaseResponse._enrich_response runs a look-behind regex
over the whole answer body to put a request id between <RequestId> tags, which a JSON answer
(every Kinesis and DynamoDB one; a GetRecords answer is hundreds of kB) never has: 8.8 % of the
server's time. The regex now runs only on a body holding "<RequestId>"; without it the regex
cannot match, so every answer is the same. And the dispatcher's get_backend_for_host lists
moto's package folder (listdir + isdir of each entry) for every request: 3.9 %. That folder
does not change while the server runs, so the listing is read once.

Request logging (one line per request in moto.log) is turned down to warnings: at thousands of
requests a second it was 4 % of the server's time, and errors are still logged.

The API and its behaviour over HTTP are moto's, unchanged; if moto changes these methods, the
fixes are skipped.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import hashlib
import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any


def _first_key(self: Any) -> int:
    return next(iter(self.records), 0)


def _last_key(self: Any) -> int:
    return next(reversed(self.records), 0)


def _records_after(walk: Callable[..., tuple[list[Any], int, int]]) -> Callable[..., Any]:
    """Shard.get_records(last_sequence_id, limit) by key instead of by walking the shard."""

    def get_records(self: Any, last_sequence_id: str, limit: int | None) -> Any:
        records = self.records
        last = int(last_sequence_id)
        if not records:
            return [], last, 0
        first, newest = next(iter(records)), next(reversed(records))
        if newest - first + 1 != len(records):  # not consecutive: moto's own walk
            return walk(self, last_sequence_id, limit)
        start = max(last + 1, first)
        stop = newest if not limit else min(newest, start + limit - 1)
        results = [records[k] for k in range(start, stop + 1)]
        if not results:
            return [], last, 0
        behind = records[newest].created_at - results[-1].created_at
        return results, results[-1].sequence_number, int(behind * 1000)

    return get_records


def _epoch_ms(value: datetime.datetime) -> float:
    """What moto's serializer writes for a timestamp in a JSON protocol (Smithy: truncated to
    milliseconds; moto.core.serialize TimestampSerializer._timestamp_unixtimestamp)."""
    base = calendar.timegm(value.timetuple())
    return base + (value.microsecond // 1000) / 1000.0 if value.microsecond else base


def _get_records_response(self: Any) -> str:
    """KinesisResponse.get_records, serialized directly (the same JSON as moto's serializer)."""
    next_iterator, records, millis_behind = self.kinesis_backend.get_records(
        self._get_param("StreamARN"), self._get_param("ShardIterator"), self._get_param("Limit")
    )
    body = {
        "NextShardIterator": next_iterator,
        "Records": [
            {
                # moto keeps the base64 text it was sent; its serializer decodes and re-encodes
                "Data": base64.b64encode(base64.b64decode(r.data)).decode(),
                "PartitionKey": r.partition_key,
                "SequenceNumber": str(r.sequence_number),
                "ApproximateArrivalTimestamp": _epoch_ms(r.created_at_datetime),
            }
            for r in records
        ],
        "MillisBehindLatest": millis_behind,
    }
    return json.dumps(body)


def _put_records_response(self: Any) -> str:
    """KinesisResponse.put_records, serialized directly: moto's backend already returns the
    answer's JSON shape ({"FailedRecordCount": 0, "Records": [{"SequenceNumber", "ShardId"}]})."""
    return json.dumps(
        self.kinesis_backend.put_records(
            self._get_param("StreamARN"), self._get_param("StreamName"), self._get_param("Records")
        )
    )


_resharding = threading.local()


def _open_shards_first(first_match: Callable[..., Any]) -> Callable[..., Any]:
    """Stream.get_shard_for_key, routing to the open shard holding the key (moto's own answer,
    the first shard whose range holds it, while a split re-puts its parent's records)."""

    def get_shard_for_key(self: Any, partition_key: str, explicit_hash_key: str) -> Any:
        shard = first_match(self, partition_key, explicit_hash_key)  # validates, as moto does
        if shard is None or shard.is_open or getattr(_resharding, "active", False):
            return shard
        key = (
            int(explicit_hash_key)
            if explicit_hash_key
            else int(hashlib.md5(partition_key.encode(), usedforsecurity=False).hexdigest(), 16)
        )
        return next(
            (
                s
                for s in self.shards.values()
                if s.is_open and s.starting_hash <= key < s.ending_hash
            ),
            shard,
        )

    return get_shard_for_key


def _resharding_as_moto(split: Callable[..., Any]) -> Callable[..., Any]:
    def split_shard(self: Any, *args: Any, **kwargs: Any) -> Any:
        _resharding.active = True
        try:
            return split(self, *args, **kwargs)
        finally:
            _resharding.active = False

    return split_shard


def _request_id_only_in_xml(
    enrich: Callable[..., Any], request_id: Callable[[dict[str, str]], str]
) -> Callable[..., Any]:
    """BaseResponse._enrich_response, skipping its body regex where it cannot match."""

    def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if isinstance(body, str) and "<RequestId>" in body:
            return enrich(headers, body)  # type: ignore[no-any-return]
        if "status" in headers:  # the rest of moto's _enrich_response, unchanged
            headers["status"] = str(headers["status"])
        request_id(headers)  # sets the x-amzn-requestid header, as moto's does
        return headers, body

    return enrich_response


def patch_dispatch() -> bool:
    """The two per-request costs in the module docstring; False if moto has changed."""
    from moto import backends
    from moto.core import responses
    from moto.utilities import aws_headers

    enrich = getattr(responses.BaseResponse, "_enrich_response", None)
    modules = getattr(backends, "list_of_moto_modules", None)
    if enrich is None or modules is None or not hasattr(aws_headers, "gen_amzn_requestid_long"):
        return False
    responses.BaseResponse._enrich_response = staticmethod(  # type: ignore[method-assign]
        _request_id_only_in_xml(enrich, aws_headers.gen_amzn_requestid_long)
    )
    listed = tuple(modules())
    backends.list_of_moto_modules = lambda: listed
    return True


def patch_kinesis() -> bool:
    from moto.kinesis import models

    shard = getattr(models, "Shard", None)
    if shard is None or not hasattr(shard, "get_max_sequence_number"):
        return False
    shard.get_max_sequence_number = _last_key
    shard.get_min_sequence_number = _first_key
    if hasattr(shard, "get_records"):
        shard.get_records = _records_after(shard.get_records)
    stream = getattr(models, "Stream", None)
    if stream is not None and hasattr(stream, "get_shard_for_key"):
        stream.get_shard_for_key = _open_shards_first(stream.get_shard_for_key)
        stream.split_shard = _resharding_as_moto(stream.split_shard)
    from moto.kinesis import responses

    response = getattr(responses, "KinesisResponse", None)
    if response is not None and hasattr(response, "get_records"):
        response.get_records = _get_records_response
    if response is not None and hasattr(response, "put_records"):
        response.put_records = _put_records_response
    return True


def main() -> None:
    patch_kinesis()
    patch_dispatch()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from consumers.local import load_standins

    load_standins.install()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
