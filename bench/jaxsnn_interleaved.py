"""Runs jaxsnn 0.3.0's Yin-Yang EventProp example epoch by epoch and, after each of its epochs,
a short `snnc run examples/yinyang.snn`, so that every jaxsnn epoch is timed within seconds of
the snnc epochs it is compared with. On a machine whose speed drifts by minutes (the VMs of
sessions 15-19 swung 3x within minutes) runs of one program after the other compare different
minutes; this removes that drift, though not swings within seconds (on session 19's VM the
paired ratios of one run still ranged 30-105x, so take the median over many epochs).

Usage (with the virtualenv's python; `bench/yinyang_interleaved.sh` sets it up):
    python bench/jaxsnn_interleaved.py SNNC_BINARY REPO_DIR EPOCHS SNNC_EPOCHS

What it measures:
- jaxsnn, whole epoch: the wall time of each call of `jaxsnn.event.training.epoch` (the
  example's own epoch function: shuffling, the training scan over its 4992 samples, the test
  over its 2944), up to `jax.block_until_ready` of what it returns.
- jaxsnn, training alone: the time `epoch` itself measures with `time_it` around its training
  scan (the number jaxsnn logs as the epoch's duration), here with `jax.block_until_ready` of
  the scan's result inside the timer, so that JAX's asynchronous dispatch does not leave work
  for later.
- The first epoch (which includes JAX's compilation) is left out. Nothing of jaxsnn's code is
  changed: the names `epoch` of the example module and `time_it` of `jaxsnn.event.training`
  are wrapped.
- snnc: the `seconds` column of `metrics.csv` (training over 5000 samples plus evaluation of
  1000 validation and 1000 test samples; startup and compilation are not in it) and its
  `train_seconds` column (the training alone), of a run of SNNC_EPOCHS epochs started after
  each jaxsnn epoch, and one before the first.
- Each jaxsnn epoch k >= 1 is compared with the median snnc epoch of the runs just before and
  just after it, whole epoch with whole epoch and training with training; the summary gives
  the medians of these ratios and the accuracies.
"""

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jaxsnn.event.training as training
import jaxsnn.examples.event.yinyang_recurrent_event_prop as example


def probe():
    """Seconds a Python loop of 10^6 additions takes (how fast the machine is now)."""
    t = time.perf_counter()
    s = 0
    for i in range(10**6):
        s += i
    return time.perf_counter() - t


def main():
    if len(sys.argv) != 5 or int(sys.argv[3]) < 2:
        sys.exit(__doc__.split("What it measures")[0] + "(EPOCHS at least 2: the first is left out)")
    snnc, repo, epochs, snnc_epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    work = tempfile.mkdtemp(prefix="snnc-interleaved-")
    os.chdir(work)  # the example may write files into the working directory
    runs = []  # per snnc run: its epochs' seconds
    train_runs = []  # per snnc run: its epochs' training seconds
    snnc_acc = []

    def run_snnc():
        out = os.path.join(work, f"snnc-{len(runs)}")
        done = subprocess.run(
            [snnc, "run", os.path.join(repo, "examples/yinyang.snn"), "--epochs", snnc_epochs,
             "--no-plot", "--out", out],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"snnc run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        with open(os.path.join(out, "metrics.csv")) as f:
            rows = list(csv.DictReader(f))
        runs.append([float(r["seconds"]) for r in rows])
        train_runs.append([float(r["train_seconds"]) for r in rows])
        snnc_acc.append(float(rows[-1]["test_accuracy"]))

    jax_times = []
    jax_train = []
    jax_acc = []
    original = example.epoch

    def synced_time_it(timed_function, *args):
        start = time.perf_counter()
        result = timed_function(*args)
        jax.block_until_ready(result)
        jax_train.append(time.perf_counter() - start)
        return result, jax_train[-1]

    training.time_it = synced_time_it

    def timed_epoch(*args, **kwargs):
        start = time.perf_counter()
        result = original(*args, **kwargs)
        jax.block_until_ready(result)
        jax_times.append(time.perf_counter() - start)
        jax_acc.append(float(result[1][0][1]))
        run_snnc()
        return result

    example.epoch = timed_epoch
    print(f"machine: a Python loop of 10^6 additions took {probe():.2f} s "
          "(0.05-0.07 s on a quiet machine of sessions 1-14)", flush=True)
    run_snnc()
    args = example.get_parser().parse_args(["--epochs", str(epochs)])
    example.main(args)
    print(f"machine: a Python loop of 10^6 additions took {probe():.2f} s", flush=True)

    ratios, train_ratios = [], []
    for k in range(1, len(jax_times)):
        ours = statistics.median(runs[k] + runs[k + 1])
        ours_train = statistics.median(train_runs[k] + train_runs[k + 1])
        ratios.append(jax_times[k] / ours)
        train_ratios.append(jax_train[k] / ours_train)
        print(f"jaxsnn epoch {k + 1}: {jax_times[k]:.2f} s, training {jax_train[k]:.2f} s "
              f"(test accuracy {jax_acc[k]:.3f}); snnc epochs before/after: "
              f"{' '.join(f'{t:.3f}' for t in runs[k])} / "
              f"{' '.join(f'{t:.3f}' for t in runs[k + 1])} s, training "
              f"{' '.join(f'{t:.3f}' for t in train_runs[k])} / "
              f"{' '.join(f'{t:.3f}' for t in train_runs[k + 1])} s; "
              f"ratio {ratios[-1]:.1f}x, training {train_ratios[-1]:.1f}x", flush=True)
    all_ours = [t for r in runs for t in r]
    all_train = [t for r in train_runs for t in r]
    print(f"snnc test accuracy after {snnc_epochs} epochs: {snnc_acc[-1]:.3f} "
          f"(jaxsnn after {len(jax_acc)} epochs: {jax_acc[-1]:.3f})")
    print(f"median jaxsnn EventProp epoch {statistics.median(jax_times[1:]):.2f} s "
          f"(training {statistics.median(jax_train[1:]):.2f} s), median snnc epoch "
          f"{statistics.median(all_ours):.3f} s (training {statistics.median(all_train):.3f} s)")
    for name, r in (("whole epochs", ratios), ("training alone", train_ratios)):
        print(f"{name}: median of {len(r)} paired ratios: snnc {statistics.median(r):.1f}x "
              f"faster than jaxsnn EventProp (min {min(r):.1f}x, max {max(r):.1f}x, "
              f"{sum(x < 50 for x in r)} below 50x)")
    print(f"results in {work}")


if __name__ == "__main__":
    main()
