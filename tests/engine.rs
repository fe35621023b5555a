#![allow(clippy::needless_range_loop)]
//! The exact event engine against an independent high-precision integration of the same
//! network (RK4 with a tiny step on the base right-hand side, crossings located by bisection),
//! and its handling of exactly simultaneous events.

mod common;

use common::*;
use snnc::ir::interp::eval;
use snnc::sema::hir::{Node, PopId, Program};
use snnc::sim::event::{EventEngine, Outcome, TraceRequest};
use snnc::sim::kernels::{Backend, ModelKernels};
use snnc::sim::network::Network;

const NEURON: &str = "
neuron N {
    param tau_mem = 10 ms
    param tau_syn = 4 ms
    param v_th = 1.0
    param v_leak = 0.2
    state v = 0.0
    state i = 0.0
    d/dt v = (v_leak - v + i) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= v_th
    on spike { v = 0.0 }
}";

fn setup(src: &str, seed: u64) -> (Program, Vec<ModelKernels>, Network) {
    let p = program(src);
    let kernels = snnc::driver::lower(&p)
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
        .collect();
    let net = Network::build(&p, seed);
    (p, kernels, net)
}

/// The time-discrete exact step of the (single) model, for comparisons with the event engine.
fn exact_steps(p: &Program) -> Vec<snnc::sim::discrete::StepKernels> {
    let models = snnc::driver::lower(p);
    vec![
        snnc::sim::discrete::step_kernels(
            &models[0],
            snnc::sema::hir::Scheme::Exact,
            snnc::ir::SurrogateFn::SuperSpike { beta: 80.0 },
            Backend::Jit,
            &p.populations[0].params,
        )
        .unwrap(),
    ]
}

fn engine<'a>(p: &'a Program, k: &'a [ModelKernels], net: &'a Network) -> EventEngine<'a> {
    let e = EventEngine {
        forced: None,
        program: p,
        kernels: k,
        network: net,
        t_max: p.simulation.t_max,
        max_spikes: None,
    };
    e.check().unwrap();
    e
}

fn run(p: &Program, k: &[ModelKernels], net: &Network, inputs: &[Vec<(f64, u32)>]) -> Outcome {
    engine(p, k, net).run(&inputs.to_vec(), false)
}

/// Neuron spikes as (population, index, time), in time order.
fn neuron_spikes(o: &Outcome) -> Vec<(usize, u32, f64)> {
    o.spikes
        .iter()
        .filter_map(|s| {
            if let Node::Pop(p) = s.node {
                Some((p.index(), s.idx, s.t))
            } else {
                None
            }
        })
        .collect()
}

/// Reference: integrate every neuron with RK4 at step `h` using only `rhs`, `threshold`,
/// `reset` and `jump` (no propagator, no crossing finder), delays included.
fn reference(p: &Program, net: &Network, inputs: &[(f64, u32)], h: f64) -> Vec<(usize, u32, f64)> {
    reference_traced(p, net, inputs, h, f64::INFINITY).0
}

/// Every neuron's state at one time: `[population][neuron][state]`.
type Snapshot = Vec<Vec<Vec<f64>>>;

/// [`reference`], also returning the states at `0, sample_dt, 2 sample_dt, ..` (after the
/// events at that time), landing steps exactly on the sample times.
fn reference_traced(
    p: &Program,
    net: &Network,
    inputs: &[(f64, u32)],
    h: f64,
    sample_dt: f64,
) -> (Vec<(usize, u32, f64)>, Vec<Snapshot>) {
    let models = snnc::driver::lower(p);
    let m = &models[0];
    let n = m.n();
    let pops: Vec<usize> = p.populations.iter().map(|q| q.size).collect();
    let params: Vec<Vec<f64>> = p.populations.iter().map(|q| q.params.clone()).collect();
    let mut x: Vec<Vec<Vec<f64>>> = pops
        .iter()
        .enumerate()
        .map(|(pi, s)| vec![eval(&m.base.init, &params[pi]); *s])
        .collect();
    let rk4 = |x: &[f64], pp: &[f64], dt: f64| -> Vec<f64> {
        let f = |x: &[f64]| eval(&m.base.rhs, &args(x, pp, &[]));
        let k1 = f(x);
        let x2: Vec<f64> = (0..n).map(|i| x[i] + 0.5 * dt * k1[i]).collect();
        let k2 = f(&x2);
        let x3: Vec<f64> = (0..n).map(|i| x[i] + 0.5 * dt * k2[i]).collect();
        let k3 = f(&x3);
        let x4: Vec<f64> = (0..n).map(|i| x[i] + dt * k3[i]).collect();
        let k4 = f(&x4);
        (0..n)
            .map(|i| x[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
            .collect()
    };
    let thr = |x: &[f64], pp: &[f64]| eval(&m.base.threshold, &args(x, pp, &[]))[0];
    // Deliveries pending: (time, projection, presynaptic index), each a delay after its spike.
    let deliveries = |t: f64, node: Node, idx: u32| -> Vec<(f64, usize, u32)> {
        net.projections
            .iter()
            .enumerate()
            .filter(|(_, proj)| proj.pre == node)
            .map(|(k, proj)| (t + proj.delay, k, idx))
            .collect()
    };
    let mut pending: Vec<(f64, usize, u32)> = inputs
        .iter()
        .flat_map(|(t, c)| deliveries(*t, Node::Input(snnc::sema::hir::InputId(0)), *c))
        .collect();
    let mut spikes = Vec::new();
    let mut samples = Vec::new();
    let mut t = 0.0;
    let t_max = p.simulation.t_max;
    loop {
        pending.sort_by(|a, b| b.0.total_cmp(&a.0));
        // Apply deliveries due now.
        while let Some(&(td, k, idx)) = pending.last() {
            if td > t {
                break;
            }
            pending.pop();
            {
                let proj = &net.projections[k];
                {
                    let row = proj.row(idx as usize);
                    for (&j, &w) in proj.targets[idx as usize].iter().zip(row) {
                        let xj = &mut x[proj.post][j as usize];
                        *xj = eval(
                            &m.base.jumps[proj.receptor],
                            &args(xj, &params[proj.post], &[w]),
                        );
                    }
                }
            }
        }
        let next_sample = samples.len() as f64 * sample_dt;
        if t >= next_sample - 1e-15 {
            samples.push(x.clone());
        }
        if t >= t_max {
            break;
        }
        let next_sample = samples.len() as f64 * sample_dt;
        let next_delivery = pending.last().map_or(f64::INFINITY, |d| d.0);
        let dt = h.min(next_delivery - t).min(t_max - t).min(next_sample - t);
        let stepped: Vec<Vec<Vec<f64>>> = x
            .iter()
            .enumerate()
            .map(|(pi, pop)| pop.iter().map(|xi| rk4(xi, &params[pi], dt)).collect())
            .collect();
        // Earliest crossing inside the step, by bisection on the step length.
        let mut first: Option<(f64, usize, usize)> = None;
        for (pi, pop) in stepped.iter().enumerate() {
            for (i, xi) in pop.iter().enumerate() {
                if thr(xi, &params[pi]) >= 0.0 {
                    let (mut lo, mut hi) = (0.0, dt);
                    for _ in 0..80 {
                        let mid = 0.5 * (lo + hi);
                        if thr(&rk4(&x[pi][i], &params[pi], mid), &params[pi]) >= 0.0 {
                            hi = mid
                        } else {
                            lo = mid
                        }
                    }
                    if first.is_none_or(|f| hi < f.0) {
                        first = Some((hi, pi, i));
                    }
                }
            }
        }
        match first {
            None => {
                x = stepped;
                t += dt;
            }
            Some((tc, pi, i)) => {
                for (qi, pop) in x.iter_mut().enumerate() {
                    for xj in pop.iter_mut() {
                        *xj = rk4(xj, &params[qi], tc);
                    }
                }
                t += tc;
                x[pi][i] = eval(&m.base.reset, &args(&x[pi][i], &params[pi], &[]));
                spikes.push((pi, i as u32, t));
                pending.extend(deliveries(t, Node::Pop(PopId(pi as u32)), i as u32));
            }
        }
    }
    (spikes, samples)
}

/// Runs the engine (both drivers where the stepped one applies) on 12 random input spikes over
/// 4 channels and compares every spike with the RK4 reference at step `step`, to relative
/// tolerance `tol`. Returns whether the stepped driver ran.
fn compare(src: &str, seed: u64, step: f64, tol: f64) -> bool {
    let (p, k, net) = setup(src, seed);
    let mut rng = Rng(seed);
    let mut inputs: Vec<(f64, u32)> = (0..12)
        .map(|j| (rng.range(0.0, 0.015), (j % 4) as u32))
        .collect();
    inputs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let reference = reference(&p, &net, &inputs, step);
    let e = engine(&p, &k, &net);
    let runs = [
        e.run(&vec![inputs.clone()], false),
        e.run_queued(&vec![inputs.clone()], false),
    ];
    for run in &runs {
        compare_spikes(&neuron_spikes(run), &reference, tol);
    }
    e.steps(&vec![inputs])
}

/// The same neurons spike in the same order, at the same times to relative tolerance `tol`.
fn compare_spikes(engine: &[(usize, u32, f64)], reference: &[(usize, u32, f64)], tol: f64) {
    assert!(engine.len() >= 5, "too few spikes to compare: {engine:?}");
    assert_eq!(
        engine.len(),
        reference.len(),
        "engine {engine:?}\nreference {reference:?}"
    );
    let mut worst = 0.0f64;
    for (a, b) in engine.iter().zip(reference) {
        assert_eq!(
            (a.0, a.1),
            (b.0, b.1),
            "different neuron order: {a:?} vs {b:?}"
        );
        assert!(
            rel_err(a.2, b.2) <= tol,
            "spike time {} vs reference {}",
            a.2,
            b.2
        );
        worst = worst.max(rel_err(a.2, b.2));
    }
    // Shown with `--nocapture`, for the record.
    eprintln!(
        "{} spikes, worst relative error {worst:.1e} (tolerance {tol:.0e})",
        engine.len()
    );
}

#[test]
fn feed_forward_network_matches_high_precision_integration() {
    for seed in [1, 2, 3] {
        let src = format!(
            "{NEURON}
input data = regular(size = 4, rate = 1 Hz)
population hidden = 5 N
population out = 2 N
project data -> hidden dense init normal(3.0, 1.5)
project hidden -> out dense init normal(2.0, 1.5)
simulation {{ t_max 30 ms }}"
        );
        compare(&src, seed, 2e-6, 1e-9);
    }
}

#[test]
fn recurrent_network_matches_high_precision_integration() {
    for seed in [4, 5] {
        let src = format!(
            "{NEURON}
input data = regular(size = 4, rate = 1 Hz)
population hidden = 6 N
project data -> hidden dense init normal(3.0, 1.0)
project hidden -> hidden sparse(p = 0.5) init normal(0.5, 1.0)
simulation {{ t_max 30 ms }}"
        );
        compare(&src, seed, 2e-6, 1e-9);
    }
}

/// With delays on every link between populations the stepped driver runs (and the queue driver
/// for comparison); both match the reference, excitatory and inhibitory, feed-forward and
/// recurrent, with inputs that arrive late through their own delay.
#[test]
fn networks_with_delays_match_high_precision_integration() {
    for seed in [6, 7, 8] {
        let src = format!(
            "{NEURON}
input data = regular(size = 4, rate = 1 Hz)
population hidden = 6 N
population out = 3 N
project data -> hidden dense init normal(3.0, 1.0) delay 0.3 ms
project hidden -> hidden sparse(p = 0.5) init normal(0.3, 1.2) delay 1.1 ms
project hidden -> out dense init normal(1.5, 1.5) delay 0.7 ms
project out -> hidden dense init normal(-0.5, 0.5) delay 2 ms
simulation {{ t_max 30 ms }}"
        );
        assert!(compare(&src, seed, 2e-6, 1e-9), "the stepped driver ran");
    }
}

/// Two input channels spiking at exactly the same time act like one channel with the summed
/// weight (the mathematically simultaneous update), in any channel order.
#[test]
fn exactly_simultaneous_inputs_act_together() {
    let src = format!(
        "{NEURON}
input data = regular(size = 2, rate = 1 Hz)
population out = 1 N
project data -> out dense init constant(1.0)
simulation {{ t_max 30 ms }}"
    );
    let (p, k, mut net) = setup(&src, 0);
    let t = 0.002;
    let spike_time =
        |net: &Network, inputs: Vec<(f64, u32)>| neuron_spikes(&run(&p, &k, net, &[inputs]))[0].2;
    net.projections[0].w = vec![2.5, 3.0];
    let both = spike_time(&net, vec![(t, 0), (t, 1)]);
    let swapped = spike_time(&net, vec![(t, 1), (t, 0)]);
    net.projections[0].w = vec![5.5, 0.0];
    let merged = spike_time(&net, vec![(t, 0)]);
    assert_eq!(both, swapped);
    assert!(rel_err(both, merged) < 1e-12, "{both} vs {merged}");
    // Neither alone reaches the threshold: the tie really matters.
    net.projections[0].w = vec![2.5, 3.0];
    assert!(neuron_spikes(&run(&p, &k, &net, &[vec![(t, 0)]])).is_empty());
}

/// Identical neurons driven identically spike at exactly the same time; their simultaneous
/// spikes reach a downstream neuron together, whatever their indices.
#[test]
fn simultaneous_spikes_of_several_neurons_are_exact_ties() {
    let src = format!(
        "{NEURON}
input data = regular(size = 1, rate = 1 Hz)
population hidden = 3 N
population out = 1 N
project data -> hidden dense init constant(6.0)
project hidden -> out dense init constant(2.0)
simulation {{ t_max 30 ms }}"
    );
    let (p, k, net) = setup(&src, 0);
    let spikes = neuron_spikes(&run(&p, &k, &net, &[vec![(0.001, 0)]]));
    let hidden: Vec<f64> = spikes.iter().filter(|s| s.0 == 0).map(|s| s.2).collect();
    assert_eq!(hidden.len(), 3);
    assert!(hidden.iter().all(|t| *t == hidden[0]), "{hidden:?}");
    // The output sees 3 x 2.0 at once: compare with one input of weight 6.0 at that time.
    let out_t = spikes
        .iter()
        .find(|s| s.0 == 1)
        .expect("the output spikes")
        .2;
    let single = format!(
        "{NEURON}
input data = regular(size = 1, rate = 1 Hz)
population out = 1 N
project data -> out dense init constant(6.0)
simulation {{ t_max 30 ms }}"
    );
    let (p2, k2, n2) = setup(&single, 0);
    let want = neuron_spikes(&run(&p2, &k2, &n2, &[vec![(hidden[0], 0)]]))[0].2;
    assert!(rel_err(out_t, want) < 1e-12, "{out_t} vs {want}");
}

/// The time-discrete engine (exact propagator per step) converges to the exact event engine at
/// order dt: halving the step roughly halves the spike-time error.
#[test]
fn time_discrete_spike_times_converge_to_the_exact_ones_at_order_dt() {
    let src = format!(
        "{NEURON}
input data = regular(size = 3, rate = 1 Hz)
population out = 2 N
project data -> out dense init normal(2.5, 0.5)
simulation {{ t_max 30 ms }}"
    );
    let (p, k, net) = setup(&src, 9);
    let inputs = vec![(0.00123, 0), (0.00377, 1), (0.00519, 2), (0.0111, 0)];
    let exact = neuron_spikes(&run(&p, &k, &net, std::slice::from_ref(&inputs)));
    assert!(!exact.is_empty());
    let steps = exact_steps(&p);
    let mut errors = Vec::new();
    for dt in [2e-4, 1e-4, 5e-5] {
        let r = snnc::sim::discrete::run(&p, &k, &steps, &net, std::slice::from_ref(&inputs), dt);
        // First spike of each output neuron, discrete vs exact.
        let mut worst: f64 = 0.0;
        for (pop, i, t) in exact.iter().filter(|s| s.0 == 0) {
            let first_exact = exact.iter().find(|s| s.0 == *pop && s.1 == *i).unwrap().2;
            if *t != first_exact {
                continue;
            }
            let k_spike = r.s[0]
                .iter()
                .position(|row| row[*i as usize] != 0.0)
                .expect("the discrete run spikes too");
            worst = worst.max(((k_spike + 1) as f64 * dt - first_exact).abs());
        }
        errors.push(worst);
    }
    eprintln!("first-spike errors at dt = 0.2, 0.1, 0.05 ms: {errors:?} s");
    for w in errors.windows(2) {
        assert!(
            w[1] <= 0.75 * w[0] + 1e-12,
            "errors do not shrink with dt: {errors:?}"
        );
    }
    assert!(
        errors[2] <= 2.0 * 5e-5,
        "error {} larger than two steps",
        errors[2]
    );
}

/// In time-discrete mode a refractory neuron skips the spike test for round(t_ref / dt) steps
/// after each spike, so a strongly driven neuron spikes at most once per period.
#[test]
fn time_discrete_refractoriness_spaces_spikes() {
    let src = "
neuron R {
    param tau = 10 ms
    state v = 0.0
    d/dt v = (5.0 - v) / tau
    spike when v >= 0.1
    on spike { v = 0.0 }
    refractory 2 ms
}
population p = 1 R
simulation { mode discrete  dt 0.5 ms  scheme exact  t_max 30 ms }";
    let p = program(src);
    let models = snnc::driver::lower(&p);
    let k: Vec<ModelKernels> = models
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
        .collect();
    let net = Network::build(&p, 0);
    let steps = exact_steps(&p);
    let r = snnc::sim::discrete::run(&p, &k, &steps, &net, &[], 5e-4);
    let spike_steps: Vec<usize> = r.s[0]
        .iter()
        .enumerate()
        .filter(|(_, row)| row[0] != 0.0)
        .map(|(k, _)| k)
        .collect();
    assert!(spike_steps.len() >= 5, "{spike_steps:?}");
    // 2 ms / 0.5 ms = 4 refractory steps, so spikes are 5 steps apart.
    assert!(
        spike_steps.windows(2).all(|w| w[1] - w[0] == 5),
        "{spike_steps:?}"
    );
}

/// A two-layer network of `neuron` (model `name`, no closed-form crossing search) in event
/// mode, integrated adaptively with Dormand-Prince 5(4) and event location, against the
/// high-precision RK4 reference: spike times to 1e-6 relative.
fn compare_integrated(neuron: &str, name: &str, w_hidden: &str, w_out: &str) {
    for seed in [1, 2] {
        let src = format!(
            "{neuron}
input data = regular(size = 4, rate = 1 Hz)
population hidden = 5 {name}
population out = 2 {name}
project data -> hidden dense init normal({w_hidden})
project hidden -> out dense init normal({w_out})
simulation {{ t_max 30 ms  tolerance 1e-11 }}"
        );
        assert!(
            !setup(&src, seed).1[0].exact_events(),
            "{name} is integrated, not exact"
        );
        compare(&src, seed, 2.5e-7, 1e-6);
    }
}

/// Exponential integrate-and-fire: nonlinear dynamics.
#[test]
fn nonlinear_network_in_event_mode_matches_high_precision_integration() {
    let eif = "
neuron E {
    param tau_mem = 10 ms
    param tau_syn = 4 ms
    state v = 0.0
    state i = 0.0
    d/dt v = (0.2 * exp((v - 0.6) / 0.1) - v + i) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= 1.5
    on spike { v = 0.0 }
}";
    compare_integrated(eif, "E", "2.0, 1.0", "1.5, 1.0");
}

/// Resonate-and-fire: linear, but with cyclic coupling.
#[test]
fn cyclic_linear_network_in_event_mode_matches_high_precision_integration() {
    let rf = "
neuron R {
    param tau = 20 ms
    param freq = 60 Hz
    state x = 0.0
    state y = 0.0
    let omega = 6.283185307179586 * freq
    d/dt x = -x / tau - omega * y
    d/dt y = omega * x - y / tau
    receptor syn(w) { x += w }
    spike when y >= 1.0
    on spike {
        x = 0.0
        y = 0.0
    }
}";
    compare_integrated(rf, "R", "2.5, 1.0", "2.0, 1.0");
}

/// The engine with trace sampling of every state of every population at `dt`.
fn run_with_traces(
    p: &Program,
    k: &[ModelKernels],
    net: &Network,
    inputs: &[Vec<(f64, u32)>],
    dt: f64,
) -> (Outcome, snnc::sim::event::Traces) {
    let e = EventEngine {
        forced: None,
        program: p,
        kernels: k,
        network: net,
        t_max: p.simulation.t_max,
        max_spikes: None,
    };
    let states = (0..p.populations.len())
        .flat_map(|pop| (0..k[p.populations[pop].model.index()].n).map(move |s| (pop, s)))
        .collect();
    let request = snnc::sim::event::TraceRequest { dt, states };
    e.run_traced(&inputs.to_vec(), false, Some(&request), &mut |_| {})
}

/// Event-mode traces against the states of the RK4 reference at the same sample times, to
/// `tol` relative to the state's scale; the spikes are the same as without traces.
fn compare_traces(src: &str, seed: u64, step: f64, tol: f64) {
    let (p, k, net) = setup(src, seed);
    let mut rng = Rng(seed);
    let mut inputs: Vec<(f64, u32)> = (0..12)
        .map(|j| (rng.range(0.0, 0.015), (j % 4) as u32))
        .collect();
    inputs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let sample_dt = 0.25e-3;
    let (outcome, traces) = run_with_traces(&p, &k, &net, std::slice::from_ref(&inputs), sample_dt);
    assert_eq!(
        outcome.spikes,
        run(&p, &k, &net, std::slice::from_ref(&inputs)).spikes,
        "tracing changed the spikes"
    );
    assert!(neuron_spikes(&outcome).len() >= 5, "too few spikes");
    let (_, samples) = reference_traced(&p, &net, &inputs, step, sample_dt);
    assert_eq!(traces.times.len(), 121);
    assert_eq!(samples.len(), traces.times.len());
    let mut r = 0;
    for (pop, q) in p.populations.iter().enumerate() {
        let n = k[q.model.index()].n;
        for s in 0..n {
            let scale = samples
                .iter()
                .flat_map(|x| x[pop].iter().map(|xi| xi[s].abs()))
                .fold(1e-300f64, f64::max);
            for (kk, x) in samples.iter().enumerate() {
                for i in 0..q.size {
                    let got = traces.values[r][kk * q.size + i];
                    let want = x[pop][i][s];
                    assert!(
                        (got - want).abs() <= tol * scale,
                        "population {pop} state {s} neuron {i} at {}: {got} vs reference {want}",
                        traces.times[kk]
                    );
                }
            }
            r += 1;
        }
    }
}

#[test]
fn event_mode_traces_match_high_precision_integration() {
    for seed in [4, 5] {
        let src = format!(
            "{NEURON}
input data = regular(size = 4, rate = 1 Hz)
population hidden = 6 N
population out = 2 N
project data -> hidden dense init normal(3.0, 1.0)
project hidden -> hidden sparse(p = 0.5) init normal(0.5, 1.0)
project hidden -> out dense init normal(2.0, 1.5)
simulation {{ t_max 30 ms }}"
        );
        compare_traces(&src, seed, 2e-6, 1e-9);
    }
}

#[test]
fn event_mode_traces_of_an_integrated_model_match_high_precision_integration() {
    let src = "
neuron E {
    param tau_mem = 10 ms
    param tau_syn = 4 ms
    state v = 0.0
    state i = 0.0
    d/dt v = (0.2 * exp((v - 0.6) / 0.1) - v + i) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= 1.5
    on spike { v = 0.0 }
}
input data = regular(size = 4, rate = 1 Hz)
population hidden = 5 E
project data -> hidden dense init normal(2.0, 1.0)
simulation { t_max 30 ms  tolerance 1e-11 }";
    assert!(!setup(src, 1).1[0].exact_events(), "the model is nonlinear");
    compare_traces(src, 1, 2.5e-7, 1e-6);
}

/// Event-mode traces and the states of the time-discrete engine (exact scheme) sampled at its
/// step agree at order dt (mean absolute difference, since spikes shift by up to a step).
#[test]
fn event_mode_traces_agree_with_time_discrete_states_at_order_dt() {
    let src = format!(
        "{NEURON}
input data = regular(size = 3, rate = 1 Hz)
population out = 4 N
project data -> out dense init normal(2.5, 0.5)
simulation {{ t_max 30 ms }}"
    );
    let (p, k, net) = setup(&src, 9);
    let inputs = vec![
        (0.00123, 0),
        (0.00377, 1),
        (0.00519, 2),
        (0.0111, 0),
        (0.019, 1),
    ];
    let steps = exact_steps(&p);
    let mut errors = Vec::new();
    for dt in [2e-4, 1e-4, 5e-5] {
        let (outcome, traces) = run_with_traces(&p, &k, &net, std::slice::from_ref(&inputs), dt);
        assert!(!neuron_spikes(&outcome).is_empty());
        let r = snnc::sim::discrete::run(&p, &k, &steps, &net, std::slice::from_ref(&inputs), dt);
        assert_eq!(traces.times.len(), r.steps + 1);
        let size = p.populations[0].size;
        let (mut sum, mut count) = (0.0, 0);
        for kk in 0..=r.steps {
            assert!((traces.times[kk] - kk as f64 * dt).abs() <= 1e-15);
            for i in 0..size {
                sum += (traces.values[0][kk * size + i] - r.x[0][kk][i * 2]).abs();
                count += 1;
            }
        }
        errors.push(sum / count as f64);
    }
    for w in errors.windows(2) {
        assert!(
            w[1] <= 0.75 * w[0] && w[1] > 0.25 * w[0],
            "errors do not shrink like dt: {errors:?}"
        );
    }
}

/// A resonate-and-fire neuron (cyclic coupling: its propagator is a matrix exponential) in
/// discrete mode with `scheme exact`: every state on the grid equals a high-precision RK4
/// integration of the base right-hand side with the kicks applied at the end of their step.
#[test]
fn time_discrete_exact_scheme_of_a_cyclic_model_matches_high_precision_integration() {
    let src = "
neuron R {
    param tau = 20 ms
    param freq = 40 Hz
    param drive = 5 Hz
    state x = 0.0
    state y = 0.0
    let omega = 6.283185307179586 * freq
    d/dt x = -x / tau - omega * y + drive
    d/dt y = omega * x - y / tau
    receptor syn(w) { x += w }
    spike when y >= 1000.0
    on spike { x = 0.0 }
}
input data = regular(size = 3, rate = 1 Hz)
population p = 2 R { freq = 55 Hz }
project data -> p dense init normal(0.5, 0.3)
simulation { mode discrete  dt 0.125 ms  scheme exact  t_max 40 ms }";
    let (p, k, net) = setup(src, 4);
    let steps = exact_steps(&p);
    assert!(snnc::ir::print::classification(&snnc::driver::lower(&p)[0]).contains("cyclic"));
    let dt = 0.125e-3;
    let inputs = vec![
        (0.00123, 0),
        (0.00377, 1),
        (0.00519, 2),
        (0.0111, 0),
        (0.0213, 1),
    ];
    let r = snnc::sim::discrete::run(&p, &k, &steps, &net, std::slice::from_ref(&inputs), dt);
    let model = &snnc::driver::lower(&p)[0];
    let proj = &net.projections[0];
    for i in 0..2 {
        let params: Vec<f64> = (0..model.params.len())
            .map(|q| net.params[0][q][i])
            .collect();
        // The kicks land at the end of the step that contains the input time.
        let kick = |k: usize| -> f64 {
            inputs
                .iter()
                .filter(|(t, _)| (t / dt).floor() as usize + 1 == k)
                .map(|(_, c)| proj.w[proj.index(*c as usize, i).unwrap()])
                .sum()
        };
        let mut x = vec![0.0, 0.0];
        for step in 0..r.steps {
            let got = &r.x[0][step][i * 2..i * 2 + 2];
            for (a, b) in got.iter().zip(&x) {
                assert!(
                    (a - b).abs() <= 1e-10 * (1.0 + b.abs()),
                    "neuron {i}, step {step}: {a} vs {b}"
                );
            }
            x = rk4(model, &x, &params, dt, 200);
            x[0] += kick(step + 1);
        }
    }
}

/// The JIT's discrete engine runs the hoisted step (parameter-only work once per neuron, the
/// rest per step as a population kernel, which reads the parameter-only values once when all
/// neurons share them); the interpreter runs the step as written. Both give the same states and
/// spikes bit for bit, with refractoriness, delays, recurrent projections, Poisson input and a
/// matrix-exponential propagator, with equal and with per-neuron parameters.
#[test]
fn hoisted_discrete_steps_equal_the_interpreted_step_bit_for_bit() {
    for (name, heterogeneous) in [
        ("ei_network", false),
        ("ei_network", true),
        ("resonator", false),
    ] {
        let src = example(name)
            .replace("mode event", "mode discrete\n    dt 0.1 ms")
            .replace("t_max 1 s", "t_max 60 ms");
        let p = program(&src);
        let mut net = Network::build(&p, 3);
        if heterogeneous {
            // Every parameter of the first population a little different per neuron.
            for values in &mut net.params[0] {
                for (i, v) in values.iter_mut().enumerate() {
                    *v *= 1.0 + 0.01 * (i % 7) as f64;
                }
            }
        }
        let (jit, interp) = discrete_jit_and_interp(&p, &net);
        let spikes: f64 = jit.s.iter().flatten().flatten().sum();
        assert!(spikes > 10.0, "{name}: only {spikes} spikes");
        assert_same_run(&jit, &interp, name);
    }
}

/// The hoisted discrete step and its list of refractory neurons against the interpreted step,
/// bit for bit, with refractory periods that differ from neuron to neuron (0, less than a step,
/// half a step, 20 steps, 3 steps), a population with none and a population of one neuron, and
/// the other parameters equal (then the step's invariants are one row, the refractory period not
/// being part of the step), varied, or equal but for one neuron.
#[test]
fn hoisted_discrete_steps_with_per_neuron_refractory_periods() {
    let src = example("ei_network")
        .replace("mode event", "mode discrete\n    dt 0.1 ms")
        .replace("t_max 1 s", "t_max 80 ms")
        .replace(
            "param v_reset = -65 mV",
            "param v_reset = -65 mV\n    param t_ref = 2 ms",
        )
        .replace("refractory 2 ms", "refractory t_ref")
        .replace("population exc = 800 LIF", "population exc = 803 LIF")
        .replace(
            "population inh = 200 LIF { tau_mem = 10 ms }",
            "population inh = 1 LIF { tau_mem = 10 ms }\npopulation z = 37 LIF { t_ref = 0 ms }\nproject drive -> z sparse(p = 0.5) receptor exc init constant(3 nA)",
        )
        .replace("constant(0.085 nA)", "constant(2.5 nA)");
    let p = program(&src);
    for variant in ["refractory varied", "all varied", "equal but one"] {
        let mut net = Network::build(&p, 3);
        let np = net.params[0].len();
        for (i, v) in net.params[0][np - 1].iter_mut().enumerate() {
            *v = [0.0, 1e-5, 0.5e-4, 2e-3, 3e-4][i % 5];
        }
        if variant == "all varied" {
            for values in &mut net.params[0][..np - 1] {
                for (i, v) in values.iter_mut().enumerate() {
                    *v *= 1.0 + 0.01 * (i % 7) as f64;
                }
            }
        }
        if variant == "equal but one" {
            for values in &mut net.params[0][..np - 1] {
                let v0 = values[0];
                values.fill(v0);
                values[802] = v0 * 1.001;
            }
        }
        let (jit, interp) = discrete_jit_and_interp(&p, &net);
        let spikes: f64 = jit.s.iter().flatten().flatten().sum();
        let refractory = jit
            .refractory
            .iter()
            .flatten()
            .flatten()
            .filter(|b| **b)
            .count();
        assert!(
            spikes > 1000.0 && refractory > 1000,
            "{variant}: {spikes} spikes, {refractory} refractory neuron-steps"
        );
        assert_same_run(&jit, &interp, variant);
    }
}

/// Runs the time-discrete engine (exact scheme) on the JIT, which takes the hoisted step, and on
/// the interpreter, which takes the step as written.
fn discrete_jit_and_interp(
    p: &Program,
    net: &Network,
) -> (
    snnc::sim::discrete::DiscreteRun,
    snnc::sim::discrete::DiscreteRun,
) {
    let models = snnc::driver::lower(p);
    let inputs = snnc::sim::inputs::generate(p, 3, p.simulation.t_max);
    let run = |backend: Backend| {
        let kernels: Vec<ModelKernels> = models
            .iter()
            .map(|m| ModelKernels::new(m, backend).unwrap())
            .collect();
        let steps: Vec<_> = models
            .iter()
            .enumerate()
            .map(|(mi, m)| {
                let params = &p
                    .populations
                    .iter()
                    .find(|q| q.model.index() == mi)
                    .unwrap()
                    .params;
                snnc::sim::discrete::step_kernels(
                    m,
                    snnc::sema::hir::Scheme::Exact,
                    snnc::ir::SurrogateFn::SuperSpike { beta: 80.0 },
                    backend,
                    params,
                )
                .unwrap()
            })
            .collect();
        assert_eq!(steps[0].hoisted.is_some(), backend == Backend::Jit);
        snnc::sim::discrete::run(p, &kernels, &steps, net, &inputs, 1e-4)
    };
    (run(Backend::Jit), run(Backend::Interp))
}

/// States, spikes and refractory flags of two discrete runs are the same bits.
fn assert_same_run(
    a: &snnc::sim::discrete::DiscreteRun,
    b: &snnc::sim::discrete::DiscreteRun,
    label: &str,
) {
    for (x, y) in
        a.x.iter()
            .flatten()
            .flatten()
            .zip(b.x.iter().flatten().flatten())
    {
        assert_eq!(x.to_bits(), y.to_bits(), "{label}");
    }
    assert_eq!(a.s, b.s, "{label}");
    assert_eq!(a.refractory, b.refractory, "{label}");
}

/// A burst faster than a billionth of t_max is cut, not simulated: driven through a weight of
/// 1e13, the neuron re-crosses about 1e-15 s after each reset (some 1e12 spikes before t_max
/// without the burst gap). It spikes once per input and every crossing after that is a counted
/// limit hit; a weight of 1e3 (spikes about 1e-5 s apart) is simulated spike by spike.
#[test]
fn a_burst_faster_than_the_engine_can_resolve_is_cut_and_counted() {
    let src = format!(
        "{NEURON}
input data = regular(size = 1, rate = 1 Hz)
population out = 1 N
project data -> out dense init constant(1.0)
simulation {{ t_max 20 ms }}"
    );
    let (p, k, mut net) = setup(&src, 0);
    let inputs = [vec![(0.002, 0), (0.012, 0)]];
    for w in [1e13, 1e300] {
        net.projections[0].w = vec![w];
        // A generous spike limit, so that without the gap this fails (1000 spikes) instead of
        // running for hours.
        let e = EventEngine {
            forced: None,
            program: &p,
            kernels: &k,
            network: &net,
            t_max: p.simulation.t_max,
            max_spikes: Some(1000),
        };
        let o = e.run(&inputs.to_vec(), false);
        let times: Vec<f64> = neuron_spikes(&o).iter().map(|s| s.2).collect();
        assert_eq!(
            times.len(),
            2,
            "weight {w}: first spikes {:?}",
            &times[..3.min(times.len())]
        );
        for (t, input) in times.iter().zip([0.002, 0.012]) {
            assert!((t - input).abs() < 1e-12, "weight {w}: {times:?}");
        }
        assert!(o.limit_hits[0] >= 2, "weight {w}: {:?}", o.limit_hits);
    }
    net.projections[0].w = vec![1e3];
    let o = run(&p, &k, &net, &inputs);
    let n = neuron_spikes(&o).len();
    assert!(n > 100, "{n} spikes");
    assert_eq!(o.limit_hits[0], 0);
}

/// A recurrent excitatory/inhibitory network of `EI_LIF` neurons (as `bench/ei_10k.snn`,
/// smaller).
const EI_NETWORK: &str = "
input drive = regular(size = 100, rate = 1 Hz)
population exc = 80 LIF
population inh = 20 LIF { tau_mem = 10 ms }
project drive -> exc sparse(p = 0.2) receptor exc init constant(0.2 nA)
project drive -> inh sparse(p = 0.2) receptor exc init constant(0.2 nA)
project exc -> exc sparse(p = 0.1) receptor exc init normal(0.15 nA, 0.05 nA) delay 1.5 ms
project exc -> inh sparse(p = 0.1) receptor exc init normal(0.15 nA, 0.05 nA) delay 1.5 ms
project inh -> exc sparse(p = 0.2) receptor inh init normal(1.0 nA, 0.2 nA) delay 0.8 ms
project inh -> inh sparse(p = 0.2) receptor inh init normal(1.0 nA, 0.2 nA) delay 0.8 ms
simulation { t_max 300 ms }
";

/// Poisson spike trains of 40 Hz on 100 channels over [0, t_max], sorted by time and channel,
/// with times rounded to multiples of `grid` if given (exact ties).
fn poisson_drive(seed: u64, t_max: f64, grid: Option<f64>) -> Vec<(f64, u32)> {
    let mut rng = Rng(seed);
    let mut drive = Vec::new();
    for c in 0..100u32 {
        let mut t = 0.0;
        loop {
            t += -rng.uniform().max(1e-300).ln() / 40.0;
            if t > t_max {
                break;
            }
            drive.push((grid.map_or(t, |g| (t / g).round() * g), c));
        }
    }
    drive.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    drive
}

/// The stepped and the queue driver's runs agree spike for spike: the same limit hits, the
/// same nodes and neurons in the same order, times within 1e-12 relative (each is exact to
/// rounding; a recurrent network amplifies their different rounding a little).
fn same_spikes_to_rounding(stepped: &Outcome, queued: &Outcome, case: &str) {
    assert_eq!(stepped.limit_hits, queued.limit_hits, "{case}");
    assert_eq!(stepped.spikes.len(), queued.spikes.len(), "{case}");
    let mut worst = 0.0f64;
    for (a, b) in stepped.spikes.iter().zip(&queued.spikes) {
        assert_eq!((a.node, a.idx), (b.node, b.idx), "{case}: {a:?} vs {b:?}");
        worst = worst.max((a.t - b.t).abs() / a.t.abs().max(1e-3));
    }
    assert!(worst <= 1e-12, "{case}: {worst:e}");
}

/// [`EI_NETWORK`] with the neurons' refractoriness line `refractory` (may be empty).
fn ei(refractory: &str) -> String {
    let neuron = EI_LIF.replacen(
        "on spike { v = v_reset }",
        &format!("on spike {{ v = v_reset }}\n    {refractory}"),
        1,
    );
    format!("{neuron}{EI_NETWORK}")
}

/// The stepped driver and the queue driver agree spike for spike (the same neurons in the same
/// order, times to 1e-12: each is exact to rounding, and the recurrent network amplifies the
/// different rounding a little over 300 ms, to 2e-14 here) on a recurrent excitatory/inhibitory network with Poisson drive:
/// with and without refractoriness, with the inhibitory population's repeated eigenvalue
/// (tau_mem = tau_inh), and with input spikes on a 0.1 ms grid (exact ties, as on BrainScaleS-2).
#[test]
fn the_stepped_driver_matches_the_queue_driver() {
    let cases = [
        ("refractory 2 ms", false),
        ("", false),
        ("refractory 1 ms", true),
    ];
    for (seed, (refractory, grid)) in cases.into_iter().enumerate() {
        let src = ei(refractory);
        let (p, k, net) = setup(&src, seed as u64 + 1);
        let grid = grid.then_some(1e-4);
        let drive = poisson_drive(seed as u64 + 10, p.simulation.t_max, grid);
        let e = engine(&p, &k, &net);
        // Every state of the excitatory population, sampled every 0.1 ms (on the input grid
        // in the third case, so arrivals fall on samples).
        let request = TraceRequest {
            dt: 1e-4,
            states: vec![(0, 0), (0, 1), (0, 2)],
        };
        assert!(
            e.steps_traced(&vec![drive.clone()], Some(&request)),
            "{refractory}: the stepped driver applies"
        );
        let (stepped, traces) =
            e.run_threaded(&vec![drive.clone()], false, Some(&request), &mut |_| {}, 1);
        let (queued, queued_traces) = e.run_queued_traced(&vec![drive], false, Some(&request));
        assert_eq!(traces.times, queued_traces.times);
        for (a, b) in traces.values.iter().zip(&queued_traces.values) {
            let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let worst = a
                .iter()
                .zip(b)
                .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                worst <= 1e-10 * scale,
                "{refractory}: traces differ by {worst:e}"
            );
        }
        let neurons = neuron_spikes(&stepped).len();
        assert!(
            (300..20_000).contains(&neurons),
            "{refractory}: {neurons} spikes"
        );
        same_spikes_to_rounding(&stepped, &queued, refractory);
    }
}

/// A crossing that goes over threshold and back within one step (the membrane's peak just above
/// threshold, inside a step, both ends of the step below) is found by the stepped driver, as by
/// the queue driver: the bound's curvature term is what sees it.
#[test]
fn the_stepped_driver_finds_a_peak_inside_a_step() {
    let (tau_m, tau_e, c_mem, rise) = (0.02f64, 0.005f64, 250e-12f64, 0.015f64);
    let k = tau_m * tau_e / (tau_m - tau_e);
    let peak_at = (tau_m / tau_e).ln() * k;
    let unit = k / c_mem * ((-peak_at / tau_m).exp() - (-peak_at / tau_e).exp());
    for above in [1e-6, 1e-9] {
        let w = (rise + above) / unit;
        let src = ei("").replace(
            "input drive = regular(size = 100, rate = 1 Hz)
population exc = 80 LIF
population inh = 20 LIF { tau_mem = 10 ms }",
            &format!(
                "input drive = regular(size = 1, rate = 1 Hz)
population exc = 1 LIF
population inh = 1 LIF
project drive -> exc dense receptor exc init constant({w:e} A)"
            ),
        );
        let src = src
            .lines()
            .filter(|l| !l.contains("sparse"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\nproject exc -> inh dense receptor exc init constant(0 nA) delay 1 ms\n";
        let (p, k, net) = setup(&src, 1);
        let e = engine(&p, &k, &net);
        let inputs = vec![vec![(0.0, 0u32)]];
        assert!(e.steps(&inputs));
        for run in [e.run(&inputs, false), e.run_queued(&inputs, false)] {
            let spikes = neuron_spikes(&run);
            assert_eq!(spikes.len(), 1, "{above}: {spikes:?}");
            assert!(
                (spikes[0].2 - peak_at).abs() < 2e-4,
                "{spikes:?} vs {peak_at}"
            );
        }
    }
}

/// A reset that leaves the neuron 1e-13 V below threshold: under excitation the crossing right
/// after a spike falls within the spike gap (a limit hit) and the neuron waits for its next
/// input, which makes it spike at once. The stepped driver gives the queue driver's spikes and
/// limit hits.
#[test]
fn a_reset_to_threshold_waits_for_the_next_input_with_either_driver() {
    let model = EI_LIF;
    let src = format!(
        "{model}
input drive = regular(size = 100, rate = 1 Hz)
population a = 20 LIF {{ v_reset = -50.0000000001 mV }}
population b = 10 LIF
project drive -> a sparse(p = 0.3) receptor exc init constant(0.5 nA)
project a -> b dense receptor exc init constant(0.05 nA) delay 1 ms
simulation {{ t_max 100 ms }}"
    );
    let (p, k, net) = setup(&src, 3);
    let drive = poisson_drive(21, p.simulation.t_max, None);
    let e = engine(&p, &k, &net);
    assert!(e.steps(&vec![drive.clone()]));
    let stepped = e.run(&vec![drive.clone()], false);
    let queued = e.run_queued(&vec![drive], false);
    assert!(stepped.limit_hits[0] > 500, "{:?}", stepped.limit_hits);
    same_spikes_to_rounding(&stepped, &queued, "spike-gap waits");
}

/// The stepped driver splits every population into one range of neurons per thread; a run
/// gives the same bits on 1, 2, 3 and 4 threads (ranges that cut through the synapse lists and
/// the exact path's neurons differently each time), and they agree with the queue driver spike
/// for spike. The network: 2,600 neurons, recurrent E/I with Poisson drive, and a population
/// reset to threshold whose neurons wait after spike-gap hits.
#[test]
fn the_stepped_driver_gives_the_same_bits_on_any_number_of_threads() {
    let src = format!(
        "{EI_LIF}
input drive = regular(size = 100, rate = 1 Hz)
population exc = 1600 LIF
population inh = 400 LIF {{ tau_mem = 10 ms }}
population a = 600 LIF {{ v_reset = -50.0000000001 mV }}
project drive -> exc sparse(p = 0.2) receptor exc init constant(0.2 nA)
project drive -> inh sparse(p = 0.2) receptor exc init constant(0.2 nA)
project drive -> a sparse(p = 0.3) receptor exc init constant(0.5 nA)
project exc -> exc sparse(p = 0.005) receptor exc init normal(0.15 nA, 0.05 nA) delay 1.5 ms
project exc -> inh sparse(p = 0.005) receptor exc init normal(0.15 nA, 0.05 nA) delay 1.5 ms
project inh -> exc sparse(p = 0.01) receptor inh init normal(1.0 nA, 0.2 nA) delay 0.8 ms
project inh -> inh sparse(p = 0.01) receptor inh init normal(1.0 nA, 0.2 nA) delay 0.8 ms
project a -> exc sparse(p = 0.01) receptor exc init constant(0.02 nA) delay 1 ms
simulation {{ t_max 150 ms }}"
    );
    let (p, k, net) = setup(&src, 5);
    let drive = poisson_drive(33, p.simulation.t_max, None);
    let inputs = vec![drive];
    let e = engine(&p, &k, &net);
    assert!(e.steps(&inputs));
    let request = TraceRequest {
        dt: 1e-4,
        states: vec![(0, 0), (2, 1)],
    };
    assert!(e.steps_traced(&inputs, Some(&request)));
    let traced = |threads| e.run_threaded(&inputs, false, Some(&request), &mut |_| {}, threads);
    let run = |threads| e.run_threaded(&inputs, false, None, &mut |_| {}, threads).0;
    let one = run(1);
    let (one_traced, one_traces) = traced(1);
    assert_eq!(one_traced.spikes, one.spikes);
    let per_pop = |pop: usize| neuron_spikes(&one).iter().filter(|s| s.0 == pop).count();
    assert!(
        per_pop(0) > 500 && per_pop(1) > 200 && one.limit_hits[2] > 500,
        "{} {} {:?}",
        per_pop(0),
        per_pop(1),
        one.limit_hits
    );
    for threads in [2, 3, 4] {
        let (other, traces) = traced(threads);
        assert_eq!(traces.times, one_traces.times);
        for (a, b) in traces.values.iter().zip(&one_traces.values) {
            assert!(
                a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{threads} threads: traces"
            );
        }
        assert_eq!(other.limit_hits, one.limit_hits, "{threads} threads");
        assert_eq!(other.spikes.len(), one.spikes.len(), "{threads} threads");
        for (a, b) in one.spikes.iter().zip(&other.spikes) {
            assert_eq!(
                (a.node, a.idx, a.t.to_bits()),
                (b.node, b.idx, b.t.to_bits()),
                "{threads} threads"
            );
        }
    }
    same_spikes_to_rounding(&one, &e.run_queued(&inputs, false), "threads");
}

/// An input spike before time 0 (possible in a spike file) falls outside the stepped driver's
/// bound, so the engine runs the queue driver for that sample: the same bits as `run_queued`.
#[test]
fn an_input_before_time_zero_runs_the_queue_driver() {
    let (p, k, net) = setup(&ei("refractory 2 ms"), 2);
    let e = engine(&p, &k, &net);
    assert!(e.steps(&Vec::new()));
    let mut drive: Vec<(f64, u32)> = (0..100u32).map(|c| (0.001 * (c % 7) as f64, c)).collect();
    drive.push((-0.002, 3));
    drive.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    assert!(!e.steps(&vec![drive.clone()]));
    let auto = e.run(&vec![drive.clone()], false);
    let queued = e.run_queued(&vec![drive], false);
    let bits = |o: &Outcome| -> Vec<(u32, u64)> {
        o.spikes.iter().map(|s| (s.idx, s.t.to_bits())).collect()
    };
    assert_eq!(bits(&auto), bits(&queued));
}
