// A hookbus consumer in JavaScript: the CloudEvents SDK (`cloudevents`) over
// kafkajs.
//
// Joins a consumer group on the hookbus topics, decodes every message with the
// SDK's Kafka binding (binary or structured content mode, detected per
// message), validates it (spec version, required attributes), acts on the
// events whose type starts with --type (prints one line), and commits a
// message's offset only after acting on it, so a crash re-delivers instead of
// skipping. SIGTERM or SIGINT finishes the message in hand, commits and leaves
// the group.
//
// --dump prints every event as one JSON line (all attributes and the data)
// instead; with --max-events / --idle-exit it is the reader that
// tests/e2e/test_sdk_interop.py runs.
"use strict";

const { parseArgs } = require("node:util");
const { Kafka: KafkaSDK } = require("cloudevents");
const { Kafka, logLevel } = require("kafkajs");

function options() {
  const env = process.env;
  const { values } = parseArgs({
    options: {
      brokers: { type: "string", default: env.KAFKA_BROKERS || "localhost:9092" },
      group: { type: "string", default: env.KAFKA_GROUP || "hookbus-example-js" },
      topics: { type: "string", default: env.KAFKA_TOPICS || "hookbus.git,hookbus.image,hookbus.other" },
      type: { type: "string", default: env.EVENT_TYPE_PREFIX || "dev.hookbus." },
      subject: { type: "string", default: env.EVENT_SUBJECT_PREFIX || "" },
      dump: { type: "boolean", default: false },
      "max-events": { type: "string", default: "0" },
      "idle-exit": { type: "string", default: "0" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log("usage: consumer.js [--brokers H:P,...] [--group G] [--topics T,...] [--type PREFIX]\n" +
      "       [--subject PREFIX] [--dump] [--max-events N] [--idle-exit SECONDS]");
    process.exit(0);
  }
  values.maxEvents = Number(values["max-events"]);
  values.idleExit = Number(values["idle-exit"]);
  return values;
}

// The SDK's binding takes string headers; kafkajs gives Buffers.
function sdkMessage(message) {
  const headers = {};
  for (const [k, v] of Object.entries(message.headers || {})) {
    headers[k.toLowerCase()] = v === undefined || v === null ? "" : v.toString();
  }
  return {
    headers,
    key: message.key ? message.key.toString() : undefined,
    value: message.value,
    body: message.value,
    timestamp: message.timestamp,
  };
}

// The action: a line per matching event (the whole event with --dump).
function act(opts, where, event, mode) {
  if (opts.dump) {
    const ev = event.toJSON();
    if (Buffer.isBuffer(ev.data)) {
      ev.data_base64 = ev.data.toString("base64");
      delete ev.data;
    }
    process.stdout.write(JSON.stringify({ mode, ...where, event: ev }) + "\n");
    return;
  }
  if (!event.type.startsWith(opts.type) || !(event.subject || "").startsWith(opts.subject)) {
    return;
  }
  process.stdout.write(`${event.type} ${event.subject} id=${event.id} topic=${where.topic} ` +
    `partition=${where.partition} offset=${where.offset} mode=${mode}\n`);
}

async function main() {
  const opts = options();
  const kafka = new Kafka({
    clientId: opts.group,
    brokers: opts.brokers.split(",").filter(Boolean),
    logLevel: logLevel.ERROR,
  });
  const consumer = kafka.consumer({ groupId: opts.group });
  let seen = 0;
  let failed = false;
  let last = Date.now();
  let stopping = null;
  const stop = () => {
    if (!stopping) stopping = consumer.disconnect();
    return stopping;
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  await consumer.connect();
  await consumer.subscribe({ topics: opts.topics.split(",").filter(Boolean), fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      last = Date.now();
      const where = { topic, partition, offset: Number(message.offset) };
      const m = sdkMessage(message);
      const ctype = m.headers["content-type"] || "";
      const mode = ctype.startsWith("application/cloudevents") ? "structured" : "binary";
      try {
        const event = KafkaSDK.toEvent(m);
        // The binding builds events unchecked; validate() applies the spec's rules.
        event.validate();
        act(opts, where, event, mode);
      } catch (e) {
        process.stderr.write(`undecodable ${topic}/${partition}@${message.offset}: ${e.message}` +
          (e.errors ? " " + JSON.stringify(e.errors) : "") + "\n");
        failed = true;
      }
      seen++;
      // Committed only now, after acting.
      await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      if (opts.maxEvents > 0 && seen >= opts.maxEvents) stop();
    },
  });
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      if (stopping || (opts.idleExit > 0 && Date.now() - last > opts.idleExit * 1000)) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
  });
  await stop();
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(`kafka: ${e.message}\n`);
  process.exit(1);
});
