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
kcat clang clang-format cppcheck libclang-rt-14-dev valgrind gdb
wrk nginx-light gnuplot-nox
docker-compose yamllint
prometheus golang-go openjdk-17-jdk-headless maven nodejs npm python3-venv
libgit2-dev docker-registry skopeo openssh-server
xxd chromium
"

# A package counts as present when it is installed or an installed package
# provides it (NodeSource's nodejs provides npm, and conflicts with Debian's).
provided="$(dpkg-query -W -f='${db:Status-Abbrev}${Provides}\n' 2>/dev/null |
    sed -n 's/^ii *//p' | tr ',' '\n' | sed 's/ *(.*//; s/^ *//')"
missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" &&
       ! printf '%s\n' "$provided" | grep -qx "$p"; then
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
# No service of a package installed here starts (docker-registry on :5000, sshd,
# Prometheus on :9090): the tests start their own instances on free ports.
# policy-rc.d answering 101 ("action forbidden") is Debian's switch for that.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

# Debian's prometheus package starts a system Prometheus on :9090 where its init
# system lets it. hookbus needs only the binaries (the tests start their own
# Prometheus on a free port with its own data directory), and 9090 is the
# consumers' default admin_listen: stop and disable the service just installed.
case " $missing " in
*" prometheus "*)
    if [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
        $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
        $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
    ;;
esac
