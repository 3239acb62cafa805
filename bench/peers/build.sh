#!/bin/sh
# Builds the benchmark peers under bench/peers into OUT (make bench-peers).
# Usage: bench/peers/build.sh OUT
#
# gobridge (net/http + confluent-kafka-go, which bundles a static librdkafka
# and needs cgo): Debian 12's Go is 1.19 and the module needs 1.21, so, as
# scripts/sdk-consumers.sh does, scripts/go-toolchain.sh fetches the Go
# toolchain module from the module proxy and that one builds, against the
# committed go.sum. Every cache stays under OUT.
set -eu

out="$(mkdir -p "$1" && cd "$1" && pwd)"
src="$(cd "$(dirname "$0")" && pwd)"
GO_TOOLCHAIN=go1.24.13

export GOPATH="$out/go-path" GOMODCACHE="$out/go-mod" GOCACHE="$out/go-cache"
export GOFLAGS=-modcacherw GOTOOLCHAIN=local CGO_ENABLED=1
goroot="$("$src/../../scripts/go-toolchain.sh" "$out" "$GO_TOOLCHAIN")"
(cd "$src/gobridge" && "$goroot/bin/go" build -mod=readonly -trimpath -o "$out/gobridge.tmp" .)
mv "$out/gobridge.tmp" "$out/gobridge"
