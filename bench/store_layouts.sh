#!/usr/bin/env bash
# Bytes per event of one day of events in the warm-tier layouts considered for issue 16, on
# a private PostgreSQL 15 (scripts/postgres.sh): the hot partition (btrees + GIN), a rewrite
# with lz4 column compression, the same with toast_tuple_target = 128, per-row lz4 forced
# through a padded staging table, and packed blocks (one event_row[] per 1,000 or 100 rows,
# lz4 or pglz). Each total is heap + TOAST + indexes after VACUUM ANALYZE.
# Usage: bash bench/store_layouts.sh EVENTS_NDJSON   (e.g. the file bench/store.sh makes)
set -euo pipefail
cd "$(dirname "$0")/.."
events=$(realpath "${1:?usage: store_layouts.sh EVENTS_NDJSON}")
tmp=$(mktemp -d)
chmod 755 "$tmp"
cp "$events" "$tmp/events.ndjson"
chmod 644 "$tmp/events.ndjson"
url=$(bash scripts/postgres.sh start "$tmp/pg")
trap 'bash scripts/postgres.sh stop "$tmp/pg" >/dev/null; rm -rf "$tmp"' EXIT
psql "$url" -v ON_ERROR_STOP=1 -qAt -F ' | ' <<SQL
CREATE TABLE raw (j jsonb);
\copy raw FROM '$tmp/events.ndjson' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02')
CREATE TYPE ev AS ("timestamp" timestamptz, ingested timestamptz, dataset text, host text,
    severity smallint, event_code text, user_name text, source_ip inet, message text, event jsonb);
CREATE TABLE hot OF ev;
INSERT INTO hot SELECT (j->>'@timestamp')::timestamptz, (j->'event'->>'ingested')::timestamptz,
    j->'event'->>'dataset', coalesce(j->'host'->>'hostname', j->'host'->>'name'),
    (j->'event'->>'severity')::smallint, j->'event'->>'code', j->'user'->>'name',
    CASE WHEN j->'source'->>'ip' ~ '^[0-9.]+\$' THEN (j->'source'->>'ip')::inet END,
    j->>'message', j FROM raw;
CREATE INDEX ON hot ("timestamp"); CREATE INDEX ON hot (dataset); CREATE INDEX ON hot (host);
CREATE INDEX ON hot (severity); CREATE INDEX ON hot (event_code); CREATE INDEX ON hot (user_name);
CREATE INDEX ON hot (source_ip); CREATE INDEX ON hot USING gin (event);
CREATE TABLE rewrite (LIKE hot);
ALTER TABLE rewrite ALTER event SET COMPRESSION lz4, ALTER message SET COMPRESSION lz4;
INSERT INTO rewrite SELECT * FROM hot ORDER BY "timestamp";
CREATE INDEX ON rewrite USING brin ("timestamp");
CREATE TABLE target128 (LIKE hot) WITH (toast_tuple_target = 128);
ALTER TABLE target128 ALTER event SET COMPRESSION lz4, ALTER message SET COMPRESSION lz4;
INSERT INTO target128 SELECT * FROM hot ORDER BY "timestamp";
CREATE INDEX ON target128 USING brin ("timestamp");
-- A row over ~2 KB makes the toaster run; with a target of 128 it compresses event and
-- message in line and moves the pad out; the compressed values are copied as they are.
CREATE UNLOGGED TABLE staging (LIKE hot, pad text) WITH (toast_tuple_target = 128);
ALTER TABLE staging ALTER event SET COMPRESSION lz4, ALTER message SET COMPRESSION lz4,
    ALTER pad SET STORAGE EXTERNAL;
INSERT INTO staging SELECT h.*, repeat('x', 2100) FROM hot h ORDER BY "timestamp";
CREATE TABLE rowlz4 (LIKE hot);
INSERT INTO rowlz4 SELECT "timestamp", ingested, dataset, host, severity, event_code, user_name,
    source_ip, message, event FROM staging;
CREATE INDEX ON rowlz4 USING brin ("timestamp");
CREATE TABLE packed1000 (first timestamptz, last timestamptz, events int, rows ev[]);
ALTER TABLE packed1000 ALTER rows SET COMPRESSION lz4;
CREATE TABLE packed1000pglz (LIKE packed1000);
ALTER TABLE packed1000pglz ALTER rows SET COMPRESSION pglz;
CREATE TABLE packed100 (LIKE packed1000 INCLUDING COMPRESSION);
INSERT INTO packed1000 SELECT min(t), max(t), count(*), array_agg(r ORDER BY t)
  FROM (SELECT "timestamp" t, ROW(h.*)::ev r, (row_number() OVER (ORDER BY "timestamp") - 1) / 1000 b
          FROM hot h) x GROUP BY b;
-- Built again from the rows: copying packed1000's values would keep their lz4 compression.
INSERT INTO packed1000pglz SELECT min(t), max(t), count(*), array_agg(r ORDER BY t)
  FROM (SELECT "timestamp" t, ROW(h.*)::ev r, (row_number() OVER (ORDER BY "timestamp") - 1) / 1000 b
          FROM hot h) x GROUP BY b;
INSERT INTO packed100 SELECT min(t), max(t), count(*), array_agg(r ORDER BY t)
  FROM (SELECT "timestamp" t, ROW(h.*)::ev r, (row_number() OVER (ORDER BY "timestamp") - 1) / 100 b
          FROM hot h) x GROUP BY b;
CREATE INDEX ON packed1000 (first, last); CREATE INDEX ON packed1000pglz (first, last);
CREATE INDEX ON packed100 (first, last);
VACUUM ANALYZE;
SELECT 'events', count(*), round(avg(octet_length(j::text))) || ' B of JSON each' FROM raw;
SELECT 'layout', 'bytes per event', 'hot / layout';
SELECT t, round(pg_total_relation_size(t::regclass)::numeric / (SELECT count(*) FROM hot)),
       round(pg_total_relation_size('hot')::numeric / pg_total_relation_size(t::regclass), 2)
  FROM unnest(ARRAY['hot', 'rewrite', 'target128', 'rowlz4', 'packed1000', 'packed1000pglz',
                    'packed100']) AS t;
SELECT 'packed1000pglz blocks compressed with', string_agg(DISTINCT pg_column_compression(rows), ',')
  FROM packed1000pglz;
SELECT 'packed1000 round trip: rows differing',
       (SELECT count(*) FROM (SELECT * FROM hot EXCEPT ALL
                              SELECT r.* FROM packed1000 p, unnest(p.rows) r) d);
SQL
