"""Runs the 10,000-neuron E/I benchmark on snnc (event and discrete) and Brian2 (runtime and
C++ standalone) in one go and prints one table. Called by bench/ei_brian2.sh with the Brian2
virtualenv's Python; see that script for the arguments.

Wall time and peak resident memory of every simulator process come from `/usr/bin/time`
(GNU time) when it exists, else from `resource.getrusage(RUSAGE_CHILDREN)`. Synaptic events are
spikes times the out-degree of the spiking neuron (or input channel), summed. CVs of the
inter-spike intervals skip the first 5 % of the run (the onset transient), in both simulators.
"""

import json
import os
import re
import resource
import subprocess
import sys
import time

import numpy as np

DRIVE_SPIKES = None  # the input spikes of the event run (the discrete run has the same ones)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SNNC = os.path.join(ROOT, "target", "release", "snnc")
PROGRAM = os.path.join(HERE, "ei_10k.snn")
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
REPEATS = int(os.environ.get("EI_REPEATS", "3"))
# Seconds of pause before each timed run, so that no run starts under the load of the one
# before it (a compiler, say): on the 2-core VMs that slowed the next run by up to 50 %.
COOL = float(os.environ.get("EI_COOL", "5"))


def measured(cmd, cwd=None):
    """Runs `cmd`; returns (wall seconds, peak RSS in MiB, stdout+stderr)."""
    rss_file = os.path.join(OUT, "rss.txt")
    full = ([GNU_TIME, "-f", "%M", "-o", rss_file] if GNU_TIME else []) + cmd
    start = time.perf_counter()
    proc = subprocess.run(full, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    if GNU_TIME:
        with open(rss_file) as f:
            rss_kb = int(f.read().split()[-1])
    else:
        # Maximum over all children so far: valid for the largest process only.
        rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, rss_kb / 1024, proc.stdout + proc.stderr


def isi_cv(times, neurons, size, t0):
    cvs = []
    keep = times >= t0
    times, neurons = times[keep], neurons[keep]
    order = np.lexsort((times, neurons))
    times, neurons = times[order], neurons[order]
    bounds = np.searchsorted(neurons, np.arange(size + 1))
    for k in range(size):
        s = times[bounds[k] : bounds[k + 1]]
        if len(s) >= 3:
            isi = np.diff(s)
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def snnc(mode, t_sim, threads=1):
    global DRIVE_SPIKES
    out = os.path.join(OUT, f"snnc_{mode}_{threads}")
    cmd = [SNNC, "run", PROGRAM, "--threads", str(threads), "--out", out,
           "--set", f"simulation.t_max={t_sim * 1000:g}ms"]
    if mode == "discrete":
        cmd += ["--set", "simulation.mode=discrete", "--set", "simulation.dt=0.1ms"]
    if mode == "queue":
        cmd += ["--set", "simulation.driver=queue"]
    # Each run EI_REPEATS times (the queue driver once: it is slow and far from the others);
    # the median run by loop time is reported. Every run gives the same spikes.
    runs = []
    for _ in range(1 if mode == "queue" else REPEATS):
        time.sleep(COOL)
        wall, rss, log = measured(cmd)
        manifest = json.load(open(os.path.join(out, "manifest.json")))
        runs.append((manifest["details"]["wall_seconds"], wall, rss))
    runs.sort()
    loop_s, wall, rss = runs[len(runs) // 2]
    loops = [r[0] for r in runs]
    codes = manifest["details"]["node_codes"]
    t = np.load(os.path.join(out, "spikes_time.npy"))
    node = np.load(os.path.join(out, "spikes_node.npy"))
    nrn = np.load(os.path.join(out, "spikes_neuron.npy"))
    # snnc does not write its connectivity; `snnc check` prints the expected synapse count of
    # each projection (p n_pre n_post), so events are spikes times the mean out-degree.
    degrees = {name: SYNAPSES[name] / SIZES[name] for name in SYNAPSES}
    counts = {name: int((node == codes.index(name)).sum()) for name in ("drive", "exc", "inh")}
    if mode == "discrete":
        # The discrete engine reports neuron spikes only; its input spikes are the same trains
        # as the event run's (same seed), so take their count from there.
        counts["drive"] = DRIVE_SPIKES if DRIVE_SPIKES is not None else int(2000 * 25 * t_sim)
    events = int(sum(counts[name] * degrees[name] for name in counts))
    if mode != "discrete":
        DRIVE_SPIKES = counts["drive"]
    names = {
        "event": "snnc event (exact, stepped driver)",
        "queue": "snnc event (exact, queue driver)",
        "discrete": "snnc discrete (dt 0.1 ms)",
    }
    res = dict(
        name=names[mode] + (f", {threads} threads" if threads > 1 else ""),
        threads=threads,
        wall_s=wall,
        loop_s=loop_s,
        loops_s=loops,
        rss_mib=rss,
        spikes=int(((node == codes.index("exc")) | (node == codes.index("inh"))).sum()),
        events=events,
    )
    for name, size in (("exc", 8000), ("inh", 2000)):
        m = node == codes.index(name)
        res[f"rate_{name}"] = m.sum() / size / t_sim
        res[f"cv_{name}"] = isi_cv(t[m], nrn[m], size, 0.05 * t_sim)
    return res


def brian2(device, t_sim, threads=1):
    js = os.path.join(OUT, f"brian2_{device}_{threads}.json")
    cmd = [sys.executable, os.path.join(HERE, "ei_brian2.py"), device, str(t_sim), js,
           os.path.join(OUT, f"brian2_standalone_{threads}"), str(threads)]
    wall, rss, _ = measured(cmd, cwd=OUT)
    r = json.load(open(js))
    res = dict(
        name=f"Brian2 {device} (dt 0.1 ms)" + (f", {threads} OpenMP threads" if threads > 1 else ""),
        threads=threads,
        wall_s=wall,
        loop_s=r["loop_s"],
        rss_mib=r["binary_maxrss_kb"] / 1024 if device == "cpp_standalone" else rss,
        spikes=r["spikes_exc"] + r["spikes_inh"],
        events=r["synaptic_events"],
        rate_exc=r["rate_exc_hz"], rate_inh=r["rate_inh_hz"],
        cv_exc=r["cv_exc"], cv_inh=r["cv_inh"],
    )
    if device == "cpp_standalone":
        res["build_s"] = r["build_and_run_s"] - r["binary_s"]
        res["binary_s"] = r["binary_s"]
    return res


def synapse_counts():
    """Synapses per source node, from `snnc check` (the network snnc simulates)."""
    text = subprocess.run([SNNC, "check", PROGRAM], capture_output=True, text=True).stdout
    counts = {"drive": 0, "exc": 0, "inh": 0}
    for line in text.splitlines():
        m = re.match(r"\s*(\w+) -> \w+ .*?(\d+) weights", line)
        if m and m.group(1) in counts:
            counts[m.group(1)] += int(m.group(2))
    return counts


def main():
    global OUT, SYNAPSES, SIZES
    t_sim = float(sys.argv[1])
    OUT = sys.argv[2]
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    os.makedirs(OUT, exist_ok=True)
    SYNAPSES = synapse_counts()
    SIZES = {"drive": 2000, "exc": 8000, "inh": 2000}
    runs = []
    plan = [
        ("brian2-runtime-warmup", lambda: brian2("runtime", 0.001)),
        ("brian2-cpp", lambda: brian2("cpp_standalone", t_sim)),
        ("brian2-cpp-2threads", lambda: brian2("cpp_standalone", t_sim, 2)),
        ("brian2-runtime", lambda: brian2("runtime", t_sim)),
        ("snnc-event", lambda: snnc("event", t_sim)),
        ("snnc-event-2threads", lambda: snnc("event", t_sim, 2)),
        ("snnc-queue", lambda: snnc("queue", t_sim)),
        ("snnc-discrete", lambda: snnc("discrete", t_sim)),
    ]
    for key, f in plan:
        if only and key not in only and not (key == "brian2-runtime-warmup"
                                              and "brian2-runtime" in only):
            continue
        print(f"running {key} ...", file=sys.stderr, flush=True)
        r = f()
        if key.endswith("warmup"):
            continue  # fills Brian2's Cython cache, so runtime mode is not charged for it
        runs.append(r)
        print(json.dumps(r), file=sys.stderr, flush=True)
    # Ratios against Brian2 C++ standalone on as many threads (else on one).
    cpp = {r["threads"]: r for r in runs if "cpp_standalone" in r["name"]}
    ref = cpp.get(1)
    print(f"\nmodel time {t_sim:g} s; wall = whole process; loop = simulation only "
          "(snnc: engine; Brian2 runtime: run(); Brian2 standalone: main loop of the binary); "
          f"snnc and the standalone binary: median of {REPEATS} runs")
    head = ("| simulator | wall s | loop s | peak RSS MiB | spikes | synaptic events "
            "| events/s (loop) | rate E / I Hz | CV E / I | loop vs Brian2 C++ 1 thread "
            "| loop vs Brian2 C++ same threads |")
    print(head)
    print("|" + "---|" * 11)
    for r in runs:
        ratio = f"{r['loop_s'] / ref['loop_s']:.2f}x" if ref else "-"
        same = cpp.get(r["threads"])
        ratio += f" | {r['loop_s'] / same['loop_s']:.2f}x" if same else " | -"
        print(f"| {r['name']} | {r['wall_s']:.1f} | {r['loop_s']:.2f} | {r['rss_mib']:.0f} "
              f"| {r['spikes']} | {r['events']:.3g} | {r['events'] / r['loop_s']:.3g} "
              f"| {r['rate_exc']:.2f} / {r['rate_inh']:.2f} | {r['cv_exc']:.2f} / {r['cv_inh']:.2f} "
              f"| {ratio} |")
    for threads, r in sorted(cpp.items()):
        print(f"\nBrian2 C++ standalone, {threads} thread(s): build (code generation + "
              f"compilation) {r['build_s']:.1f} s, binary {r['binary_s']:.2f} s")
    json.dump(runs, open(os.path.join(OUT, "results.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
