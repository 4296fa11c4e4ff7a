#!/usr/bin/env bash
# The end-to-end benchmark on one machine, in one command: a Tansu broker on 127.0.0.1,
# the parcel topics, `parcel-screener run` against it, and `loadtest run` producing a
# synthetic feed and reading decisions and rejections back. Prints the load test's summary
# and where its JSON report is; exits with the load test's status (0 = every report
# accounted for, 1 = something lost or unexpected, 2 = setup error).
#
#   scripts/loadtest.sh [--parcels N] [--rate R] [--manifest N] [--partitions P]
#                       [--pass-through] [--backlog] [--workers W] [--report FILE]
#                       [--broker tansu|mock] [--seed S] [--build]
#                       [-- MORE-LOADTEST-RUN-ARGS...]
#
#   --parcels N      distinct parcels (default 100000, ≈ 143,500 reports)
#   --rate R         reports per second, 0 = as fast as possible (default 0)
#   --manifest N     send manifests of N reports at once at the average rate R (default 1)
#   --partitions P   partitions of each parcel topic (default 8)
#   --pass-through   run the screener with --pass-through (the baseline)
#   --exactly-once   run the screener with kafka.delivery = exactly-once and read its
#                    outputs read-committed
#   --backlog        send the whole feed first, then start the screener on it: measures
#                    how fast it works off a backlog, with the load generator's producing
#                    out of the window (throughput and CPU count from the screener's start)
#   --workers W      screener worker threads (SCREENER_KAFKA__WORKERS; default one per core)
#   --report FILE    JSON report (default target/loadtest/<run>/report.json)
#   --broker B       tansu (default): a Tansu process, as in the integration tests;
#                    mock: librdkafka's mock cluster in a process of its own (`loadtest
#                    mock-broker`), which costs far less per request than Tansu and so shows
#                    the screener's own latency. It keeps only ~5 MiB per partition (older
#                    data is dropped), so use it for rate-limited runs the screener keeps
#                    up with, not for backlogs.
#   --seed S         feed seed (default 1)
#   --build          cargo build --release the screener and loadtest first (otherwise only
#                    when a binary is missing)
#
# Logs (tansu.log, screener.log) go to target/loadtest/<run>/. Everything started here is
# stopped on exit. Environment: CARGO_TARGET_DIR, TANSU_BIN (see scripts/README.md).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLER_DIR=$PWD
cd "$ROOT"

log() { printf 'loadtest.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2; }

PARCELS=100000
RATE=0
MANIFEST=1
PARTITIONS=8
PASS_THROUGH=0
EXACTLY_ONCE=0
BACKLOG=0
WORKERS=""
REPORT=""
SEED=1
BROKER=tansu
BUILD=0
EXTRA=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --parcels) PARCELS=${2:?--parcels needs a value}; shift 2 ;;
        --rate) RATE=${2:?--rate needs a value}; shift 2 ;;
        --manifest) MANIFEST=${2:?--manifest needs a value}; shift 2 ;;
        --partitions) PARTITIONS=${2:?--partitions needs a value}; shift 2 ;;
        --pass-through) PASS_THROUGH=1; shift ;;
        --exactly-once) EXACTLY_ONCE=1; shift ;;
        --backlog) BACKLOG=1; shift ;;
        --workers) WORKERS=${2:?--workers needs a value}; shift 2 ;;
        --report) REPORT=${2:?--report needs a value}; shift 2 ;;
        --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
        --broker) BROKER=${2:?--broker needs a value}; shift 2 ;;
        --build) BUILD=1; shift ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done
for value in "$PARCELS" "$PARTITIONS" "$MANIFEST" "$SEED"; do
    [[ $value =~ ^[0-9]+$ ]] || die "not a whole number: $value"
done
[[ $RATE =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "not a rate: $RATE"
[[ -z $WORKERS || $WORKERS =~ ^[0-9]+$ ]] || die "not a worker count: $WORKERS"
[[ $BROKER == tansu || $BROKER == mock ]] || die "--broker is tansu or mock, not: $BROKER"
[[ $BROKER == tansu || $BACKLOG == 0 ]] || die "--backlog needs --broker tansu (the mock broker keeps ~5 MiB per partition)"

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SCREENER_BIN=$TARGET/release/parcel-screener
LOADTEST_BIN=$TARGET/release/loadtest
if [[ $BUILD == 1 || ! -x $SCREENER_BIN || ! -x $LOADTEST_BIN ]]; then
    log "building release binaries (parcel-screener, loadtest)"
    cargo build --release -p parcel-screener -p loadtest >&2
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN_DIR=$TARGET/loadtest/$STAMP-$$
mkdir -p "$RUN_DIR"
if [[ -z $REPORT ]]; then
    REPORT=$RUN_DIR/report.json
elif [[ $REPORT != /* ]]; then
    REPORT=$CALLER_DIR/$REPORT
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/parcel-screener-loadtest.XXXXXX")
SCREENER_PID=""
LOADTEST_PID=""
MOCK_PID=""

stop_screener() {
    [[ -n $SCREENER_PID ]] || return 0
    if kill -0 "$SCREENER_PID" 2>/dev/null; then
        kill -TERM "$SCREENER_PID" 2>/dev/null || true
        for _ in $(seq 1 300); do
            kill -0 "$SCREENER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SCREENER_PID" 2>/dev/null; then
            log "screener did not stop within 30 s; killing it"
            kill -KILL "$SCREENER_PID" 2>/dev/null || true
        fi
    fi
    wait "$SCREENER_PID" 2>/dev/null || true
    SCREENER_PID=""
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $LOADTEST_PID ]]; then
        kill "$LOADTEST_PID" 2>/dev/null || true
    fi
    stop_screener
    if [[ -n $MOCK_PID ]]; then
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
    fi
    scripts/tansu.sh stop --pidfile "$TMP/tansu.pid" >/dev/null 2>&1 || true
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $BROKER == tansu ]]; then
    BROKERS=$(scripts/tansu.sh start --pidfile "$TMP/tansu.pid" --log "$RUN_DIR/tansu.log")
    [[ $BROKERS == 127.0.0.1:* ]] || die "unexpected broker address: $BROKERS"
    BROKER_PID=$(cat "$TMP/tansu.pid")
    "$LOADTEST_BIN" create-topics --brokers "$BROKERS" --partitions "$PARTITIONS"
else
    # The mock broker creates the topics itself and prints its address when it serves.
    "$LOADTEST_BIN" mock-broker --partitions "$PARTITIONS" >"$TMP/mock.address" 2>"$RUN_DIR/mock.log" &
    MOCK_PID=$!
    BROKER_PID=$MOCK_PID
    BROKERS=""
    for _ in $(seq 1 100); do
        BROKERS=$(head -n 1 "$TMP/mock.address" 2>/dev/null || true)
        [[ -n $BROKERS ]] && break
        kill -0 "$MOCK_PID" 2>/dev/null || { cat "$RUN_DIR/mock.log" >&2; die "the mock broker exited"; }
        sleep 0.1
    done
    [[ -n $BROKERS ]] || die "the mock broker printed no address within 10 s"
fi
log "$BROKER broker at $BROKERS (pid $BROKER_PID)"

SCREENER_ARGS=(run --brokers "$BROKERS")
LOADTEST_ARGS=()
MODE=screening
if [[ $PASS_THROUGH == 1 ]]; then
    SCREENER_ARGS+=(--pass-through)
    LOADTEST_ARGS+=(--pass-through)
    MODE=pass-through
fi
SCREENER_ENV=(
    SCREENER_KAFKA__SESSION_TIMEOUT_MS=6000
    "SCREENER_KAFKA__GROUP_ID=loadtest-$STAMP-$$"
    RUST_LOG=info
)
[[ -n $WORKERS ]] && SCREENER_ENV+=("SCREENER_KAFKA__WORKERS=$WORKERS")
if [[ $EXACTLY_ONCE == 1 ]]; then
    SCREENER_ENV+=(SCREENER_KAFKA__DELIVERY=exactly-once "SCREENER_KAFKA__TRANSACTIONAL_ID=loadtest-$STAMP-$$")
    LOADTEST_ARGS+=(--read-committed)
    MODE="$MODE, exactly-once"
fi
start_screener() {
    env "${SCREENER_ENV[@]}" "$SCREENER_BIN" "${SCREENER_ARGS[@]}" >"$RUN_DIR/screener.log" 2>&1 &
    SCREENER_PID=$!
    log "screener ($MODE) pid $SCREENER_PID, waiting for its partitions"
    # Joining the group takes about half the session timeout on Tansu (≈ 3 s).
    local joined=0
    for _ in $(seq 1 300); do
        if grep -q "partitions assigned" "$RUN_DIR/screener.log" 2>/dev/null; then
            joined=1
            break
        fi
        kill -0 "$SCREENER_PID" 2>/dev/null || { tail -n 20 "$RUN_DIR/screener.log" >&2; die "the screener exited"; }
        sleep 0.1
    done
    [[ $joined == 1 ]] || { tail -n 20 "$RUN_DIR/screener.log" >&2; die "the screener got no partitions within 30 s"; }
}

LOADTEST_RUN=("$LOADTEST_BIN" run --brokers "$BROKERS" --parcels "$PARCELS" --rate "$RATE"
    --manifest "$MANIFEST" --seed "$SEED" --report "$REPORT" --watch-pid "$BROKER=$BROKER_PID")
set +e
if [[ $BACKLOG == 1 ]]; then
    # The load test sends everything, creates the marker and waits for MARKER.started.
    MARKER=$TMP/backlog
    "${LOADTEST_RUN[@]}" --backlog "$MARKER" "${LOADTEST_ARGS[@]}" "${EXTRA[@]}" &
    LOADTEST_PID=$!
    while [[ ! -e $MARKER ]]; do
        if ! kill -0 "$LOADTEST_PID" 2>/dev/null; then
            wait "$LOADTEST_PID"
            exit $?
        fi
        sleep 0.05
    done
    start_screener
    # Written aside and renamed, so that the load test never reads it half-written.
    echo "screener=$SCREENER_PID" >"$MARKER.tmp"
    mv "$MARKER.tmp" "$MARKER.started"
    wait "$LOADTEST_PID"
    STATUS=$?
    LOADTEST_PID=""
else
    start_screener
    sleep 0.5
    "${LOADTEST_RUN[@]}" --watch-pid "screener=$SCREENER_PID" "${LOADTEST_ARGS[@]}" "${EXTRA[@]}"
    STATUS=$?
fi
set -e

stop_screener
grep -E "stopped" "$RUN_DIR/screener.log" | tail -n 1 >&2 || true
log "report: $REPORT"
log "logs: $RUN_DIR"
exit "$STATUS"
