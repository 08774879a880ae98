-- Bootstrap of a table without a primary key: identity, hash, tombstones, indexes
CREATE TABLE IF NOT EXISTS "public"."type_zoo_keyless" (
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
  "_cdc_row" varchar(256) NOT NULL,
  "_cdc_hash" char(32) NOT NULL,
  PRIMARY KEY ("_cdc_row")
);
CREATE TABLE IF NOT EXISTS "cdc"."public__type_zoo_keyless__deleted" ("_cdc_row" varchar(256), "_cdc_version" numeric(38,0) NOT NULL);
CREATE INDEX IF NOT EXISTS "type_zoo_keyless__cdc_hash" ON "public"."type_zoo_keyless" ("_cdc_hash");
CREATE INDEX IF NOT EXISTS "public__type_zoo_keyless__deleted__version" ON "cdc"."public__type_zoo_keyless__deleted" ("_cdc_version");
CREATE INDEX IF NOT EXISTS "public__type_zoo_keyless__deleted__row" ON "cdc"."public__type_zoo_keyless__deleted" ("_cdc_row");
