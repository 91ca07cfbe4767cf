#!/usr/bin/env python3
"""An independent Kafka client (kafka-python, pure Python) for the stream
smoke test: produces gateway log lines to a topic and reads records back.

  kafka_client.py produce BROKER TOPIC FILE...   one record per non-empty line
  kafka_client.py consume BROKER TOPIC N [SECS]  print N record values (one per line)
"""
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def produce(broker, topic, files):
    p = KafkaProducer(bootstrap_servers=broker, acks="all")
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            for line in fh:
                line = line.rstrip(b"\n")
                if line:
                    p.send(topic, value=line).get(timeout=30)
                    n += 1
    p.flush()
    print(n)


def consume(broker, topic, want, secs):
    c = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False, consumer_timeout_ms=int(secs * 1000))
    parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    got = 0
    for m in c:
        if m.value is not None:
            sys.stdout.write(m.value.decode() + "\n")
            got += 1
        if got >= want:
            break
    c.close()


if __name__ == "__main__":
    cmd, broker, topic = sys.argv[1:4]
    if cmd == "produce":
        produce(broker, topic, sys.argv[4:])
    else:
        consume(broker, topic, int(sys.argv[4]), float(sys.argv[5]) if len(sys.argv) > 5 else 30)
