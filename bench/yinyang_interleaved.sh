#!/usr/bin/env bash
# Yin-Yang training speed, snnc against jaxsnn 0.3.0's EventProp example, with the two programs
# interleaved epoch by epoch (see bench/jaxsnn_interleaved.py): each jaxsnn epoch is compared
# with snnc runs started just before and just after it, so a machine whose speed drifts by
# minutes compares like with like. Usage: bench/yinyang_interleaved.sh [EPOCHS [SNNC_EPOCHS]]
# (default 11 and 3: ten timed jaxsnn epochs, about 12 minutes on the slowed VM of session 19).
# bench/yinyang_vs_jaxsnn.sh runs the programs one after the other instead and also runs
# jaxsnn's analytical example.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-11}"
SNNC_EPOCHS="${2:-3}"
if [ "$EPOCHS" -lt 2 ]; then echo "EPOCHS must be at least 2 (jaxsnn's first epoch is left out)" >&2; exit 2; fi
. bench/jaxsnn_venv.sh
cargo build --release --quiet
# Shown: the script's own lines (jaxsnn's log of each epoch and its warnings are left out); the
# whole output goes to a log, whose end is shown if the run fails.
LOG="$(mktemp)"
if ! "$VENV/bin/python" -u bench/jaxsnn_interleaved.py "$PWD/target/release/snnc" "$PWD" "$EPOCHS" "$SNNC_EPOCHS" 2>&1 \
    | tee "$LOG" | grep -vE "^\s|^(INFO|WARNING):|^$"; then
    echo "the run failed; its whole output: $LOG" >&2
    tail -n 30 "$LOG" >&2
    exit 1
fi
