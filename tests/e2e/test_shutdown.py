"""SIGTERM while keep-alive senders keep posting: the gateway exits cleanly
(libmicrohttpd aborts the process when it is stopped with a connection that
waits for Kafka), and every push it answered 202 is in Kafka."""
import signal
import threading

import requests

from conftest import FIXTURES, GITHUB_SECRET, sign, wait_for


def test_sigterm_under_keep_alive_load_exits_cleanly_and_keeps_every_202(kafka, make_gateway):
    gw = make_gateway(kafka.bootstrap)
    body = (FIXTURES / "github" / "push.json").read_bytes()
    accepted, refused, stop = [], [], threading.Event()
    lock = threading.Lock()

    def sender(n):
        session = requests.Session()  # keep-alive: requests go on after the quiesce
        i = 0
        while not stop.is_set():
            delivery = f"sender{n}-{i}"
            i += 1
            try:
                r = session.post(gw.url("/webhooks/acme-github"), data=body, timeout=15,
                                 headers={"Content-Type": "application/json",
                                          "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                                          "X-Hub-Signature-256": sign(GITHUB_SECRET, body)})
            except requests.RequestException:
                return  # the gateway closed the connection: it is going away
            with lock:
                (accepted if r.status_code == 202 else refused).append((delivery, r.status_code))

    threads = [threading.Thread(target=sender, args=(n,), daemon=True) for n in range(16)]
    for t in threads:
        t.start()
    wait_for(lambda: len(accepted) >= 50, timeout=30, what="50 pushes accepted")
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(30) == 0, gw.log_path.read_text()[-2000:]
    assert "Fatal error" not in gw.log_path.read_text()
    stop.set()
    for t in threads:
        t.join(20)
    assert all(code == 503 for _, code in refused), refused[:5]
    ids = {dict(m.headers())["ce_id"].decode()
           for m in kafka.read_all("hookbus.git")}
    missing = [d for d, _ in accepted if d not in ids]
    assert not missing, f"{len(missing)} pushes answered 202 are not in Kafka: {missing[:5]}"
