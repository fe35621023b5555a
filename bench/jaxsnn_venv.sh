# Sourced by the jaxsnn side-by-side scripts: sets VENV to a virtualenv with jaxsnn 0.3.0,
# OUTSIDE the repository ($HOME/venvs/jaxsnn-0.3.0), installed the first time, and the
# environment its runs share.
VENV="$HOME/venvs/jaxsnn-0.3.0"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet jaxsnn==0.3.0 jax optax tree-math
fi
export PYTHONHASHSEED=0 MPLBACKEND=Agg
