#!/bin/sh
# Runs the gateway e2e subset with the gateway under valgrind memcheck: any
# memory error or definite leak makes the gateway exit 99, which fails the
# test (tests/e2e/conftest.py insists on exit status 0).
# Usage: scripts/valgrind-e2e.sh [BIN_DIR] [pytest args...]
set -eu
bin=$(cd "${1:-build/bin}" && pwd)
[ $# -gt 0 ] && shift
export HOOKBUS_BIN_DIR="$bin"
export HOOKBUS_WRAPPER="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
--show-leak-kinds=definite --error-exitcode=99 --suppressions=$(pwd)/scripts/valgrind.supp"
exec /usr/bin/python3 -m pytest -q tests/e2e/test_gateway_github.py tests/e2e/test_all_fixtures.py "$@"
