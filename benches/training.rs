//! Yin-Yang throughput on one thread, `examples/yinyang.snn`:
//! - forward samples/s and forward+gradient (EventProp) samples/s on the event engine at the
//!   initial weights, JIT against the interpreter in the same run;
//! - one training epoch (5000 samples in batches of 64, then validation and test) on the modal
//!   fast path against the same epoch on the event engine; the forward samples/s of each (the
//!   5000 training samples), and the forward+gradient samples/s this implies for the epoch's
//!   training part.
//!
//! Run with `cargo bench --bench training`.

use snnc::sim::kernels::{Backend, ModelKernels};
use snnc::sim::network::Network;
use snnc::train::Trainer;
use snnc::train::optim::OptimState;
use std::time::Instant;

fn main() {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/yinyang.snn"))
        .unwrap();
    let checked = snnc::driver::check_source("yinyang.snn", &src);
    let program = checked.program.unwrap();
    let models = snnc::driver::lower(&program);
    for backend in [Backend::Jit, Backend::Interp] {
        let kernels: Vec<ModelKernels> = models
            .iter()
            .map(|m| ModelKernels::new(m, backend).unwrap())
            .collect();
        let mut trainer = Trainer::with_models(&program, &kernels, 1, &models, backend).unwrap();
        trainer.modal = false;
        let net = Network::build(&program, 0);
        let n = if backend == Backend::Jit { 2000 } else { 300 };
        let samples = &trainer.train[..n];
        let start = Instant::now();
        let mut sink = 0.0;
        for s in samples {
            sink += trainer.loss(&net, s);
        }
        let fwd = n as f64 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        for s in samples {
            sink += trainer.loss_and_gradient(&net, s).1[0][0];
        }
        let both = n as f64 / start.elapsed().as_secs_f64();
        println!(
            "{backend:?}: forward {fwd:9.0} samples/s, forward+gradient {both:9.0} samples/s (1 thread; {sink:.1})"
        );
    }
    let kernels: Vec<ModelKernels> = models
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
        .collect();
    let mut seconds = Vec::new();
    for modal in [true, false, true, false] {
        let mut trainer =
            Trainer::with_models(&program, &kernels, 1, &models, Backend::Jit).unwrap();
        trainer.modal = modal;
        let mut net = Network::build(&program, 0);
        let shapes: Vec<usize> = net.projections.iter().map(|s| s.w.len()).collect();
        let mut opt = OptimState::new(&shapes);
        let stats = trainer.epoch(&mut net, &mut opt, 0).unwrap();
        // Forward passes alone: the 5000 training samples with the trained weights.
        let start = Instant::now();
        trainer.evaluate(&net, &trainer.train).unwrap();
        let forward = trainer.train.len() as f64 / start.elapsed().as_secs_f64();
        // The epoch's training part: what the epoch took beyond its 2000 forward passes.
        let evaluated = (trainer.validation.len() + trainer.test.len()) as f64;
        let training = stats.seconds - evaluated / forward;
        println!(
            "epoch on the {}: {:.3} s, test accuracy {:.2} %; forward {:.0} samples/s, forward+gradient about {:.0} samples/s",
            if modal {
                "modal path  "
            } else {
                "event engine"
            },
            stats.seconds,
            100.0 * stats.test_accuracy,
            forward,
            trainer.train.len() as f64 / training,
        );
        seconds.push(stats.seconds);
    }
    println!(
        "modal path / event engine: {:.1}x and {:.1}x faster",
        seconds[1] / seconds[0],
        seconds[3] / seconds[2]
    );
}
