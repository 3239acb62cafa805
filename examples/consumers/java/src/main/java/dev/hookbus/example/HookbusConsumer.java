/*
 * A hookbus consumer in Java: the CloudEvents SDK (cloudevents-kafka) over the
 * Apache Kafka client.
 *
 * Joins a consumer group on the hookbus topics, decodes every message with the
 * SDK's CloudEventDeserializer (binary or structured content mode, detected per
 * message; building the event checks spec version and required attributes),
 * acts on the events whose type starts with --type (prints one line), and
 * commits a message's offset only after acting on it, so a crash re-delivers
 * instead of skipping. SIGTERM or SIGINT finishes the message in hand, commits
 * and leaves the group.
 *
 * --dump prints every event as one JSON line (all attributes and the data)
 * instead; with --max-events / --idle-exit it is the reader that
 * tests/e2e/test_sdk_interop.py runs.
 */
package dev.hookbus.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.format.EventFormat;
import io.cloudevents.core.provider.EventFormatProvider;
import io.cloudevents.jackson.JsonFormat;
import io.cloudevents.kafka.CloudEventDeserializer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

public final class HookbusConsumer {
    /**
     * The SDK's CloudEventDeserializer, with its failure handed over as the
     * value: a message the SDK rejects is then one record to report and skip,
     * not an exception out of poll() that stops the partition.
     */
    public static final class Decoder implements Deserializer<Object> {
        private final CloudEventDeserializer sdk = new CloudEventDeserializer();

        @Override
        public void configure(Map<String, ?> configs, boolean isKey) {
            sdk.configure(configs, isKey);
        }

        @Override
        public Object deserialize(String topic, byte[] data) {
            return new IllegalStateException("no headers: not a CloudEvent");
        }

        @Override
        public Object deserialize(String topic, Headers headers, byte[] data) {
            try {
                return sdk.deserialize(topic, headers, data);
            } catch (RuntimeException e) {
                return e;
            }
        }

        @Override
        public void close() {
            sdk.close();
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private String brokers = env("KAFKA_BROKERS", "localhost:9092");
    private String group = env("KAFKA_GROUP", "hookbus-example-java");
    private String topics = env("KAFKA_TOPICS", "hookbus.git,hookbus.image,hookbus.other");
    private String typePrefix = env("EVENT_TYPE_PREFIX", "dev.hookbus.");
    private String subjectPrefix = env("EVENT_SUBJECT_PREFIX", "");
    private boolean dump;
    private String replay;
    private long maxEvents;
    private double idleExit;

    private final EventFormat jsonFormat =
            EventFormatProvider.getInstance().resolveFormat(JsonFormat.CONTENT_TYPE);

    private static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? def : v;
    }

    private static final String USAGE = "usage: HookbusConsumer [--brokers H:P,...] [--group G] "
            + "[--topics T,...] [--type PREFIX] [--subject PREFIX] [--dump] [--max-events N] "
            + "[--idle-exit SECONDS] [--replay FILE]";

    private void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--dump")) {
                dump = true;
                continue;
            }
            if (a.equals("--help") || i + 1 >= args.length) {
                System.err.println(USAGE);
                System.exit(a.equals("--help") ? 0 : 2);
            }
            String v = args[++i];
            switch (a) {
                case "--brokers" -> brokers = v;
                case "--group" -> group = v;
                case "--topics" -> topics = v;
                case "--type" -> typePrefix = v;
                case "--subject" -> subjectPrefix = v;
                case "--max-events" -> maxEvents = Long.parseLong(v);
                case "--idle-exit" -> idleExit = Double.parseDouble(v);
                case "--replay" -> replay = v;
                default -> {
                    System.err.println(USAGE);
                    System.exit(2);
                }
            }
        }
    }

    private static String mode(ConsumerRecord<?, ?> r) {
        Header h = r.headers().lastHeader("content-type");
        String ct = h == null ? "" : new String(h.value(), StandardCharsets.UTF_8);
        return ct.startsWith("application/cloudevents") ? "structured" : "binary";
    }

    /** The action: a line per matching event (the whole event with --dump). */
    private void act(ConsumerRecord<String, Object> r, CloudEvent ev) throws Exception {
        if (dump) {
            // The SDK's own JSON format: every attribute and the data.
            ObjectNode line = JSON.createObjectNode();
            line.put("mode", mode(r));
            line.put("topic", r.topic());
            line.put("partition", r.partition());
            line.put("offset", r.offset());
            line.set("event", JSON.readTree(jsonFormat.serialize(ev)));
            System.out.println(JSON.writeValueAsString(line));
            return;
        }
        String subject = ev.getSubject() == null ? "" : ev.getSubject();
        if (!ev.getType().startsWith(typePrefix) || !subject.startsWith(subjectPrefix)) {
            return;
        }
        System.out.printf("%s %s id=%s topic=%s partition=%d offset=%d mode=%s%n", ev.getType(),
                subject, ev.getId(), r.topic(), r.partition(), r.offset(), mode(r));
    }

    /**
     * --replay FILE: decodes Kafka records saved as JSON lines ({"topic",
     * "partition", "offset", "key", "headers": {name: base64}, "value": base64})
     * with the same deserializer and acts on them, without a broker. The e2e
     * suite uses it where the Java Kafka client cannot reach the test cluster.
     */
    private int replay() throws Exception {
        int status = 0;
        Decoder decoder = new Decoder();
        Base64.Decoder b64 = Base64.getDecoder();
        for (String text : Files.readAllLines(Path.of(replay))) {
            if (text.isBlank()) {
                continue;
            }
            JsonNode rec = JSON.readTree(text);
            RecordHeaders headers =
                    new RecordHeaders();
            rec.get("headers").fields().forEachRemaining(
                    h -> headers.add(h.getKey(), b64.decode(h.getValue().asText())));
            String topic = rec.get("topic").asText();
            byte[] value = b64.decode(rec.get("value").asText());
            Object decoded = decoder.deserialize(topic, headers, value);
            ConsumerRecord<String, Object> r = new ConsumerRecord<>(topic,
                    rec.get("partition").asInt(), rec.get("offset").asLong(),
                    ConsumerRecord.NO_TIMESTAMP, TimestampType.NO_TIMESTAMP_TYPE, -1, value.length, rec.path("key").asText(null), decoded, headers,
                    Optional.empty());
            if (decoded instanceof CloudEvent ev) {
                act(r, ev);
            } else {
                System.err.printf("undecodable %s/%d@%d: %s%n", r.topic(), r.partition(),
                        r.offset(), decoded);
                status = 1;
            }
        }
        return status;
    }

    private int run() {
        if (replay != null) {
            try {
                return replay();
            } catch (Exception e) {
                System.err.println("replay: " + e);
                return 1;
            }
        }
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, Decoder.class);

        int status = 0;
        long seen = 0;
        long last = System.nanoTime();
        KafkaConsumer<String, Object> consumer = new KafkaConsumer<>(p);
        Thread main = Thread.currentThread();
        boolean[] stopping = {false};
        Thread hook = new Thread(() -> {
            synchronized (stopping) {
                stopping[0] = true;
            }
            consumer.wakeup();
            try {
                main.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Runtime.getRuntime().addShutdownHook(hook);
        List<String> topicList = new ArrayList<>();
        for (String t : topics.split(",")) {
            if (!t.isEmpty()) {
                topicList.add(t);
            }
        }
        try {
            consumer.subscribe(topicList);
            while (true) {
                synchronized (stopping) {
                    if (stopping[0]) {
                        break;
                    }
                }
                if (maxEvents > 0 && seen >= maxEvents) {
                    break;
                }
                if (idleExit > 0 && (System.nanoTime() - last) / 1e9 > idleExit) {
                    break;
                }
                for (ConsumerRecord<String, Object> r : consumer.poll(Duration.ofMillis(200))) {
                    last = System.nanoTime();
                    if (r.value() instanceof CloudEvent ev) {
                        act(r, ev);
                    } else {
                        // The SDK rejected this message: report it and move past it.
                        System.err.printf("undecodable %s/%d@%d: %s%n", r.topic(), r.partition(),
                                r.offset(), r.value());
                        status = 1;
                    }
                    seen++;
                    // Committed only now, after acting; synchronously, so a crash re-delivers.
                    Map<TopicPartition, OffsetAndMetadata> done = new HashMap<>();
                    done.put(new TopicPartition(r.topic(), r.partition()),
                            new OffsetAndMetadata(r.offset() + 1));
                    consumer.commitSync(done);
                    if (maxEvents > 0 && seen >= maxEvents) {
                        break;
                    }
                }
            }
        } catch (WakeupException e) {
            // SIGTERM: fall through to close, which leaves the group.
        } catch (Exception e) {
            System.err.println("kafka: " + e);
            status = 1;
        } finally {
            consumer.close(Duration.ofSeconds(10));
        }
        return status;
    }

    public static void main(String[] args) {
        HookbusConsumer c = new HookbusConsumer();
        c.parse(args);
        int status = c.run();
        System.out.flush();
        // halt, not exit: exit would wait for the shutdown hook, which waits for us.
        Runtime.getRuntime().halt(status);
    }
}
