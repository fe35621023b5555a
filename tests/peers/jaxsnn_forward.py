#!/usr/bin/env python3
"""Forward pass of a feed-forward event-based LIF network (in -> hidden -> out)
using jaxsnn 0.3.0's own event simulation (Topology / Source / Linear / LIF).

Usage:
    jaxsnn_forward.py params.json [--float32] [--all-spikes]

params.json:
    {"w_in": [[...]] (n_in x n_hidden), "w_out": [[...]] (n_hidden x n_out),
     "inputs": [[t_0..t_{n_in-1}], ...]   (spike time of each input neuron),
     "tau_syn": 5e-3, "tau_mem": 1e-2, "v_th": 1.0, "v_reset": -1000,
     "t_max": 0.02}

Prints JSON:
    {"hidden": [[first spike time per hidden neuron] per sample],
     "output": [[first spike time per output neuron] per sample],
     "hidden_counts": [[n spikes per hidden neuron] ...],
     "output_counts": [[...]],
     "capacity": {"hidden": n_steps, "output": n_steps}, "dtype": "float64"}
A neuron that never spikes (before t_max) has time null.
With --all-spikes, "hidden_all"/"output_all" list every (neuron, time) event.

Capacity: each LIF layer records exactly one event per scan step (an input
spike consumed, an own spike, or an empty "no event" slot).  Events beyond
n_steps are silently dropped by jaxsnn.  This script therefore starts with a
generous capacity and re-runs with doubled capacity until the last slot of
every layer in every sample is empty (idx == -1), which proves that the
simulation ran to t_max without truncation.
"""
import os
import sys
import json

os.environ.setdefault("MPLBACKEND", "Agg")

USE_X64 = "--float32" not in sys.argv
import jax  # noqa: E402

if USE_X64:
    jax.config.update("jax_enable_x64", True)

import logging  # noqa: E402
logging.getLogger("jaxsnn").setLevel(logging.ERROR)  # hide hxtorch warning

import numpy as np  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jaxsnn.event.modules import Source, LIF, Linear, LIFParameters  # noqa
from jaxsnn.event.topology import Topology  # noqa: E402
from jaxsnn.event.types import Spike  # noqa: E402


def build(w_in, w_out, p, cap_hidden, cap_out):
    n_in, n_hidden = w_in.shape
    n_out = w_out.shape[1]
    lif = LIFParameters(
        tau_syn=p["tau_syn"], tau_mem=p["tau_mem"],
        v_th=p["v_th"], v_reset=p["v_reset"])
    topo = Topology(t_max=p["t_max"])  # backprop_method="analytical" default
    topo.add({
        "inp": Source(n_in),
        "lif1": LIF(n_hidden, cap_hidden, lif),
        "lif2": LIF(n_out, cap_out, lif),
        "syn1": Linear(pre_weights=w_in),
        "syn2": Linear(pre_weights=w_out),
    })
    topo.connect([("inp", "syn1"), ("syn1", "lif1"),
                  ("lif1", "syn2"), ("syn2", "lif2")])
    init_fn, apply_fn = topo.done()
    params = init_fn(jax.random.PRNGKey(0))  # returns pre_weights unchanged
    return params, jax.jit(apply_fn)


def encode_inputs(times, dtype):
    """Per-sample input spikes, sorted by time (jaxsnn's input queue REQUIRES
    time-sorted input: a spike stored at an array index below an already
    consumed one is skipped)."""
    times = np.asarray(times, dtype=np.float64)
    order = np.argsort(times, axis=-1, kind="stable")
    t_sorted = np.take_along_axis(times, order, axis=-1)
    return Spike(
        time=jnp.asarray(t_sorted, dtype=dtype),
        idx=jnp.asarray(order, dtype=int),
        current=jnp.zeros(t_sorted.shape, dtype=dtype),
        layer_idx=jnp.zeros(t_sorted.shape, dtype=int),
        internal=jnp.ones(t_sorted.shape, dtype=bool),
    )


def first_times(spk, n, t_max):
    """Per-sample first spike time of each neuron from a recorded Spike array
    (only own spikes: internal == True)."""
    time = np.asarray(spk.time)
    idx = np.asarray(spk.idx)
    internal = np.asarray(spk.internal)
    firsts, counts, alls = [], [], []
    for b in range(time.shape[0]):
        f = [None] * n
        c = [0] * n
        a = []
        for t, i, own in zip(time[b], idx[b], internal[b]):
            if not own or i < 0 or t >= t_max:
                continue
            i = int(i)
            c[i] += 1
            a.append([i, float(t)])
            if f[i] is None or t < f[i]:
                f[i] = float(t)
        firsts.append(f)
        counts.append(c)
        alls.append(a)
    return firsts, counts, alls


def run(cfg, all_spikes=False):
    dtype = jnp.float64 if USE_X64 else jnp.float32
    w_in = jnp.asarray(cfg["w_in"], dtype=dtype)
    w_out = jnp.asarray(cfg["w_out"], dtype=dtype)
    n_in, n_hidden = w_in.shape
    n_out = w_out.shape[1]
    assert w_out.shape[0] == n_hidden, "w_out must be n_hidden x n_out"
    p = {k: float(cfg[k]) for k in
         ("tau_syn", "tau_mem", "v_th", "v_reset", "t_max")}
    ratio = p["tau_mem"] / p["tau_syn"]
    if abs(ratio - 1) > 1e-9 and abs(ratio - 2) > 1e-9:
        sys.stderr.write(
            "WARNING: jaxsnn's analytic solver only supports tau_mem/tau_syn"
            " in {1,2}; round(ratio)>=2 silently uses the ratio-2 formula.\n")
    inputs = np.asarray(cfg["inputs"], dtype=np.float64)
    assert inputs.ndim == 2 and inputs.shape[1] == n_in
    spikes_in = encode_inputs(inputs, dtype)

    # generous start: every input + 2 spikes per neuron + slack
    cap_h = n_in + 2 * n_hidden + 8
    cap_o = cap_h + 2 * n_out + 8
    while True:
        params, apply_fn = build(w_in, w_out, p, cap_h, cap_o)
        events = apply_fn({"inp": spikes_in}, params)
        h, o = events["lif1"], events["lif2"]
        full_h = bool(np.any(np.asarray(h.idx)[:, -1] != -1))
        full_o = bool(np.any(np.asarray(o.idx)[:, -1] != -1))
        if not (full_h or full_o):
            break
        cap_h *= 2 if full_h else 1
        cap_o = max(cap_o * (2 if full_o else 1), cap_h + 2 * n_out + 8)
        if cap_h > 1_000_000:
            raise RuntimeError("capacity exploded (runaway spiking?)")

    hid, hid_c, hid_all = first_times(h, n_hidden, p["t_max"])
    out, out_c, out_all = first_times(o, n_out, p["t_max"])
    res = {
        "hidden": hid, "output": out,
        "hidden_counts": hid_c, "output_counts": out_c,
        "capacity": {"hidden": cap_h, "output": cap_o},
        "dtype": str(np.asarray(h.time).dtype),
    }
    if all_spikes:
        res["hidden_all"] = hid_all
        res["output_all"] = out_all
    return res


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.stderr.write(__doc__)
        sys.exit(2)
    with open(args[0]) as f:
        cfg = json.load(f)
    print(json.dumps(run(cfg, all_spikes="--all-spikes" in sys.argv)))


if __name__ == "__main__":
    main()
