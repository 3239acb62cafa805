"""Real servers for the hookbus-poller e2e tests, each on a free loopback port
in the test's own directory: a Git repository served over smart HTTP
(`git http-backend` as a CGI, optionally behind basic auth) and over
`git daemon`, Debian's docker-registry with skopeo pushing images built here
as OCI layouts, a Helm repository (a directory over HTTP), and a proxy that
answers 429 in front of the registry."""
import base64
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import pwd
import socket
import subprocess
import tarfile
import threading
import time

from conftest import wait_for

GIT_ENV = {"GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@example.com",
           "GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@example.com",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def git(*args, cwd=None):
    env = dict(os.environ)
    env.update(GIT_ENV)
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


class GitRepo:
    """A bare repository root/name.git and a work tree that pushes to it."""

    def __init__(self, root, name="app"):
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        git("init", "-q", "--bare", "-b", "main", str(self.bare))
        git("init", "-q", "-b", "main", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.commit("initial")
        git("push", "-q", "origin", "main", cwd=self.work)

    def commit(self, msg):
        git("commit", "-q", "--allow-empty", "-m", msg, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def push_commit(self, msg, branch="main"):
        sha = self.commit(msg)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return sha

    def push_tag(self, tag, annotated=True):
        if annotated:
            git("tag", "-a", tag, "-m", tag, cwd=self.work)
        else:
            git("tag", tag, cwd=self.work)
        git("push", "-q", "origin", f"refs/tags/{tag}", cwd=self.work)
        return git("rev-parse", f"{tag}^{{commit}}", cwd=self.work)


class _Server:
    """A ThreadingHTTPServer on a free port in a daemon thread."""

    def __init__(self, handler):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class GitHttpServer(_Server):
    """`git http-backend` over HTTP for the repositories below root; with
    user/password, requests without those basic credentials get 401."""

    def __init__(self, root, user=None, password=None):
        want = None
        if user:
            want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self._cgi()

            def do_POST(self):
                self._cgi()

            def _cgi(self):
                server.requests.append((self.command, self.path,
                                        self.headers.get("Authorization")))
                if want and self.headers.get("Authorization") != want:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                body = b""
                if self.headers.get("Content-Length"):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                env = {"GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1",
                       "PATH_INFO": path, "QUERY_STRING": query,
                       "REQUEST_METHOD": self.command, "REMOTE_ADDR": "127.0.0.1",
                       "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                       "CONTENT_LENGTH": str(len(body)), "PATH": os.environ["PATH"],
                       "GIT_PROTOCOL": self.headers.get("Git-Protocol", "")}
                out = subprocess.run(["git", "http-backend"], input=body, env=env,
                                     capture_output=True, check=False).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode().split("\r\n"):
                    k, _, v = line.partition(":")
                    if k.lower() == "status":
                        status = int(v.split()[0])
                    elif k:
                        headers.append((k, v.strip()))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        super().__init__(Handler)


class GitDaemon:
    """`git daemon` exporting every repository below root (git://)."""

    def __init__(self, root, log_path):
        self.port = free_port()
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={root}",
             "--listen=127.0.0.1", f"--port={self.port}", str(root)],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: port_open(self.port), timeout=10, what="git daemon")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class Registry:
    """Debian's docker-registry with its storage in tmp and no notifications."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path / "registry"
        self.dir.mkdir()
        cfg = self.dir / "config.yml"
        cfg.write_text(json.dumps({
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.dir / "data")},
                        "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}"}}))
        self.log = open(self.dir / "registry.log", "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: port_open(self.port), timeout=20, what="docker-registry")
        self.host = f"127.0.0.1:{self.port}"

    def push(self, tmp_path, repo, tag, content, chart=False):
        """Builds a one-layer OCI image whose file holds `content` (with
        chart: a Helm chart artifact, as `helm push` makes) and pushes it with
        skopeo to repo:tag; returns the manifest digest."""
        name = hashlib.sha256(f"{content}{chart}".encode()).hexdigest()[:12]
        layout = oci_layout(tmp_path / f"oci-{name}", content, chart=chart)
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                        f"oci:{layout}:latest", f"docker://{self.host}/{repo}:{tag}"],
                       check=True, capture_output=True, timeout=60)
        return self.digest(repo, tag)

    def digest(self, repo, tag):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("HEAD", f"/v2/{repo}/manifests/{tag}", headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
                      "application/vnd.docker.distribution.manifest.v2+json"})
        r = c.getresponse()
        r.read()
        c.close()
        return r.getheader("Docker-Content-Digest")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def _blob(blobs, data):
    d = hashlib.sha256(data).hexdigest()
    (blobs / d).write_bytes(data)
    return f"sha256:{d}", len(data)


HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def oci_layout(path, content, chart=False):
    """An OCI image layout at path with one image tagged latest: one layer
    holding the file /content. chart: a Helm chart artifact instead (the
    config is the chart's metadata under Helm's config media type, the layer
    a chart archive's media type)."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        data = content.encode()
        info = tarfile.TarInfo("content")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    ld, ll = _blob(blobs, layer)
    if chart:
        config = json.dumps({"apiVersion": "v2", "name": "app", "version": content}).encode()
    else:
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cd, cl = _blob(blobs, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": HELM_CONFIG if chart else
                   "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cl},
        "layers": [{"mediaType": HELM_LAYER if chart else
                    "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld,
                    "size": ll}]}).encode()
    md, ml = _blob(blobs, manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ml,
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    return path


class HelmRepo(_Server):
    """A chart repository: the directory `dir` (index.yaml) over HTTP."""

    def __init__(self, directory):
        self.dir = directory
        self.dir.mkdir(exist_ok=True)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(directory), **kw)

            def log_message(self, *a):
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/charts"

    def write_index(self, versions, name="app"):
        entries = "".join(
            f"  - name: {name}\n    version: {v}\n    digest: {hashlib.sha256(v.encode()).hexdigest()}\n"
            f"    urls: [\"{name}-{v}.tgz\"]\n" for v in versions)
        text = ("apiVersion: v1\nentries:\n"
                f"  other:\n  - name: other\n    version: 9.9.9\n"
                f"  {name}:\n{entries}generated: \"2026-12-04T00:00:00Z\"\n")
        (self.dir / "charts").mkdir(exist_ok=True)
        tmp = self.dir / "charts" / "index.yaml.tmp"
        tmp.write_text(text)
        tmp.rename(self.dir / "charts" / "index.yaml")


def _forward(handler, upstream_port):
    """Relays handler's GET / HEAD to the registry on upstream_port."""
    c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=10)
    hdrs = {k: v for k, v in handler.headers.items() if k.lower() == "accept"}
    c.request(handler.command, handler.path, headers=hdrs)
    r = c.getresponse()
    body = r.read()
    handler.send_response(r.status)
    for k, v in r.getheaders():
        if k.lower() not in ("connection", "transfer-encoding", "content-length"):
            handler.send_header(k, v)
    handler.send_header("Content-Length", r.getheader("Content-Length", str(len(body))))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)
    c.close()


class TooManyRequests(_Server):
    """A proxy to a registry that answers the first `count` requests with
    429 and Retry-After: `retry_after`, then forwards (GET and HEAD)."""

    def __init__(self, upstream_port, count=2, retry_after=1):
        self.left = count
        self.served_429 = 0
        self.requests = []  # monotonic time of each request
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self._handle()

            def do_HEAD(self):
                self._handle()

            def _handle(self):
                with proxy.lock:
                    proxy.requests.append(time.monotonic())
                    limited = proxy.left > 0
                    if limited:
                        proxy.left -= 1
                        proxy.served_429 += 1
                if limited:
                    self.send_response(429)
                    self.send_header("Retry-After", str(retry_after))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                _forward(self, upstream_port)

        super().__init__(Handler)


class TokenAuth(_Server):
    """The Docker Hub / GHCR / Quay token flow in front of a registry (which
    itself has no auth): registry requests without `Bearer <token>` get 401
    with a Bearer challenge naming this server's /token; /token answers
    {"token": ...} to the basic credentials user:password."""

    TOKEN = "registry-token-for-tests"

    def __init__(self, upstream_port, user, password):
        self.token_requests = []
        want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self._handle()

            def do_HEAD(self):
                self._handle()

            def _reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self):
                if self.path.startswith("/token"):
                    auth = self.headers.get("Authorization")
                    proxy.token_requests.append((self.path, auth))
                    if auth != want:
                        return self._reply(401)
                    return self._reply(200, json.dumps({"token": TokenAuth.TOKEN}).encode(),
                                       [("Content-Type", "application/json")])
                if self.headers.get("Authorization") != f"Bearer {TokenAuth.TOKEN}":
                    challenge = (f'Bearer realm="http://127.0.0.1:{proxy.port}/token",'
                                 'service="test-registry",scope="repository:acme/app:pull"')
                    return self._reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                       [("WWW-Authenticate", challenge)])
                _forward(self, upstream_port)

        super().__init__(Handler)


class SshGitServer:
    """sshd on a free loopback port with a host key and one authorized client
    key of its own (in tmp), serving the repositories by absolute path over
    git's ssh transport. Runs as the current user."""

    def __init__(self, tmp_path):
        self.dir = tmp_path / "sshd"
        self.dir.mkdir()
        d = self.dir
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name,
                            "-f", str(d / name)], check=True)
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
        os.chmod(d / "authorized_keys", 0o600)
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.port = free_port()
        (d / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n"
            f"AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            f"PidFile {d}/sshd.pid\n")
        # sshd insists on its privilege separation directory (the Debian
        # service creates it at start; no service runs here).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.log = open(d / "sshd.log", "w")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: port_open(self.port), timeout=10, what="sshd")
        out = subprocess.run(["ssh-keygen", "-lf", str(d / "host_key.pub")], check=True,
                             capture_output=True, text=True).stdout
        self.fingerprint = out.split()[1]  # SHA256:...
        self.client_key = str(d / "client_key")

    def url(self, path):
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class SilentServer:
    """Accepts TCP connections and never says a byte: a Git server (smart HTTP
    or git://) that hangs after the connection, as libgit2 1.5 cannot time
    out by itself. Counts the connections it accepted."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)  # held open, never answered

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()
