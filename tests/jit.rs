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
    for name in [
        "yinyang",
        "yinyang_discrete",
        "ei_network",
        "adex",
        "resonator",
    ] {
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

/// Population kernels (the loop over neurons in generated code) give, element by element, the
/// interpreter's results bit for bit, with per-neuron parameters, broadcast arguments and a
/// neuron-major state layout.
#[test]
fn population_kernels_match_the_interpreter() {
    use snnc::jit::Strided;
    let mut rng = Rng(77);
    for name in ["yinyang", "ei_network", "adex", "resonator"] {
        for m in models(&example(name)) {
            let f = &m.step_rk4;
            let kernel = Jit::new().unwrap().compile_population(f).unwrap();
            let (n, k) = (m.n(), m.params.len());
            let count = 37;
            // Neuron-major states, one array per parameter (heterogeneous), a broadcast dt.
            let x: Vec<f64> = (0..count * n).map(|_| 0.01 * rng.normal()).collect();
            let p: Vec<Vec<f64>> = (0..k)
                .map(|_| (0..count).map(|_| rng.range(1e-3, 2e-2)).collect())
                .collect();
            let dt = [1e-4];
            let mut args: Vec<Strided<'_>> = (0..n)
                .map(|s| Strided {
                    data: &x,
                    offset: s,
                    stride: n,
                })
                .collect();
            args.extend(p.iter().map(|col| Strided {
                data: col,
                offset: 0,
                stride: 1,
            }));
            args.push(Strided {
                data: &dt,
                offset: 0,
                stride: 0,
            });
            let mut out = vec![0.0; f.outputs.len() * count];
            kernel.run(&args, &mut out, count);
            // With the parameters and dt uniform (read once before the loop; here those of
            // neuron 0 for every neuron), the outputs are the strided kernel's for the same
            // broadcast arguments, bit for bit.
            let uniform: Vec<bool> = (0..f.args.len()).map(|a| a >= n).collect();
            let once = Jit::new()
                .unwrap()
                .compile_population_uniform(f, &uniform)
                .unwrap();
            let mut u_args = args.clone();
            for a in &mut u_args[n..] {
                a.stride = 0;
            }
            let (mut want, mut got) = (
                vec![0.0; f.outputs.len() * count],
                vec![0.0; f.outputs.len() * count],
            );
            kernel.run(&u_args, &mut want, count);
            once.run(&u_args, &mut got, count);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
                "{}: uniform kernel",
                m.name
            );
            // The states as one row in and out (neuron-major, one pointer each), the rest
            // uniform, and with the states per neuron and the rest strided: the same bits as the
            // strided kernel writing to the same places.
            let no = f.outputs.len();
            let row = n.min(no);
            let mut layout: Vec<(usize, usize, usize)> = (0..no).map(|o| (0, o, no)).collect();
            if no > row {
                layout[row..]
                    .iter_mut()
                    .for_each(|l| *l = (1, l.1 - row, no - row));
            }
            for (uniform_rest, call_args) in [(true, &u_args), (false, &args)] {
                let mut shape = snnc::jit::KernelShape::strided(f.args.len());
                shape.row = row;
                if uniform_rest {
                    shape.uniform[n..].iter_mut().for_each(|u| *u = true);
                }
                let rows = Jit::new()
                    .unwrap()
                    .compile_population_shaped(f, &shape)
                    .unwrap();
                let run = |k: &snnc::jit::PopulationFn| {
                    let (mut a, mut b) = (vec![0.0; count * no], vec![0.0; count * no]);
                    k.run_into(call_args, &mut [&mut a, &mut b], &layout, count);
                    (a, b)
                };
                let (want, got) = (run(&kernel), run(&rows));
                assert!(
                    want.0
                        .iter()
                        .chain(&want.1)
                        .zip(got.0.iter().chain(&got.1))
                        .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
                    "{}: row kernel",
                    m.name
                );
                // A row whose outputs are not consecutive is refused.
                if row >= 2 {
                    let mut bad = layout.clone();
                    bad.swap(0, 1);
                    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let (mut a, mut b) = (vec![0.0; count * no], vec![0.0; count * no]);
                        rows.run_into(call_args, &mut [&mut a, &mut b], &bad, count)
                    }));
                    assert!(refused.is_err(), "{}: misplaced row", m.name);
                }
            }
            let strided_uniform = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut o = vec![0.0; f.outputs.len() * count];
                once.run(&args, &mut o, count)
            }));
            assert!(
                strided_uniform.is_err(),
                "a uniform argument needs stride 0"
            );
            // The same outputs neuron-major into one buffer, except the last output, which goes
            // into every other slot of a second buffer (any offsets and strides).
            let no = f.outputs.len();
            let (mut rows, mut last) = (vec![0.0; count * no], vec![0.0; 2 * count]);
            let mut layout: Vec<(usize, usize, usize)> = (0..no - 1).map(|o| (0, o, no)).collect();
            layout.push((1, 1, 2));
            kernel.run_into(&args, &mut [&mut rows, &mut last], &layout, count);
            for i in 0..count {
                let mut a: Vec<f64> = x[i * n..(i + 1) * n].to_vec();
                a.extend(p.iter().map(|col| col[i]));
                a.push(dt[0]);
                let want = eval(f, &a);
                for (o, w) in want.iter().enumerate() {
                    let strided = if o + 1 < no {
                        rows[i * no + o]
                    } else {
                        last[1 + 2 * i]
                    };
                    for got in [out[o * count + i], strided] {
                        assert!(
                            got.to_bits() == w.to_bits() || (got.is_nan() && w.is_nan()),
                            "{}: neuron {i} output {o}: {got} vs {w}",
                            m.name
                        );
                    }
                }
            }
        }
    }
}

/// A stride so large that `(count - 1) * stride` wraps around is refused, not followed out of
/// the buffer.
#[test]
fn population_kernels_refuse_wrapping_strides() {
    let m = &models(&example("yinyang"))[0];
    let f = &m.step_rk4;
    let kernel = Jit::new().unwrap().compile_population(f).unwrap();
    let data = vec![0.0; 16];
    let huge = (u64::MAX as u128 + 1).div_ceil(3) as usize; // 3 * huge wraps to 2
    let args: Vec<snnc::jit::Strided<'_>> = (0..f.args.len())
        .map(|_| snnc::jit::Strided {
            data: &data,
            offset: 0,
            stride: huge,
        })
        .collect();
    let mut out = vec![0.0; f.outputs.len() * 4];
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        kernel.run(&args, &mut out, 4)
    }));
    assert!(refused.is_err());
}
