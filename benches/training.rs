//! Yin-Yang throughput on one thread: forward samples/s and forward+gradient (EventProp)
//! samples/s of `examples/yinyang.snn` at its initial weights, JIT against the interpreter in
//! the same run. Run with `cargo bench --bench training`.

use snnc::sim::kernels::{Backend, ModelKernels};
use snnc::sim::network::Network;
use snnc::train::Trainer;
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
        let trainer = Trainer::with_models(&program, &kernels, 1, &models, backend).unwrap();
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
}
