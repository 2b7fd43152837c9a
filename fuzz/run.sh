#!/usr/bin/env bash
# Builds the fuzz targets with cargo-fuzz (libFuzzer) on the stable toolchain and runs each for a
# bounded time.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     SECONDS per target (default 20: the CI smoke run)
#
# Targets (fuzz/fuzz_targets/): control_plane, sigv4, chat_token, ws_action (default: all).
# A real run, e.g. one hour each, keeping the grown corpora for next time:
#   fuzz/run.sh 3600
# Environment: FUZZ_SANITIZER (default none: the fuzzed crates forbid `unsafe`, so libFuzzer's
# coverage and Rust's own panics and overflow checks are what matter; cargo-fuzz's other values
# are passed through), FUZZ_TARGET_DIR (default $IVSCHAT_CACHE/fuzz-target), IVSCHAT_CACHE.
#
# Stable Rust: cargo-fuzz passes nightly-only flags (`-Zsanitizer=…`, and rustc's `-Z` options
# through RUSTFLAGS); RUSTC_BOOTSTRAP=1 makes the stable compiler accept them. cargo-fuzz itself
# is installed from crates.io into $IVSCHAT_CACHE/tools when missing.
#
# Corpora: fuzz/corpus/<target>/ holds the committed seeds (seed-*, written by make_seeds.py)
# and whatever libFuzzer adds (ignored by git). Every run first replays the whole corpus, so
# the seeds and the crash reproducers kept there are regression inputs. A crash leaves its input
# in fuzz/artifacts/<target>/; reproduce with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -O -a <target> fuzz/artifacts/<target>/crash-…
# then fix it, add the input as a unit test next to the code it exercises, and copy it to
# fuzz/corpus/<target>/seed-crash-<what>.
#
# Output: one line per target with executions, executions per second, corpus size and
# coverage; exit status non-zero if any target crashed.
set -euo pipefail

seconds=${1:-20}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(control_plane sigv4 chat_token ws_action)

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${IVSCHAT_CACHE:-$HOME/.cache/ivschat-server}
target_dir=${FUZZ_TARGET_DIR:-$cache/fuzz-target}
sanitizer=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1
# The fuzz crate has its own Cargo.lock; CARGO_TARGET_DIR of the main build must not leak in.
unset CARGO_TARGET_DIR

cargo_fuzz_version=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
    export PATH="$cache/tools/bin:$PATH"
    if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
        echo "fuzz/run.sh: installing cargo-fuzz $cargo_fuzz_version into $cache/tools" >&2
        cargo install --locked --root "$cache/tools" cargo-fuzz --version "$cargo_fuzz_version"
    fi
fi

cd "$root"
build_started=$(date +%s)
cargo fuzz build --sanitizer "$sanitizer" -O -a --target-dir "$target_dir"
echo "fuzz/run.sh: build took $(( $(date +%s) - build_started )) s"
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"

declare -A max_len=([control_plane]=8192 [sigv4]=8192 [chat_token]=16384 [ws_action]=4096)
status=0
summary=()
for t in "${targets[@]}"; do
    corpus="$here/corpus/$t"
    artifacts="$here/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    log="$artifacts/last-run.log"
    args=(
        "$corpus"
        -max_total_time="$seconds"
        -max_len="${max_len[$t]:-4096}"
        -timeout=10
        -rss_limit_mb=2048
        -print_final_stats=1
        -artifact_prefix="$artifacts/"
    )
    [[ -f "$here/dicts/$t.dict" ]] && args+=(-dict="$here/dicts/$t.dict")
    echo "==> fuzz $t for ${seconds}s"
    set +e
    "$bin_dir/$t" "${args[@]}" >"$log" 2>&1
    rc=$?
    set -e
    execs=$( (grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1) || true)
    rate=$( (grep -o 'exec/s: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1) || true)
    cov=$( (grep -o 'cov: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1) || true)
    units=$(find "$corpus" -type f | wc -l)
    if [[ $rc -ne 0 ]]; then
        status=1
        echo "fuzz $t: CRASH (exit $rc); input and log in $artifacts/"
        grep -m1 -A25 -E "panicked|ERROR: libFuzzer|==ERROR" "$log" || tail -40 "$log"
    fi
    line=$(printf '%-14s %6ss %12s execs %8s exec/s  corpus %5s  cov %5s  %s' \
        "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$units" "${cov:-?}" "$([[ $rc -eq 0 ]] && echo ok || echo CRASH)")
    echo "$line"
    summary+=("$line")
done
echo
echo "fuzz summary (sanitizer: $sanitizer):"
printf '  %s\n' "${summary[@]}"
exit $status
