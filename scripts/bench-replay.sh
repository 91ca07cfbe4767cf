#!/usr/bin/env bash
# End-to-end replay benchmark against DuckDB on the same file.
# Generates a seeded Kong log (default: 1 M records of Kong's full log object,
# ~1.3 KB a record, kafka-log batches, half raw RS256 tokens and half logged
# claims), then runs in alternation, ROUNDS times: tokenhound replay with every
# shipped rule, GeoIP, ASN, signature verification and revocations (1 thread
# and THREADS threads), and DuckDB grouping the same file by token (PyPI duckdb;
# scripts/bench-duckdb.py: a typed read, and a read of every record). Prints
# the medians (wall, CPU, events/s, events per CPU-second, peak RSS), the
# ratios to DuckDB, and checks the alerts against the generator's ground truth.
# Usage: scripts/bench-replay.sh [RECORDS] [SHAPE: full|lean] [MODE: mixed|claims|raw] [THREADS] [ROUNDS]
# BENCH_BIN: run this tokenhound binary instead of building the perf one.
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-1000000}"
shape="${2:-full}"
mode="${3:-mixed}"
threads="${4:-$(nproc)}"
rounds="${5:-3}"
dir="${BENCH_DIR:-/var/tmp/tokenhound-bench}"
mkdir -p "$dir"
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check duckdb==2.0.1
if [ -n "${BENCH_BIN:-}" ]; then
  bin="$BENCH_BIN" # a given build (e.g. an older commit's, to compare)
else
  cargo build --profile perf --all-features --quiet
  bin="${CARGO_TARGET_DIR:-target}/perf/tokenhound"
fi
log="$dir/kong-$shape-$mode-$records.ndjson"
if [ ! -s "$log" ]; then
  echo "generating $records records ($shape, $mode) into $log ..."
  "$bin" gen --profile kong --shape "$shape" --mode "$mode" --lines "$records" --seed 42 -o "$log" \
    --truth "$log.truth" --revocations "$log.revs"
fi
ls -l "$log"
flags=(--config sample-logs/tokenhound.toml --revocations "$log.revs")
: > "$dir/runs.txt"
for r in $(seq 1 "$rounds"); do
  for t in 1 "$threads"; do
    /usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" \
      "$bin" replay --threads "$t" "${flags[@]}" -o "$dir/alerts.ndjson" "$log" 2> "$dir/summary.txt"
    echo "tokenhound-$t $(cat "$dir/time.txt")" >> "$dir/runs.txt"
  done
  for q in typed json; do
    out=$(/usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" python3 scripts/bench-duckdb.py "$log" "$threads" "$q")
    echo "duckdb-$q $(cat "$dir/time.txt") $out" >> "$dir/runs.txt"
  done
done
grep -E '^tokenhound replay|^findings|^tokens' "$dir/summary.txt"
python3 - "$records" "$dir/runs.txt" <<'PY'
import statistics, sys
n = int(sys.argv[1])
runs = {}
for line in open(sys.argv[2]):
    f = line.split()
    runs.setdefault(f[0], []).append([float(x) for x in f[1:5]] + ([int(f[5])] if len(f) > 5 else []))
med = {}
for name, rs in runs.items():
    wall, user, sys_, rss = (statistics.median(r[i] for r in rs) for i in range(4))
    cpu = user + sys_
    recs = rs[0][4] if len(rs[0]) > 4 else n
    med[name] = (wall, cpu)
    print(f"{name:14} median of {len(rs)}: wall {wall:6.2f} s, cpu {cpu:6.2f} s, {recs / wall:>10,.0f} records/s, "
          f"{recs / cpu:>10,.0f} per cpu-second, peak RSS {rss / 1024:5.0f} MiB ({recs} records)")
names = sorted(k for k in med if k.startswith("tokenhound"))
for t in names:
    for d in ("duckdb-typed", "duckdb-json"):
        if d in med:
            print(f"{t} / {d}: wall x{med[t][0] / med[d][0]:.2f}, cpu x{med[t][1] / med[d][1]:.2f}")
PY
python3 - "$log.truth" "$dir/alerts.ndjson" <<'PY'
import json, sys
truth = [json.loads(l) for l in open(sys.argv[1])]
alerts = [json.loads(l) for l in open(sys.argv[2])]
fired = {}
for a in alerts:
    uid = a["actor"]["session"]["uid"]
    # a forgery is named by its fingerprint (its claims are the sender's
    # words); the truth names it by the jti it claims
    c = a.get("unmapped", {}).get("tokenhound", {}).get("claimed", {})
    if uid.startswith("fp:") and c.get("jti"):
        uid = f"{c.get('iss', '')}|{c['jti']}"
    fired.setdefault(uid, set()).add(a["finding_info"]["analytic"]["uid"])
stolen = {t["token"] for t in truth}
missed = [t for t in truth if not set(t["expected_rules"]) <= fired.get(t["token"], set())]
false_pos = [k for k in fired if k not in stolen]
print(f"ground truth: {len(truth)} planted thefts, {len(alerts)} alerts, {len(missed)} missed, {len(false_pos)} tokens alerted that were not stolen")
PY
