#!/bin/sh
# Builds the benchmark peers under bench/peers into OUT (make bench-peers).
# Usage: bench/peers/build.sh OUT
#
# gobridge (net/http + confluent-kafka-go, which bundles a static librdkafka
# and needs cgo): Debian 12's Go is 1.19 and the module needs 1.21, so, as
# scripts/sdk-consumers.sh does, Debian's go fetches the Go toolchain module
# golang.org/toolchain from the module proxy and that one builds, against the
# committed go.sum. Every cache stays under OUT.
set -eu

out="$(mkdir -p "$1" && cd "$1" && pwd)"
src="$(cd "$(dirname "$0")" && pwd)"
GO_TOOLCHAIN=go1.24.13

export GOPATH="$out/go-path" GOMODCACHE="$out/go-mod" GOCACHE="$out/go-cache"
export GOFLAGS=-modcacherw GOTOOLCHAIN=local CGO_ENABLED=1
arch="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')"
mod="golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$arch"
goroot="$GOMODCACHE/$mod"
if [ ! -x "$goroot/bin/go" ]; then
    bootstrap=/usr/lib/go/bin/go
    [ -x "$bootstrap" ] || bootstrap=go
    (cd "$out" && "$bootstrap" mod download "$mod")
    # Module zips keep no file modes; the go command sets them when it
    # switches toolchains itself, so do the same.
    chmod -R u+x "$goroot/bin" "$goroot/pkg/tool"
fi
(cd "$src/gobridge" && "$goroot/bin/go" build -mod=readonly -trimpath -o "$out/gobridge.tmp" .)
mv "$out/gobridge.tmp" "$out/gobridge"
