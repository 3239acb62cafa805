#!/bin/sh
# Builds one of the CloudEvents SDK example consumers (examples/consumers/LANG)
# into OUT/LANG and writes OUT/LANG/run, the command that starts it.
# Usage: scripts/sdk-consumers.sh go|java|python|js OUT
#
# Toolchains are Debian's (scripts/install-deps.sh); what the SDKs need beyond
# them comes from the registries, pinned, with every cache under OUT:
#   go      Debian 12's Go is 1.19 and sdk-go v2.16 needs 1.23, so Debian's go
#           fetches the Go toolchain module golang.org/toolchain (what
#           GOTOOLCHAIN does on Go >= 1.21) from the module proxy, checked
#           against go.sum's database like any module, and that one builds.
#   java    Maven (Debian) with a local repository OUT/m2.
#   python  a venv over Debian's python3 (it sees python3-confluent-kafka),
#           requirements.txt installed with --no-deps.
#   js      Debian 12's Node is 18 and cloudevents@10 requires >= 20, so
#           package-lock.json includes the npm package `node` (Node 22 for
#           linux-x64, from the npm registry) and the consumer runs on that one.
set -eu

lang="$1"
out="$(mkdir -p "$2" && cd "$2" && pwd)"
src="$(cd "$(dirname "$0")/.." && pwd)/examples/consumers/$lang"
dest="$out/$lang"
mkdir -p "$dest"

GO_TOOLCHAIN=go1.24.13

write_run() {
    printf '#!/bin/sh\n%s\n' "$1" > "$dest/run.tmp"
    chmod 755 "$dest/run.tmp"
    mv "$dest/run.tmp" "$dest/run"
}

case "$lang" in
go)
    export GOPATH="$out/go-path" GOMODCACHE="$out/go-mod" GOCACHE="$out/go-cache"
    export GOFLAGS=-modcacherw GOTOOLCHAIN=local
    goroot="$("$(dirname "$0")/go-toolchain.sh" "$out" "$GO_TOOLCHAIN")"
    (cd "$src" && "$goroot/bin/go" build -mod=readonly -trimpath -o "$dest/hookbus-consumer" .)
    write_run "exec \"$dest/hookbus-consumer\" \"\$@\""
    ;;
java)
    (cd "$src" && mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$out/m2" \
        -DbuildDirectory="$dest/target" package)
    write_run "exec java -Dorg.slf4j.simpleLogger.defaultLogLevel=\${JAVA_LOG_LEVEL:-warn} -cp \"$dest/target/classes:$dest/target/lib/*\" dev.hookbus.example.HookbusConsumer \"\$@\""
    ;;
python)
    [ -x "$dest/venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$dest/venv"
    "$dest/venv/bin/pip" install -q --disable-pip-version-check --no-deps \
        --cache-dir "$out/pip-cache" -r "$src/requirements.txt"
    write_run "exec \"$dest/venv/bin/python\" \"$src/hookbus_consumer.py\" \"\$@\""
    ;;
js)
    rm -rf "$dest/app"
    mkdir -p "$dest/app"
    cp "$src/package.json" "$src/package-lock.json" "$src/consumer.js" "$dest/app/"
    (cd "$dest/app" && npm ci --no-audit --no-fund --cache "$out/npm-cache" >/dev/null)
    write_run "exec \"$dest/app/node_modules/.bin/node\" \"$dest/app/consumer.js\" \"\$@\""
    ;;
*)
    echo "usage: $0 go|java|python|js OUT" >&2
    exit 2
    ;;
esac
