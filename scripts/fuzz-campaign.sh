#!/usr/bin/env bash
# A fuzzing campaign with the sanitizer that adds up over many sittings: runs the targets
# still below the goal in chunks through scripts/fuzz.sh -l (which appends each run to the
# ledger fuzz/campaign.tsv and merges new corpus entries), until the time is up, then prints
# where every target stands.
#
#   scripts/fuzz-campaign.sh [-g RUNS] [-c SECONDS] [-T SECONDS] [-j JOBS] [TARGET...]
#   scripts/fuzz-campaign.sh -s [-g RUNS]        # only print the standing
#
#   -g RUNS     the goal per target: sanitizer runs summed over the ledger (default 10000000)
#   -c SECONDS  longest chunk per target (default 600); a target's chunk is shortened to
#               what its last exec/s says it still needs (at least 30 s)
#   -T SECONDS  stop starting chunks after this long (default 3600)
#   -j JOBS     targets at once (default: the number of cores)
#   -s          print the standing and exit (of the ledger $FUZZ_LEDGER when set)
#   TARGET...   only these targets (default: every target of fuzz/Cargo.toml)
#
# Each round runs the JOBS targets below the goal that need the least time to reach it (by
# their last exec/s; targets never run come first), so as many targets as possible reach the
# goal. A crash stops the campaign: fuzz.sh leaves the input in fuzz/artifacts/<target>/, and
# its fix and regression seed come before more runs. The standing counts only sanitizer runs;
# runs are summed across commits, as the code under test changes over a campaign.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
ledger="${FUZZ_LEDGER:-$root/fuzz/campaign.tsv}"
goal=10000000
chunk=600
total=3600
jobs="$(nproc)"
status_only=0

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

while getopts "g:c:T:j:sh" opt; do
    case "$opt" in
        g) goal="$OPTARG" ;;
        c) chunk="$OPTARG" ;;
        T) total="$OPTARG" ;;
        j) jobs="$OPTARG" ;;
        s) status_only=1 ;;
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

start=$SECONDS
while [[ $((SECONDS - start)) -lt "$total" ]]; do
    # The targets below the goal, by the seconds they still need (unknown rate first).
    mapfile -t next < <(standing | awk -v goal="$goal" -v chunk="$chunk" '
        $2 < goal {
            need = ($3 > 0) ? int((goal - $2) / $3) + 1 : -1
            print need, $1 }' | sort -n | head -n "$jobs")
    [[ ${#next[@]} -gt 0 ]] || { echo "every target reached $goal runs" >&2; break; }
    # A round lasts as long as its longest chunk: the most any of its targets still needs
    # (a whole chunk when the rate is unknown), at least 30 s, within what time is left.
    secs=0
    round=()
    for line in "${next[@]}"; do
        need="${line%% *}"
        round+=("${line#* }")
        [[ "$need" -ge 0 && "$need" -lt "$chunk" ]] || need="$chunk"
        [[ "$need" -le "$secs" ]] || secs="$need"
    done
    [[ "$secs" -ge 30 ]] || secs=30
    left=$((total - (SECONDS - start)))
    [[ "$secs" -le "$left" ]] || secs="$left"
    [[ "$secs" -ge 30 ]] || break
    echo "campaign: ${round[*]} for ${secs}s ($((SECONDS - start))s of ${total}s used)" >&2
    if ! "$root/scripts/fuzz.sh" -l -s address -t "$secs" -j "$jobs" "${round[@]}"; then
        echo "campaign: a target crashed (see fuzz/artifacts/): stopping" >&2
        print_standing
        exit 1
    fi
done
print_standing
