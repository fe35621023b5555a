#!/usr/bin/env bash
# Side-by-side Yin-Yang training speed and accuracy: jaxsnn 0.3.0 (its event-based analytical
# example and its EventProp example) against `snnc run examples/yinyang.snn`, on this machine,
# in one script run. Usage: bench/yinyang_vs_jaxsnn.sh [EPOCHS [ROUNDS]]   (default 3 1)
#
# jaxsnn is installed into a virtualenv OUTSIDE the repository ($HOME/venvs/jaxsnn-0.3.0) the
# first time. Epoch times for jaxsnn are taken from its log timestamps (its own "in X s" only
# measures asynchronous dispatch): the time from one "Epoch N:" line (logged when epoch N's
# test result is in) to the next. So its first epoch, which includes JIT compilation, is left
# out (EPOCHS - 1 epochs count), and so is the time after its last epoch (until its "Max acc"
# line jaxsnn stacks the epochs' results, no training).
# snnc runs first and then again after each round of jaxsnn (the analytical example in the
# first round only, the EventProp one in every round), so that a machine whose speed drifts
# during the script shows it; a Python loop timed at the start and the end says how fast the
# machine was. Each round's ratio is the median EventProp epoch of jaxsnn over the median
# epoch of the snnc runs just before and just after it; the last line gives the median of the
# rounds' ratios (with ROUNDS > 1 a drift of the machine's speed moves it less).
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-3}"
ROUNDS="${2:-1}"
if [ "$EPOCHS" -lt 2 ]; then echo "EPOCHS must be at least 2 (jaxsnn's first epoch is left out)" >&2; exit 2; fi
. bench/jaxsnn_venv.sh
OUT="$(mktemp -d)"

stamp() { while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done; }
probe() {
    python3 -c 'import time
t = time.time(); s = 0
for i in range(10**6): s += i
print("%.2f" % (time.time() - t))'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cargo build --release --quiet
# snnc NAME: one run, its epochs' `seconds` into $OUT/snnc-NAME.times.
snnc() {
    echo "== snnc (release build), $EPOCHS epochs, 2 threads ($1)"
    ./target/release/snnc run examples/yinyang.snn --epochs "$EPOCHS" --out "$OUT/snnc-$1" 2>&1 | sed 's/^/  /'
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i; next } c { print $c }' \
        "$OUT/snnc-$1/metrics.csv" > "$OUT/snnc-$1.times"
}
# jaxsnn EXAMPLE ROUND: one run, its epochs' wall times into $OUT/EXAMPLE-ROUND.times.
jaxsnn() {
    local log="$OUT/$1-$2.log"
    echo "== jaxsnn 0.3.0 $1, $EPOCHS epochs (round $2)"
    ( cd "$OUT" && "$VENV/bin/python" -u -m "jaxsnn.examples.event.$1" --epochs "$EPOCHS" 2>&1 ) | stamp > "$log" || true
    # Seconds between consecutive "Epoch N:" lines: the epochs after the first.
    grep -E "Epoch [0-9]+:" "$log" | awk '{ if (prev) printf "%.3f %s\n", $1 - prev, substr($0, index($0, $2)); prev = $1 }' > "$OUT/$1-$2.times" || true
    if [ ! -s "$OUT/$1-$2.times" ]; then
        echo "jaxsnn $1 (round $2) logged fewer than two epochs; its log: $log" >&2
        tail -n 5 "$log" >&2
        exit 1
    fi
    sed 's/^\([^ ]*\) /  epoch wall time \1 s: /' "$OUT/$1-$2.times"
    grep -iE "acc" "$log" | tail -n 2 | cut -d' ' -f2- | sed 's/^/  /' || true
}

echo "machine: a Python loop of 10^6 additions took $(probe) s (0.05-0.07 s on a quiet machine of sessions 1-14)"
snnc 0
for round in $(seq "$ROUNDS"); do
    if [ "$round" = 1 ]; then jaxsnn yinyang_analytical 1; fi
    jaxsnn yinyang_recurrent_event_prop "$round"
    snnc "$round"
    echo "machine: a Python loop of 10^6 additions took $(probe) s"
    jax="$(cut -d' ' -f1 "$OUT/yinyang_recurrent_event_prop-$round.times" | median)"
    ours="$(cat "$OUT/snnc-$((round - 1)).times" "$OUT/snnc-$round.times" | median)"
    awk -v r="$round" -v j="$jax" -v s="$ours" 'BEGIN { printf "round %d: median epoch jaxsnn EventProp %.2f s, snnc (runs before and after) %.3f s: %.1fx\n", r, j, s, j / s }' | tee -a "$OUT/ratios"
done
awk '{ print $NF }' "$OUT/ratios" | tr -d x | median | awk -v n="$ROUNDS" '{ printf "median of %d rounds: snnc %.1fx faster than jaxsnn EventProp\n", n, $1 }'
echo "results in $OUT"
