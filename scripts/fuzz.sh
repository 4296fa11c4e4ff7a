#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted bytes (issue #8) with cargo-fuzz (libFuzzer +
# AddressSanitizer), each target for a bounded time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s each, every target of fuzz/)
#
# Targets (fuzz/fuzz_targets/): parse_record (parcel record v1 through parsing, dedup and
# screening) and parse_lists (OFAC SDN CSV set, CSL CSV, native JSONL, known-shipper JSONL).
# Each starts from its committed seed corpus fuzz/corpus/<target>/, which it only reads; what
# the fuzzer learns goes to fuzz/target/corpus/<target>/ (ignored by git, kept between runs).
# A crash, a timeout of one input (-timeout, a stall) or running out of memory is written to
# fuzz/artifacts/<target>/; the script prints the command that replays it.
#
# Exit status: 0 fuzzed, nothing found; 1 something found (a crash, timeout or OOM);
# 2 could not fuzz: no usable toolchain, cargo-fuzz could not be installed, the crates could
# not be fetched, or the fuzz targets do not build. scripts/test.sh fails CI on 1 only.
#
# Toolchain: cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address, sanitizer
# coverage). The machines have the nightly toolchain installed (nightly-x86_64-unknown-linux-gnu,
# used as `cargo +nightly`). Where it is missing, and it cannot be downloaded here (only
# package registries are reachable, not the toolchain server), the stable toolchain is used
# with RUSTC_BOOTSTRAP=1, which unlocks the same -Z flags on stable; its x86_64 Linux
# standard library ships the AddressSanitizer runtime, so the build is the same. That is
# fine for a fuzzing build, never for shipped code.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(parse_record parse_lists)
fi

say() { echo "fuzz: $*" >&2; }
cannot_fuzz() {
    say "CANNOT FUZZ: $*"
    exit 2
}

# ---- toolchain ----
if cargo +nightly --version >/dev/null 2>&1; then
    cargo=(cargo +nightly)
    toolchain="$(cargo +nightly --version)"
    target_dir="$PWD/fuzz/target"
elif cargo --version >/dev/null 2>&1; then
    export RUSTC_BOOTSTRAP=1
    cargo=(cargo)
    toolchain="$(cargo --version) with RUSTC_BOOTSTRAP=1 (no nightly toolchain)"
    # Separate from a nightly build's output, so switching does not rebuild both each time.
    target_dir="$PWD/fuzz/target/stable-bootstrap"
else
    cannot_fuzz "no cargo on PATH"
fi

# ---- cargo-fuzz ----
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz (cargo install cargo-fuzz --locked, about 2-3 minutes)"
    if ! cargo install cargo-fuzz --locked >&2; then
        cannot_fuzz "cargo-fuzz could not be installed from crates.io (see above)"
    fi
fi
say "$(cargo fuzz --version), $toolchain"

# ---- build (once for every target; the runs below reuse it) ----
# -a: debug assertions and overflow checks on (an overflow is a bug to find); ASan is the
# default sanitizer.
build_flags=(-a --fuzz-dir fuzz --target-dir "$target_dir")
if ! (cd fuzz && "${cargo[@]}" fetch >&2); then
    cannot_fuzz "the fuzz crates could not be fetched from crates.io"
fi
if ! "${cargo[@]}" fuzz build "${build_flags[@]}" >&2; then
    cannot_fuzz "THE FUZZ TARGETS DO NOT BUILD (fuzz/fuzz_targets/ out of step with the engine?)"
fi

# ---- run ----
found=0
passed=0
failed=0
summary=()
for target in "${targets[@]}"; do
    seeds="fuzz/corpus/$target"
    work="$target_dir/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    [ -d "$seeds" ] || cannot_fuzz "no seed corpus $seeds"
    mkdir -p "$work" "$artifacts"
    options=(
        -max_total_time="$seconds"
        # One input taking longer than this is reported as a timeout: a stall.
        -timeout=10
        -rss_limit_mb=2048
        # Records over 256 KiB are rejected by size before parsing; bigger inputs only slow
        # the fuzzer down.
        -max_len=65536
        -print_final_stats=1
    )
    if [ -f "fuzz/$target.dict" ]; then
        options+=(-dict="fuzz/$target.dict")
    fi
    log="$target_dir/fuzz-$target.log"
    say "running $target for ${seconds}s (log: $log)"
    started=$(date +%s)
    "${cargo[@]}" fuzz run "${build_flags[@]}" "$target" "$work" "$seeds" -- "${options[@]}" \
        >"$log" 2>&1
    status=$?
    elapsed=$(( $(date +%s) - started ))
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    coverage=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 | sed 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*//')
    if [ "$status" -ne 0 ]; then
        found=1
        failed=$((failed + 1))
        say "FOUND A PROBLEM in $target (exit $status); the end of its log:"
        tail -n 60 "$log" >&2
        for artifact in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log"); do
            say "replay: ${cargo[*]} fuzz run ${build_flags[*]} $target $artifact"
        done
        summary+=("$target: FOUND A PROBLEM after ${elapsed}s (exit $status), see above")
    else
        passed=$((passed + 1))
        summary+=("$target: ${runs:-?} runs in ${elapsed}s, no crash; ${coverage:-}")
    fi
done

say "summary ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //'))"
for line in "${summary[@]}"; do
    say "  $line"
done
# The plain closing line that CI reads: targets fuzzed without a finding, targets with one.
echo "fuzz: $passed passed, $failed failed"
exit "$found"
