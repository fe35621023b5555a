#![allow(clippy::needless_range_loop)]
//! The JIT against the reference interpreter: every function of every example model on random
//! arguments must agree bit for bit (both call the same math), and compiled code memory must be
//! freed when the functions are dropped.

mod common;

use common::*;
use snnc::ir::interp::eval;
use snnc::jit::Jit;
use snnc::sim::kernels::Eval;

#[test]
fn jit_matches_the_interpreter_on_every_function_of_every_example() {
    let mut rng = Rng(2024);
    let mut compared = 0usize;
    for name in ["yinyang", "yinyang_discrete", "ei_network", "adex"] {
        for m in models(&example(name)) {
            let fs = m.functions();
            let compiled = Jit::new().unwrap().compile(&fs).unwrap();
            for (f, c) in fs.iter().zip(&compiled) {
                let mut out = vec![0.0; f.outputs.len()];
                for _ in 0..2_000 {
                    let args: Vec<f64> = f
                        .args
                        .iter()
                        .map(|a| {
                            if a.starts_with("p.tau") || a == "t" || a == "dt" {
                                rng.range(1e-4, 0.05)
                            } else {
                                rng.normal()
                            }
                        })
                        .collect();
                    let want = eval(f, &args);
                    c.call(&args, &mut out);
                    for (a, b) in out.iter().zip(&want) {
                        assert!(
                            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                            "{}/{}: jit {a} vs interp {b} at {args:?}",
                            m.name,
                            f.name
                        );
                    }
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 10_000);
}

fn resident_kb() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

#[test]
fn compiled_code_is_freed_when_dropped() {
    let m = models(&example("yinyang")).remove(0);
    let fs = m.functions();
    let mut jit = Jit::new().unwrap();
    // Warm up allocator pools before measuring.
    for _ in 0..50 {
        drop(jit.compile(&fs[..4]).unwrap());
    }
    let Some(before) = resident_kb() else { return };
    for _ in 0..1_000 {
        let c = jit.compile(&fs[..4]).unwrap();
        let mut out = [0.0; 2];
        c[0].call(&[0.1, 0.2, 0.01, 0.005, 1.0, 0.0, -1.0], &mut out);
        drop(c);
    }
    let after = resident_kb().unwrap();
    // 1,000 leaked modules would hold at least one 4 KiB code page each.
    assert!(
        after < before + 2_000,
        "resident memory grew from {before} KiB to {after} KiB"
    );
}
