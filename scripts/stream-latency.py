#!/usr/bin/env python3
"""Latency probe for `tokenhound stream` (scripts/bench-stream.sh runs it).

Produces pairs of requests for fresh tokens (London, then the far city one
second of event time later: impossible travel), event time = now, at RATE
pairs per second for SECS seconds, to a topic read with the `tokenhound`
profile; reads the alerts topic and reports, per probe token, the time from
producing the second request to the alert record's timestamp (set by
tokenhound's producer when it produced the alert).

  stream-latency.py BROKER PROBE_TOPIC ALERTS_TOPIC RATE SECS FAR_IP [PARTITIONS]

With PARTITIONS (default 1) the probe topic's partitions are written in
turn, the two requests of a pair to different ones (as two gateway nodes
would): the alert waits for the watermark of every partition.
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

broker, topic, alerts, rate, secs, far_ip = sys.argv[1:7]
nparts = int(sys.argv[7]) if len(sys.argv) > 7 else 1
rate, secs = float(rate), float(secs)
p = Producer({"bootstrap.servers": broker, "linger.ms": 0})
c = Consumer({"bootstrap.servers": broker, "group.id": "latency-probe", "enable.auto.commit": False})
parts = c.list_topics(alerts).topics[alerts].partitions
tps = []
for pid in parts:
    lo, hi = c.get_watermark_offsets(TopicPartition(alerts, pid))
    tps.append(TopicPartition(alerts, pid, hi))
c.assign(tps)

def line(i, ip, t):
    return json.dumps({
        "time": t, "client_ip": ip, "user_agent": "probe/1.0", "method": "GET", "path": "/probe",
        "status": 200, "claims": {"iss": "https://probe.example", "jti": f"probe-{i}", "sub": f"probe-{i}",
                                   "exp": int(t) + 3600, "iat": int(t) - 10}})

sent = {}
start = time.time()
i = 0
while time.time() - start < secs:
    now = time.time()
    p.produce(topic, line(i, "198.18.1.10", now - 1.0), partition=(2 * i) % nparts)
    p.produce(topic, line(i, far_ip, now), partition=(2 * i + 1) % nparts)
    p.poll(0)
    sent[f"https://probe.example|probe-{i}"] = time.time()
    i += 1
    time.sleep(max(0.0, start + i / rate - time.time()))
p.flush(30)
lat = {}
deadline = time.time() + 60
while len(lat) < len(sent) and time.time() < deadline:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    a = json.loads(m.value())
    tok = a.get("actor", {}).get("session", {}).get("uid")
    if tok in sent and tok not in lat:
        lat[tok] = m.timestamp()[1] / 1000.0 - sent[tok]
vals = sorted(lat.values())
if not vals:
    print("no probe alert came back"); sys.exit(1)
q = lambda f: vals[min(len(vals) - 1, int(f * len(vals)))]
print(f"probes {len(sent)} over {nparts} partition(s), alerts {len(vals)}, latency p50 {q(0.5):.3f}s p99 {q(0.99):.3f}s max {vals[-1]:.3f}s")
