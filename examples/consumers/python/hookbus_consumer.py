#!/usr/bin/env python3
"""A hookbus consumer in Python: the CloudEvents SDK (`cloudevents`) over confluent-kafka.

Joins a consumer group on the hookbus topics, decodes every message with the
SDK's Kafka binding (binary or structured content mode, detected per message;
the SDK validates spec version and required attributes), acts on the events
whose type starts with --type (prints one line), and commits a message's offset
only after acting on it, so a crash re-delivers instead of skipping. SIGTERM or
SIGINT finishes the message in hand, commits and leaves the group.

--dump prints every event as one JSON line (all attributes and the data) instead;
with --max-events / --idle-exit it is the reader tests/e2e/test_sdk_interop.py runs.
"""
import argparse
import base64
import json
import os
import signal
import sys
import time

from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from confluent_kafka import Consumer, KafkaException

STRUCTURED = "application/cloudevents"


def options():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--brokers", default=env("KAFKA_BROKERS", "localhost:9092"))
    p.add_argument("--group", default=env("KAFKA_GROUP", "hookbus-example-python"))
    p.add_argument("--topics", default=env("KAFKA_TOPICS", "hookbus.git,hookbus.image,hookbus.other"))
    p.add_argument("--type", default=env("EVENT_TYPE_PREFIX", "dev.hookbus."),
                   help="act on events whose type starts with this")
    p.add_argument("--subject", default=env("EVENT_SUBJECT_PREFIX", ""),
                   help="... and whose subject starts with this")
    p.add_argument("--dump", action="store_true", help="print every event as a JSON line")
    p.add_argument("--max-events", type=int, default=0, help="exit after this many messages (0: never)")
    p.add_argument("--idle-exit", type=float, default=0,
                   help="exit after this many seconds without a message (0: never)")
    return p.parse_args()


def event_json(event):
    """Every attribute the SDK decoded, as strings (time in RFC 3339), plus the data."""
    out = {}
    for name, value in event.get_attributes().items():
        if value is None:
            continue
        if name == "time":
            value = value.isoformat().replace("+00:00", "Z")
        out[name] = value if isinstance(value, (str, bool, int)) else str(value)
    data = event.get_data()
    if isinstance(data, (bytes, bytearray)):
        out["data_base64"] = base64.b64encode(data).decode()
    elif data is not None:
        out["data"] = data
    return out


def act(args, msg, event, mode):
    """The action: a line per matching event (the whole event with --dump)."""
    if args.dump:
        print(json.dumps({"mode": mode, "topic": msg.topic(), "partition": msg.partition(),
                          "offset": msg.offset(), "event": event_json(event)}), flush=True)
        return
    if not event.get_type().startswith(args.type):
        return
    if not (event.get_subject() or "").startswith(args.subject):
        return
    print("%s %s id=%s topic=%s partition=%d offset=%d mode=%s" % (
        event.get_type(), event.get_subject(), event.get_id(), msg.topic(), msg.partition(),
        msg.offset(), mode), flush=True)


def main():
    args = options()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": args.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([t for t in args.topics.split(",") if t])
    fmt = JSONFormat()
    seen, status = 0, 0
    last = time.monotonic()
    try:
        while not stop:
            if args.max_events and seen >= args.max_events:
                break
            if args.idle_exit and time.monotonic() - last > args.idle_exit:
                break
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                print("kafka: %s" % msg.error(), file=sys.stderr)
                continue
            last = time.monotonic()
            headers = {k: v or b"" for k, v in (msg.headers() or [])}
            ctype = next((v.decode() for k, v in headers.items()
                          if k.lower() == "content-type"), "")
            mode = "structured" if ctype.startswith(STRUCTURED) else "binary"
            try:
                event = from_kafka(KafkaMessage(headers=headers, key=msg.key(),
                                                value=msg.value() or b""), fmt)
            except Exception as e:  # the SDK rejected it: report, do not act, move on
                print("undecodable %s/%d@%d: %s" % (msg.topic(), msg.partition(), msg.offset(), e),
                      file=sys.stderr)
                status = 1
            else:
                act(args, msg, event, mode)
            seen += 1
            # Committed only now, after acting: synchronous, so a crash re-delivers.
            consumer.commit(message=msg, asynchronous=False)
    except KafkaException as e:
        print("kafka: %s" % e, file=sys.stderr)
        status = 1
    finally:
        consumer.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
