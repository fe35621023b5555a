#!/usr/bin/env python3
"""Cross-check snnc's exact event engine against jaxsnn 0.3.0 (the seed library) on the
Yin-Yang network: same weights, same input spikes, compare every hidden and output first-spike
time. Run by hand (not in CI):

    python3 -m venv ~/venvs/jaxsnn-0.3.0 && ~/venvs/jaxsnn-0.3.0/bin/pip install jaxsnn==0.3.0 jax optax tree-math
    python3 tests/peers/crosscheck.py [--samples 64] [--hidden 120] [--seed 0]

jaxsnn runs in float64 (jax_enable_x64) with a capacity large enough that it drops no event
(`jaxsnn_forward.py` checks that). Passes if every spike time agrees to 1e-6 relative and the
same neurons spike.
"""
import argparse, json, os, random, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
ap = argparse.ArgumentParser()
ap.add_argument("--samples", type=int, default=64)
ap.add_argument("--hidden", type=int, default=120)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--venv", default=os.path.expanduser("~/venvs/jaxsnn-0.3.0"))
args = ap.parse_args()

rng = random.Random(args.seed)
n_in, n_out = 5, 3
cfg = {
    "w_in": [[rng.gauss(3.0, 1.6) for _ in range(args.hidden)] for _ in range(n_in)],
    "w_out": [[rng.gauss(0.5, 0.8) for _ in range(n_out)] for _ in range(args.hidden)],
    # Yin-Yang-like latency inputs in [0, 10 ms] plus a bias spike at 0.
    "inputs": [[rng.uniform(0, 0.01) for _ in range(n_in - 1)] + [0.0] for _ in range(args.samples)],
    "tau_syn": 5e-3, "tau_mem": 1e-2, "v_th": 1.0, "v_reset": -1000.0, "t_max": 0.02,
}
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump(cfg, f)
    path = f.name

jax_out = json.loads(subprocess.run([os.path.join(args.venv, "bin", "python"), os.path.join(here, "jaxsnn_forward.py"), path],
                                    check=True, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}).stdout)
snnc_out = json.loads(subprocess.run(["cargo", "run", "--quiet", "--release", "--example", "peer_forward", "--", path],
                                     cwd=root, check=True, capture_output=True, text=True).stdout)
worst, compared, mismatched = 0.0, 0, 0
for layer in ("hidden", "output"):
    for a_row, b_row in zip(jax_out[layer], snnc_out[layer]):
        for a, b in zip(a_row, b_row):
            if (a is None) != (b is None):
                mismatched += 1
                continue
            if a is None:
                continue
            compared += 1
            worst = max(worst, abs(a - b) / max(abs(a), abs(b), 1e-300))
print(f"compared {compared} spike times over {args.samples} samples; worst relative difference {worst:.3e}; "
      f"{mismatched} neurons spiking in one and not the other")
sys.exit(0 if worst <= 1e-6 and mismatched == 0 and compared > 0 else 1)
