#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ for a given time each, several at a time, merges the new
# corpus entries into fuzz/corpus/<target>/ and prints a table (markdown) of the runs.
#
#   scripts/fuzz.sh [-t SECONDS] [-j JOBS] [-w WORKERS] [-s address|none] [-n] [-l]
#                   [TARGET[:SECONDS]...]
#
#   -t SECONDS  time per target (default 60)
#   -j JOBS     fuzzing processes at once (default: the number of cores, nproc): as many
#               targets at once, or JOBS / WORKERS with -w
#   -w WORKERS  each target in WORKERS processes (libFuzzer's -fork), taking WORKERS of the
#               JOBS; for fewer targets than cores (default 1)
#   -s SAN      address (default): AddressSanitizer and libFuzzer's comparison tracing, built
#               on stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags); none: no
#               sanitizer, plain stable, faster per run but blind to memory errors
#   -n          do not merge: leave fuzz/corpus as it was
#   -l          append each target's run to the campaign ledger fuzz/campaign.tsv (date,
#               commit, sanitizer, target, seconds, runs, exec/s, crashes), which
#               scripts/fuzz-campaign.sh sums
#   TARGET...   the targets to run (default: every [[bin]] of fuzz/Cargo.toml), in this
#               order; TARGET:SECONDS runs that one for SECONDS instead of -t's time
#
# Each target runs from its corpus (fuzz/corpus/<target>/, seeds included) into a fresh
# directory; afterwards `-merge=1` adds to the corpus only the new entries that reach new
# coverage (the untracked entries stay local: only seed-* files are in git). Crash inputs go
# to fuzz/artifacts/<target>/ as usual; a crash ends that target's run. Logs are kept in a
# temporary directory named at the end.
#
# With the sanitizer, runs use ASAN_OPTIONS=malloc_context_size=0 unless ASAN_OPTIONS is set:
# every error is still detected and reported with its own stack, but allocations record no
# stack (a fifth more runs per second); for a report with the allocating and freeing stacks,
# run the artifact again with ASAN_OPTIONS= (empty).
#
# Columns: seconds = the target's time; exec/s and runs from libFuzzer's final statistics
# (with -w, runs from its last status line and exec/s = runs / seconds); new units = entries
# the run added to its own corpus; cov = edges covered at start -> end of the run
# (libFuzzer's `cov:`); merged = entries the merge added to fuzz/corpus; crashes = crash,
# leak, timeout and out-of-memory inputs the run wrote to fuzz/artifacts/<target>/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz="$root/fuzz"
secs=60
jobs="$(nproc)"
workers=1
san=address
merge=1
ledger=0

usage() { sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

while getopts "t:j:w:s:nlh" opt; do
    case "$opt" in
        t) secs="$OPTARG" ;;
        j) jobs="$OPTARG" ;;
        w) workers="$OPTARG" ;;
        s) san="$OPTARG" ;;
        n) merge=0 ;;
        l) ledger=1 ;;
        h) usage 0 ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))

case "$san" in
    address)
        export RUSTC_BOOTSTRAP=1
        export ASAN_OPTIONS="${ASAN_OPTIONS-malloc_context_size=0}"
        ;;
    none) ;;
    *) echo "fuzz.sh: -s must be address or none, not $san" >&2; exit 2 ;;
esac
[[ "$secs" =~ ^[0-9]+$ && "$secs" -gt 0 ]] || { echo "fuzz.sh: -t needs seconds" >&2; exit 2; }
[[ "$jobs" =~ ^[0-9]+$ && "$jobs" -gt 0 ]] || { echo "fuzz.sh: -j needs a number" >&2; exit 2; }
[[ "$workers" =~ ^[0-9]+$ && "$workers" -gt 0 ]] || { echo "fuzz.sh: -w needs a number" >&2; exit 2; }
# Targets at once: each takes WORKERS of the JOBS.
at_once=$((jobs / workers))
[[ "$at_once" -gt 0 ]] || at_once=1
command -v cargo-fuzz >/dev/null || {
    echo "fuzz.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
}

all_targets() {
    awk '/^\[\[bin\]\]/ { bin = 1; next } /^\[/ { bin = 0 }
         bin && $1 == "name" { gsub(/"/, "", $3); print $3 }' "$fuzz/Cargo.toml"
}
# targets: the names; seconds_of: each one's time.
declare -A seconds_of=()
targets=()
if [[ $# -gt 0 ]]; then
    for arg in "$@"; do
        t="${arg%%:*}"
        t_secs="$secs"
        [[ "$arg" == *:* ]] && t_secs="${arg#*:}"
        [[ "$t_secs" =~ ^[0-9]+$ && "$t_secs" -gt 0 ]] ||
            { echo "fuzz.sh: $arg: $t_secs is no number of seconds" >&2; exit 2; }
        targets+=("$t")
        seconds_of["$t"]="$t_secs"
    done
else
    mapfile -t targets < <(all_targets)
    for t in "${targets[@]}"; do seconds_of["$t"]="$secs"; done
fi
for t in "${targets[@]}"; do
    all_targets | grep -qx "$t" || { echo "fuzz.sh: no target $t in fuzz/Cargo.toml" >&2; exit 2; }
done

# One build for every target, before the runs: parallel `cargo fuzz run`s would wait on
# each other's build lock. The sanitizer build has its own target directory
# (fuzz/target/address/), so switching between the two builds rebuilds neither.
echo "building ${#targets[@]} target(s), sanitizer $san ..." >&2
target_dir="$fuzz/target"
[[ "$san" == none ]] || target_dir="$fuzz/target/$san"
if [[ ${#targets[@]} == 1 ]]; then
    (cd "$fuzz" && cargo fuzz build -s "$san" --target-dir "$target_dir" "${targets[0]}" >&2)
else
    (cd "$fuzz" && cargo fuzz build -s "$san" --target-dir "$target_dir" >&2)
fi
bin_dir="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release"

# New corpus entries, fork mode's job files and the logs go to a RAM file system when there is
# one: a run from the seeds writes thousands of new entries, and on ext4 creating them took more
# system time than the fuzzing itself (config from its seeds, 300,000 runs: 4 s of system time
# beside 3 s of user time in /tmp, 0.3 s in /dev/shm).
scratch=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && scratch=/dev/shm
logs="$(mktemp -d "$scratch/cni-fuzz.XXXXXX")"
commit="$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no -- . ':!fuzz/campaign.tsv' 2>/dev/null)" ]]; then
    commit="$commit+changes"
fi
if [[ "$ledger" == 1 && ! -s "$fuzz/campaign.tsv" ]]; then
    printf 'date\tcommit\tsanitizer\ttarget\tseconds\truns\texec_per_s\tcrashes\n' >"$fuzz/campaign.tsv"
fi
artifacts_count() {
    find "$fuzz/artifacts/$1" -maxdepth 1 -type f \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
        2>/dev/null | wc -l
}

# Runs one target for its seconds into a fresh corpus directory, then merges; writes
# $logs/<target>.row with the table's numbers.
run_one() {
    local t="$1" new="$logs/$1.new" corpus="$fuzz/corpus/$1" log="$logs/$1.log"
    local secs="${seconds_of[$1]}"
    mkdir -p "$new" "$corpus" "$fuzz/artifacts/$t"
    local crashes_before
    crashes_before="$(artifacts_count "$t")"
    local status=0 fork=()
    [[ "$workers" -gt 1 ]] && fork=(-fork="$workers")
    TMPDIR="$scratch" "$bin_dir/$t" "$new" "$corpus" -artifact_prefix="$fuzz/artifacts/$t/" "${fork[@]}" \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1 || status=$?
    local crashes=$(($(artifacts_count "$t") - crashes_before))
    local runs execs units cov0 cov1
    if [[ "$workers" -gt 1 ]]; then
        # Fork mode prints no final statistics: its status lines count the runs of all
        # workers (`#RUNS: cov: ...`), and the new units are the entries it wrote.
        runs="$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -1)"
        [[ -n "$runs" ]] && execs=$((runs / secs))
        units="$(find "$new" -maxdepth 1 -type f | wc -l)"
        cov0="$(grep -m1 -o 'cov: [0-9]*' "$log" | grep -o '[0-9]*$' || true)"
    else
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
        execs="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
        units="$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)"
        cov0="$(grep -m1 -o 'INITED cov: [0-9]*' "$log" | grep -o '[0-9]*$' || true)"
    fi
    cov1="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    local merged=-
    if [[ "$merge" == 1 ]]; then
        local before after
        before="$(find "$corpus" -maxdepth 1 -type f | wc -l)"
        "$bin_dir/$t" -merge=1 "$corpus" "$new" >"$logs/$t.merge.log" 2>&1 || true
        after="$(find "$corpus" -maxdepth 1 -type f | wc -l)"
        merged=$((after - before))
    fi
    rm -rf "$new"
    if [[ "$status" != 0 && "$crashes" == 0 ]]; then
        crashes="exit $status"
    fi
    echo "$t ${execs:-?} ${runs:-?} ${units:-?} ${cov0:-?} ${cov1:-?} $merged $crashes" >"$logs/$t.row"
    if [[ "$ledger" == 1 ]]; then
        # One line per run; flock: several targets finish at once.
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" \
            "$san" "$t" "$secs" "${runs:-0}" "${execs:-0}" "$crashes" |
            flock "$fuzz/campaign.tsv" tee -a "$fuzz/campaign.tsv" >/dev/null
    fi
}

if [[ "$workers" -gt 1 ]]; then
    at_a_time="$at_once at a time, $workers processes each"
else
    at_a_time="$at_once at a time"
fi
echo "running ${#targets[@]} target(s), $at_a_time (logs: $logs)" >&2
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
running=0
for t in "${targets[@]}"; do
    if [[ "$running" -ge "$at_once" ]]; then
        wait -n || true
        running=$((running - 1))
    fi
    echo "  $t for ${seconds_of[$t]}s" >&2
    run_one "$t" &
    running=$((running + 1))
done
wait
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "Sanitizer $san, $at_a_time on $(nproc) cores;" \
    "load average before $load_before, after $load_after."
echo
echo "| target | seconds | exec/s | runs | new units | cov (start -> end) | merged | crashes |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
fail=0
for t in "${targets[@]}"; do
    read -r name execs runs units cov0 cov1 merged crashes <"$logs/$t.row"
    printf '| `%s` | %s | %s | %s | %s | %s -> %s | %s | %s |\n' "$name" "${seconds_of[$t]}" \
        "$execs" "$runs" "$units" "$cov0" "$cov1" "$merged" "$crashes"
    [[ "$crashes" == 0 ]] || fail=1
done
echo
echo "logs: $logs" >&2
exit "$fail"
