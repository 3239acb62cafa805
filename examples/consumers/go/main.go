// A hookbus consumer in Go: the CloudEvents SDK (sdk-go) with its Kafka
// protocol binding (kafka_sarama, over IBM/sarama).
//
// Joins a consumer group on the hookbus topics, decodes every message with the
// SDK (binary or structured content mode, detected per message), validates it
// (spec version, required attributes), acts on the events whose type starts
// with -type (prints one line), and commits a message's offset only after
// acting on it, so a crash re-delivers instead of skipping. SIGTERM or SIGINT
// finishes the message in hand, commits and leaves the group.
//
// -dump prints every event as one JSON line (all attributes and the data)
// instead; with -max-events / -idle-exit it is the reader that
// tests/e2e/test_sdk_interop.py runs.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
)

type options struct {
	brokers, group, topics, typePrefix, subjectPrefix, version string
	dump                                                       bool
	maxEvents                                                  int
	idleExit                                                   float64
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func parseOptions() options {
	var o options
	flag.StringVar(&o.brokers, "brokers", env("KAFKA_BROKERS", "localhost:9092"), "bootstrap brokers, comma separated")
	flag.StringVar(&o.group, "group", env("KAFKA_GROUP", "hookbus-example-go"), "consumer group")
	flag.StringVar(&o.topics, "topics", env("KAFKA_TOPICS", "hookbus.git,hookbus.image,hookbus.other"), "topics, comma separated")
	flag.StringVar(&o.typePrefix, "type", env("EVENT_TYPE_PREFIX", "dev.hookbus."), "act on events whose type starts with this")
	flag.StringVar(&o.subjectPrefix, "subject", env("EVENT_SUBJECT_PREFIX", ""), "... and whose subject starts with this")
	flag.StringVar(&o.version, "kafka-version", env("KAFKA_VERSION", "2.1.0"),
		"Kafka protocol version sarama speaks (it does not negotiate)")
	flag.BoolVar(&o.dump, "dump", false, "print every event as a JSON line")
	flag.IntVar(&o.maxEvents, "max-events", 0, "exit after this many messages (0: never)")
	flag.Float64Var(&o.idleExit, "idle-exit", 0, "exit after this many seconds without a message (0: never)")
	flag.Parse()
	return o
}

// consumer is the group handler: sarama calls ConsumeClaim once per assigned
// partition, concurrently, so the counters and stdout are behind mu.
type consumer struct {
	opts   options
	cancel context.CancelFunc
	mu     sync.Mutex
	seen   int
	last   time.Time
	failed bool
}

func (c *consumer) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (c *consumer) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (c *consumer) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			c.handle(s.Context(), m)
			// Committed only now, after acting; synchronously, so a crash re-delivers.
			s.MarkMessage(m, "")
			s.Commit()
		case <-s.Context().Done():
			return nil
		}
	}
}

// handle decodes and validates one message and acts on it.
func (c *consumer) handle(ctx context.Context, m *sarama.ConsumerMessage) {
	msg := kafka_sarama.NewMessageFromConsumerMessage(m)
	mode := "binary"
	if msg.ReadEncoding() == binding.EncodingStructured {
		mode = "structured"
	}
	ev, err := binding.ToEvent(ctx, msg)
	if err == nil {
		err = ev.Validate()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = time.Now()
	if err != nil {
		fmt.Fprintf(os.Stderr, "undecodable %s/%d@%d: %v\n", m.Topic, m.Partition, m.Offset, err)
		c.failed = true
	} else {
		c.act(m, ev, mode)
	}
	c.seen++
	if c.opts.maxEvents > 0 && c.seen >= c.opts.maxEvents {
		c.cancel()
	}
}

// act is the action: a line per matching event (the whole event with -dump).
func (c *consumer) act(m *sarama.ConsumerMessage, ev *event.Event, mode string) {
	if c.opts.dump {
		// The SDK's own JSON format: every attribute (time in RFC 3339) and the data.
		body, err := json.Marshal(ev)
		if err != nil {
			fmt.Fprintf(os.Stderr, "encode %s: %v\n", ev.ID(), err)
			c.failed = true
			return
		}
		line, _ := json.Marshal(map[string]any{"mode": mode, "topic": m.Topic,
			"partition": m.Partition, "offset": m.Offset, "event": json.RawMessage(body)})
		fmt.Println(string(line))
		return
	}
	if !strings.HasPrefix(ev.Type(), c.opts.typePrefix) || !strings.HasPrefix(ev.Subject(), c.opts.subjectPrefix) {
		return
	}
	fmt.Printf("%s %s id=%s topic=%s partition=%d offset=%d mode=%s\n",
		ev.Type(), ev.Subject(), ev.ID(), m.Topic, m.Partition, m.Offset, mode)
}

// watchIdle cancels ctx once no message came for opts.idleExit.
func (c *consumer) watchIdle(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.mu.Lock()
			idle := time.Since(c.last).Seconds() > c.opts.idleExit
			c.mu.Unlock()
			if idle {
				c.cancel()
				return
			}
		}
	}
}

func run() int {
	opts := parseOptions()
	cfg := sarama.NewConfig()
	version, err := sarama.ParseKafkaVersion(opts.version)
	if err != nil {
		fmt.Fprintf(os.Stderr, "-kafka-version: %v\n", err)
		return 2
	}
	cfg.Version = version
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Return.Errors = true
	group, err := sarama.NewConsumerGroup(strings.Split(opts.brokers, ","), opts.group, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafka: %v\n", err)
		return 1
	}
	defer group.Close()
	go func() {
		for err := range group.Errors() {
			fmt.Fprintf(os.Stderr, "kafka: %v\n", err)
		}
	}()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	c := &consumer{opts: opts, cancel: stop, last: time.Now()}
	if opts.idleExit > 0 {
		go c.watchIdle(ctx)
	}
	var topics []string
	for _, t := range strings.Split(opts.topics, ",") {
		if t != "" {
			topics = append(topics, t)
		}
	}
	// Consume returns at every rebalance; join again until told to stop.
	for ctx.Err() == nil {
		if err := group.Consume(ctx, topics, c); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "kafka: %v\n", err)
			return 1
		}
	}
	if c.failed {
		return 1
	}
	return 0
}

func main() { os.Exit(run()) }
