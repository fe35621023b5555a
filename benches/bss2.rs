//! BrainScaleS-2 benchmark: compile time of `examples/yinyang_bss2.snn` (model recognition,
//! quantisation, placement, routing, configuration) against checking the same program in the
//! same run, the independent checker's time, and the mock's sample rate against the software
//! engine on the same samples. Run with `cargo bench --bench bss2`.

use snnc::bss2::mock::Mock;
use snnc::sim::kernels::{Backend, ModelKernels};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/yinyang_bss2.snn");
    let src = std::fs::read_to_string(path).unwrap();
    let check = median(
        (0..21)
            .map(|_| {
                let t = Instant::now();
                let c = snnc::driver::check_source("yinyang_bss2.snn", &src);
                assert!(c.program.is_some());
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let p = snnc::driver::check_source("yinyang_bss2.snn", &src)
        .program
        .unwrap();
    let mut config = None;
    let compile = median(
        (0..21)
            .map(|_| {
                let t = Instant::now();
                let c = snnc::bss2::compile_program(&p, &src).0.unwrap();
                let e = t.elapsed().as_secs_f64();
                config = Some(c.config);
                e
            })
            .collect(),
    );
    let config = config.unwrap();
    let text = config.to_text();
    let verify = median(
        (0..21)
            .map(|_| {
                let t = Instant::now();
                let r = snnc::bss2::verify::verify_text(&text).unwrap();
                assert!(r.is_ok());
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!(
        "check {:.2} ms, compile --target bss2 {:.2} ms ({:.1}x check), verify-config {:.2} ms ({} bytes)",
        check * 1e3,
        compile * 1e3,
        compile / check,
        verify * 1e3,
        text.len()
    );
    // Mock against the software engine, forward passes on the same 500 test samples.
    let hw = p.hardware.clone().unwrap();
    let mock = Mock::new(&config, &hw.mock, Backend::Jit).unwrap();
    let models = snnc::driver::lower(&p);
    let kernels: Vec<ModelKernels> = models
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
        .collect();
    let trainer = snnc::train::Trainer::new(&p, &kernels, 1).unwrap();
    let net = snnc::sim::network::Network::build(&p, 0);
    let samples = &trainer.test[..500];
    let t = Instant::now();
    for (k, s) in samples.iter().enumerate() {
        std::hint::black_box(mock.run(&trainer.sample_inputs(s), k as u64));
    }
    let mock_rate = samples.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for s in samples {
        std::hint::black_box(trainer.output_times(&net, s));
    }
    let sw_rate = samples.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "forward samples/s: mock {mock_rate:.0}, software {sw_rate:.0} (mock {:.2}x the software time)",
        sw_rate / mock_rate
    );
}
