//! Training runs end to end: results are bit-identical for any thread count, a run
//! interrupted after an epoch and resumed from its checkpoint ends bit-identically, and an
//! epoch's reported accuracies are those of its samples' own forward runs.

mod common;

use snnc::runner::{RunOptions, train};
use snnc::sim::kernels::Backend;
use std::path::{Path, PathBuf};

/// The network, after the shared Yin-Yang model (`common::LIF_TTFS`).
const NETWORK: &str = "
input data = yinyang(train = 96, validation = 32, test = 32, seed = 1, t_late = 10 ms)
population hidden = 20 N
population out = 3 N
project data -> hidden dense init normal(3.0, 1.6)
project hidden -> out dense init normal(0.5, 0.8)
simulation { mode event  t_max 20 ms }
train {
    output out
    loss first_spike_ce(tau = 0.5 ms, alpha = 0.005, beta = 2.0)
    gradient eventprop
    optimizer adam(lr = 5e-3)
    weight_bump 5e-3
    epochs 2
    batch 16
}
";

fn source() -> String {
    format!("{}\n{NETWORK}", common::LIF_TTFS)
}

fn out_dir(name: &str) -> common::TempDir {
    common::TempDir::new(&format!("test-{name}"), false)
}

/// The options of a run of `src` into `out`.
fn options(out: &Path, threads: usize, src: &str, resume: bool) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        threads,
        backend: Backend::Jit,
        source_name: "test.snn".into(),
        source_text: src.to_string(),
        overrides: vec![],
        resume,
        chip: false,
        base_dir: PathBuf::from("."),
    }
}

fn run(out: &Path, threads: usize, epochs: usize, resume: bool) {
    let src = source();
    let mut p = common::program(&src);
    p.training.as_mut().unwrap().epochs = epochs;
    let opts = options(out, threads, &src, resume);
    train(&p, &opts, &mut |_: &str| {}).unwrap();
}

fn weights(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("weights_final.npz")).unwrap()
}

#[test]
fn thread_count_does_not_change_results() {
    let (a, b, c) = (out_dir("t1"), out_dir("t2"), out_dir("t3"));
    run(&a, 1, 2, false);
    run(&b, 2, 2, false);
    run(&c, 3, 2, false);
    assert_eq!(weights(&a), weights(&b));
    assert_eq!(weights(&a), weights(&c));
    let metrics = |d: &Path| {
        std::fs::read_to_string(d.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(metrics(&a), metrics(&b));
    // Every row has the header's columns, and the training time is part of the epoch's.
    let text = std::fs::read_to_string(a.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (seconds, train_seconds) = (column("seconds"), column("train_seconds"));
    for row in lines {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), header.len(), "{row}");
        let (whole, training): (f64, f64) = (
            f[seconds].parse().unwrap(),
            f[train_seconds].parse().unwrap(),
        );
        assert!(training > 0.0 && training <= whole, "{row}");
    }
}

#[test]
fn resuming_after_an_epoch_is_bit_identical() {
    let (full, part) = (out_dir("full"), out_dir("part"));
    run(&full, 2, 2, false);
    run(&part, 2, 1, false);
    run(&part, 1, 2, true);
    assert_eq!(weights(&full), weights(&part));
    // The results can be opened: the checkpoint and weights are valid .npy files.
    let bytes = std::fs::read(part.join("checkpoint/w0.npy")).unwrap();
    assert!(snnc::results::read_npy_f64(&bytes).is_some());
}

/// A diverging run (learning rate 1e308) stops with an error that names the epoch, the batch
/// and the projection, on two threads as on one (the helper threads end with the epoch).
#[test]
fn a_diverging_run_stops_with_a_clear_error() {
    let src = source()
        .replace("lr = 5e-3", "lr = 1e308")
        .replace("t_max 20 ms }", "t_max 20 ms  max_spikes 1 }");
    let p = common::program(&src);
    for threads in [1, 2] {
        let out = out_dir(&format!("diverge{threads}"));
        let opts = options(&out, threads, &src, false);
        let err = train(&p, &opts, &mut |_: &str| {}).expect_err("the weights overflow");
        let msg = err.to_string();
        assert!(
            msg.contains("`weights:hidden->out#0`") && msg.contains("in epoch 1, batch 1"),
            "{msg}"
        );
    }
}

/// An epoch's validation and test accuracies (evaluated on the epoch's helper threads) are those
/// of each sample's own forward run, counted one by one, on one thread as on two. The two sets
/// differ in size, so a mix-up of the sets would show.
#[test]
fn an_epochs_accuracies_are_those_of_its_samples_one_by_one() {
    use snnc::sim::kernels::ModelKernels;
    use snnc::sim::network::Network;
    use snnc::train::Trainer;
    use snnc::train::optim::OptimState;
    let src = source().replace("validation = 32", "validation = 40");
    let program = common::program(&src);
    let models = snnc::driver::lower(&program);
    let kernels: Vec<ModelKernels> = models
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
        .collect();
    for threads in [1, 2] {
        let trainer =
            Trainer::with_models(&program, &kernels, threads, &models, Backend::Jit).unwrap();
        let mut net = Network::build(&program, 0);
        let shapes: Vec<usize> = net.projections.iter().map(|s| s.w.len()).collect();
        let mut opt = OptimState::new(&shapes);
        let stats = trainer.epoch(&mut net, &mut opt, 0).unwrap();
        let one_by_one = |set: &[snnc::train::data::Sample]| {
            let correct = set
                .iter()
                .filter(|s| {
                    snnc::train::loss::predict(&trainer.output_times(&net, s)) == Some(s.label)
                })
                .count();
            correct as f64 / set.len() as f64
        };
        assert_eq!(stats.validation_accuracy, one_by_one(&trainer.validation));
        assert_eq!(stats.test_accuracy, one_by_one(&trainer.test));
    }
}
