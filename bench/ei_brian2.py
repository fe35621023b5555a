"""The network of bench/ei_10k.snn in Brian2 (one run, one device), for bench/ei_bench.py.

Same equations, parameters, connectivity statistics (Bernoulli p = 0.01, no autapses in
recurrent projections), weights, delays, refractoriness (threshold not tested, dynamics go on:
Brian2's default without `unless refractory`) and Poisson drive (2000 channels at 25 Hz). The
random draws differ from snnc's, so only statistics can agree. Linear equations are integrated
with Brian2's `exact` method at dt = 0.1 ms.

Usage: python ei_brian2.py {runtime|cpp_standalone} T_SECONDS OUT_JSON [BUILD_DIR [THREADS]]
(THREADS > 1: the standalone code with that many OpenMP threads). The standalone binary runs
EI_REPEATS more times (default 3) after its first run, each after a pause of EI_COOL seconds
(default 5); loop_s is their median.
Writes a JSON object with timings (seconds), spike counts, rates and the CV of ISIs.
"""

import json
import os
import sys
import time

import numpy as np


def isi_cv(trains, t0):
    """Mean CV of the inter-spike intervals over neurons with at least 3 spikes after `t0`."""
    cvs = []
    for t in trains:
        t = [s for s in t if s >= t0]
        if len(t) >= 3:
            isi = np.diff(np.sort(t))
            if isi.mean() > 0:
                cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def main():
    device_name, t_sim, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    build_dir = sys.argv[4] if len(sys.argv) > 4 else "brian2_standalone"
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    t0 = time.perf_counter()
    import brian2 as b

    b.prefs.logging.console_log_level = "WARNING"
    if device_name == "cpp_standalone":
        b.set_device("cpp_standalone", directory=build_dir, build_on_run=False)
        if threads > 1:
            # OpenMP in the generated code (0, the default, compiles without it).
            b.prefs.devices.cpp_standalone.openmp_threads = threads
        # Peak memory of the simulation binary alone (not of the compiler).
        b.prefs.devices.cpp_standalone.run_cmd_unix = [
            "/usr/bin/time", "-f", "%M", "-o", "maxrss_kb.txt", "./main",
        ]
    b.defaultclock.dt = 0.1 * b.ms
    b.seed(1)
    ms, mV, pF, nA, Hz = b.ms, b.mV, b.pF, b.nA, b.Hz
    namespace = dict(
        e_leak=-65 * mV, c_mem=250 * pF, v_th=-50 * mV, v_reset=-65 * mV,
    )

    def group(n, tau_mem):
        # The time constants are written as numbers: with tau_mem = tau_inh (10 ms in the
        # inhibitory population) the symbolic `exact` solution divides by tau_mem - tau_inh,
        # while sympy solves the equal-constant case correctly from literal values.
        eqs = f"""
        dv/dt = (e_leak - v) / ({tau_mem}*ms) + (i_exc - i_inh) / c_mem : volt
        di_exc/dt = -i_exc / (5*ms) : amp
        di_inh/dt = -i_inh / (10*ms) : amp
        """
        g = b.NeuronGroup(
            n, eqs, threshold="v >= v_th", reset="v = v_reset", refractory=2 * ms,
            method="exact", namespace=namespace,
        )
        g.v = -65 * mV
        return g

    exc, inh = group(8000, 20), group(2000, 10)
    drive = b.PoissonGroup(2000, 25 * Hz)
    syns = []

    def project(pre, post, on_pre, w, delay=None, recurrent=False):
        s = b.Synapses(pre, post, "w : amp (constant)", on_pre=on_pre)
        s.connect(condition="i != j" if recurrent else None, p=0.01)
        s.w = w
        if delay is not None:
            s.delay = delay
        syns.append(s)

    project(drive, exc, "i_exc_post += w", "0.1*nA")
    project(drive, inh, "i_exc_post += w", "0.1*nA")
    project(exc, exc, "i_exc_post += w", "0.1*nA + 0.025*nA*randn()", 1.5 * ms, True)
    project(exc, inh, "i_exc_post += w", "0.1*nA + 0.025*nA*randn()", 1.5 * ms)
    project(inh, exc, "i_inh_post += w", "0.8*nA + 0.15*nA*randn()", 0.8 * ms)
    project(inh, inh, "i_inh_post += w", "0.8*nA + 0.15*nA*randn()", 0.8 * ms, True)
    spikes_exc, spikes_inh = b.SpikeMonitor(exc), b.SpikeMonitor(inh)
    drive_count = b.SpikeMonitor(drive, record=False)
    net = b.Network(exc, inh, drive, *syns, spikes_exc, spikes_inh, drive_count)
    t_setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    net.run(t_sim * b.second)
    t_run_call = time.perf_counter() - t1
    result = dict(device=device_name, threads=threads, t_sim=t_sim, python_setup_s=t_setup, run_call_s=t_run_call)
    if device_name == "cpp_standalone":
        t2 = time.perf_counter()
        b.device.build(directory=build_dir, compile=True, run=True, with_output=False)
        result["build_and_run_s"] = time.perf_counter() - t2
        result["timers"] = repr(b.device.timers)
        result["binary_s"] = b.device.timers["run_binary"]
        loops = []
        # The binary again (same seed, same spikes) after a pause, away from the compiler's
        # load, for a median of its loop times (the first run, right after compiling, is not
        # counted).
        for _ in range(int(os.environ.get("EI_REPEATS", "3"))):
            time.sleep(float(os.environ.get("EI_COOL", "5")))
            b.device.run(directory=build_dir, with_output=False)
            loops.append(b.device._last_run_time)
        result["loop_s"] = float(np.median(loops))
        result["loops_s"] = loops
        with open(f"{build_dir}/maxrss_kb.txt") as f:
            result["binary_maxrss_kb"] = int(f.read().split()[-1])
    else:
        result["loop_s"] = t_run_call
    monitors = {exc.name: spikes_exc, inh.name: spikes_inh}
    i = np.concatenate([np.asarray(spikes_exc.i[:]), 8000 + np.asarray(spikes_inh.i[:])])
    t = np.concatenate([np.asarray(spikes_exc.t[:] / b.second), np.asarray(spikes_inh.t[:] / b.second)])
    n_syn = {s.name: len(s) for s in syns}
    # Synaptic events = spikes x out-degree of the spiking neuron, summed.
    events = 0
    for s in syns:
        src = np.asarray(s.i[:])
        deg = np.bincount(src, minlength=s.source.N)
        if s.source is drive:
            # Poisson spikes are not recorded per channel; use the mean out-degree.
            events += int(drive_count.num_spikes * deg.mean())
        else:
            events += int(deg[np.asarray(monitors[s.source.name].i[:])].sum())
    trains = [[] for _ in range(10000)]
    for k, tk in zip(i, t):
        trains[k].append(tk)
    result.update(
        spikes_exc=int((i < 8000).sum()),
        spikes_inh=int((i >= 8000).sum()),
        spikes_drive=int(drive_count.num_spikes),
        synapses=n_syn,
        synaptic_events=events,
        rate_exc_hz=float((i < 8000).sum() / 8000 / t_sim),
        rate_inh_hz=float((i >= 8000).sum() / 2000 / t_sim),
        cv_exc=isi_cv(trains[:8000], 0.05 * t_sim),
        cv_inh=isi_cv(trains[8000:], 0.05 * t_sim),
    )
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
