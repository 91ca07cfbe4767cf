#!/usr/bin/env bash
# End-to-end replay benchmark: generate a Kong log (default 5 million lines,
# seeded), replay it with every shipped rule, GeoIP and revocations, and print
# wall time, CPU time, events/s, events/s per core and peak memory; then check
# the alerts against the generator's ground truth.
# Usage: scripts/bench-replay.sh [LINES] [THREADS] [MODE: claims|raw]
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-5000000}"
threads="${2:-$(nproc)}"
mode="${3:-claims}"
dir="${BENCH_DIR:-/var/tmp/tokenhound-bench}"
mkdir -p "$dir"
cargo build --profile perf --all-features --quiet
bin="${CARGO_TARGET_DIR:-target}/perf/tokenhound"
log="$dir/kong-$mode-$lines.ndjson"
if [ ! -s "$log" ]; then
  echo "generating $lines lines ($mode) into $log ..."
  "$bin" gen --profile kong --mode "$mode" --lines "$lines" --seed 42 -o "$log" \
    --truth "$log.truth" --revocations "$log.revs"
fi
ls -l "$log"
extra=()
[ "$mode" = raw ] && extra=(--jwks sample-logs/keys/idp-jwks.json)
/usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" \
  "$bin" replay --threads "$threads" --config sample-logs/tokenhound.toml "${extra[@]}" \
  --revocations "$log.revs" -o "$dir/alerts.ndjson" "$log" 2> "$dir/summary.txt"
cat "$dir/summary.txt"
read -r wall user sys rss < "$dir/time.txt"
python3 - "$lines" "$wall" "$user" "$sys" "$rss" "$threads" <<'PY'
import sys
lines, wall, user, sys_, rss, threads = int(sys.argv[1]), *map(float, sys.argv[2:6]), int(sys.argv[6])
cpu = user + sys_
print(f"lines {lines}, threads {threads}: wall {wall:.2f} s, cpu {cpu:.2f} s, "
      f"{lines / wall:,.0f} events/s, {lines / cpu:,.0f} events per cpu-second, "
      f"{lines / wall / threads:,.0f} events/s per core (wall), peak RSS {rss / 1024:.0f} MiB")
PY
python3 - "$log.truth" "$dir/alerts.ndjson" <<'PY'
import json, sys
truth = [json.loads(l) for l in open(sys.argv[1])]
alerts = [json.loads(l) for l in open(sys.argv[2])]
fired = {}
for a in alerts:
    fired.setdefault(a["actor"]["session"]["uid"], set()).add(a["finding_info"]["analytic"]["uid"])
stolen = {t["token"] for t in truth}
missed = [t for t in truth if not set(t["expected_rules"]) <= fired.get(t["token"], set())]
false_pos = [k for k in fired if k not in stolen]
print(f"ground truth: {len(truth)} planted thefts, {len(alerts)} alerts, {len(missed)} missed, {len(false_pos)} tokens alerted that were not stolen")
PY
