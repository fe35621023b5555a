#!/usr/bin/env bash
# Side-by-side Yin-Yang training speed and accuracy: jaxsnn 0.3.0 (its event-based analytical
# example and its EventProp example) against `snnc run examples/yinyang.snn`, on this machine,
# in one script run. Usage: bench/yinyang_vs_jaxsnn.sh [EPOCHS]   (default 3)
#
# jaxsnn is installed into a virtualenv OUTSIDE the repository ($HOME/venvs/jaxsnn-0.3.0) the
# first time. Epoch times for jaxsnn are taken from its log timestamps (its own "in X s" only
# measures asynchronous dispatch); JIT warm-up is the first epoch and is reported separately.
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

for example in yinyang_analytical yinyang_recurrent_event_prop; do
    echo "== jaxsnn 0.3.0 $example, $EPOCHS epochs"
    ( cd "$OUT" && "$VENV/bin/python" -u -m "jaxsnn.examples.event.$example" --epochs "$EPOCHS" 2>&1 ) | stamp > "$OUT/$example.log" || true
    # Seconds between consecutive lines that mention an epoch (the first includes JIT compilation).
    grep -i "epoch" "$OUT/$example.log" | awk '{ if (prev) printf "  epoch wall time %.2f s: %s\n", $1 - prev, substr($0, index($0, $2)); prev = $1 }' | tail -n "$EPOCHS"
    grep -iE "acc" "$OUT/$example.log" | tail -n 2 | cut -d' ' -f2- | sed 's/^/  /'
done

echo "== snnc (release build), $EPOCHS epochs, 2 threads"
cargo build --release --quiet
./target/release/snnc run examples/yinyang.snn --epochs "$EPOCHS" --out "$OUT/snnc" 2>&1 | sed 's/^/  /'
echo "results in $OUT"
