#!/usr/bin/env python3
"""The DuckDB side of scripts/bench-replay.sh: read a Kong log and group by
token (no JWT decode, no GeoIP, no rules). Two queries:
  typed  read_ndjson with the columns it needs (a kafka-log batch line is not
         a record to it: it reads fewer records than there are);
  json   every record, batches unnested (read_json_objects + json_extract).
Usage: bench-duckdb.py FILE THREADS typed|json  -> prints "records tokens seconds"
"""
import sys
import time

import duckdb

path, threads, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
con = duckdb.connect()
con.execute(f"SET threads TO {threads}")
lit = "'" + path.replace("'", "''") + "'"
if kind == "typed":
    cols = """{'started_at': 'BIGINT', 'client_ip': 'VARCHAR', 'request': 'STRUCT(headers STRUCT("authorization" VARCHAR))', 'jwt': 'STRUCT(iss VARCHAR, jti VARCHAR)'}"""
    q = f"""SELECT coalesce(jwt.iss || '|' || jwt.jti, request.headers.authorization) AS token, count(*) AS uses,
            min(started_at), max(started_at), count(DISTINCT client_ip)
            FROM read_ndjson({lit}, columns={cols}, ignore_errors=true, format='newline_delimited') GROUP BY 1"""
else:
    q = f"""WITH raw AS (SELECT json FROM read_json_objects({lit}, format='newline_delimited')),
            recs AS (SELECT unnest(CASE WHEN json_type(json) = 'ARRAY' THEN json::JSON[] ELSE [json] END) AS r FROM raw)
            SELECT coalesce(json_extract_string(r, '$.jwt.iss') || '|' || json_extract_string(r, '$.jwt.jti'),
                            json_extract_string(r, '$.request.headers.authorization')) AS token,
                   count(*) AS uses, min(json_extract(r, '$.started_at')::BIGINT),
                   max(json_extract(r, '$.started_at')::BIGINT), count(DISTINCT json_extract_string(r, '$.client_ip'))
            FROM recs GROUP BY 1"""
t = time.time()
tokens, records = con.execute(f"SELECT count(*), sum(uses) FROM ({q})").fetchone()
print(records, tokens, f"{time.time() - t:.3f}")
