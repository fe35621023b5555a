#!/usr/bin/env bash
# Side-by-side Yin-Yang training speed and accuracy: jaxsnn 0.3.0 (its event-based analytical
# example and its EventProp example) against `snnc run examples/yinyang.snn`, on this machine,
# in one script run. Usage: bench/yinyang_vs_jaxsnn.sh [EPOCHS]   (default 3)
#
# jaxsnn is installed into a virtualenv OUTSIDE the repository ($HOME/venvs/jaxsnn-0.3.0) the
# first time. Epoch times for jaxsnn are taken from its log timestamps (its own "in X s" only
# measures asynchronous dispatch); JIT warm-up is the first epoch and is reported separately.
# snnc runs before and after jaxsnn, so that a machine whose speed drifts during the script
# shows it; a Python loop timed at the start and the end says how fast the machine was. The
# last line is the ratio of the median EventProp epoch of jaxsnn to the median snnc epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-3}"
VENV="$HOME/venvs/jaxsnn-0.3.0"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet jaxsnn==0.3.0 jax optax tree-math
fi
export PYTHONHASHSEED=0 MPLBACKEND=Agg
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
snnc() {
    echo "== snnc (release build), $EPOCHS epochs, 2 threads ($1)"
    ./target/release/snnc run examples/yinyang.snn --epochs "$EPOCHS" --out "$OUT/snnc-$1" 2>&1 | sed 's/^/  /'
    # The `seconds` column of every epoch.
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i; next } c { print $c }' \
        "$OUT/snnc-$1/metrics.csv" >> "$OUT/snnc.times"
}

echo "machine: a Python loop of 10^6 additions took $(probe) s (0.05-0.07 s on a quiet machine of sessions 1-14)"
snnc before
for example in yinyang_analytical yinyang_recurrent_event_prop; do
    echo "== jaxsnn 0.3.0 $example, $EPOCHS epochs"
    ( cd "$OUT" && "$VENV/bin/python" -u -m "jaxsnn.examples.event.$example" --epochs "$EPOCHS" 2>&1 ) | stamp > "$OUT/$example.log" || true
    # Seconds between consecutive lines that mention an epoch (the first includes JIT compilation).
    grep -i "epoch" "$OUT/$example.log" | awk '{ if (prev) printf "%.3f %s\n", $1 - prev, substr($0, index($0, $2)); prev = $1 }' | tail -n "$EPOCHS" > "$OUT/$example.times"
    sed 's/^\([^ ]*\) /  epoch wall time \1 s: /' "$OUT/$example.times"
    grep -iE "acc" "$OUT/$example.log" | tail -n 2 | cut -d' ' -f2- | sed 's/^/  /'
done
snnc after
echo "machine: a Python loop of 10^6 additions took $(probe) s"
jax="$(cut -d' ' -f1 "$OUT/yinyang_recurrent_event_prop.times" | median)"
ours="$(median < "$OUT/snnc.times")"
awk -v j="$jax" -v s="$ours" 'BEGIN { printf "median epoch: jaxsnn EventProp %.2f s, snnc %.3f s: snnc %.1fx faster\n", j, s, j / s }'
echo "results in $OUT"
