#!/bin/sh
# Prints the GOROOT of Go toolchain VERSION, the module golang.org/toolchain
# from the Go module proxy, fetched once into OUT/go-mod by Debian's go (Debian
# 12's Go 1.19 is older than the modules the examples and the bench peers
# need). The caller exports the same GOPATH, GOMODCACHE and GOCACHE under OUT.
# Usage: scripts/go-toolchain.sh OUT VERSION   (e.g. go1.24.13)
set -eu

out="$1"
export GOPATH="$out/go-path" GOMODCACHE="$out/go-mod" GOCACHE="$out/go-cache"
export GOFLAGS=-modcacherw GOTOOLCHAIN=local
arch="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')"
mod="golang.org/toolchain@v0.0.1-$2.linux-$arch"
goroot="$GOMODCACHE/$mod"
if [ ! -x "$goroot/bin/go" ]; then
    bootstrap=/usr/lib/go/bin/go
    [ -x "$bootstrap" ] || bootstrap=go
    (cd "$out" && "$bootstrap" mod download "$mod") >&2
    # Module zips keep no file modes; the go command sets them when it
    # switches toolchains itself, so do the same.
    chmod -R u+x "$goroot/bin" "$goroot/pkg/tool"
fi
echo "$goroot"
