#!/bin/sh
# Installs every Debian package hookbus needs to build, run and test.
# Does nothing (and needs no network) when they are all present already.
# Usage: scripts/install-deps.sh        (as root, or with sudo available)
set -eu

PACKAGES="
build-essential pkg-config make git curl ca-certificates openssl
librdkafka-dev libmicrohttpd-dev libgnutls28-dev libssl-dev libcjson-dev libavro-dev
libyaml-dev libcurl4-openssl-dev libpcre2-dev libcmocka-dev
python3 python3-pytest python3-confluent-kafka python3-requests python3-yaml python3-avro
python3-jsonschema python3-pytest-xdist python3-cryptography
kcat clang cppcheck libclang-rt-14-dev valgrind
wrk nginx-light gnuplot-nox
docker-compose yamllint
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-deps: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
