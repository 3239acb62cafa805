"""A real Prometheus (Debian's) scrapes a gateway and a consumer started by
the test and evaluates deploy/prometheus/hookbus-rules.yaml: breaking Kafka
makes HookbusGatewayKafkaUnreachable pending, then firing, and it resolves
when Kafka returns; an action that fails for good fires
HookbusConsumerDeadLetters.

The rules are the real file's expressions, labels and annotations with every
`for:` shortened to 3 s (rules_for_tests), so the test runs in seconds; the
production durations are covered by `promtool test rules`
(deploy/prometheus/tests/). Scrape and evaluation run every second.
"""
import json

import pytest

from conftest import TOKEN, wait_for
from consumers import ConsumerProc, kafka  # noqa: F401  (the fixture with the DLQ topic)
from prom import Prometheus, rules_for_tests

GATEWAY_CONFIG = """
listen: 127.0.0.1:0
tls:
  enabled: false
kafka:
  brokers: {brokers}
  properties:
    reconnect.backoff.ms: "50"
    reconnect.backoff.max.ms: "500"
delivery_timeout_ms: 3000
receivers:
  - name: gen
    type: generic
    secrets: [literal:{token}]
"""

# Exit 1: a permanent failure, dead-lettered at once.
CONSUMER_CONFIG = """
kafka:
  brokers: {brokers}
  group: e2e-prometheus
  topics: [hookbus.other]
admin_listen: 127.0.0.1:0
command: [/bin/false]
timeout: 10s
retry: {{max_attempts: 2, initial_backoff: 50ms, max_backoff: 100ms}}
dead_letter_topic: hookbus.dlq
"""


@pytest.fixture
def stack(kafka, make_gateway, tmp_path):  # noqa: F811
    gw = make_gateway(kafka.bootstrap,
                      config=GATEWAY_CONFIG.format(brokers=kafka.bootstrap, token=TOKEN))
    cdir = tmp_path / "consumer"
    cdir.mkdir()
    consumer = ConsumerProc(cdir, "hookbus-exec", CONSUMER_CONFIG.format(brokers=kafka.bootstrap),
                            name="exec")
    pdir = tmp_path / "prometheus"
    pdir.mkdir()
    prom = None
    try:
        prom = Prometheus(pdir, {"hookbus-gateway": f"127.0.0.1:{gw.port}",
                                 "hookbus-exec": f"127.0.0.1:{consumer.port}"},
                          rule_files=[rules_for_tests(pdir / "rules.yaml")])
        yield kafka, gw, consumer, prom
    finally:
        if prom:
            prom.stop()
        consumer.stop()


def alert_state(prom, name, **labels):
    """The state of the alert of that name whose labels include `labels`, or None."""
    for a in prom.alerts(name):
        if all(a["labels"].get(k) == v for k, v in labels.items()):
            return a["state"]
    return None


def test_kafka_down_fires_the_alert_and_it_resolves(stack):
    kafka, gw, consumer, prom = stack
    wait_for(lambda: prom.targets_up() == {"hookbus-gateway": "up", "hookbus-exec": "up"},
             timeout=30, what="both targets scraped")
    # Every rule of the real file loads and evaluates without error.
    wait_for(lambda: all(h == "ok" for h, _ in prom.rule_health().values()), timeout=30,
             what="every rule evaluated: " + str(prom.rule_health()))
    assert len(prom.rule_health()) >= 20
    wait_for(lambda: prom.query('hookbus_gateway_kafka_reachable{job="hookbus-gateway"} == 1'),
             timeout=30, what="the gateway to report Kafka reachable")
    assert alert_state(prom, "HookbusGatewayKafkaUnreachable") is None

    assert kafka.command("down 1") == "ok"
    states = []

    def firing():
        s = alert_state(prom, "HookbusGatewayKafkaUnreachable", job="hookbus-gateway")
        if s and (not states or states[-1] != s):
            states.append(s)
        return s == "firing"

    wait_for(firing, timeout=60, interval=0.1, what="HookbusGatewayKafkaUnreachable firing")
    assert states == ["pending", "firing"], states
    a = prom.alerts("HookbusGatewayKafkaUnreachable")[0]
    assert a["labels"]["severity"] == "critical"
    assert "no Kafka broker" in a["annotations"]["summary"]
    assert "Check the brokers" in a["annotations"]["runbook"]

    assert kafka.command("up 1") == "ok"
    wait_for(lambda: alert_state(prom, "HookbusGatewayKafkaUnreachable") is None, timeout=60,
             interval=0.2, what="HookbusGatewayKafkaUnreachable resolved")
    assert prom.query('hookbus_gateway_kafka_reachable{job="hookbus-gateway"} == 1')


def test_a_failed_action_fires_the_dead_letter_alert(stack):
    kafka, gw, consumer, prom = stack
    wait_for(lambda: prom.targets_up() == {"hookbus-gateway": "up", "hookbus-exec": "up"},
             timeout=30, what="both targets scraped")
    # The counter's 0 must be scraped before the 1, or increase() sees nothing.
    wait_for(lambda: prom.query('hookbus_consumer_dead_lettered_total{job="hookbus-exec"} == 0'),
             timeout=30, what="the consumer's counters scraped")
    assert alert_state(prom, "HookbusConsumerDeadLetters") is None
    body = json.dumps({"ref": "refs/heads/main",
                       "repository": "https://github.com/acme/app.git"}).encode()
    r = gw.post("/webhooks/gen", body, {"Content-Type": "application/json",
                                        "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202, r.text
    wait_for(lambda: consumer.metrics().get("hookbus_consumer_dead_lettered_total") == 1,
             timeout=30, what="the event dead-lettered")
    assert consumer.metrics()['hookbus_consumer_failed_total{reason="permanent"}'] == 1
    wait_for(lambda: alert_state(prom, "HookbusConsumerDeadLetters", job="hookbus-exec")
             == "firing", timeout=30, interval=0.2, what="HookbusConsumerDeadLetters firing")
    # The request the gateway counted reached Prometheus by receiver and code.
    wait_for(lambda: prom.query('hookbus_gateway_requests_total'
                                '{job="hookbus-gateway",receiver="gen",code="202"} == 1'),
             timeout=30, what="the 202 in Prometheus")
