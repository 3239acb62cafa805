// Command gobridge is the "do it yourself" baseline of bench/: the webhook
// bridge a team would write in an afternoon with Go's net/http and
// confluent-kafka-go, doing for a GitHub push what hookbus-gateway does on
// its request path: check X-Hub-Signature-256 (HMAC-SHA256 of the exact
// body), parse the JSON body, produce one event to Kafka with acks=all and
// the idempotent producer, and answer 202 only after the delivery report.
//
// It prints "listening PORT" on stdout once it accepts connections, and
// flushes the producer on SIGTERM. A benchmark peer, not a product: no
// routing, no other receivers, the secret given on the command line.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// maxBody is the gateway's default limits.max_body_bytes (1 MiB).
const maxBody = 1 << 20

// push is the part of a GitHub push event the bridge reads; decoding into it
// still checks the whole body is valid JSON.
type push struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Repository struct {
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
	} `json:"repository"`
	Commits []struct {
		ID       string   `json:"id"`
		Added    []string `json:"added"`
		Removed  []string `json:"removed"`
		Modified []string `json:"modified"`
	} `json:"commits"`
}

type bridge struct {
	secret   []byte
	topic    string
	producer *kafka.Producer
}

// validSignature compares the X-Hub-Signature-256 header with the body's
// HMAC-SHA256 in constant time.
func (b *bridge) validSignature(header string, body []byte) bool {
	hexsig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(hexsig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, b.secret)
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"status\":%d,\"message\":%q}\n", code, msg)
}

func (b *bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		reply(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		reply(w, http.StatusBadRequest, "unreadable body")
		return
	}
	if len(body) > maxBody {
		reply(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	if !b.validSignature(r.Header.Get("X-Hub-Signature-256"), body) {
		reply(w, http.StatusUnauthorized, "bad signature")
		return
	}
	if r.Header.Get("X-GitHub-Event") != "push" {
		reply(w, http.StatusAccepted, "ignored")
		return
	}
	var p push
	if err := json.Unmarshal(body, &p); err != nil || p.Repository.FullName == "" {
		reply(w, http.StatusBadRequest, "not a push event")
		return
	}
	id := r.Header.Get("X-GitHub-Delivery")
	msg := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &b.topic, Partition: kafka.PartitionAny},
		Key:            []byte(p.Repository.FullName),
		Value:          body,
		Headers: []kafka.Header{
			{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_id", Value: []byte(id)},
			{Key: "ce_source", Value: []byte(p.Repository.HTMLURL)},
			{Key: "ce_type", Value: []byte("dev.hookbus.git.push")},
			{Key: "ce_subject", Value: []byte(p.Ref)},
			{Key: "content-type", Value: []byte("application/json")},
		},
	}
	done := make(chan kafka.Event, 1)
	if err := b.producer.Produce(msg, done); err != nil {
		reply(w, http.StatusServiceUnavailable, "produce failed")
		return
	}
	select {
	case e := <-done:
		if m, ok := e.(*kafka.Message); !ok || m.TopicPartition.Error != nil {
			reply(w, http.StatusServiceUnavailable, "not delivered")
			return
		}
	case <-r.Context().Done():
		return
	}
	reply(w, http.StatusAccepted, "accepted")
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	brokers := flag.String("brokers", "", "Kafka bootstrap servers")
	topic := flag.String("topic", "hookbus.git", "topic of the events")
	secret := flag.String("secret", "", "GitHub webhook secret")
	flag.Parse()
	if *brokers == "" || *secret == "" {
		log.Fatal("gobridge: -brokers and -secret are required")
	}
	producer, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":  *brokers,
		"acks":               "all",
		"enable.idempotence": true,
		"linger.ms":          1, // as hookbus-gateway's default
	})
	if err != nil {
		log.Fatalf("gobridge: producer: %v", err)
	}
	go func() { // errors and logs: delivery reports go to each request's channel
		for e := range producer.Events() {
			if err, ok := e.(kafka.Error); ok {
				log.Printf("gobridge: kafka: %v", err)
			}
		}
	}()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("gobridge: listen: %v", err)
	}
	srv := &http.Server{Handler: &bridge{[]byte(*secret), *topic, producer},
		ReadHeaderTimeout: 10 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
		<-stop
		srv.Close()
	}()
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		log.Printf("gobridge: serve: %v", err)
	}
	producer.Flush(5000)
	producer.Close()
}
