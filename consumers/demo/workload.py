"""`cdc demo workload`: a steady stream of realistic changes to the demo tables.

Every kind of change the pipeline must carry: single inserts, updates and deletes, multi-row
transactions (a sale is an order + a transaction + a payment), primary-key-changing updates,
TOAST-sized text updates and updates that leave a TOASTed value untouched, NULLs set and
cleared, type_zoo edge values, and rolled-back transactions (which must leave no trace).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg

from consumers.db import connect
from consumers.demo import data
from consumers.demo.load import xml_values_supported

Conn = psycopg.Connection[tuple[Any, ...]]


class Workload:
    def __init__(self, dsn: str, *, seed: int = 11) -> None:
        self.dsn = dsn
        self.rng = random.Random(seed)  # nosec B311  # demo data and workload, reproducible by seed: not security
        self.written: Counter[str] = Counter()  # committed row changes per table
        self.rolled_back = 0
        self.ids: dict[str, list[int]] = {}
        self.next_id: dict[str, int] = {}
        self.xml = True
        self._ops: list[tuple[Callable[[Conn], None], int]] = [
            (self.new_sale, 20),
            (self.update_sale, 20),
            (self.new_purchase, 6),
            (self.delete_payment, 6),
            (self.delete_sale, 4),
            (self.change_design_key, 4),
            (self.update_staff_email, 6),
            (self.toggle_address_line_2, 8),
            (self.toast_update, 3),
            (self.touch_zoo_keeping_toast, 4),
            (self.insert_zoo_edges, 2),
            (self.update_zoo_more, 3),
            (self.insert_zoo_more_edges, 1),
            (self.rollback, 3),
        ]

    def _load_ids(self, conn: Conn) -> None:
        self.xml = xml_values_supported(conn)  # a server without libxml: xml values NULL
        keys = {
            "sales_order": "sales_order_id",
            "purchase_order": "purchase_order_id",
            "transaction": "transaction_id",
            "payment": "payment_id",
            "design": "design_id",
            "staff": "staff_id",
            "address": "address_id",
            "type_zoo": "id",
            "type_zoo_more": "id",
            "type_zoo_arrays": "id",
            "type_zoo_ranges": "id",
        }
        for table, key in keys.items():
            ids = [r[0] for r in conn.execute(f'SELECT "{key}" FROM "{table}"'.encode())]  # nosec B608  # identifiers from the shipped demo contracts; values are bound parameters
            self.ids[table] = ids
            self.next_id[table] = max(ids, default=0) + 1
        conn.commit()  # end the read transaction: each operation commits on its own

    def _new_id(self, table: str) -> int:
        i = self.next_id[table]
        self.next_id[table] = i + 1
        self.ids[table].append(i)
        return i

    # ------------------------------------------------------------------ operations

    def new_sale(self, conn: Conn) -> None:
        so = data.sales_order(self.rng, self._new_id("sales_order"))
        tx = self._new_id("transaction")
        pay = data.payment(self.rng, self._new_id("payment"), tx)
        with conn.transaction():
            _insert(conn, "sales_order", so)
            _insert(conn, "transaction", _transaction(tx, "SALE", so["sales_order_id"], None, so))
            _insert(conn, "payment", pay)
        self.written.update({"sales_order": 1, "transaction": 1, "payment": 1})

    def new_purchase(self, conn: Conn) -> None:
        po = data.purchase_order(self.rng, self._new_id("purchase_order"))
        tx = self._new_id("transaction")
        with conn.transaction():
            _insert(conn, "purchase_order", po)
            _insert(
                conn, "transaction", _transaction(tx, "PURCHASE", None, po["purchase_order_id"], po)
            )
        self.written.update({"purchase_order": 1, "transaction": 1})

    def update_sale(self, conn: Conn) -> None:
        sid = self.rng.choice(self.ids["sales_order"])
        units = self.rng.randrange(1000, 100000)
        price = Decimal(self.rng.randrange(200, 400)) / 100
        n = conn.execute(
            "UPDATE sales_order SET units_sold = %s, unit_price = %s, last_updated = %s "
            "WHERE sales_order_id = %s",
            (units, price, datetime.now(), sid),
        ).rowcount
        conn.commit()
        self.written["sales_order"] += n

    def delete_payment(self, conn: Conn) -> None:
        self._delete(conn, "payment", "payment_id")

    def delete_sale(self, conn: Conn) -> None:
        self._delete(conn, "sales_order", "sales_order_id")

    def _delete(self, conn: Conn, table: str, key: str) -> None:
        ids = self.ids[table]
        if len(ids) < 10:
            return
        victim = ids.pop(self.rng.randrange(len(ids)))
        n = conn.execute(f'DELETE FROM "{table}" WHERE "{key}" = %s'.encode(), (victim,)).rowcount  # nosec B608  # identifiers from the shipped demo contracts; values are bound parameters
        conn.commit()
        self.written[table] += n

    def change_design_key(self, conn: Conn) -> None:
        ids = self.ids["design"]
        old = ids.pop(self.rng.randrange(len(ids)))
        new = self._new_id("design")
        n = conn.execute(
            "UPDATE design SET design_id = %s, last_updated = %s WHERE design_id = %s",
            (new, datetime.now(), old),
        ).rowcount
        conn.commit()
        self.written["design"] += n

    def update_staff_email(self, conn: Conn) -> None:
        sid = self.rng.choice(self.ids["staff"])
        email = (
            f"{self.rng.choice(data.FIRST).lower()}.{self.rng.randrange(1, 999)}@terrifictotes.com"
        )
        n = conn.execute(
            "UPDATE staff SET email_address = %s, last_updated = %s WHERE staff_id = %s",
            (email, datetime.now(), sid),
        ).rowcount
        conn.commit()
        self.written["staff"] += n

    def toggle_address_line_2(self, conn: Conn) -> None:
        aid = self.rng.choice(self.ids["address"])
        value = None if self.rng.random() < 0.5 else f"Unit {self.rng.randrange(1, 99)}"
        n = conn.execute(
            "UPDATE address SET address_line_2 = %s, district = NULLIF(district, ''), "
            "last_updated = %s WHERE address_id = %s",
            (value, datetime.now(), aid),
        ).rowcount
        conn.commit()
        self.written["address"] += n

    def toast_update(self, conn: Conn) -> None:
        zid = self.rng.choice(self.ids["type_zoo"])
        text = data.toast_text(self.rng, self.rng.randrange(9_000, 30_000))
        n = conn.execute("UPDATE type_zoo SET c_text = %s WHERE id = %s", (text, zid)).rowcount
        conn.commit()
        self.written["type_zoo"] += n

    def touch_zoo_keeping_toast(self, conn: Conn) -> None:
        """An update that does not touch c_text: pgoutput sends it as unchanged-TOAST."""
        zid = self.rng.choice(self.ids["type_zoo"])
        n = conn.execute(
            "UPDATE type_zoo SET c_int = COALESCE(c_int, 0) / 2 + %s, c_bool = NOT c_bool "
            "WHERE id = %s",
            (self.rng.randrange(-1000, 1000), zid),
        ).rowcount
        conn.commit()
        self.written["type_zoo"] += n

    def insert_zoo_edges(self, conn: Conn) -> None:
        rows = data.zoo_edge_rows(self.rng, start_id=self.next_id["type_zoo"])
        with conn.transaction():
            for row in rows:
                self._new_id("type_zoo")
                _insert(conn, "type_zoo", row)
        self.written["type_zoo"] += len(rows)

    def update_zoo_more(self, conn: Conn) -> None:
        """Changes to the issue 13 types: money, ranges and hstore; array elements appended."""
        zid = self.rng.choice(self.ids["type_zoo_more"])
        k = self.rng.randrange(-(10**6), 10**6)
        n = conn.execute(
            "UPDATE type_zoo_more SET c_money = COALESCE(c_money, 0::money) + "
            "%s::numeric::money, c_hstore = COALESCE(c_hstore, '') || hstore('k' || %s, NULL) "
            "WHERE id = %s",
            (k / 100, k % 7, zid),
        ).rowcount
        rid = self.rng.choice(self.ids["type_zoo_ranges"])
        n_ranges = conn.execute(
            "UPDATE type_zoo_ranges SET c_int4range = int4range(%s, %s + 10) WHERE id = %s",
            (k, k, rid),
        ).rowcount
        aid = self.rng.choice(self.ids["type_zoo_arrays"])
        n_arrays = conn.execute(
            "UPDATE type_zoo_arrays SET c_bigint_array = c_bigint_array || %s::bigint, "
            "c_timestamptz_array = ARRAY[now()] WHERE id = %s",
            (k, aid),
        ).rowcount
        conn.commit()
        self.written.update(
            {"type_zoo_more": n, "type_zoo_arrays": n_arrays, "type_zoo_ranges": n_ranges}
        )

    def insert_zoo_more_edges(self, conn: Conn) -> None:
        start = max(self.next_id[t] for t in data.MORE_TABLES)
        for t in data.MORE_TABLES:
            self.next_id[t] = start
        rows = data.more_edge_rows(self.rng, start_id=start)
        if not self.xml:
            rows = [{**row, "c_xml": None} for row in rows]
        with conn.transaction():
            for row in rows:
                for table, part in data.split_more(row).items():
                    self._new_id(table)
                    _insert(conn, table, part)
                    self.written[table] += 1

    def rollback(self, conn: Conn) -> None:
        """Writes that are rolled back: the capture must emit nothing for them."""
        conn.execute(
            "INSERT INTO currency VALUES (%s, 'XXX', now(), now())", (10_000 + self.rolled_back,)
        )
        conn.execute("UPDATE staff SET first_name = 'ROLLED BACK'")
        conn.rollback()
        self.rolled_back += 1

    # ------------------------------------------------------------------ loop

    def step(self, conn: Conn) -> None:
        op = self.rng.choices([o for o, _ in self._ops], weights=[w for _, w in self._ops])[0]
        op(conn)

    def run(self, rate: float, stop: threading.Event, duration: float | None = None) -> None:
        """About `rate` row changes per second until `stop` is set or `duration` passes."""
        with connect(self.dsn) as conn:
            self._load_ids(conn)
            start = time.monotonic()
            while not stop.is_set():
                elapsed = time.monotonic() - start
                if duration is not None and elapsed >= duration:
                    break
                ahead = sum(self.written.values()) / rate - elapsed
                if ahead > 0:
                    stop.wait(min(ahead, 0.5))
                    continue
                self.step(conn)


def _transaction(
    tx: int, kind: str, sales_order: int | None, purchase_order: int | None, order: dict[str, Any]
) -> dict[str, Any]:
    return {
        "transaction_id": tx,
        "transaction_type": kind,
        "sales_order_id": sales_order,
        "purchase_order_id": purchase_order,
        "created_at": order["created_at"],
        "last_updated": order["created_at"],
    }


def _insert(conn: Conn, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(f'"{k}"' for k in row)
    marks = ", ".join(["%s"] * len(row))
    conn.execute(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})'.encode(), list(row.values()))  # nosec B608  # identifiers from the shipped demo contracts; values are bound parameters
