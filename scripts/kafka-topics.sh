#!/usr/bin/env bash
# Create tokenhound's topics on a broker with tansu's CLI.
#   scripts/kafka-topics.sh [BROKER] [PREFIX] [PARTITIONS] [GATEWAY_PARTITIONS]
# PREFIX names a set of topics (tests use one per run): PREFIX.gateway,
# PREFIX.events, PREFIX.subject-baselines (compacted, partitioned like the
# events topic), PREFIX.alerts, PREFIX.revocation-requests (compacted),
# PREFIX.dead-letter, PREFIX.revocations, and the responder's PREFIX.parked
# and PREFIX.audit.
set -euo pipefail
broker=${1:-127.0.0.1:9092}
prefix=${2:-tokenhound}
parts=${3:-4}
gw_parts=${4:-1}
tansu=${TANSU:-tansu}
existing=$("$tansu" topic list --broker "tcp://$broker")
# an existing topic is kept as it is (rerunning the script is harmless)
mk() {
    case "$existing" in *"\"$1\""*) return 0 ;; esac
    "$tansu" topic create "$1" --partitions "$2" --broker "tcp://$broker" ${3:+--config "$3"} >/dev/null
}
mk "$prefix.gateway" "$gw_parts"
mk "$prefix.events" "$parts"
mk "$prefix.subject-baselines" "$parts" cleanup.policy=compact
mk "$prefix.alerts" 1
mk "$prefix.revocation-requests" 1 cleanup.policy=compact
mk "$prefix.dead-letter" 1
mk "$prefix.revocations" 1
mk "$prefix.parked" 1
mk "$prefix.audit" 1
