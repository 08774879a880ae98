"""Where the local Kinesis stand-in keeps a shard's records: in two append-only files, not as
Python objects. Used only by the moto launcher (moto_server.py), never by the product's code.

moto keeps every record put to a shard as a Record object in `Shard.records` (an ordered dict
keyed by sequence number), and every Record a second time in `Record.instances_tracked` (its
BaseModel tracks every instance, for the /moto-api/data.json dashboard): 2.7 GB of moto's RSS
after a 1M-row initial load and a 1M-change transaction (bench/throughput.py --large 1000000
1000000), ~14 GB extrapolated to 10M rows. Kinesis keeps records for the retention window (24 h
by default) and replay from it is a feature, so the stand-in keeps them too, on disk:

- `<n>.records`: for each record, appended: a header (sequence number, arrival time in
  microseconds since the epoch, byte lengths of the data, partition key and explicit hash key,
  -1 for None), then those three (the data is the base64 text moto was sent, which moto keeps);
- `<n>.index`: each record's byte offset in the first file, 8 bytes a record, so the records
  from a sequence number on are found and read with three reads.

In memory: the first sequence number, the count, the newest arrival time, and the puts not yet
written (up to FLUSH_BYTES; every read writes them first). A shard's sequence numbers are
consecutive (moto's put takes the last + 1; moto never removes a record), so the record with
sequence number s is the (s - first)th. A record read back is a moto Record with the same
attributes, made without BaseModel.__new__, so moto does not track it (the dashboard does not
list Kinesis records any more).

Every operation takes the shard's lock: moto's server is threaded, and a GetRecords writing the
pending puts must not race a PutRecords adding to them. The files are removed when the store is
dropped (a split replaces the parent's store), closed (its stream deleted) or the server exits;
the launcher clears the whole directory before a server starts and `cdc local down` deletes it.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import os
import struct
import threading
import weakref
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from moto.kinesis.models import Record

FLUSH_BYTES = 1 << 20
READ_CHUNK = 1000  # records a read of a whole shard (split, merge, values()) takes at a time
_HEADER = struct.Struct("<qqiii")  # sequence, arrival µs, data, key, hash key lengths
_OFFSET = struct.Struct("<q")
_EPOCH = datetime.datetime(1970, 1, 1)
_MICROSECOND = datetime.timedelta(microseconds=1)
_numbers = itertools.count()


def _encode(value: str | None) -> bytes:
    # surrogatepass: a JSON string may hold a lone surrogate, and it must come back as it was
    return b"" if value is None else value.encode("utf-8", "surrogatepass")


def unix_time(micros: int) -> float:
    """moto's unix_time(created_at_datetime) from the microseconds since the epoch, by the same
    arithmetic on the same normalized parts (days, seconds, microseconds), so the same float."""
    days, rest = divmod(micros, 86_400_000_000)
    seconds, micro = divmod(rest, 1_000_000)
    return (days * 86400) + (seconds + (micro / 1e6))


def _remove(fds: tuple[int, int], paths: tuple[Path, Path]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _pread(fd: int, size: int, offset: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            raise OSError(f"the Kinesis record store ended early (fd {fd}, offset {offset})")
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class ShardRecords:
    """A shard's records with the interface of moto's dict (sequence number → Record): len,
    iteration and reversed (sequence numbers), lookup, keys(), values(), items(), and appending
    by assignment; plus the lookups the launcher's Shard methods use (after, sequence_at)."""

    def __init__(self, directory: Path) -> None:
        stem = directory / f"{next(_numbers):06d}"
        self._paths = (stem.with_suffix(".records"), stem.with_suffix(".index"))
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self._data = os.open(self._paths[0], flags, 0o600)
        self._index = os.open(self._paths[1], flags, 0o600)
        self._closer = weakref.finalize(self, _remove, (self._data, self._index), self._paths)
        self._lock = threading.Lock()
        self._first = 0  # the first sequence number (while empty: 0, as moto's min)
        self._count = 0
        self._written = 0  # bytes of the records file on disk
        self._pending = bytearray()
        self._pending_offsets = array("q")
        self._newest_micros = 0
        self._in_time_order = True  # arrival times never went back (the clock can)

    @property
    def paths(self) -> tuple[Path, Path]:
        return self._paths

    def close(self) -> None:
        """Delete the files now (the shard's stream was deleted). A request still holding the
        shard then finds it empty, and a put to it fails: the closed descriptors' numbers may
        already be another shard's."""
        with self._lock:
            self._closer()
            self._count = self._first = self._written = 0
            self._pending.clear()
            del self._pending_offsets[:]

    # ------------------------------------------------------------------ writing

    def append(
        self,
        partition_key: str,
        data: str | None,
        explicit_hash_key: str | None,
        arrival: datetime.datetime,
    ) -> int:
        """Shard.put_record: the next sequence number (1 in an empty shard, as moto's)."""
        with self._lock:
            self._check_open()
            sequence = self._first + self._count if self._count else 1
            self._add(sequence, arrival, partition_key, data, explicit_hash_key)
            return sequence

    def _check_open(self) -> None:
        if not self._closer.alive:
            raise ValueError(f"the records of a deleted stream ({self._paths[0]}) are gone")

    def __setitem__(self, sequence: int, record: Any) -> None:
        with self._lock:
            self._check_open()
            if self._count and sequence != self._first + self._count:
                raise KeyError(
                    f"sequence number {sequence}: the record store only appends the next "
                    f"({self._first + self._count}), as moto's put does"
                )
            self._add(
                sequence, record.created_at_datetime,
                record.partition_key, record.data, record.explicit_hash_key,
            )  # fmt: skip

    def _add(
        self,
        sequence: int,
        arrival: datetime.datetime,
        key: str,
        data: str | None,
        hash_key: str | None,
    ) -> None:
        micros = (arrival - _EPOCH) // _MICROSECOND
        raw = (_encode(data), _encode(key), _encode(hash_key))
        self._pending_offsets.append(self._written + len(self._pending))
        self._pending += _HEADER.pack(
            sequence,
            micros,
            *(-1 if v is None else len(r) for v, r in zip((data, key, hash_key), raw, strict=True)),
        )
        self._pending += b"".join(raw)
        if not self._count:
            self._first = sequence
        elif micros < self._newest_micros:
            self._in_time_order = False
        self._count += 1
        self._newest_micros = micros
        if len(self._pending) >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            _write(self._data, self._pending)
            _write(self._index, self._pending_offsets.tobytes())
            self._written += len(self._pending)
            self._pending.clear()
            del self._pending_offsets[:]

    # ------------------------------------------------------------------ reading

    def _offset(self, i: int) -> int:
        if i == self._count:
            return self._written
        return int(_OFFSET.unpack(_pread(self._index, _OFFSET.size, i * _OFFSET.size))[0])

    def _read(self, i: int, j: int) -> list[Any]:
        """Records i..j (positions, both included), with the lock held. One loop without calls
        of its own: GetRecords reads thousands of records at a time."""
        j = min(j, self._count - 1)  # 0 records once closed
        if i > j:
            return []
        self._flush()
        start = self._offset(i)
        buf = _pread(self._data, self._offset(j + 1) - start, start)
        out = []
        unpack, size, new = _HEADER.unpack_from, _HEADER.size, object.__new__
        epoch, span = _EPOCH, datetime.timedelta
        pos, end = 0, len(buf)
        while pos < end:
            sequence, micros, data_len, key_len, hash_len = unpack(buf, pos)
            pos += size
            data = key = hash_key = None
            if data_len >= 0:
                data = buf[pos : pos + data_len].decode("utf-8", "surrogatepass")
                pos += data_len
            if key_len >= 0:
                key = buf[pos : pos + key_len].decode("utf-8", "surrogatepass")
                pos += key_len
            if hash_len >= 0:
                hash_key = buf[pos : pos + hash_len].decode("utf-8", "surrogatepass")
                pos += hash_len
            days, rest = divmod(micros, 86_400_000_000)
            seconds, micro = divmod(rest, 1_000_000)
            record = new(Record)  # not BaseModel.__new__, which keeps every instance
            record.__dict__ = {
                "partition_key": key,
                "data": data,
                "sequence_number": sequence,
                "explicit_hash_key": hash_key,
                "created_at_datetime": epoch + span(days, seconds, micro),
                "created_at": (days * 86400) + (seconds + (micro / 1e6)),  # = unix_time(micros)
            }
            out.append(record)
        return out

    def _micros_at(self, i: int) -> int:
        self._flush()
        header = _pread(self._data, _HEADER.size, self._offset(i))
        return int(_HEADER.unpack(header)[1])

    def after(self, last: int, limit: int | None) -> tuple[list[Any], int, int]:
        """Shard.get_records(last_sequence_id, limit): the records after `last` (at most
        `limit`), the new last sequence number, millisBehindLatest. Same as moto's walk."""
        with self._lock:
            if not self._count:
                return [], last, 0
            newest = self._first + self._count - 1
            start = max(last + 1, self._first)
            stop = newest if not limit else min(newest, start + limit - 1)
            if start > stop:
                return [], last, 0
            results = self._read(start - self._first, stop - self._first)
            behind = unix_time(self._newest_micros) - results[-1].created_at
            return results, results[-1].sequence_number, int(behind * 1000)

    def sequence_at(self, at_timestamp: Any) -> int:
        """Shard.get_sequence_number_at: 0 up to the first record's arrival, else the last
        record (in put order) that arrived before `at_timestamp`. Arrival times in order (they
        are, unless the clock went back): found by bisection; else moto's backward walk."""
        with self._lock:
            if not self._count or at_timestamp <= unix_time(self._micros_at(0)):
                return 0
            if self._in_time_order:
                lo, hi = 0, self._count - 1  # record lo arrived before; find the last that did
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    if unix_time(self._micros_at(mid)) < at_timestamp:
                        lo = mid
                    else:
                        hi = mid - 1
                return self._first + lo
            count = self._count
        for record in self._chunks(range(count - 1, -1, -1)):
            if record.created_at < at_timestamp:
                return int(record.sequence_number)
        return 0  # not reached: the first record arrived before at_timestamp

    def _chunks(self, positions: range) -> Iterator[Any]:
        """Records at `positions` (a range, step 1 or -1), READ_CHUNK at a time."""
        for begin in range(0, len(positions), READ_CHUNK):
            part = positions[begin : begin + READ_CHUNK]
            i, j = min(part[0], part[-1]), max(part[0], part[-1])
            with self._lock:
                records = self._read(i, j)
            yield from (records if part.step > 0 else reversed(records))

    # ------------------------------------------------------------------ the dict interface

    def keys(self) -> range:
        return range(self._first, self._first + self._count)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        return iter(self.keys())

    def __reversed__(self) -> Iterator[int]:
        return reversed(self.keys())

    def __contains__(self, sequence: object) -> bool:
        return sequence in self.keys()

    def __getitem__(self, sequence: int) -> Any:
        with self._lock:
            if sequence not in self.keys():
                raise KeyError(sequence)
            return self._read(sequence - self._first, sequence - self._first)[0]

    def values(self) -> _Values:
        return _Values(self)

    def items(self) -> Iterable[tuple[int, Any]]:
        return ((r.sequence_number, r) for r in self.values())

    def __repr__(self) -> str:
        return f"ShardRecords({self._paths[0]}, {self._count} records from {self._first})"


class _Values:
    """dict.values() of a ShardRecords: sized, iterable both ways, read a chunk at a time
    (moto's merge and the fallback of sequence_at walk it)."""

    def __init__(self, records: ShardRecords) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Any]:
        return self._records._chunks(range(len(self._records)))

    def __reversed__(self) -> Iterator[Any]:
        return self._records._chunks(range(len(self._records) - 1, -1, -1))
