-- Generated from schemas/ by `make sql`; do not edit by hand.
-- Run once (Redshift Data API or Query Editor v2) before the first load.
CREATE SCHEMA IF NOT EXISTS "cdc";
CREATE TABLE IF NOT EXISTS "cdc"."load_ledger" (batch_id varchar(256) NOT NULL, table_name varchar(256) NOT NULL, row_count bigint NOT NULL, started_at timestamptz NOT NULL, applied_at timestamptz NOT NULL, PRIMARY KEY (batch_id, table_name));
CREATE TABLE IF NOT EXISTS "cdc"."load_quarantine" (batch_id varchar(256) NOT NULL, table_name varchar(256) NOT NULL, sqlstate varchar(5), reason varchar(4096) NOT NULL, quarantined_at timestamptz NOT NULL, PRIMARY KEY (batch_id, table_name));
CREATE SCHEMA IF NOT EXISTS "cdc_meta";
CREATE SCHEMA IF NOT EXISTS "public";
CREATE TABLE IF NOT EXISTS "cdc_meta"."truncations" (
  "truncation_id" bigint NOT NULL,
  "schema_name" varchar(65535) NOT NULL,
  "table_name" varchar(65535) NOT NULL,
  "truncated_at" timestamptz NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("truncation_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."cdc_meta__truncations__deleted" ("truncation_id" bigint NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."address" (
  "address_id" integer NOT NULL,
  "address_line_1" varchar(65535) NOT NULL,
  "address_line_2" varchar(65535),
  "district" varchar(65535),
  "city" varchar(65535) NOT NULL,
  "postal_code" varchar(65535) NOT NULL,
  "country" varchar(65535) NOT NULL,
  "phone" varchar(65535) NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("address_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__address__deleted" ("address_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."counterparty" (
  "counterparty_id" integer NOT NULL,
  "counterparty_legal_name" varchar(65535) NOT NULL,
  "legal_address_id" integer NOT NULL,
  "commercial_contact" varchar(65535) NOT NULL,
  "delivery_contact" varchar(65535) NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("counterparty_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__counterparty__deleted" ("counterparty_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."currency" (
  "currency_id" integer NOT NULL,
  "currency_code" varchar(12) NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("currency_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__currency__deleted" ("currency_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."department" (
  "department_id" integer NOT NULL,
  "department_name" varchar(65535) NOT NULL,
  "location" varchar(65535) NOT NULL,
  "manager" varchar(65535) NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("department_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__department__deleted" ("department_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."design" (
  "design_id" integer NOT NULL,
  "design_name" varchar(65535) NOT NULL,
  "file_location" varchar(65535) NOT NULL,
  "file_name" varchar(65535) NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("design_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__design__deleted" ("design_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."payment" (
  "payment_id" integer NOT NULL,
  "transaction_id" integer NOT NULL,
  "counterparty_id" integer NOT NULL,
  "payment_amount" numeric(12,2) NOT NULL,
  "currency_id" integer NOT NULL,
  "payment_type_id" integer NOT NULL,
  "paid" boolean NOT NULL,
  "payment_date" date NOT NULL,
  "company_ac_number" bigint NOT NULL,
  "counterparty_ac_number" bigint NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("payment_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__payment__deleted" ("payment_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."payment_type" (
  "payment_type_id" integer NOT NULL,
  "payment_type_name" varchar(65535) NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("payment_type_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__payment_type__deleted" ("payment_type_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."purchase_order" (
  "purchase_order_id" integer NOT NULL,
  "staff_id" integer NOT NULL,
  "counterparty_id" integer NOT NULL,
  "item_code" varchar(65535) NOT NULL,
  "item_quantity" integer NOT NULL,
  "item_unit_price" varchar(256) NOT NULL,
  "currency_id" integer NOT NULL,
  "agreed_delivery_date" date NOT NULL,
  "agreed_payment_date" date NOT NULL,
  "agreed_delivery_location_id" integer NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("purchase_order_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__purchase_order__deleted" ("purchase_order_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."sales_order" (
  "sales_order_id" integer NOT NULL,
  "design_id" integer NOT NULL,
  "staff_id" integer NOT NULL,
  "counterparty_id" integer NOT NULL,
  "units_sold" integer NOT NULL,
  "unit_price" numeric(10,2) NOT NULL,
  "currency_id" integer NOT NULL,
  "agreed_delivery_date" date NOT NULL,
  "agreed_payment_date" date NOT NULL,
  "agreed_delivery_location_id" integer NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("sales_order_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__sales_order__deleted" ("sales_order_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."staff" (
  "staff_id" integer NOT NULL,
  "first_name" varchar(65535) NOT NULL,
  "last_name" varchar(65535) NOT NULL,
  "department_id" integer NOT NULL,
  "email_address" varchar(65535) NOT NULL,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("staff_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__staff__deleted" ("staff_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."transaction" (
  "transaction_id" integer NOT NULL,
  "transaction_type" varchar(65535) NOT NULL,
  "sales_order_id" integer,
  "purchase_order_id" integer,
  "created_at" timestamp NOT NULL,
  "last_updated" timestamp NOT NULL,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("transaction_id")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__transaction__deleted" ("transaction_id" integer NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
CREATE TABLE IF NOT EXISTS "public"."type_zoo" (
  "id" integer NOT NULL,
  "c_smallint" smallint,
  "c_int" integer,
  "c_bigint" bigint,
  "c_numeric_ps" numeric(18,6),
  "c_numeric" varchar(256),
  "c_real" real,
  "c_double" double precision,
  "c_bool" boolean,
  "c_varchar" varchar(160),
  "c_text" varchar(65535),
  "c_char" varchar(20),
  "c_date" date,
  "c_time" time,
  "c_timestamp" timestamp,
  "c_timestamptz" timestamptz,
  "c_interval" varchar(64),
  "c_uuid" char(36),
  "c_json" super,
  "c_jsonb" super,
  "c_bytea" varbyte(1024000),
  "c_text_array" super,
  "c_int_array" super,
  "c_mood" varchar(256),
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("id")
);
CREATE TABLE IF NOT EXISTS "public"."type_zoo_arrays" (
  "id" integer NOT NULL,
  "c_bigint_array" super,
  "c_smallint_array" super,
  "c_numeric_array" super,
  "c_numeric_ps_array" super,
  "c_double_array" super,
  "c_real_array" super,
  "c_bool_array" super,
  "c_varchar_array" super,
  "c_date_array" super,
  "c_timestamp_array" super,
  "c_timestamptz_array" super,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("id")
);
CREATE TABLE IF NOT EXISTS "public"."type_zoo_more" (
  "id" integer NOT NULL,
  "c_interval_hm" varchar(64),
  "c_timestamp3" timestamp,
  "c_timestamptz0" timestamptz,
  "c_time2" time,
  "c_timetz" varchar(32),
  "c_money" decimal(19,2),
  "c_inet" varchar(50),
  "c_cidr" varchar(50),
  "c_macaddr" varchar(23),
  "c_macaddr8" varchar(23),
  "c_bit" varchar(4),
  "c_varbit" varchar(12),
  "c_xml" varchar(65535),
  "c_citext" varchar(65535),
  "c_hstore" super,
  "c_uuid_array" super,
  "c_interval_array" super,
  "c_bytea_array" super,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("id")
);
CREATE TABLE IF NOT EXISTS "public"."type_zoo_ranges" (
  "id" integer NOT NULL,
  "c_int4range" varchar(255),
  "c_int8range" varchar(255),
  "c_numrange" varchar(255),
  "c_tsrange" varchar(255),
  "c_tstzrange" varchar(255),
  "c_daterange" varchar(255),
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("id")
);
CREATE ROLE "cdc_loader";
GRANT USAGE ON SCHEMA "cdc", "cdc_meta", "public" TO ROLE "cdc_loader";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "cdc", "cdc_meta", "public" TO ROLE "cdc_loader";
CREATE ROLE "cdc_engineer";
GRANT USAGE ON SCHEMA "cdc", "cdc_meta", "public" TO ROLE "cdc_engineer";
GRANT SELECT ON ALL TABLES IN SCHEMA "cdc", "cdc_meta", "public" TO ROLE "cdc_engineer";
CREATE ROLE "cdc_analyst";
CREATE SCHEMA IF NOT EXISTS "analyst";
GRANT USAGE ON SCHEMA "cdc_meta" TO ROLE "cdc_analyst";
GRANT USAGE ON SCHEMA "public" TO ROLE "cdc_analyst";
GRANT SELECT ("truncation_id", "schema_name", "table_name", "truncated_at", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "cdc_meta"."truncations" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."truncations" AS SELECT "truncation_id", "schema_name", "table_name", "truncated_at" FROM "cdc_meta"."truncations" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("address_line_1", "address_line_2", "postal_code", "phone") ON "public"."address" FROM ROLE "cdc_analyst";
GRANT SELECT ("address_id", "district", "city", "country", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."address" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."address" AS SELECT "address_id", "district", "city", "country", "created_at", "last_updated" FROM "public"."address" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("commercial_contact", "delivery_contact") ON "public"."counterparty" FROM ROLE "cdc_analyst";
GRANT SELECT ("counterparty_id", "counterparty_legal_name", "legal_address_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."counterparty" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."counterparty" AS SELECT "counterparty_id", "counterparty_legal_name", "legal_address_id", "created_at", "last_updated" FROM "public"."counterparty" WHERE NOT "_cdc_deleted";
GRANT SELECT ("currency_id", "currency_code", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."currency" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."currency" AS SELECT "currency_id", "currency_code", "created_at", "last_updated" FROM "public"."currency" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("manager") ON "public"."department" FROM ROLE "cdc_analyst";
GRANT SELECT ("department_id", "department_name", "location", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."department" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."department" AS SELECT "department_id", "department_name", "location", "created_at", "last_updated" FROM "public"."department" WHERE NOT "_cdc_deleted";
GRANT SELECT ("design_id", "design_name", "file_location", "file_name", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."design" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."design" AS SELECT "design_id", "design_name", "file_location", "file_name", "created_at", "last_updated" FROM "public"."design" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("company_ac_number", "counterparty_ac_number") ON "public"."payment" FROM ROLE "cdc_analyst";
GRANT SELECT ("payment_id", "transaction_id", "counterparty_id", "payment_amount", "currency_id", "payment_type_id", "paid", "payment_date", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."payment" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."payment" AS SELECT "payment_id", "transaction_id", "counterparty_id", "payment_amount", "currency_id", "payment_type_id", "paid", "payment_date", "created_at", "last_updated" FROM "public"."payment" WHERE NOT "_cdc_deleted";
GRANT SELECT ("payment_type_id", "payment_type_name", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."payment_type" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."payment_type" AS SELECT "payment_type_id", "payment_type_name", "created_at", "last_updated" FROM "public"."payment_type" WHERE NOT "_cdc_deleted";
GRANT SELECT ("purchase_order_id", "staff_id", "counterparty_id", "item_code", "item_quantity", "item_unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."purchase_order" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."purchase_order" AS SELECT "purchase_order_id", "staff_id", "counterparty_id", "item_code", "item_quantity", "item_unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id", "created_at", "last_updated" FROM "public"."purchase_order" WHERE NOT "_cdc_deleted";
GRANT SELECT ("sales_order_id", "design_id", "staff_id", "counterparty_id", "units_sold", "unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."sales_order" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."sales_order" AS SELECT "sales_order_id", "design_id", "staff_id", "counterparty_id", "units_sold", "unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id", "created_at", "last_updated" FROM "public"."sales_order" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("first_name", "last_name", "email_address") ON "public"."staff" FROM ROLE "cdc_analyst";
GRANT SELECT ("staff_id", "department_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."staff" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."staff" AS SELECT "staff_id", "department_id", "created_at", "last_updated" FROM "public"."staff" WHERE NOT "_cdc_deleted";
GRANT SELECT ("transaction_id", "transaction_type", "sales_order_id", "purchase_order_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."transaction" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."transaction" AS SELECT "transaction_id", "transaction_type", "sales_order_id", "purchase_order_id", "created_at", "last_updated" FROM "public"."transaction" WHERE NOT "_cdc_deleted";
GRANT SELECT ("id", "c_smallint", "c_int", "c_bigint", "c_numeric_ps", "c_numeric", "c_real", "c_double", "c_bool", "c_varchar", "c_text", "c_char", "c_date", "c_time", "c_timestamp", "c_timestamptz", "c_interval", "c_uuid", "c_json", "c_jsonb", "c_bytea", "c_text_array", "c_int_array", "c_mood", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."type_zoo" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."type_zoo" AS SELECT "id", "c_smallint", "c_int", "c_bigint", "c_numeric_ps", "c_numeric", "c_real", "c_double", "c_bool", "c_varchar", "c_text", "c_char", "c_date", "c_time", "c_timestamp", "c_timestamptz", "c_interval", "c_uuid", "c_json", "c_jsonb", "c_bytea", "c_text_array", "c_int_array", "c_mood" FROM "public"."type_zoo" WHERE NOT "_cdc_deleted";
GRANT SELECT ("id", "c_bigint_array", "c_smallint_array", "c_numeric_array", "c_numeric_ps_array", "c_double_array", "c_real_array", "c_bool_array", "c_varchar_array", "c_date_array", "c_timestamp_array", "c_timestamptz_array", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."type_zoo_arrays" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."type_zoo_arrays" AS SELECT "id", "c_bigint_array", "c_smallint_array", "c_numeric_array", "c_numeric_ps_array", "c_double_array", "c_real_array", "c_bool_array", "c_varchar_array", "c_date_array", "c_timestamp_array", "c_timestamptz_array" FROM "public"."type_zoo_arrays" WHERE NOT "_cdc_deleted";
GRANT SELECT ("id", "c_interval_hm", "c_timestamp3", "c_timestamptz0", "c_time2", "c_timetz", "c_money", "c_inet", "c_cidr", "c_macaddr", "c_macaddr8", "c_bit", "c_varbit", "c_xml", "c_citext", "c_hstore", "c_uuid_array", "c_interval_array", "c_bytea_array", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."type_zoo_more" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."type_zoo_more" AS SELECT "id", "c_interval_hm", "c_timestamp3", "c_timestamptz0", "c_time2", "c_timetz", "c_money", "c_inet", "c_cidr", "c_macaddr", "c_macaddr8", "c_bit", "c_varbit", "c_xml", "c_citext", "c_hstore", "c_uuid_array", "c_interval_array", "c_bytea_array" FROM "public"."type_zoo_more" WHERE NOT "_cdc_deleted";
GRANT SELECT ("id", "c_int4range", "c_int8range", "c_numrange", "c_tsrange", "c_tstzrange", "c_daterange", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."type_zoo_ranges" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."type_zoo_ranges" AS SELECT "id", "c_int4range", "c_int8range", "c_numrange", "c_tsrange", "c_tstzrange", "c_daterange" FROM "public"."type_zoo_ranges" WHERE NOT "_cdc_deleted";
GRANT USAGE ON SCHEMA "analyst" TO ROLE "cdc_analyst";
GRANT SELECT ON ALL TABLES IN SCHEMA "analyst" TO ROLE "cdc_analyst";
