#!/usr/bin/env bash
# investigate benchmark: a generated Kong log (default 5 M lines, ~3 GB
# NDJSON, seeded, with planted thefts and a planted root cause), then
#  0. tokenhound replay on the same NDJSON (1 thread and all cores: the
#     reference the issue measures investigate against),
#  1. tokenhound investigate on the NDJSON (ingest + detect + Parquet copy + report),
#  2. tokenhound investigate on its Parquet copy (in time order: streamed),
#  2b. the same on a shuffled copy (out of order: external merge sort),
#  2c. the Parquet copy's write rate alone (examples/parquet_write_rate.rs),
#  3. DuckDB (PyPI duckdb) computing the per-token impossible-travel query
#     (LAG over token, time; haversine speed) on the same events, as Parquet
#     and as NDJSON (DuckDB writes the NDJSON from the Parquet copy: the raw
#     gateway lines carry no coordinates).
# Prints wall time and peak memory of each; checks the report against the truth.
# Usage: scripts/bench-investigate.sh [LINES]
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-5000000}"
dir="${BENCH_DIR:-/var/tmp/tokenhound-bench}"
mkdir -p "$dir"
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet duckdb==1.4.2
cargo build --profile perf --all-features --quiet --bin tokenhound --example parquet_write_rate
bin="${CARGO_TARGET_DIR:-target}/perf/tokenhound"
rate="${CARGO_TARGET_DIR:-target}/perf/examples/parquet_write_rate"
log="$dir/kong-claims-$lines.ndjson"
[ -s "$log" ] || "$bin" gen --profile kong --lines "$lines" --seed 42 -o "$log" --truth "$log.truth" --revocations "$log.revs"
ls -l "$log"
t() { /usr/bin/time -f "%e s wall, %M KiB peak" -o "$dir/time.txt" "$@"; echo "  $(cat "$dir/time.txt")"; }
for threads in 1 "$(nproc)"; do
  echo "== replay, NDJSON, $threads thread(s)"
  t "$bin" replay --threads "$threads" --config sample-logs/tokenhound.toml --revocations "$log.revs" -o "$dir/alerts.ndjson" "$log"
done
echo "== investigate, NDJSON"
rm -rf "$dir/inv-ndjson"
t "$bin" investigate --config sample-logs/tokenhound.toml --revocations "$log.revs" --out "$dir/inv-ndjson" "$log"
echo "== investigate, Parquet copy"
rm -rf "$dir/inv-parquet"
t "$bin" investigate --config sample-logs/tokenhound.toml --revocations "$log.revs" --out "$dir/inv-parquet" "$dir/inv-ndjson/events.parquet"
echo "== investigate, Parquet copy shuffled (out of order)"
shuffled="$dir/events-shuffled.parquet"
[ -s "$shuffled" ] || python3 -c "import duckdb; duckdb.sql(\"COPY (SELECT * FROM read_parquet('$dir/inv-ndjson/events.parquet') ORDER BY hash(request_id, source)) TO '$shuffled' (FORMAT PARQUET)\")"
rm -rf "$dir/inv-shuffled"
t "$bin" investigate --config sample-logs/tokenhound.toml --revocations "$log.revs" --out "$dir/inv-shuffled" "$shuffled"
echo "== Parquet write rate ($lines synthetic events)"
t "$rate" "$lines" "$dir/rate.parquet"
python3 - "$log.truth" "$dir/inv-ndjson/report.json" "$dir/inv-parquet/report.json" "$dir/inv-shuffled/report.json" <<'PY'
import json, sys
truth = [json.loads(l) for l in open(sys.argv[1])]
for path in sys.argv[2:]:
    r = json.load(open(path))
    inc = {i["token"]: i for i in r["incidents"]}
    piv = {s["token"] for s in r["likely_also_compromised"]}
    listed = sum(1 for t in truth if t["token"] in inc or t["token"] in piv)
    exact = sum(1 for t in truth if t["token"] in inc and inc[t["token"]]["blast_radius"]["requests"] == t["attack_requests"])
    silent = [t for t in truth if t["kind"] == "silent"]
    print(f"{path}: {len(truth)} planted thefts, {listed} listed, {exact} of {len(truth) - len(silent)} blast radii exact, "
          f"{sum(t['token'] in piv for t in silent)} of {len(silent)} silent found by the pivot; top cause: {r['root_causes'][0]['statement']}")
PY
parquet="$dir/inv-ndjson/events.parquet"
ndjson="$dir/events-normalized.ndjson"
[ -s "$ndjson" ] || python3 -c "import duckdb; duckdb.sql(\"COPY (SELECT * FROM read_parquet('$parquet')) TO '$ndjson' (FORMAT JSON)\")"
for src in "read_parquet('$parquet')" "read_json('$ndjson')"; do
  echo "== DuckDB, per-token impossible travel over $src"
  t python3 - "$src" <<'PY'
import sys, duckdb
src = sys.argv[1]
q = f"""
WITH u AS (
  SELECT token_id, time, lat, lon, radius_km,
         LAG(time) OVER w AS pt, LAG(lat) OVER w AS plat, LAG(lon) OVER w AS plon, LAG(radius_km) OVER w AS prad
  FROM (SELECT token_id, CAST(time AS TIMESTAMPTZ) AS time, lat, lon, radius_km FROM {src}
        WHERE token_id IS NOT NULL AND lat IS NOT NULL)
  WINDOW w AS (PARTITION BY token_id ORDER BY time)
), d AS (
  SELECT token_id, time, pt,
         2 * 6371 * asin(sqrt(pow(sin(radians(lat - plat) / 2), 2)
           + cos(radians(plat)) * cos(radians(lat)) * pow(sin(radians(lon - plon) / 2), 2))) - radius_km - prad AS km
  FROM u WHERE pt IS NOT NULL
)
SELECT count(DISTINCT token_id) FROM d
WHERE km > 500 AND km / greatest(epoch(time - pt) / 3600.0, 1e-6) > 1000
"""
print("  tokens with impossible travel:", duckdb.sql(q).fetchall()[0][0])
PY
done
