//! Kernel benchmark: JIT compile time for every function of `examples/yinyang.snn`, and the
//! throughput of the propagator and the crossing signal on the JIT against the interpreter,
//! per call and as population kernels (the time-discrete engine's exact step), measured in the
//! same run. Run with `cargo bench --bench kernels`.

use snnc::ir::derive::ModelIr;
use snnc::jit::Jit;
use snnc::sim::kernels::{Backend, Eval, ModelKernels};
use std::hint::black_box;
use std::time::Instant;

fn model() -> ModelIr {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/yinyang.snn"))
        .unwrap();
    let checked = snnc::driver::check_source("yinyang.snn", &src);
    snnc::driver::lower(checked.program.as_ref().unwrap()).remove(0)
}

/// Time per call of `f`, the first argument (a state) changing from call to call; with
/// `new_time`, the argument before the last (the time of `propagate`) changes too, so that
/// nothing computed from parameters and time can be reused.
fn per_call_ns(f: &dyn Eval, args: &[f64], n_out: usize, calls: usize, new_time: bool) -> f64 {
    let mut out = vec![0.0; n_out];
    let start = Instant::now();
    let mut a = args.to_vec();
    let last = a.len() - 1;
    for k in 0..calls {
        a[0] = args[0] + (k % 7) as f64 * 1e-3;
        if new_time {
            a[last] = args[last] * (1.0 + (k % 1024) as f64 * 1e-6);
        }
        f.call(black_box(&a), &mut out);
        black_box(&out);
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn main() {
    let m = model();
    let fs = m.functions();
    // Compile time: median of 15 compilations of every function of the model.
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            let c = Jit::new().unwrap().compile(&fs).unwrap();
            let t = start.elapsed().as_secs_f64();
            drop(c);
            t
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "jit compile, {} functions of examples/yinyang.snn: {:.2} ms (median of 15)",
        fs.len(),
        times[7] * 1e3
    );

    let jit = ModelKernels::new(&m, Backend::Jit).unwrap();
    let interp = ModelKernels::new(&m, Backend::Interp).unwrap();
    let x_p_t = [0.3, 1.7, 0.01, 0.005, 1.0, 0.0, -1000.0, 0.004];
    let calls = 2_000_000;
    for (name, j, i, args, n, new_time) in [
        (
            "propagate",
            jit.propagate.as_deref().unwrap(),
            interp.propagate.as_deref().unwrap(),
            &x_p_t[..],
            2,
            false,
        ),
        (
            "propagate, new t",
            jit.propagate.as_deref().unwrap(),
            interp.propagate.as_deref().unwrap(),
            &x_p_t[..],
            2,
            true,
        ),
        ("lie", &*jit.lie, &*interp.lie, &x_p_t[..7], 4, false),
        (
            "spike_adjoint",
            &*jit.spike_adjoint,
            &*interp.spike_adjoint,
            &[0.3, 1.7, 0.01, 0.005, 1.0, 0.0, -1000.0, 0.5, -0.2, 1.0][..],
            3,
            false,
        ),
    ] {
        let (tj, ti) = (
            per_call_ns(j, args, n, calls, new_time),
            per_call_ns(i, args, n, calls / 10, new_time),
        );
        println!(
            "{name:>16}: jit {tj:7.1} ns/call, interpreter {ti:7.1} ns/call, speed-up {:.1}x",
            ti / tj
        );
    }

    // A population kernel (loop in generated code) against per-neuron calls, for one RK4 step
    // of 1,000 neurons with per-neuron parameters.
    let f = &m.step_rk4;
    let pop = Jit::new().unwrap().compile_population(f).unwrap();
    let (n, k, count) = (m.n(), m.params.len(), 1000);
    let x: Vec<f64> = (0..count * n).map(|i| (i % 7) as f64 * 0.1).collect();
    let p: Vec<Vec<f64>> = (0..k)
        .map(|q| vec![[0.01, 0.005, 1.0, 0.0, -1000.0][q]; count])
        .collect();
    let dt = [1e-4];
    let mut args = neuron_major(&x, n);
    args.extend(p.iter().map(|c| snnc::jit::Strided {
        data: c,
        offset: 0,
        stride: 1,
    }));
    args.push(snnc::jit::Strided {
        data: &dt,
        offset: 0,
        stride: 0,
    });
    let mut out = vec![0.0; f.outputs.len() * count];
    let reps = 2000;
    let start = Instant::now();
    for _ in 0..reps {
        pop.run(black_box(&args), &mut out, count);
    }
    let t_pop = start.elapsed().as_nanos() as f64 / (reps * count) as f64;
    let scalar = &jit.step_rk4;
    let mut o = vec![0.0; n];
    let mut a = vec![0.0; n + k + 1];
    let start = Instant::now();
    for _ in 0..reps {
        for i in 0..count {
            a[..n].copy_from_slice(&x[i * n..(i + 1) * n]);
            for q in 0..k {
                a[n + q] = p[q][i];
            }
            a[n + k] = dt[0];
            scalar.call(black_box(&a), &mut o);
        }
    }
    let t_scalar = start.elapsed().as_nanos() as f64 / (reps * count) as f64;
    println!(
        "  rk4 step x1000: population kernel {t_pop:5.1} ns/neuron, per-neuron calls {t_scalar:5.1} ns/neuron ({:.1}x)",
        t_scalar / t_pop
    );
    exact_step_kernel(&m);
}

/// The time-discrete engine's kernel: the exact step hoisted (`ir::hoist`: the parameter-only
/// part once, as the engine does), its per-step part over 10,000 neurons with equal parameters,
/// as the JIT population kernel (parameter-only values read once) against the interpreter
/// evaluating the same per-step part neuron by neuron. Both give the same bits.
fn exact_step_kernel(m: &ModelIr) {
    use snnc::sim::kernels::Interp;
    let f = m.step_exact.as_ref().expect("a linear model");
    let (n, k) = (m.n(), m.params.len());
    let h = snnc::ir::hoist::hoist(f, &(0..n).collect::<Vec<_>>());
    let mut a = vec![0.0; n + k + 1];
    a[n..n + k].copy_from_slice(&[0.01, 0.005, 1.0, 0.0, -1000.0][..k]);
    a[n + k] = 1e-4;
    let inv = snnc::ir::interp::eval(&h.invariant, &a);
    let count = 10_000;
    let x: Vec<f64> = (0..count * n).map(|i| (i % 13) as f64 * 0.07).collect();
    // As the engine compiles it: the states one row, the invariants read once.
    let mut shape = snnc::jit::KernelShape::strided(h.body.args.len());
    shape.row = n;
    shape.uniform[n..].iter_mut().for_each(|u| *u = true);
    let kernel = Jit::new()
        .unwrap()
        .compile_population_shaped(&h.body, &shape)
        .unwrap();
    let mut args = neuron_major(&x, n);
    args.extend((0..inv.len()).map(|q| snnc::jit::Strided {
        data: &inv,
        offset: q,
        stride: 0,
    }));
    let no = h.body.outputs.len();
    // Outputs as the engine writes them: the states neuron-major, then the spike flags.
    let layout: Vec<(usize, usize, usize)> = (0..no)
        .map(|o| {
            if o < n {
                (0, o, n)
            } else {
                (1, (o - n) * count, 1)
            }
        })
        .collect();
    let (mut states, mut flags) = (vec![0.0; n * count], vec![0.0; (no - n) * count]);
    let reps = 200;
    let start = Instant::now();
    for _ in 0..reps {
        kernel.run_into(
            black_box(&args),
            &mut [&mut states, &mut flags],
            &layout,
            count,
        );
    }
    let t_jit = start.elapsed().as_nanos() as f64 / (reps * count) as f64;
    let interp = Interp::new(h.body.clone());
    let mut b = vec![0.0; n + inv.len()];
    b[n..].copy_from_slice(&inv);
    let mut o = vec![0.0; no];
    for i in 0..count {
        b[..n].copy_from_slice(&x[i * n..(i + 1) * n]);
        interp.call(&b, &mut o);
        for (q, v) in o.iter().enumerate() {
            let got = if q < n {
                states[i * n + q]
            } else {
                flags[(q - n) * count + i]
            };
            assert_eq!(v.to_bits(), got.to_bits(), "same bits");
        }
    }
    let reps_i = 5;
    let start = Instant::now();
    for _ in 0..reps_i {
        for i in 0..count {
            b[..n].copy_from_slice(&x[i * n..(i + 1) * n]);
            interp.call(black_box(&b), &mut o);
            black_box(&o);
        }
    }
    let t_interp = start.elapsed().as_nanos() as f64 / (reps_i * count) as f64;
    println!(
        "exact step x10000 (the discrete engine's kernel): jit {t_jit:5.2} ns/neuron, interpreter {t_interp:6.1} ns/neuron, speed-up {:.0}x",
        t_interp / t_jit
    );
}

/// Population kernel arguments for `n` states stored neuron-major in `x`.
fn neuron_major(x: &[f64], n: usize) -> Vec<snnc::jit::Strided<'_>> {
    (0..n)
        .map(|s| snnc::jit::Strided {
            data: x,
            offset: s,
            stride: n,
        })
        .collect()
}
