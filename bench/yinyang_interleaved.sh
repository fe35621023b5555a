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
# jaxsnn's own log (its epochs' details, warnings) is left out; a failure's traceback is not.
"$VENV/bin/python" -u bench/jaxsnn_interleaved.py "$PWD/target/release/snnc" "$PWD" "$EPOCHS" "$SNNC_EPOCHS" 2>&1 \
    | grep -vE "^\s|^(INFO|WARNING):|^$"
