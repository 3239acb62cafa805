"""The baselines bench_gateway.py measures the gateway against, on loopback:
a static nginx `return 202` (Debian's nginx, a configuration written into a
temporary directory) and bench/peers/gobridge, the do-it-yourself Go bridge
(net/http + confluent-kafka-go, acks=all) built by `make bench-peers`."""
import pathlib
import socket
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from procs import stop_process  # noqa: E402


def start_nginx(tmp, port, tls_port):
    """nginx `return 202` on port, and the same over TLS on tls_port with a
    self-signed P-256 certificate (as the gateway's generated one)."""
    d = tmp / "nginx"
    for sub in ("logs", "tmp"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 202 '{{"accepted":1}}'; }}
  }}
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    location / {{ default_type application/json; return 202 '{{"accepted":1}}'; }}
  }}
}}
""")
    p = subprocess.Popen(["nginx", "-p", str(d), "-c", str(conf), "-e", str(d / "logs/error.log")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            socket.create_connection(("127.0.0.1", tls_port), 0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.terminate()
    raise RuntimeError("nginx did not start: " + (d / "logs/error.log").read_text())


class GoBridge:
    """bench/peers/gobridge on a free port, producing to bootstrap; its log
    (stderr) in log_path."""

    def __init__(self, binary, bootstrap, secret, log_path, topic="hookbus.git"):
        binary = pathlib.Path(binary)
        if not binary.is_file():
            raise RuntimeError(f"{binary} is missing: run `make bench-peers`")
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([str(binary), "-brokers", bootstrap, "-secret", secret,
                                      "-topic", topic],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        # It prints its port as soon as it listens (the producer connects in
        # the background), or exits.
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.stop()
            raise RuntimeError("gobridge did not start: " + pathlib.Path(log_path).read_text())
        self.port = int(line[1])

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        stop_process(self.proc)
        self.proc.stdout.close()
        self.log.close()
