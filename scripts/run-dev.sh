#!/bin/sh
# `make run`: the gateway on an embedded Kafka (config/dev.yaml) plus
# hookbus-tail on the same cluster. Prints a curl that sends a signed GitHub
# push; the event then shows up in the tail output. Ctrl-C stops both.
set -eu
bin=${1:-build/bin}
run=build/run
mkdir -p "$run"
rm -f "$run/bootstrap"

"$bin/hookbus-gateway" --config config/dev.yaml --log-format text &
gw=$!
tail_pid=""
cleanup() {
    trap - INT TERM EXIT
    [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null || true
    kill "$gw" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

i=0
while [ ! -s "$run/bootstrap" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$gw" 2>/dev/null; then
        echo "run: the gateway did not start (see above)" >&2
        exit 1
    fi
    sleep 0.1
done

"$bin/hookbus-tail" --brokers "@$run/bootstrap" --from-beginning --log-format text &
tail_pid=$!

cat <<'MSG'

==> hookbus is running: gateway on http://127.0.0.1:8080, hookbus-tail below.
    Paste this in another terminal to send a signed GitHub push:

body='{"ref":"refs/heads/main","before":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","repository":{"full_name":"acme/app","clone_url":"https://github.com/acme/app.git","ssh_url":"git@github.com:acme/app.git","html_url":"https://github.com/acme/app"},"commits":[{"id":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","added":["README.md"],"modified":[],"removed":[]}],"sender":{"login":"octocat"}}'
curl -sS http://127.0.0.1:8080/webhooks/dev-github \
  -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
  -H "X-GitHub-Delivery: $(date +%s%N)" \
  -H "X-Hub-Signature-256: sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac dev-github-secret | sed 's/^.* //')" \
  --data "$body"; echo

    Ctrl-C stops everything.
MSG
wait "$gw"
