-- Bootstrap of that table: DDL, tombstones (name shortened), grants, analyst view
CREATE TABLE IF NOT EXISTS "sport"."spieler größe xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" (
  "playerid" varchar(36) NOT NULL,
  "year" smallint NOT NULL,
  "order" varchar(65535),
  "größe" varchar(65535),
  "year of birth" date,
  "say ""hi""" varchar(65535),
  "price (€)" varchar(65535),
  "_cdc_version" numeric(38,0) NOT NULL,
  "_cdc_op" varchar(8) NOT NULL,
  "_cdc_commit_ts" timestamptz,
  "_cdc_loaded_at" timestamptz NOT NULL,
  "_cdc_deleted" boolean NOT NULL DEFAULT false,
  "_cdc_unknown" varchar(65535),
  PRIMARY KEY ("playerid", "year")
);
CREATE TABLE IF NOT EXISTS "cdc"."sport__spieler größe xxxxxxxxxxxxxxxxxxxxxx_d184e42a__deleted" ("playerid" varchar(36) NOT NULL, "year" smallint NOT NULL, "_cdc_version" numeric(38,0) NOT NULL);
REVOKE SELECT ("größe") ON "sport"."spieler größe xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" FROM ROLE "cdc_analyst";
GRANT SELECT ("playerid", "year", "order", "year of birth", "say ""hi""", "price (€)", "_cdc_version", "_cdc_op", "_cdc_commit_ts", "_cdc_loaded_at", "_cdc_deleted") ON "sport"."spieler größe xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" TO ROLE "cdc_analyst";
CREATE OR REPLACE VIEW "analyst"."spieler größe xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" AS SELECT "playerid", "year", "order", "year of birth", "say ""hi""", "price (€)" FROM "sport"."spieler größe xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" WHERE NOT "_cdc_deleted";
