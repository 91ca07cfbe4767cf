#!/usr/bin/env bash
# Memory under a spray of forged tokens: N Kong lines, each with a new
# `alg: none` bearer token (a unique jti of JTI_BYTES bytes), rejected by the
# gateway; replay them (default threads, alerts to /dev/null) and print the
# peak RSS. Every line is a forged-token alert, and a new token for the state
# and the caches: nothing may grow with N past the caps.
# Usage: scripts/bench-spray.sh [N] [JTI_BYTES]   (default 2000000, 16)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000000}"
jti_bytes="${2:-16}"
dir="${BENCH_DIR:-/var/tmp/tokenhound-bench}"
mkdir -p "$dir"
cargo build --profile perf --all-features --quiet
bin="${CARGO_TARGET_DIR:-target}/perf/tokenhound"
log="$dir/spray-forged-$n-$jti_bytes.ndjson"
[ -s "$log" ] || python3 - "$log" "$n" "$jti_bytes" <<'PY'
import base64, json, sys
path, n, jb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b64 = lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
head = b64('{"alg":"none","typ":"JWT"}')
with open(path, "w") as f:
    for i in range(n):
        jti = f"{i:0{jb}d}"[-jb:] if jb >= 10 else f"s{i}"
        tok = head + "." + b64(json.dumps({"iss": "https://idp.acme.example", "jti": jti, "sub": "ceo@acme.example"})) + "."
        f.write(json.dumps({"started_at": 1793606400000 + i, "client_ip": f"198.18.{1 + i % 200}.{1 + i % 250}",
            "request": {"method": "GET", "uri": "/api/me", "headers": {"user-agent": "spray/1.0", "authorization": "Bearer " + tok}},
            "response": {"status": 401}}, separators=(",", ":")) + "\n")
PY
/usr/bin/time -f "%M %e %U %S" -o "$dir/rss-spray" "$bin" replay --profile kong --config sample-logs/tokenhound.toml \
  -o /dev/null "$log" 2>&1 | grep -E "findings|tokens tracked"
read -r rss wall user sys < "$dir/rss-spray"
echo "spray of $n forged lines (jti $jti_bytes bytes): peak RSS $((rss / 1024)) MiB, ${wall}s wall, $(python3 -c "print(f'{$n / ($user + $sys):,.0f}')") lines per cpu-second"
