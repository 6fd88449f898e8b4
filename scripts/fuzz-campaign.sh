#!/usr/bin/env bash
# A fuzzing campaign with the sanitizer that adds up over many sittings: runs the targets
# still below the goal through scripts/fuzz.sh -l (which appends each run to the ledger
# fuzz/campaign.tsv and merges new corpus entries), round after round until the time is up,
# then prints where every target stands.
#
#   scripts/fuzz-campaign.sh [-g RUNS] [-c SECONDS] [-T SECONDS] [-j JOBS] [TARGET...]
#   scripts/fuzz-campaign.sh -s [-g RUNS]        # only print the standing
#   scripts/fuzz-campaign.sh -p [-g RUNS] [-c SECONDS] [-T SECONDS] [-j JOBS]
#                                                # only print the next round's plan
#
#   -g RUNS     the goal per target: sanitizer runs summed over the ledger (default 10000000)
#   -c SECONDS  longest run per target in a round (default 600); a target's run is shortened
#               to what its last exec/s says it still needs (at least 30 s)
#   -T SECONDS  stop starting rounds after this long, and plan no round longer (default 3600)
#   -j JOBS     targets at once (default: the number of cores)
#   -s          print the standing and exit (of the ledger $FUZZ_LEDGER when set)
#   -p          print the next round (TARGET:SECONDS, one per line) and exit
#   TARGET...   only these targets (default: every target of fuzz/Cargo.toml)
#
# A round gives every target below the goal its own time and runs them JOBS at a time, longest
# first, so that no core waits long for a longer run of another target; when the time left
# cannot hold them all, the targets that need the least time to reach the goal go first (by
# their last exec/s; targets never run before all others), so that as many targets as
# possible reach it. With fewer targets than JOBS, each runs in JOBS / targets processes
# (fuzz.sh -w). A round holds no more than JOBS x the time left. A crash
# stops the campaign: fuzz.sh leaves the input in fuzz/artifacts/<target>/, and its fix and
# regression seed come before more runs. The standing counts only sanitizer runs; runs are
# summed across commits, as the code under test changes over a campaign.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
ledger="${FUZZ_LEDGER:-$root/fuzz/campaign.tsv}"
goal=10000000
chunk=600
total=3600
jobs="$(nproc)"
status_only=0
plan_only=0

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

while getopts "g:c:T:j:sph" opt; do
    case "$opt" in
        g) goal="$OPTARG" ;;
        c) chunk="$OPTARG" ;;
        T) total="$OPTARG" ;;
        j) jobs="$OPTARG" ;;
        s) status_only=1 ;;
        p) plan_only=1 ;;
        h) usage 0 ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
for n in "$goal" "$chunk" "$total" "$jobs"; do
    [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { echo "fuzz-campaign.sh: $n is not a positive number" >&2; exit 2; }
done

all_targets() {
    awk '/^\[\[bin\]\]/ { bin = 1; next } /^\[/ { bin = 0 }
         bin && $1 == "name" { gsub(/"/, "", $3); print $3 }' "$root/fuzz/Cargo.toml"
}
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(all_targets)
fi

# target runs last_exec_per_s crashes, for every target of the list (0 when never run).
standing() {
    local t
    for t in "${targets[@]}"; do
        if [[ -s "$ledger" ]]; then
            awk -F'\t' -v t="$t" '
                NR > 1 && $3 == "address" && $4 == t {
                    runs += $6; last = $7; if ($8 != "0") crashes++ }
                END { printf "%s %d %d %d\n", t, runs, last, crashes }' "$ledger"
        else
            echo "$t 0 0 0"
        fi
    done
}

print_standing() {
    local t runs rate crashes sum=0 done_n=0
    echo "| target | sanitizer runs | last exec/s | goal | runs with a crash |"
    echo "| --- | ---: | ---: | --- | ---: |"
    while read -r t runs rate crashes; do
        local mark="$((runs * 100 / goal)) %"
        if [[ "$runs" -ge "$goal" ]]; then
            mark="reached"
            done_n=$((done_n + 1))
        fi
        printf '| `%s` | %d | %d | %s | %d |\n' "$t" "$runs" "$rate" "$mark" "$crashes"
        sum=$((sum + runs))
    done < <(standing)
    echo
    echo "$done_n of ${#targets[@]} targets at $goal runs; $sum runs across the suite."
}

if [[ "$status_only" == 1 ]]; then
    print_standing
    exit 0
fi

# The next round for $1 seconds left, a TARGET:SECONDS per line: of the targets below the goal,
# by the time they still need at their last rate and a twentieth more (unknown rate first),
# as many as JOBS cores can run in the time left, each for at least 30 s and at most a chunk;
# listed longest run first, so that the round ends with short runs beside each other rather
# than one long run beside an idle core.
plan() {
    local left="$1"
    standing | awk -v goal="$goal" '
        $2 < goal {
            # A twentieth more: the rate of a run counts its start, which varies.
            need = ($3 > 0) ? int((goal - $2) / $3 * 1.05) + 1 : -1
            print need, $1 }' | sort -n -s -k1,1 |
        awk -v chunk="$chunk" -v budget="$((left * jobs))" '
            {
                need = $1
                if (need < 0 || need > chunk) need = chunk
                if (need < 30) need = 30
                if (used + need > budget) need = budget - used
                if (need < 30) exit
                used += need
                print $2 ":" need
            }' | sort -t: -k2,2nr -s
}

if [[ "$plan_only" == 1 ]]; then
    plan "$total"
    exit 0
fi

start=$SECONDS
while [[ $((SECONDS - start)) -lt "$total" ]]; do
    mapfile -t round < <(plan $((total - (SECONDS - start))))
    if [[ ${#round[@]} -eq 0 ]]; then
        standing | awk -v goal="$goal" '$2 < goal { n++ } END { exit n > 0 }' &&
            echo "every target reached $goal runs" >&2
        break
    fi
    echo "campaign: ${round[*]} ($((SECONDS - start))s of ${total}s used)" >&2
    # Fewer targets than cores: each runs in several processes, so that no core idles.
    workers=1
    [[ ${#round[@]} -ge "$jobs" ]] || workers=$((jobs / ${#round[@]}))
    if ! "$root/scripts/fuzz.sh" -l -s address -j "$jobs" -w "$workers" "${round[@]}"; then
        echo "campaign: a target crashed (see fuzz/artifacts/): stopping" >&2
        print_standing
        exit 1
    fi
done
print_standing
