-- Generated from schemas/ by `make sql`; do not edit by hand.
-- The local loader runs it itself (idempotent).
CREATE SCHEMA IF NOT EXISTS "cdc";
CREATE TABLE IF NOT EXISTS "cdc"."load_ledger" (batch_id varchar(256) NOT NULL, table_name varchar(256) NOT NULL, row_count bigint NOT NULL, started_at timestamptz NOT NULL, applied_at timestamptz NOT NULL, PRIMARY KEY (batch_id, table_name));
CREATE TABLE IF NOT EXISTS "cdc"."load_quarantine" (batch_id varchar(256) NOT NULL, table_name varchar(256) NOT NULL, sqlstate varchar(5), reason varchar(4096) NOT NULL, quarantined_at timestamptz NOT NULL, PRIMARY KEY (batch_id, table_name));
CREATE SCHEMA IF NOT EXISTS "cdc_meta";
CREATE SCHEMA IF NOT EXISTS "public";
CREATE TABLE IF NOT EXISTS "cdc_meta"."truncations" (
  "truncation_id" bigint NOT NULL,
  "schema_name" text NOT NULL,
  "table_name" text NOT NULL,
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
  "address_line_1" text NOT NULL,
  "address_line_2" text,
  "district" text,
  "city" text NOT NULL,
  "postal_code" text NOT NULL,
  "country" text NOT NULL,
  "phone" text NOT NULL,
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
  "counterparty_legal_name" text NOT NULL,
  "legal_address_id" integer NOT NULL,
  "commercial_contact" text NOT NULL,
  "delivery_contact" text NOT NULL,
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
  "currency_code" char(3) NOT NULL,
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
  "department_name" text NOT NULL,
  "location" text NOT NULL,
  "manager" text NOT NULL,
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
  "design_name" text NOT NULL,
  "file_location" text NOT NULL,
  "file_name" text NOT NULL,
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
  "payment_type_name" text NOT NULL,
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
  "item_code" text NOT NULL,
  "item_quantity" integer NOT NULL,
  "item_unit_price" numeric NOT NULL,
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
  "first_name" text NOT NULL,
  "last_name" text NOT NULL,
  "department_id" integer NOT NULL,
  "email_address" text NOT NULL,
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
  "transaction_type" text NOT NULL,
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
  "c_numeric" numeric,
  "c_real" real,
  "c_double" double precision,
  "c_bool" boolean,
  "c_varchar" varchar(40),
  "c_text" text,
  "c_char" char(5),
  "c_date" date,
  "c_time" time,
  "c_timestamp" timestamp,
  "c_timestamptz" timestamptz,
  "c_interval" interval,
  "c_uuid" uuid,
  "c_json" json,
  "c_jsonb" jsonb,
  "c_bytea" bytea,
  "c_text_array" text[],
  "c_int_array" integer[],
  "c_mood" text,
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
  "c_bigint_array" bigint[],
  "c_smallint_array" smallint[],
  "c_numeric_array" numeric[],
  "c_numeric_ps_array" numeric(10,2)[],
  "c_double_array" double precision[],
  "c_real_array" real[],
  "c_bool_array" boolean[],
  "c_varchar_array" varchar(8)[],
  "c_date_array" date[],
  "c_timestamp_array" timestamp[],
  "c_timestamptz_array" timestamptz[],
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
  "c_interval_hm" interval hour to minute,
  "c_timestamp3" timestamp(3),
  "c_timestamptz0" timestamptz(0),
  "c_time2" time(2),
  "c_timetz" timetz,
  "c_money" money,
  "c_inet" inet,
  "c_cidr" cidr,
  "c_macaddr" macaddr,
  "c_macaddr8" macaddr8,
  "c_bit" bit(4),
  "c_varbit" varbit(12),
  "c_xml" xml,
  "c_citext" text,
  "c_hstore" jsonb,
  "c_uuid_array" uuid[],
  "c_interval_array" interval[],
  "c_bytea_array" bytea[],
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
  "c_int4range" int4range,
  "c_int8range" int8range,
  "c_numrange" numrange,
  "c_tsrange" tsrange,
  "c_tstzrange" tstzrange,
  "c_daterange" daterange,
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("id")
);
DO $$ BEGIN CREATE ROLE "cdc_loader" NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA "cdc", "cdc_meta", "public" TO "cdc_loader";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "cdc", "cdc_meta", "public" TO "cdc_loader";
DO $$ BEGIN CREATE ROLE "cdc_engineer" NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA "cdc", "cdc_meta", "public" TO "cdc_engineer";
GRANT SELECT ON ALL TABLES IN SCHEMA "cdc", "cdc_meta", "public" TO "cdc_engineer";
DO $$ BEGIN CREATE ROLE "cdc_analyst" NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA IF NOT EXISTS "analyst";
GRANT USAGE ON SCHEMA "cdc_meta" TO "cdc_analyst";
GRANT USAGE ON SCHEMA "public" TO "cdc_analyst";
GRANT SELECT ("truncation_id", "schema_name", "table_name", "truncated_at", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "cdc_meta"."truncations" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."truncations" AS SELECT "truncation_id", "schema_name", "table_name", "truncated_at" FROM "cdc_meta"."truncations" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("address_line_1", "address_line_2", "postal_code", "phone") ON "public"."address" FROM "cdc_analyst";
GRANT SELECT ("address_id", "district", "city", "country", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."address" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."address" AS SELECT "address_id", "district", "city", "country", "created_at", "last_updated" FROM "public"."address" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("commercial_contact", "delivery_contact") ON "public"."counterparty" FROM "cdc_analyst";
GRANT SELECT ("counterparty_id", "counterparty_legal_name", "legal_address_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."counterparty" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."counterparty" AS SELECT "counterparty_id", "counterparty_legal_name", "legal_address_id", "created_at", "last_updated" FROM "public"."counterparty" WHERE NOT "_cdc_deleted";
GRANT SELECT ("currency_id", "currency_code", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."currency" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."currency" AS SELECT "currency_id", "currency_code", "created_at", "last_updated" FROM "public"."currency" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("manager") ON "public"."department" FROM "cdc_analyst";
GRANT SELECT ("department_id", "department_name", "location", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."department" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."department" AS SELECT "department_id", "department_name", "location", "created_at", "last_updated" FROM "public"."department" WHERE NOT "_cdc_deleted";
GRANT SELECT ("design_id", "design_name", "file_location", "file_name", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."design" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."design" AS SELECT "design_id", "design_name", "file_location", "file_name", "created_at", "last_updated" FROM "public"."design" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("company_ac_number", "counterparty_ac_number") ON "public"."payment" FROM "cdc_analyst";
GRANT SELECT ("payment_id", "transaction_id", "counterparty_id", "payment_amount", "currency_id", "payment_type_id", "paid", "payment_date", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."payment" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."payment" AS SELECT "payment_id", "transaction_id", "counterparty_id", "payment_amount", "currency_id", "payment_type_id", "paid", "payment_date", "created_at", "last_updated" FROM "public"."payment" WHERE NOT "_cdc_deleted";
GRANT SELECT ("payment_type_id", "payment_type_name", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."payment_type" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."payment_type" AS SELECT "payment_type_id", "payment_type_name", "created_at", "last_updated" FROM "public"."payment_type" WHERE NOT "_cdc_deleted";
GRANT SELECT ("purchase_order_id", "staff_id", "counterparty_id", "item_code", "item_quantity", "item_unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."purchase_order" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."purchase_order" AS SELECT "purchase_order_id", "staff_id", "counterparty_id", "item_code", "item_quantity", "item_unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id", "created_at", "last_updated" FROM "public"."purchase_order" WHERE NOT "_cdc_deleted";
GRANT SELECT ("sales_order_id", "design_id", "staff_id", "counterparty_id", "units_sold", "unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."sales_order" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."sales_order" AS SELECT "sales_order_id", "design_id", "staff_id", "counterparty_id", "units_sold", "unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id", "created_at", "last_updated" FROM "public"."sales_order" WHERE NOT "_cdc_deleted";
REVOKE SELECT ("first_name", "last_name", "email_address") ON "public"."staff" FROM "cdc_analyst";
GRANT SELECT ("staff_id", "department_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."staff" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."staff" AS SELECT "staff_id", "department_id", "created_at", "last_updated" FROM "public"."staff" WHERE NOT "_cdc_deleted";
GRANT SELECT ("transaction_id", "transaction_type", "sales_order_id", "purchase_order_id", "created_at", "last_updated", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."transaction" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."transaction" AS SELECT "transaction_id", "transaction_type", "sales_order_id", "purchase_order_id", "created_at", "last_updated" FROM "public"."transaction" WHERE NOT "_cdc_deleted";
GRANT SELECT ("id", "c_smallint", "c_int", "c_bigint", "c_numeric_ps", "c_numeric", "c_real", "c_double", "c_bool", "c_varchar", "c_text", "c_char", "c_date", "c_time", "c_timestamp", "c_timestamptz", "c_interval", "c_uuid", "c_json", "c_jsonb", "c_bytea", "c_text_array", "c_int_array", "c_mood", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."type_zoo" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."type_zoo" AS SELECT "id", "c_smallint", "c_int", "c_bigint", "c_numeric_ps", "c_numeric", "c_real", "c_double", "c_bool", "c_varchar", "c_text", "c_char", "c_date", "c_time", "c_timestamp", "c_timestamptz", "c_interval", "c_uuid", "c_json", "c_jsonb", "c_bytea", "c_text_array", "c_int_array", "c_mood" FROM "public"."type_zoo" WHERE NOT "_cdc_deleted";
GRANT SELECT ("id", "c_bigint_array", "c_smallint_array", "c_numeric_array", "c_numeric_ps_array", "c_double_array", "c_real_array", "c_bool_array", "c_varchar_array", "c_date_array", "c_timestamp_array", "c_timestamptz_array", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."type_zoo_arrays" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."type_zoo_arrays" AS SELECT "id", "c_bigint_array", "c_smallint_array", "c_numeric_array", "c_numeric_ps_array", "c_double_array", "c_real_array", "c_bool_array", "c_varchar_array", "c_date_array", "c_timestamp_array", "c_timestamptz_array" FROM "public"."type_zoo_arrays" WHERE NOT "_cdc_deleted";
GRANT SELECT ("id", "c_interval_hm", "c_timestamp3", "c_timestamptz0", "c_time2", "c_timetz", "c_money", "c_inet", "c_cidr", "c_macaddr", "c_macaddr8", "c_bit", "c_varbit", "c_xml", "c_citext", "c_hstore", "c_uuid_array", "c_interval_array", "c_bytea_array", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."type_zoo_more" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."type_zoo_more" AS SELECT "id", "c_interval_hm", "c_timestamp3", "c_timestamptz0", "c_time2", "c_timetz", "c_money", "c_inet", "c_cidr", "c_macaddr", "c_macaddr8", "c_bit", "c_varbit", "c_xml", "c_citext", "c_hstore", "c_uuid_array", "c_interval_array", "c_bytea_array" FROM "public"."type_zoo_more" WHERE NOT "_cdc_deleted";
GRANT SELECT ("id", "c_int4range", "c_int8range", "c_numrange", "c_tsrange", "c_tstzrange", "c_daterange", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "public"."type_zoo_ranges" TO "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."type_zoo_ranges" AS SELECT "id", "c_int4range", "c_int8range", "c_numrange", "c_tsrange", "c_tstzrange", "c_daterange" FROM "public"."type_zoo_ranges" WHERE NOT "_cdc_deleted";
GRANT USAGE ON SCHEMA "analyst" TO "cdc_analyst";
GRANT SELECT ON ALL TABLES IN SCHEMA "analyst" TO "cdc_analyst";
