#!/usr/bin/env bash
# Wall time and peak RSS of replay (1 thread) and investigate on the files
# scripts/bench-investigate.sh leaves in BENCH_DIR (the 5 M-line NDJSON, its
# Parquet copy as events.parquet, a shuffled copy events-shuffled.parquet and
# a CSV of it events-shuffled.csv), one line each, appended to
# BENCH_DIR/results.txt. Run it under the machine lock:
#   flock /var/tmp/cargo.lock scripts/measure-investigate.sh BIN TAG replay1 ndjson parquet shuffled csv
# With ENVV=TH_MEM_PHASES=1, investigate prints each phase's peak (TAILN=12 shows them).
set -euo pipefail
bin="$1"; tag="$2"; shift 2
d="${BENCH_DIR:-/var/tmp/tokenhound-bench}"
log="$d/kong-claims-${LINES:-5000000}.ndjson"
cd "$(dirname "$0")/.."
t() { /usr/bin/time -f "%e s wall, %U user, %M KiB peak" -o "$d/time.txt" "$@" 2>"$d/err.txt" >/dev/null || { cat "$d/err.txt"; exit 1; }; echo "$tag $what: $(cat "$d/time.txt")" | tee -a "$d/results.txt"; }
inv() { rm -rf "$d/inv-$1"; t env "${ENVV:-X=1}" "$bin" investigate --config sample-logs/tokenhound.toml --revocations "$log.revs" --out "$d/inv-$1" "$2"; }
for what in "$@"; do
  case $what in
    replay1) t "$bin" replay --threads 1 --config sample-logs/tokenhound.toml --revocations "$log.revs" -o "$d/alerts.ndjson" "$log";;
    ndjson) inv ndjson "$log";;
    parquet) inv parquet "$d/events.parquet";;
    shuffled) inv shuffled "$d/events-shuffled.parquet";;
    csv) inv csv "$d/events-shuffled.csv";;
  esac
  grep -v '^\s*$' "$d/err.txt" | tail -"${TAILN:-0}" | sed 's/^/    /'
done
