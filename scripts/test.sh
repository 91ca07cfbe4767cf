#!/usr/bin/env bash
# The test command (README, .ci/run): starts what the tests need, then runs
# `cargo test`. Needs a Rust toolchain and python3 with pip, nothing else:
#  - tansu, an Apache Kafka compatible broker from crates.io, installed once
#    into $TH_TOOLS (default /var/tmp/tokenhound-tools; ~10 min cold on two
#    cores, cached after), started on 127.0.0.1 with sqlite storage;
#  - kafka-python (PyPI), the independent client of the stream smoke test;
#  - Debian's redis-server (the respond tests start their own on free ports);
#  - PyJWT and standardwebhooks (PyPI): the hook receiver's independent checks;
#  - Debian's chromium: the investigate report is rendered headless;
#  - ocsf-json-schema and jsonschema (PyPI): every alert kind is validated
#    against the OCSF 1.8.0 JSON Schema;
#  - Debian's prometheus (server and promtool): a real Prometheus scrapes
#    `stream` and `respond` and evaluates deploy/prometheus's alert rules.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test stream`).
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${TH_TOOLS:-/var/tmp/tokenhound-tools}"
tansu="$tools/bin/tansu"
port="${TH_KAFKA_PORT:-19092}"

if [ ! -x "$tansu" ]; then
    echo "== installing tansu 0.6.0 into $tools (once)"
    CARGO_TARGET_DIR="$tools/build" cargo install --locked tansu@0.6.0 --features dynostore,libsql --root "$tools"
    rm -rf "$tools/build"
fi
if ! python3 -c "import kafka, jwt, standardwebhooks, cryptography" 2>/dev/null; then
    echo "== installing kafka-python, PyJWT, standardwebhooks"
    python3 -m pip install --quiet --disable-pip-version-check kafka-python==3.0.12 "pyjwt[crypto]==2.15.1" standardwebhooks==1.1.0
fi
if ! python3 -c "import ocsf_json_schema, jsonschema" 2>/dev/null; then
    echo "== installing ocsf-json-schema, jsonschema"
    python3 -m pip install --quiet --disable-pip-version-check ocsf-json-schema==1.2.0 jsonschema==4.26.0
fi
apt_install() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y -q "$@" >/dev/null || { $sudo apt-get update -q && $sudo apt-get install -y -q "$@" >/dev/null; }
}
if ! command -v redis-server >/dev/null; then
    echo "== installing redis-server (Debian)"
    apt_install redis-server
fi
if ! command -v chromium >/dev/null; then
    echo "== installing chromium (Debian)"
    apt_install chromium
fi
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "== installing prometheus (Debian)"
    apt_install prometheus
fi

data="$(mktemp -d)"
echo "== starting tansu on 127.0.0.1:$port (data in $data)"
(cd "$data" && exec "$tansu" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "sqlite://tansu.db" >broker.log 2>&1) &
broker=$!
trap 'kill $broker 2>/dev/null || true; wait $broker 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
    if "$tansu" topic list --broker "tcp://127.0.0.1:$port" >/dev/null 2>&1; then break; fi
    sleep 0.2
done
"$tansu" topic list --broker "tcp://127.0.0.1:$port" >/dev/null || { cat "$data/broker.log"; exit 1; }

export TEST_KAFKA_BROKERS="127.0.0.1:$port" TEST_REQUIRE_KAFKA=1 TANSU="$tansu"
cargo test --locked --all-features "$@"
