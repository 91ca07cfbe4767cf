#!/usr/bin/env bash
# End-to-end stream benchmark through a real broker (tansu, started here on
# 127.0.0.1 with STORAGE, default memory): generate a Kong log (default 500k
# lines), produce it to the gateway topic (the backlog), run the release
# `tokenhound stream` (ingest + detect in one process) until every event went
# through detect, and print wall time, tokenhound's CPU time, events/s,
# events per CPU-second (per core) and peak memory; then a latency probe
# (scripts/stream-latency.py): impossible-travel pairs at 50 pairs/s with
# event time = now over a probe topic of 3 partitions (the two requests of a
# pair on different ones), produce -> alert produced, p50/p99.
# Needs: tansu in $TH_TOOLS (scripts/test.sh installs it), PyPI confluent-kafka.
# Usage: scripts/bench-stream.sh [LINES] [STORAGE: memory|sqlite] [LATENESS]
# BENCH_STREAM_EXTRA: TOML appended to the stream's settings (e.g. a
# [stream.kafka] table of librdkafka properties to try). BENCH_BIN: run this
# tokenhound binary instead of building the perf one.
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-500000}"
storage="${2:-memory}"
lateness="${3:-5s}"
dir="${BENCH_DIR:-/var/tmp/tokenhound-bench}"
tansu="${TH_TOOLS:-/var/tmp/tokenhound-tools}/bin/tansu"
port=29092
broker="127.0.0.1:$port"
mkdir -p "$dir"
python3 -c "import confluent_kafka" 2>/dev/null || python3 -m pip install --quiet confluent-kafka==2.16.1
if [ -n "${BENCH_BIN:-}" ]; then
  bin="$BENCH_BIN" # a binary built with the kafka feature (e.g. an older commit's, to compare)
else
  cargo build --profile perf --all-features --quiet
  bin="${CARGO_TARGET_DIR:-target}/perf/tokenhound"
fi
log="$dir/kong-claims-$lines.ndjson"
[ -s "$log" ] || "$bin" gen --profile kong --lines "$lines" --seed 42 -o "$log" --truth "$log.truth" --revocations "$log.revs"

data="$(mktemp -d)"
engine="memory://tansu/"; [ "$storage" = sqlite ] && engine="sqlite://tansu.db"
(cd "$data" && exec "$tansu" broker --listener-url "tcp://$broker" --advertised-listener-url "tcp://$broker" \
  --storage-engine "$engine" >broker.log 2>&1) &
bpid=$!
trap 'kill $spid $bpid 2>/dev/null || true; rm -rf "$data"' EXIT
spid=
sleep 1
TANSU="$tansu" scripts/kafka-topics.sh "$broker" bench 4
"$tansu" topic create bench.probe --partitions 3 --broker "tcp://$broker" >/dev/null
python3 - "$broker" "$log" <<'PY'
import sys, time
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 20, "enable.idempotence": True})
t = time.time(); n = 0
for line in open(sys.argv[2], "rb"):
    while True:
        try:
            p.produce("bench.gateway", line.rstrip(b"\n"), partition=0); break
        except BufferError:
            p.poll(0.05)
    n += 1
p.flush(120)
print(f"produced {n} records in {time.time() - t:.1f} s")
PY
cfg="$dir/bench-stream.toml"
cat sample-logs/tokenhound.toml > "$cfg"
cat >> "$cfg" <<TOML
[stream]
brokers = "$broker"
group = "bench"
events_topic = "bench.events"
alerts_topic = "bench.alerts"
requests_topic = "bench.revocation-requests"
dead_letter_topic = "bench.dead-letter"
revocations_topics = ["bench.revocations"]
inputs = [{ topic = "bench.gateway", profile = "kong" }, { topic = "bench.probe", profile = "tokenhound" }]
# the drained (historic) backlog stops holding the live probe back after 5 s
idle_timeout = "5s"
${BENCH_STREAM_EXTRA:-}
TOML
sed -i "s/^allowed_lateness = .*/allowed_lateness = \"$lateness\"/" "$cfg"
start=$(date +%s.%N)
${STREAM_WRAP:-} "$bin" stream --config "$cfg" --listen 127.0.0.1:29464 2> "$dir/stream.log" &
spid=$!
metric() { curl -s 127.0.0.1:29464/metrics | awk -v m="$1" 'index($0, m) == 1 { s += $2 } END { print s + 0 }'; }
# done when every line went through; tansu's memory storage was seen to
# hold a few hundred records fewer than produced, so also when nothing moved
# for 5 s (then the figures count what went through, up to its last move)
prev=-1; still=0; end=
while :; do
  sleep 0.5
  done_=$(metric 'tokenhound_events_total{stage="detect"')
  nt=$(metric 'tokenhound_events_total{stage="ingest",outcome="no_token"')
  bad=$(metric 'tokenhound_events_total{stage="ingest",outcome="bad"')
  n=$(python3 -c "print(int($done_ + $nt + $bad))")
  [ "$n" -ge "$lines" ] && break
  if [ "$n" = "$prev" ] && [ "$n" -gt 0 ]; then
    still=$((still + 1))
  else
    # the CPU spent up to the last move (an idle wait after a stall is no work)
    still=0; moved=$(date +%s.%N); read -r ut st < <(awk '{ print $14, $15 }' /proc/$spid/stat)
  fi
  prev=$n
  if [ "$still" -ge 10 ]; then
    echo "stalled at $n of $lines (events + no-token + bad lines): counting those" >&2
    end=$moved; break
  fi
done
if [ -z "$end" ]; then
  end=$(date +%s.%N)
  read -r ut st < <(awk '{ print $14, $15 }' /proc/$spid/stat)
fi
lines=$n
hwm=$(awk '/VmHWM/ { print $2 }' /proc/$spid/status)
findings=$(metric 'tokenhound_findings_total')
python3 - "$lines" "$start" "$end" "$ut" "$st" "$(getconf CLK_TCK)" "$hwm" "$findings" <<'PY'
import sys
lines, start, end, ut, st, hz, hwm, f = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8])
wall, cpu = end - start, (ut + st) / hz
print(f"stream: {lines} events through the broker in {wall:.1f} s wall = {lines / wall:,.0f} events/s; "
      f"tokenhound cpu {cpu:.1f} s = {lines / cpu:,.0f} events per cpu-second; peak RSS {hwm / 1024:.0f} MiB; findings {f:.0f}")
PY
# what each stage counted, by outcome
curl -s 127.0.0.1:29464/metrics | grep -E '^tokenhound_events_total' | sed 's/^/  /'
sleep 6
python3 scripts/stream-latency.py "$broker" bench.probe bench.alerts 50 20 198.18.81.10 3
kill -TERM $spid; wait $spid || true
echo "stream log: $(grep -c . "$dir/stream.log" || true) lines in $dir/stream.log"
