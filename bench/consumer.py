"""Consumer throughput: decode + type coercion + batching + Parquet for 200k DMS records of the
totesys mix, side by side in one run with
  (a) the raw orjson parse of the same bytes (the limit), and
  (b) the usual naive implementation: stdlib json per record, a pandas DataFrame per batch,
      DataFrame.to_parquet.
Each variant runs in its own process over the same records, so its peak RSS is its own.
Targets: >= 0.6 x the raw parse rate, >= 3 x the naive one.

Run: make bench   (writes bench/results/consumer.json)
"""

from __future__ import annotations

import gc
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.common import result, write

N_RECORDS = 200_000
COMMIT_TS = "2026-11-24T10:11:12.123456Z"
BATCH = 20_000
ROUNDS = 3
KCL_MAX_RECORDS = 10_000  # records per processRecords call (KCL's maxRecords default)


def generate(path: Path) -> int:
    """The totesys mix as DMS records, rendered by the capture's own message builder."""
    from consumers.capture import dms_config
    from consumers.capture.messages import MessageBuilder, TableRenderer
    from consumers.contracts.model import load_contracts
    from consumers.settings import PROJECT_DIR

    dms = dms_config.load(PROJECT_DIR / "infra" / "dms")
    contracts = {c.name: c for c in load_contracts(PROJECT_DIR / "schemas")}
    renderers = {
        n: TableRenderer(dms, c, [col.name for col in c.columns]) for n, c in contracts.items()
    }
    rng = random.Random(1)
    ts = b"2026-11-24 10:11:12.123456"

    def row(table: str, i: int) -> list[bytes | None]:
        if table == "sales_order":
            return [str(i).encode(), b"3", b"4", b"5", str(rng.randrange(1000, 99999)).encode(),
                    b"3.25", b"1", b"2026-12-01", b"2026-12-05", b"7", ts, ts]  # fmt: skip
        if table == "transaction":
            return [str(i).encode(), b"SALE", str(i).encode(), None, ts, ts]
        if table == "payment":
            return [str(i).encode(), str(i).encode(), b"3", b"1234.56", b"1", b"2", b"t",
                    b"2026-12-03", b"12345678", b"87654321", ts, ts]  # fmt: skip
        return [str(i).encode(), b"Jo", b"Bloggs", b"2", b"jo.bloggs@example.com", ts, ts]

    mix = ["sales_order"] * 4 + ["transaction"] * 3 + ["payment"] * 3 + ["staff"]
    total = 0
    with path.open("wb") as out:
        b = MessageBuilder(dms, "bench")
        for n in range(N_RECORDS):
            table = mix[n % len(mix)]
            key = rng.randrange(1, 50_000)
            op = rng.choices(["insert", "update", "delete"], [6, 3, 1])[0]
            rec = b.change(
                renderers[table], op, row(table, key), None, xid=n, record_id=1,
                position=(0x1000 + n, 2, 0x1000 + n), commit_ts=COMMIT_TS,
            ).data  # fmt: skip
            out.write(len(rec).to_bytes(4, "big") + rec)
            total += len(rec)
    return total


def load(path: Path) -> list[bytes]:
    out = []
    with path.open("rb") as f:  # streamed, so peak RSS holds the records once
        while head := f.read(4):
            out.append(f.read(int.from_bytes(head, "big")))
    return out


class MemoryS3:
    def __init__(self) -> None:
        self.bytes = 0

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.bytes += len(Body)
        return {}


def prepare_raw(records: list[bytes]) -> Callable[[], None]:
    def run() -> None:
        loads = orjson.loads
        for r in records:
            loads(r)

    return run


class _Record:
    """What amazon-kclpy hands the processor for one Kinesis record (the fields it reads)."""

    __slots__ = ("binary_data", "partition_key", "sequence_number", "timestamp_millis")

    def __init__(self, data: bytes, sequence: str) -> None:
        self.binary_data = data
        self.sequence_number = sequence
        self.partition_key = "pk"
        self.timestamp_millis = 1_764_000_000_000


class _Checkpointer:
    def checkpoint(self, sequence_number: str | None = None) -> None:
        pass


class _Input:
    def __init__(self, records: list[_Record]) -> None:
        self.records = records
        self.checkpointer = _Checkpointer()


def _calls(records: list[bytes]) -> list[list[_Record]]:
    """The records as the daemon hands them over: processRecords calls of KCL_MAX_RECORDS
    records each, already parsed from the protocol line (amazon-kclpy's part, not timed)."""
    return [
        [_Record(r, str(n)) for n, r in enumerate(records[s : s + KCL_MAX_RECORDS], s + 1)]
        for s in range(0, len(records), KCL_MAX_RECORDS)
    ]


def prepare_ours(records: list[bytes]) -> Callable[[], None]:
    """The processor itself (RecordProcessor.process_records: stage, decode at the flush, type,
    collapse by key, Parquet), fed as the MultiLang daemon feeds it, minus the stdin/stdout
    protocol and with S3 in memory. Flushes every BATCH records, as the naive variant does."""
    from consumers.batching.buffer import FlushPolicy
    from consumers.contracts.model import load_contracts
    from consumers.events.decode import Decoder
    from consumers.kcl.processor import RecordProcessor, tune_gc
    from consumers.settings import PROJECT_DIR
    from consumers.sink.writer import BatchWriter

    contracts = load_contracts(PROJECT_DIR / "schemas")
    writer = BatchWriter(MemoryS3(), "b", "d", {c.qualified: c for c in contracts})
    policy = FlushPolicy(max_rows=BATCH, max_bytes=1 << 40, max_age_seconds=1e9)

    tune_gc()  # as the processor does

    def run(calls: list[list[_Record]]) -> None:
        processor = RecordProcessor(Decoder(contracts), writer, policy)
        processor.shard = "shardId-000000000000"
        for call in calls:
            processor.process_records(_Input(call))
        processor.shutdown_requested(_Input([]))
        assert processor.stats.dead_lettered == 0, "the bench records must all decode"

    run(_calls(records[:200]))  # warm-up: Arrow's kernels initialise on first use
    calls = _calls(records)
    # In a real run each call's record objects are freed when the call returns; here they all
    # live from the start, so they are kept out of the cyclic collector's sight, as they would
    # be out of its reach there.
    gc.freeze()
    return lambda: run(calls)


def prepare_naive(records: list[bytes]) -> Callable[[], None]:
    import pandas as pd

    def flush(tables: dict[str, list[dict[str, Any]]]) -> None:
        for rows in tables.values():
            pd.DataFrame(rows).to_parquet(io.BytesIO(), compression="zstd")

    def run(records: list[bytes]) -> None:
        tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for n, raw in enumerate(records, 1):
            msg = json.loads(raw)
            meta = msg["metadata"]
            tables[meta["table-name"]].append(
                {**msg["data"], "_op": meta["operation"], "_pos": meta["stream-position"]}
            )
            if n % BATCH == 0:
                flush(tables)
                tables = defaultdict(list)
        flush(tables)

    run(records[:200])  # warm-up, as for ours
    return lambda: run(records)


def child(variant: str, path: str) -> None:
    records = load(Path(path))
    fn = {"raw": prepare_raw, "ours": prepare_ours, "naive": prepare_naive}[variant](records)
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(orjson.dumps({"seconds": elapsed, "peak_rss_mb": peak_kb / 1024}).decode())


def measure(variant: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.consumer", "--child", variant, str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    value: dict[str, float] = orjson.loads(out.stdout.strip().splitlines()[-1])
    return value


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.bin"
        total_bytes = generate(path)
        # Interleaved rounds, best of ROUNDS per variant: this machine's neighbours make a
        # single 0.3 s run vary by +-10 %, and whatever slows one round slows all three.
        runs: dict[str, list[dict[str, float]]] = {"raw": [], "ours": [], "naive": []}
        for _ in range(ROUNDS):
            for variant, out in runs.items():
                out.append(measure(variant, path))
    raw, ours, naive = (min(runs[v], key=lambda r: r["seconds"]) for v in ("raw", "ours", "naive"))
    rate = {
        k: N_RECORDS / v["seconds"] for k, v in (("raw", raw), ("ours", ours), ("naive", naive))
    }
    mb = total_bytes / 1e6
    doc = result(
        "consumer_decode_batch_parquet", rate["ours"], "records/s", rate["raw"],
        baseline=rate["naive"],
        target=">= 0.6 x raw orjson parse (limit), >= 3 x naive (json + pandas + to_parquet)",
        records=N_RECORDS, input_mb=round(mb, 1),
        mb_per_s=round(mb / ours["seconds"], 1),
        peak_rss_mb={k: round(v["peak_rss_mb"], 1)
                     for k, v in (("ours", ours), ("raw_parse", raw), ("naive", naive))},
        limit_mb_per_s=round(mb / raw["seconds"], 1),
        baseline_mb_per_s=round(mb / naive["seconds"], 1),
        rounds=ROUNDS,
        records_per_s_each_round={
            v: [round(N_RECORDS / r["seconds"]) for r in rs] for v, rs in runs.items()
        },
        threads="one: the limit, ours and the baseline each decode on a single thread",
    )  # fmt: skip
    out = write("consumer.json", doc)
    print(
        f"consumer     : {rate['ours']:10,.0f} records/s ({mb / ours['seconds']:.1f} MB/s)  "
        f"raw orjson parse {rate['raw']:10,.0f}/s  ratio {doc['ratio_to_limit']:.2f} (>= 0.6)\n"
        f"               naive json+pandas {rate['naive']:10,.0f}/s  ratio "
        f"{doc['ratio_to_baseline']:.2f} (>= 3)\n"
        f"peak RSS MB  : ours {ours['peak_rss_mb']:.0f}, raw parse {raw['peak_rss_mb']:.0f}, "
        f"naive {naive['peak_rss_mb']:.0f} (the 200k records alone: {mb:.0f} MB)\n"
        f"wrote {out}"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
