"""The local AWS endpoint: moto's own server, with one efficiency fix to its Kinesis shards and
the stand-ins that let its Step Functions interpreter run the load state machine
(load_standins.py: Lambda handlers in-process, the Redshift Data API against the local
warehouse).

moto's Shard.get_max_sequence_number builds `list(self.records.keys())` and is called for every
record put, so PutRecords costs O(records already in the shard) per record: 60 ms for 500
records on an empty stream, ~350 ms at 80k (measured here), which makes a sustained local run
slow down minute by minute. The replacements return exactly the same values in O(1): the
records dict keeps insertion order and sequence numbers only grow. The API and its behaviour
over HTTP are moto's, unchanged; if moto changes these methods, the fix is skipped.
"""

from __future__ import annotations

import sys
from typing import Any


def _first_key(self: Any) -> int:
    return next(iter(self.records), 0)


def _last_key(self: Any) -> int:
    return next(reversed(self.records), 0)


def patch_kinesis() -> bool:
    from moto.kinesis import models

    shard = getattr(models, "Shard", None)
    if shard is None or not hasattr(shard, "get_max_sequence_number"):
        return False
    shard.get_max_sequence_number = _last_key
    shard.get_min_sequence_number = _first_key
    return True


def main() -> None:
    patch_kinesis()
    from consumers.local import load_standins

    load_standins.install()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
