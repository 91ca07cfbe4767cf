#!/usr/bin/env bash
# Memory per tracked token: replay a "spray" of N distinct tokens (each used
# once, inside ten minutes, so none expires) and the same number of lines over
# 1000 tokens; the difference in peak RSS over N is the cost of one token.
# Usage: scripts/bench-state.sh [N]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
dir="${BENCH_DIR:-/var/tmp/tokenhound-bench}"
mkdir -p "$dir"
cargo build --profile perf --all-features --quiet
bin="${CARGO_TARGET_DIR:-target}/perf/tokenhound"
python3 - "$dir" "$n" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
def write(path, distinct):
    with open(path, "w") as f:
        base = 1793606400
        for i in range(n):
            j = i % distinct
            f.write(json.dumps({"time": round(base + i * 600 / n, 3), "client_ip": f"198.18.{1 + i % 150}.{1 + i % 250}",
                "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0", "method": "GET", "path": "/api/me",
                "status": 200, "claims": {"iss": "https://idp.acme.example", "jti": f"spray-{j:08d}", "sub": f"user-{j % 50000}",
                "iat": base, "exp": base + 3600}}, separators=(",", ":")) + "\n")
write(f"{d}/spray-{n}.ndjson", n)
write(f"{d}/spray-{n}-1k.ndjson", 1000)
PY
for f in "spray-$n-1k" "spray-$n"; do
  /usr/bin/time -f "%M" -o "$dir/rss-$f" "$bin" replay --threads 1 --profile tokenhound \
    --config sample-logs/tokenhound.toml -o /dev/null "$dir/$f.ndjson" 2>&1 | grep "tokens tracked"
done
base=$(cat "$dir/rss-spray-$n-1k"); full=$(cat "$dir/rss-spray-$n")
echo "peak RSS: $((base / 1024)) MiB with 1000 tokens, $((full / 1024)) MiB with $n tokens: $(( (full - base) * 1024 / n )) bytes per tracked token"
