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

moto keeps every record put as a Python object, twice (Shard.records and Record's list of its
instances), for as long as the server runs: 2.7 GB after a 1M-row initial load and a 1M-change
transaction. Kinesis keeps records for the retention window, and replay from it is a feature,
so the stand-in keeps them too, but in files: with a records directory (moto.start passes the
stack's `kinesis/`), each shard's records are in two append-only files (moto_records.py), read
back as the same Records (data, keys, sequence numbers, arrival times to the microsecond), and
moto's methods that listed every record to answer (AT_TIMESTAMP) find it by bisection. A
split's re-put of its parent's records goes into a fresh pair of files, as it goes into a fresh
dict in moto; a deleted stream's files are deleted. Measured through HTTP (200k records of 460
bytes put, then read, 4 shards; 5 runs each on a shared machine): moto's RSS 278-300 MB before,
124-137 MB after; its CPU per record put 28-43 µs before, 24-35 µs after (no Record object to
make and keep), per record read 10.4-15.8 µs before, 10.6-13.8 µs after (reading and decoding
the files costs ~4 µs a record, won back in the answer's serialization below). At 11M records
(bench/throughput.py --large 10000000 1000000) moto peaked at 283 MB beside 7.2 GB of record
files; it held 2.7 GB at 2M before.

The answers of GetRecords and PutRecords went through moto's generic response serializer, field
by field for every record: a quarter of the server's time at 1000 changes/s (py-spy,
bench/throughput.py --profile), and still 12 % once GetRecords was direct. The replacements
write the same JSON directly: the data in base64, the arrival time in epoch seconds truncated to
milliseconds (what the serializer writes, Smithy's rule), the same keys and values; errors
still go through moto's own handling. With the records in files, json.dumps was a fifth of a
GetRecords and calendar.timegm a tenth (py-spy): orjson and timedelta arithmetic write the same
values.

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

import binascii
import calendar
import datetime
import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from consumers.local.moto import RECORDS_DIR_ENV
from consumers.local.moto_records import _EPOCH, ShardRecords


def _first_key(self: Any) -> int:
    return next(iter(self.records), 0)


def _last_key(self: Any) -> int:
    return next(reversed(self.records), 0)


def _records_after(walk: Callable[..., tuple[list[Any], int, int]]) -> Callable[..., Any]:
    """Shard.get_records(last_sequence_id, limit) by key instead of by walking the shard."""

    def get_records(self: Any, last_sequence_id: str, limit: int | None) -> Any:
        records = self.records
        last = int(last_sequence_id)
        if isinstance(records, ShardRecords):
            return records.after(last, limit)
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


_SECOND = datetime.timedelta(seconds=1)


def _epoch_ms(value: datetime.datetime) -> float:
    """What moto's serializer writes for a timestamp in a JSON protocol (Smithy: truncated to
    milliseconds; moto.core.serialize TimestampSerializer._timestamp_unixtimestamp). moto's
    times are naive UTC: their whole seconds since the epoch are calendar.timegm's, without
    building a time tuple (a tenth of the server's GetRecords time, py-spy)."""
    if value.tzinfo is None:
        base = (value - _EPOCH) // _SECOND
    else:
        base = calendar.timegm(value.timetuple())
    return base + (value.microsecond // 1000) / 1000.0 if value.microsecond else base


def _json(body: Any) -> str:
    """orjson: a fifth of the server's GetRecords time went to json.dumps (py-spy). Its text
    differs only in spacing and in writing non-ASCII as UTF-8 rather than \\u escapes: the
    same JSON values. A string orjson refuses (a lone surrogate) goes through json.dumps."""
    try:
        return orjson.dumps(body).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(body)


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
                # (base64.b64decode and b64encode, without their Python wrappers)
                "Data": binascii.b2a_base64(binascii.a2b_base64(r.data), newline=False).decode(),
                "PartitionKey": r.partition_key,
                "SequenceNumber": str(r.sequence_number),
                "ApproximateArrivalTimestamp": _epoch_ms(r.created_at_datetime),
            }
            for r in records
        ],
        "MillisBehindLatest": millis_behind,
    }
    return _json(body)


def _put_records_response(self: Any) -> str:
    """KinesisResponse.put_records, serialized directly: moto's backend already returns the
    answer's JSON shape ({"FailedRecordCount": 0, "Records": [{"SequenceNumber", "ShardId"}]})."""
    return _json(
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


def _records_in_files(directory: Path) -> property:
    """Shard.records: a ShardRecords in `directory` (moto_records.py). moto assigns an empty dict
    when it makes a shard and when a split empties its parent before putting its records back;
    either becomes a new store (the one replaced, and its files, go when dropped)."""

    def get(shard: Any) -> Any:
        attributes = shard.__dict__  # a shard made before the patch keeps moto's dict
        return attributes["_cdc_records"] if "_cdc_records" in attributes else attributes["records"]

    def set_(shard: Any, value: Any) -> None:
        if not isinstance(value, ShardRecords):
            store = ShardRecords(directory)
            for sequence, record in value.items():
                store[sequence] = record
            value = store
        shard.__dict__["_cdc_records"] = value

    return property(get, set_)


def _put_into_files(put: Callable[..., str], utcnow: Callable[[], Any]) -> Callable[..., str]:
    """Shard.put_record: the record goes straight into the store, never as a moto Record (each
    of which moto would keep for good in Record.instances_tracked). `utcnow` is moto's clock,
    looked up at each call, as Record.__init__ does."""

    def put_record(self: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
        records = self.records
        if not isinstance(records, ShardRecords):
            return put(self, partition_key, data, explicit_hash_key)
        return str(records.append(partition_key, data, explicit_hash_key, utcnow()))

    return put_record


def _sequence_at_by_bisection(at: Callable[..., int]) -> Callable[..., int]:
    """Shard.get_sequence_number_at (AT_TIMESTAMP), which in moto lists every record."""

    def get_sequence_number_at(self: Any, at_timestamp: float) -> int:
        records = self.records
        if isinstance(records, ShardRecords):
            return records.sequence_at(at_timestamp)
        return at(self, at_timestamp)

    return get_sequence_number_at


def _deleting_files(delete: Callable[..., Any]) -> Callable[..., Any]:
    """KinesisBackend.delete_stream, deleting its shards' files: moto keeps every Shard in
    Shard.instances_tracked, so a deleted stream's stores would never be dropped."""

    def delete_stream(self: Any, stream_arn: str | None, stream_name: str | None) -> Any:
        stream = delete(self, stream_arn, stream_name)
        for shard in stream.shards.values():
            records = shard.__dict__.get("_cdc_records")
            if isinstance(records, ShardRecords):
                records.close()
        return stream

    return delete_stream


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


def kinesis_patches(records_dir: Path | None = None) -> list[tuple[Any, str, Any]]:
    """The Kinesis fixes in the module docstring, as (owner, attribute, replacement); with
    `records_dir`, the shards keep their records in files there (moto_records.py) instead of
    in memory. Empty if moto has changed."""
    from moto.kinesis import models, responses

    shard = getattr(models, "Shard", None)
    if shard is None or not hasattr(shard, "get_max_sequence_number"):
        return []
    out: list[tuple[Any, str, Any]] = []
    if records_dir is not None and _can_keep_records_in_files(models):
        backend, at = models.KinesisBackend, shard.get_sequence_number_at
        namespace = vars(models)  # moto's clock is looked up there at each put, as by Record
        out += [
            (shard, "records", _records_in_files(records_dir)),
            (shard, "put_record", _put_into_files(shard.put_record, lambda: namespace["utcnow"]())),
            (shard, "get_sequence_number_at", _sequence_at_by_bisection(at)),
            (backend, "delete_stream", _deleting_files(backend.delete_stream)),
        ]
    out.append((shard, "get_max_sequence_number", _last_key))
    out.append((shard, "get_min_sequence_number", _first_key))
    if hasattr(shard, "get_records"):
        out.append((shard, "get_records", _records_after(shard.get_records)))
    stream = getattr(models, "Stream", None)
    if stream is not None and hasattr(stream, "get_shard_for_key"):
        out.append((stream, "get_shard_for_key", _open_shards_first(stream.get_shard_for_key)))
        out.append((stream, "split_shard", _resharding_as_moto(stream.split_shard)))
    response = getattr(responses, "KinesisResponse", None)
    if response is not None and hasattr(response, "get_records"):
        out.append((response, "get_records", _get_records_response))
    if response is not None and hasattr(response, "put_records"):
        out.append((response, "put_records", _put_records_response))
    return out


def patch_kinesis(records_dir: Path | None = None) -> bool:
    """Install kinesis_patches(records_dir); False if moto has changed."""
    patches = kinesis_patches(records_dir)
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    return bool(patches)


def _can_keep_records_in_files(models: Any) -> bool:
    """moto as moto_records.py knows it: its Record's attributes, the Shard methods replaced."""
    shard, record = models.Shard, getattr(models, "Record", None)
    return (
        record is not None
        and hasattr(models, "utcnow")
        and hasattr(models, "KinesisBackend")
        and all(hasattr(shard, m) for m in ("put_record", "get_records", "get_sequence_number_at"))
        and "records" not in vars(shard)
    )


def main() -> None:
    records = os.environ.get(RECORDS_DIR_ENV)
    patch_kinesis(Path(records) if records else None)
    patch_dispatch()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from consumers.local import load_standins

    load_standins.install()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
