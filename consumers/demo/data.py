"""Realistic Terrific Totes rows and type_zoo edge values, from a seeded random generator."""

from __future__ import annotations

import random
import string
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

FIRST = [
    "Jeremie",
    "Deron",
    "Jeanette",
    "Ana",
    "Magdalena",
    "Korey",
    "Raphael",
    "Oswaldo",
    "Brody",
    "Jazmyn",
    "Meda",
    "Imani",
    "Stan",
    "Rick",
    "Mariah",
    "Yael",
    "Priya",
    "Tomasz",
]
LAST = [
    "Franey",
    "Beier",
    "Erdman",
    "Glover",
    "Zieme",
    "Kreiger",
    "Rippin",
    "Bergnaum",
    "Ratke",
    "Rutherford",
    "Cremin",
    "Schmidt",
    "Lehner",
    "Stracke",
    "Nowak",
    "Okafor",
]
CITIES = [
    ("New Patienceburgh", "United States"),
    ("Aliso Viejo", "Canada"),
    ("Lake Charles", "United Kingdom"),
    ("Olsonside", "Germany"),
    ("Fort Shadburgh", "France"),
    ("Kendraburgh", "Netherlands"),
    ("North Deshaun", "Japan"),
    ("Suffolk", "Australia"),
    ("Leeds", "United Kingdom"),
    ("Manchester", "United Kingdom"),
]
STREETS = [
    "Ladarius Ferry",
    "Rippin Brook",
    "Alexie Cliffs",
    "Zieme Village",
    "Lake Road",
    "Emmanuel Ridge",
    "Mertz Crossroad",
    "High Street",
    "Station Road",
    "Mill Lane",
]
DEPARTMENTS = [
    ("Sales", "Manchester"),
    ("Purchasing", "Manchester"),
    ("Production", "Leeds"),
    ("Dispatch", "Leds"),
    ("Finance", "Manchester"),
    ("Facilities", "Manchester"),
    ("Communications", "Leeds"),
    ("HR", "Leeds"),
]
DESIGN_WORDS = [
    "Bronze",
    "Granite",
    "Soft",
    "Wooden",
    "Steel",
    "Cotton",
    "Fresh",
    "Frozen",
    "Rubber",
    "Plastic",
    "Concrete",
    "Bespoke",
    "Tasty",
    "Gorgeous",
    "Sleek",
]
COMPANIES = [
    "Fahey and Sons",
    "Leannon, Predovic and Morar",
    "Armstrong Inc",
    "Kohler Inc",
    "Frami, Yundt and Macejkovic",
    "Mraz LLC",
    "Padberg, Lueilwitz and Johnson",
    "Grant - Lakin",
    "Price LLC",
    "Bosco - Grant",
    "Moen Group",
    "Jacobs - Dietrich",
]
CURRENCIES = ["GBP", "USD", "EUR"]
PAYMENT_TYPES = ["SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND"]


def _ts(rng: random.Random) -> datetime:
    base = datetime(2022, 11, 3, 14, 20, 51)
    return base + timedelta(
        seconds=rng.randrange(0, 3 * 365 * 86400), microseconds=rng.randrange(0, 1_000_000)
    )


def _phone(rng: random.Random) -> str:
    return f"{rng.randrange(1000, 9999)} {rng.randrange(100000, 999999)}"


def seed_rows(rng: random.Random, scale: int = 1) -> dict[str, list[dict[str, Any]]]:
    """The demo's starting data; `scale` multiplies the transactional tables."""
    rows: dict[str, list[dict[str, Any]]] = {}

    def stamp() -> dict[str, Any]:
        t = _ts(rng)
        return {"created_at": t, "last_updated": t}

    rows["currency"] = [
        {"currency_id": i, "currency_code": c, **stamp()} for i, c in enumerate(CURRENCIES, 1)
    ]
    rows["payment_type"] = [
        {"payment_type_id": i, "payment_type_name": n, **stamp()}
        for i, n in enumerate(PAYMENT_TYPES, 1)
    ]
    rows["department"] = [
        {
            "department_id": i,
            "department_name": n,
            "location": loc,
            "manager": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            **stamp(),
        }
        for i, (n, loc) in enumerate(DEPARTMENTS, 1)
    ]
    rows["address"] = [address(rng, i) for i in range(1, 31)]
    rows["staff"] = [staff(rng, i, len(DEPARTMENTS)) for i in range(1, 21)]
    rows["counterparty"] = [
        {
            "counterparty_id": i,
            "counterparty_legal_name": name,
            "legal_address_id": rng.randrange(1, 31),
            "commercial_contact": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "delivery_contact": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            **stamp(),
        }
        for i, name in enumerate(COMPANIES, 1)
    ]
    rows["design"] = [design(rng, i) for i in range(1, 51)]
    n_sales, n_purchases = 200 * scale, 60 * scale
    rows["sales_order"] = [sales_order(rng, i) for i in range(1, n_sales + 1)]
    rows["purchase_order"] = [purchase_order(rng, i) for i in range(1, n_purchases + 1)]
    rows["transaction"] = [
        {
            "transaction_id": i,
            "transaction_type": "SALE",
            "sales_order_id": i,
            "purchase_order_id": None,
            **stamp(),
        }
        for i in range(1, n_sales + 1)
    ] + [
        {
            "transaction_id": n_sales + i,
            "transaction_type": "PURCHASE",
            "sales_order_id": None,
            "purchase_order_id": i,
            **stamp(),
        }
        for i in range(1, n_purchases + 1)
    ]
    rows["payment"] = [payment(rng, i, i) for i in range(1, n_sales + n_purchases + 1)]
    rows["type_zoo"] = zoo_edge_rows(rng, start_id=1)
    more = [split_more(r) for r in more_edge_rows(rng, start_id=1)]
    for table in MORE_TABLES:
        rows[table] = [r[table] for r in more]
    return rows


def address(rng: random.Random, i: int) -> dict[str, Any]:
    city, country = rng.choice(CITIES)
    t = _ts(rng)
    return {
        "address_id": i,
        "address_line_1": f"{rng.randrange(1, 999)} {rng.choice(STREETS)}",
        "address_line_2": rng.choice([None, f"Flat {rng.randrange(1, 40)}"]),
        "district": rng.choice([None, "Avon", "Cheshire", "Bedfordshire", "Buckinghamshire"]),
        "city": city,
        "postal_code": f"{rng.randrange(10000, 99999)}-{rng.randrange(1000, 9999)}",
        "country": country,
        "phone": _phone(rng),
        "created_at": t,
        "last_updated": t,
    }


def staff(rng: random.Random, i: int, n_departments: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    t = _ts(rng)
    return {
        "staff_id": i,
        "first_name": first,
        "last_name": last,
        "department_id": rng.randrange(1, n_departments + 1),
        "email_address": f"{first.lower()}.{last.lower()}@terrifictotes.com",
        "created_at": t,
        "last_updated": t,
    }


def design(rng: random.Random, i: int) -> dict[str, Any]:
    word = rng.choice(DESIGN_WORDS)
    t = _ts(rng)
    return {
        "design_id": i,
        "design_name": word,
        "file_location": f"/{rng.choice(['usr', 'opt', 'srv'])}/designs",
        "file_name": f"{word.lower()}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}.json",
        "created_at": t,
        "last_updated": t,
    }


def sales_order(rng: random.Random, i: int) -> dict[str, Any]:
    t = _ts(rng)
    delivery = t.date() + timedelta(days=rng.randrange(1, 30))
    return {
        "sales_order_id": i,
        "design_id": rng.randrange(1, 51),
        "staff_id": rng.randrange(1, 21),
        "counterparty_id": rng.randrange(1, len(COMPANIES) + 1),
        "units_sold": rng.randrange(1000, 100000),
        "unit_price": Decimal(rng.randrange(200, 400)) / 100,
        "currency_id": rng.randrange(1, 4),
        "agreed_delivery_date": delivery,
        "agreed_payment_date": delivery + timedelta(days=rng.randrange(0, 10)),
        "agreed_delivery_location_id": rng.randrange(1, 31),
        "created_at": t,
        "last_updated": t,
    }


def purchase_order(rng: random.Random, i: int) -> dict[str, Any]:
    t = _ts(rng)
    delivery = t.date() + timedelta(days=rng.randrange(1, 30))
    # Unconstrained numeric with more digits than NUMERIC(28,6) keeps.
    price = Decimal(rng.randrange(1, 10**12)) / Decimal(10**9)
    return {
        "purchase_order_id": i,
        "staff_id": rng.randrange(1, 21),
        "counterparty_id": rng.randrange(1, len(COMPANIES) + 1),
        "item_code": "".join(rng.choices(string.ascii_uppercase + string.digits, k=7)),
        "item_quantity": rng.randrange(1, 1000),
        "item_unit_price": price,
        "currency_id": rng.randrange(1, 4),
        "agreed_delivery_date": delivery,
        "agreed_payment_date": delivery + timedelta(days=rng.randrange(0, 10)),
        "agreed_delivery_location_id": rng.randrange(1, 31),
        "created_at": t,
        "last_updated": t,
    }


def payment(rng: random.Random, i: int, transaction_id: int) -> dict[str, Any]:
    t = _ts(rng)
    return {
        "payment_id": i,
        "transaction_id": transaction_id,
        "counterparty_id": rng.randrange(1, len(COMPANIES) + 1),
        "payment_amount": Decimal(rng.randrange(100, 10_000_000)) / 100,
        "currency_id": rng.randrange(1, 4),
        "payment_type_id": rng.randrange(1, 5),
        "paid": rng.random() < 0.5,
        "payment_date": t.date() + timedelta(days=rng.randrange(0, 60)),
        "company_ac_number": rng.randrange(10_000_000, 99_999_999),
        "counterparty_ac_number": rng.randrange(10_000_000, 99_999_999),
        "created_at": t,
        "last_updated": t,
    }


def toast_text(rng: random.Random, size: int = 20_000) -> str:
    """Incompressible text well over the 2 kB TOAST threshold, so it is stored out of line."""
    return "".join(rng.choices(string.ascii_letters + string.digits + " \t\n\\'\"", k=size))


def zoo_edge_rows(rng: random.Random, start_id: int) -> list[dict[str, Any]]:
    """type_zoo rows at the edges of every type, plus an all-NULL row."""
    utc = UTC
    rows = [
        {
            "c_smallint": -32768,
            "c_int": -2147483648,
            "c_bigint": -9223372036854775808,
            "c_numeric_ps": Decimal("-999999999999.999999"),
            "c_numeric": Decimal("-0.000000000000000000000000000001"),
            "c_real": float("-3.4028235e38"),
            "c_double": -1.7976931348623157e308,
            "c_bool": False,
            "c_varchar": "",
            "c_text": "",
            "c_char": "a",
            "c_date": date(1, 1, 1),
            "c_time": time(0, 0),
            "c_timestamp": datetime(1, 1, 1),
            "c_timestamptz": datetime(1970, 1, 1, tzinfo=utc),
            "c_interval": timedelta(days=-3, microseconds=1),
            "c_uuid": uuid.UUID(int=0),
            "c_json": '{"a": [1, 2.5, "x"], "a": null}',
            "c_jsonb": '{"k": {"nested": [true, false, null]}}',
            "c_bytea": bytes(range(256)),
            "c_text_array": ["a", "b c", None, '"quoted"', "back\\slash", "", "NULL"],
            "c_int_array": [1, None, -2147483648],
            "c_mood": "happy",
        },
        {
            "c_smallint": 32767,
            "c_int": 2147483647,
            "c_bigint": 9223372036854775807,
            "c_numeric_ps": Decimal("999999999999.999999"),
            "c_numeric": Decimal("12345678901234567890.123456789012345678901234567890"),
            "c_real": 1.17549435e-38,
            "c_double": 5e-324,
            "c_bool": True,
            "c_varchar": "ünïcødé ✓ 🚀 tab\there",
            "c_text": toast_text(rng),
            "c_char": "abcde",
            "c_date": date(9999, 12, 31),
            "c_time": time(23, 59, 59, 999999),
            "c_timestamp": datetime(9999, 12, 31, 23, 59, 59, 999999),
            "c_timestamptz": datetime(2038, 1, 19, 3, 14, 8, 123456, tzinfo=utc),
            "c_interval": timedelta(days=400, hours=4, minutes=5, seconds=6, microseconds=789000),
            "c_uuid": uuid.UUID(int=rng.getrandbits(128)),
            "c_json": "[]",
            "c_jsonb": '{"emoji": "🚀", "n": 1e400}',
            "c_bytea": b"",
            "c_text_array": [],
            "c_int_array": [2147483647],
            "c_mood": "sad",
        },
        {
            "c_bigint": 2**53 + 1,
            "c_numeric_ps": Decimal("0.000001"),
            "c_numeric": Decimal("0"),
            "c_real": 0.1,
            "c_double": 0.1,
            "c_text": "line1\nline2\r\nend\\",
            "c_char": "  x  ",
            "c_date": date(2024, 2, 29),
            "c_time": time(12, 0, 0, 500000),
            "c_timestamp": datetime(2024, 2, 29, 12, 0, 0, 1),
            "c_timestamptz": datetime(
                2024, 2, 29, 23, 59, 59, tzinfo=timezone(timedelta(hours=5, minutes=30))
            ),
            "c_interval": timedelta(0),
            "c_mood": "ok",
        },
        {},  # every nullable column NULL
    ]
    return [{"id": start_id + i, **r} for i, r in enumerate(rows)]


def more_edge_rows(rng: random.Random, start_id: int) -> list[dict[str, Any]]:
    """Rows at the edges of the types added for real databases (issue 13), in PostgreSQL's
    input syntax, plus an all-NULL row, for type_zoo_more, type_zoo_arrays and type_zoo_ranges
    together (three tables, so each load plan stays within Redshift's 40 statements): see
    `split_more`."""
    u = uuid.UUID(int=rng.getrandbits(128))
    rows = [
        {
            "c_bigint_array": "{-9223372036854775808,9223372036854775807,NULL,0}",
            "c_smallint_array": "{-32768,32767}",
            "c_numeric_array": "{-0.000000000000000000001,123456789012345678901234567890,NaN}",
            "c_numeric_ps_array": "{-99999999.99,0.01,NULL}",
            "c_double_array": "{-1.7976931348623157e308,5e-324,0.1,NaN,Infinity,-Infinity}",
            "c_real_array": "{3.4028235e38,1.17549435e-38,0.1}",
            "c_bool_array": "{t,f,NULL}",
            "c_varchar_array": '{"","a,b","q\\"uote",NULL,"NULL","ünï✓🚀"}',
            "c_uuid_array": f"{{{u},00000000-0000-0000-0000-000000000000}}",
            "c_date_array": "{0001-01-01,9999-12-31,2024-02-29}",
            "c_timestamp_array": '{"0001-01-01 00:00:00","9999-12-31 23:59:59.999999"}',
            "c_timestamptz_array": '{"1970-01-01 00:00:00+00","2024-02-29 23:59:59.5+05:30"}',
            "c_interval_array": '{"-3 days 00:00:00.000001","1 year 2 mons"}',
            "c_bytea_array": '{"\\\\x00ff",NULL,"\\\\x"}',
            "c_interval_hm": "-838:59",
            "c_timestamp3": "2024-02-29 12:00:00.123",
            "c_timestamptz0": "2038-01-19 03:14:08+00",
            "c_time2": "23:59:59.99",
            "c_timetz": "23:59:59.999999-15:59",
            "c_money": "-12345678901234567.89",
            "c_inet": "2001:db8::1/64",
            "c_cidr": "10.0.0.0/8",
            "c_macaddr": "08:00:2b:01:02:03",
            "c_macaddr8": "08:00:2b:01:02:03:04:05",
            "c_bit": "1010",
            "c_varbit": "",
            "c_xml": '<a x="1">tëxt &amp; <b/></a>',
            "c_citext": "MiXeD Case ✓",
            "c_hstore": '"a"=>"1", "q\\"k"=>NULL, "back\\\\slash"=>"", "ünï"=>"✓"',
            "c_int4range": "[-2147483648,2147483647)",
            "c_int8range": "(,0]",
            "c_numrange": "[-0.5,1e20)",
            "c_tsrange": "[2024-01-01 00:00:00,2024-01-02 00:00:00.5)",
            "c_tstzrange": "[2024-01-01 00:00:00+00,)",
            "c_daterange": "empty",
        },
        {
            "c_bigint_array": "{}",
            "c_numeric_ps_array": "{}",
            "c_varchar_array": "{12345678}",
            "c_interval_hm": "00:01",
            "c_timestamp3": "0001-01-01 00:00:00",
            "c_time2": "00:00:00",
            "c_timetz": "00:00:00+15:59",
            "c_money": "12345678901234567.89",
            "c_inet": "192.168.0.1/24",
            "c_cidr": "::/0",
            "c_bit": "0000",
            "c_varbit": "101010101010",
            "c_xml": "",
            "c_citext": "",
            "c_hstore": "",
            "c_int4range": "empty",
            "c_numrange": "(,)",
            "c_daterange": "[2024-02-29,9999-12-31)",
        },
        {"c_money": "0.01", "c_interval_hm": "-00:01", "c_hstore": '"k"=>"v"'},
        {},  # every nullable column NULL
    ]
    return [{"id": start_id + i, **r} for i, r in enumerate(rows)]


ARRAYS_OF_MORE = ("c_uuid_array", "c_interval_array", "c_bytea_array")  # in type_zoo_more
MORE_TABLES = ("type_zoo_more", "type_zoo_arrays", "type_zoo_ranges")


def split_more(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A more_edge_rows row as its type_zoo_more, type_zoo_arrays and type_zoo_ranges rows."""

    def table(column: str) -> str:
        if column.endswith("range"):
            return "type_zoo_ranges"
        if column.endswith("_array") and column not in ARRAYS_OF_MORE:
            return "type_zoo_arrays"
        return "type_zoo_more"

    out: dict[str, dict[str, Any]] = {t: {"id": row["id"]} for t in MORE_TABLES}
    for k, v in row.items():
        if k != "id":
            out[table(k)][k] = v
    return out
