"""What the contracts say about the lake: Glue columns of each table's Parquet batches, and the
columns an analyst may read (every column but those classified `pii`).

The Glue columns are derived from the very Arrow schema the consumers write
(`consumers.events.columns.arrow_schema`), so the catalog cannot drift from the files. Hive/Glue
has no time-of-day type: a `time` column (Parquet TIME_MICROS, an int64) is catalogued as
`bigint`, microseconds since midnight, and says so in its comment.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from consumers.contracts.model import TableContract, load_contracts
from consumers.events.columns import arrow_schema

from .config import REPO


@dataclass(frozen=True)
class GlueColumn:
    name: str
    type: str
    comment: str


_SIMPLE = [
    (pa.types.is_int16, "smallint"),
    (pa.types.is_int32, "int"),
    (pa.types.is_int64, "bigint"),
    (pa.types.is_time64, "bigint"),
    (pa.types.is_float32, "float"),
    (pa.types.is_float64, "double"),
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_string, "string"),
    (pa.types.is_date32, "date"),
    (pa.types.is_timestamp, "timestamp"),
    (pa.types.is_binary, "binary"),
]


def glue_type(t: pa.DataType) -> str:
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t):
        return f"array<{glue_type(t.value_type)}>"
    for is_type, name in _SIMPLE:
        if is_type(t):
            return name
    raise ValueError(f"no Glue type for Arrow type {t}")


def glue_columns(contract: TableContract) -> list[GlueColumn]:
    out = []
    by_name = {c.warehouse_name: c for c in contract.columns}
    for f in arrow_schema(contract):  # the Parquet columns: warehouse names
        if f.name in by_name:
            col = by_name[f.name]
            note = f"{col.sql_type}{' (PII)' if col.pii else ''}"
            if pa.types.is_time64(f.type):
                note += "; microseconds since midnight"
        else:
            note = "change metadata"
        out.append(GlueColumn(f.name, glue_type(f.type), note))
    return out


def glue_table_name(contract: TableContract) -> str:
    """`<schema>_<table>` with the warehouse names (ASCII letters folded, as the Redshift tables
    are named: consumers/contracts/names.py). Glue names "should be in lower case" (Athena,
    "Name databases, tables, and columns"); contracts whose names fold alike are refused
    when they load, so two tables never share a Glue name unless `a_b`.`c` meets `a`.`b_c`."""
    return f"{contract.warehouse_schema}_{contract.warehouse_table}"


def contracts() -> list[TableContract]:
    return load_contracts(REPO / "schemas")
