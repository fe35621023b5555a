#![allow(clippy::needless_range_loop)]
//! The modal fast path (`sim::modal`) against the event engine and its EventProp: the same
//! spikes to rounding and the same gradients, on feed-forward networks of several models
//! (closed-form and general crossing search, leak, two receptors with their own time
//! constants, physical units), dense and sparse projections, delays and exact ties; and the
//! networks and samples it must leave to the engine.

mod common;

use common::*;
use snnc::sim::event::{EventEngine, InputSpikes, Outcome};
use snnc::sim::kernels::{Backend, ModelKernels};
use snnc::sim::modal::Plan;
use snnc::sim::network::Network;
use snnc::train::Trainer;

/// Another ratio of time constants (the general search) and a leak potential off zero.
const LEAKY: &str = "
neuron N {
    param tau_mem = 10 ms
    param tau_syn = 3 ms
    param v_th = 1.0
    param v_leak = 0.2
    param v_reset = -1000.0
    state v = v_leak
    state i = 0.0
    d/dt v = (v_leak - v + i) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= v_th
    on spike { v = v_reset }
}";

/// The Yin-Yang model with a reset that is not affine in the state (the generic reset through
/// the model's own function).
fn curved_reset() -> String {
    let model = LIF_TTFS.replace(
        "on spike { v = v_reset }",
        "on spike { v = v_reset - 0.5 * i * i }",
    );
    assert_ne!(model, LIF_TTFS);
    model
}

/// Excitatory and inhibitory currents with their own time constants (three modes), and units.
const TWO_RECEPTORS: &str = "
neuron N {
    param tau_mem = 12 ms
    param tau_exc = 4 ms
    param tau_inh = 7 ms
    param c_mem = 200 pF
    param e_leak = -65 mV
    param v_th = -60 mV
    state v = e_leak
    state ie = 0 nA
    state ii = 0 nA
    d/dt v = (e_leak - v) / tau_mem + (ie - ii) / c_mem
    d/dt ie = -ie / tau_exc
    d/dt ii = -ii / tau_inh
    receptor exc(w) { ie += w * 1 nA }
    receptor inh(w) { ii += w * 1 nA }
    spike when v >= v_th
    on spike { v = e_leak - 100 mV }
}";

fn source(model: &str, body: &str) -> String {
    format!(
        "{model}
input data = yinyang(train = 12, validation = 0, test = 1, seed = 5, t_early = 0 ms, t_late = 10 ms)
{body}
simulation {{ mode event  t_max 30 ms }}
train {{ output out  loss first_spike_ce(tau = 1 ms, alpha = 0.01, beta = 2.0)  gradient eventprop  epochs 1 }}"
    )
}

const LAYERS: &str = "
population hidden = 14 N
population hidden2 = 9 N
population out = 3 N
project data -> hidden dense init normal(3.0, 1.6)
project hidden -> hidden2 sparse(p = 0.6) init normal(1.5, 0.8) delay 0.5 ms
project data -> hidden2 dense init normal(0.3, 0.3)
project hidden2 -> out dense init normal(1.5, 0.8)";

const LAYERS_TWO_RECEPTORS: &str = "
population hidden = 14 N
population out = 3 N
project data -> hidden dense receptor exc init normal(0.35, 0.15)
project data -> hidden sparse(p = 0.5) receptor inh init normal(0.1, 0.05)
project hidden -> out dense receptor exc init normal(0.12, 0.05) delay 1 ms
project hidden -> out dense receptor inh init normal(0.03, 0.02)";

struct Setup {
    program: snnc::sema::hir::Program,
    kernels: Vec<ModelKernels>,
    models: Vec<snnc::ir::derive::ModelIr>,
}

fn setup(src: &str) -> Setup {
    let program = program(src);
    let models = snnc::driver::lower(&program);
    let kernels = models
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
        .collect();
    Setup {
        program,
        kernels,
        models,
    }
}

fn plan<'a>(s: &'a Setup, net: &'a Network) -> Option<Plan<'a>> {
    Plan::new(
        &s.program,
        &s.kernels,
        net,
        s.program.simulation.t_max,
        None,
    )
}

/// Trainers on the modal path and on the event engine.
fn trainers(s: &Setup) -> (Trainer<'_>, Trainer<'_>) {
    let make = |modal| {
        let mut t =
            Trainer::with_models(&s.program, &s.kernels, 1, &s.models, Backend::Jit).unwrap();
        t.modal = modal;
        t
    };
    (make(true), make(false))
}

/// The spike times of population `pop` in an outcome.
fn pop_times(o: &Outcome, pop: u32) -> Vec<f64> {
    o.spikes
        .iter()
        .filter(|r| r.node == snnc::sema::hir::Node::Pop(snnc::sema::hir::PopId(pop)))
        .map(|r| r.t)
        .collect()
}

fn engine<'a>(s: &'a Setup, net: &'a Network) -> EventEngine<'a> {
    EventEngine {
        program: &s.program,
        kernels: &s.kernels,
        network: net,
        t_max: s.program.simulation.t_max,
        max_spikes: None,
        forced: None,
    }
}

/// Every neuron's spike times in both outcomes agree to `rel` (the same neurons spike, as
/// often); returns how many neuron spikes were compared.
fn assert_same_spikes(s: &Setup, fast: &Outcome, slow: &Outcome, rel: f64) -> usize {
    let mut compared = 0;
    for (pop, p) in s.program.populations.iter().enumerate() {
        for i in 0..p.size {
            let times = |o: &Outcome| -> Vec<f64> {
                o.spikes
                    .iter()
                    .filter(|r| {
                        r.node == snnc::sema::hir::Node::Pop(snnc::sema::hir::PopId(pop as u32))
                            && r.idx as usize == i
                    })
                    .map(|r| r.t)
                    .collect()
            };
            let (a, b) = (times(fast), times(slow));
            assert_eq!(a.len(), b.len(), "{} neuron {i}: {a:?} vs {b:?}", p.name);
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() <= rel * y.abs() + 1e-18,
                    "{} neuron {i}: modal {x} vs engine {y}",
                    p.name
                );
                compared += 1;
            }
        }
    }
    compared
}

/// What `compare_with_engine` compared.
struct Compared {
    /// Samples the fast path ran (the others went to the engine).
    runs: usize,
    /// Neuron spikes compared with the engine's.
    spikes: usize,
    /// Gradient entries above 1e-6 compared with EventProp's.
    grads: usize,
    /// Layers that ran in two passes (`Run::two_pass_layers`), summed over the runs.
    two_pass: usize,
}

/// Forward spikes and gradients of the fast path against the engine with EventProp, and each
/// variant of the fast path against the others bit for bit; `each` sees every outcome of the
/// fast path.
fn compare_with_engine(src: &str, seeds: &[u64], mut each: impl FnMut(&Outcome)) -> Compared {
    let s = setup(src);
    let (fast_trainer, slow_trainer) = trainers(&s);
    let (mut spikes, mut grads, mut runs, mut two_pass) = (0, 0, 0, 0);
    for &seed in seeds {
        let net = Network::build(&s.program, seed);
        let plan = plan(&s, &net).expect("the fast path runs these networks");
        let by_arrival = self::plan(&s, &net).unwrap().arrival_major();
        // Without the AVX2 copy of the layer code (the same where the processor lacks AVX2).
        let portable = self::plan(&s, &net).unwrap().portable();
        // Dense ratio-two layers through the exact loop, not in two passes.
        let one_pass = self::plan(&s, &net).unwrap().one_pass();
        // Every group of a two-pass layer through the AVX2 copies (on AVX-512 processors).
        let avx2 = self::plan(&s, &net).unwrap().without_avx512();
        for sample in &fast_trainer.train {
            let inputs = fast_trainer.sample_inputs(sample);
            let slow = engine(&s, &net).run(&inputs, false);
            let Some(run) = plan.run(&inputs) else {
                continue;
            };
            runs += 1;
            two_pass += run.two_pass_layers();
            each(&run.outcome);
            // Dense layers neuron by neuron and arrival by arrival: the same bits.
            let other = by_arrival.run(&inputs).expect("the same samples run");
            let bits = |o: &Outcome| -> Vec<(String, u32, u64)> {
                o.spikes
                    .iter()
                    .map(|r| (format!("{:?}", r.node), r.idx, r.t.to_bits()))
                    .collect()
            };
            assert_eq!(bits(&run.outcome), bits(&other.outcome));
            let third = portable.run(&inputs).expect("the same samples run");
            assert_eq!(bits(&run.outcome), bits(&third.outcome));
            let fourth = one_pass.run(&inputs).expect("the same samples run");
            assert_eq!(bits(&run.outcome), bits(&fourth.outcome));
            let fifth = avx2.run(&inputs).expect("the same samples run");
            assert_eq!(bits(&run.outcome), bits(&fifth.outcome));
            let dl: Vec<f64> = (0..run.outcome.spikes.len())
                .map(|k| (k as f64 * 0.37).sin())
                .collect();
            let g1 = plan.backward(&run, &dl);
            for other in [
                by_arrival.backward(&other, &dl),
                portable.backward(&third, &dl),
                one_pass.backward(&fourth, &dl),
                avx2.backward(&fifth, &dl),
            ] {
                for (a, b) in g1.weights.iter().zip(&other.weights) {
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(a), bits(b));
                }
            }
            spikes += assert_same_spikes(&s, &run.outcome, &slow, 1e-12);
            let (lf, gf) = fast_trainer.loss_and_gradient(&net, sample);
            let (ls, gs) = slow_trainer.loss_and_gradient(&net, sample);
            assert!((lf - ls).abs() <= 1e-11 * ls.abs(), "loss {lf} vs {ls}");
            for (k, (a, b)) in gf.iter().zip(&gs).enumerate() {
                for (idx, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) + 1e-14,
                        "projection {k} weight {idx}: modal {x} vs eventprop {y}"
                    );
                    if y.abs() > 1e-6 {
                        grads += 1;
                    }
                }
            }
        }
    }
    let samples = seeds.len() * fast_trainer.train.len();
    assert!(
        runs * 4 >= samples * 3,
        "the fast path ran only {runs} of {samples} samples"
    );
    Compared {
        runs,
        spikes,
        grads,
        two_pass,
    }
}

/// `compare_with_engine` on networks where most neurons spike after their inputs.
/// Returns how many layers ran in two passes.
fn check_against_engine(src: &str, seeds: &[u64]) -> usize {
    let Compared {
        runs,
        spikes,
        grads,
        two_pass,
    } = compare_with_engine(src, seeds, |_| {});
    assert!(spikes > 10 * runs, "only {spikes} spikes in {runs} runs");
    assert!(
        grads > 10 * runs,
        "only {grads} nonzero gradients in {runs} runs"
    );
    two_pass
}

#[test]
fn closed_form_crossings_match_the_engine_and_eventprop() {
    // Three layers per run, and the reset deep enough that each runs in two passes.
    let two_pass = check_against_engine(&source(LIF_TTFS, LAYERS), &[1, 2, 3]);
    assert!(two_pass > 0, "no layer ran in two passes");
}

#[test]
fn a_reset_that_is_not_affine_matches_the_engine_and_eventprop() {
    check_against_engine(&source(&curved_reset(), LAYERS), &[1, 2]);
}

#[test]
fn general_crossings_with_leak_match_the_engine_and_eventprop() {
    check_against_engine(&source(LEAKY, LAYERS), &[1, 2, 3]);
}

#[test]
fn two_receptors_with_units_match_the_engine_and_eventprop() {
    check_against_engine(&source(TWO_RECEPTORS, LAYERS_TWO_RECEPTORS), &[1, 2, 3]);
}

/// Output neurons whose free course crosses the threshold: they start at 0 with a current
/// (so their course is a true quadratic in e^{-t/tau_mem}, which the second pass solves) and
/// relax towards `v_leak` above the threshold. So the first interval (before any arrival) is
/// not ruled out at rest and the first passes test it too. The further `v_leak` lies above the
/// threshold, the more output spikes fall in that first interval, before the earliest hidden
/// spike. Were that interval skipped, those spikes would not be lost (the second pass, finding
/// no root where it looks, gives up and the exact loop runs the layer), so the test also
/// requires both layers of every run in two passes.
#[test]
fn a_free_course_above_threshold_is_tested_from_the_first_interval() {
    let drift = |v_leak: f64| {
        format!(
            "{LIF_TTFS}
neuron D {{
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    param v_th = 1.0
    param v_leak = {v_leak}
    param v_reset = -1000.0
    state v = 0.0
    state i = 1.0
    d/dt v = (v_leak - v + i) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) {{ i += w }}
    spike when v >= v_th
    on spike {{ v = v_reset }}
}}"
        )
    };
    let (mut before, mut after, mut grads) = (0, 0, 0);
    for v_leak in [1.5, 4.0, 12.0] {
        let src = source(
            &drift(v_leak),
            "population hidden = 14 N
population out = 3 D
project data -> hidden dense init normal(3.0, 1.6)
project hidden -> out dense init normal(0.5, 0.8)",
        );
        let compared = compare_with_engine(&src, &[1, 2], |o| {
            let first_hidden = pop_times(o, 0).into_iter().fold(f64::INFINITY, f64::min);
            for t in pop_times(o, 1) {
                if t < first_hidden {
                    before += 1;
                } else {
                    after += 1;
                }
            }
        });
        // Both layers of every run in two passes, the output layer's first interval included.
        assert_eq!(compared.two_pass, 2 * compared.runs, "v_leak {v_leak}");
        grads += compared.grads;
    }
    assert!(
        before > 10 && after > 10 && grads > 100,
        "{before} output spikes before the first arrival, {after} after, {grads} gradients"
    );
}

/// Exact ties: input channels at one time, and hidden neurons with equal weights, which spike
/// at exactly the same time and reach the output together. Arrivals at one time are applied
/// together before the search, as the engine does; only together do they reach the threshold.
#[test]
fn simultaneous_spikes_are_applied_together() {
    let src = source(
        LIF_TTFS,
        "
population hidden = 10 N
population out = 3 N
project data -> hidden dense init constant(0.9)
project hidden -> out dense init normal(0.6, 0.1)",
    );
    let s = setup(&src);
    let net = Network::build(&s.program, 7);
    let plan = plan(&s, &net).unwrap();
    let data = s.program.training.as_ref().unwrap().data.index();
    for (k, times) in [
        [2e-3, 2e-3, 2e-3, 2e-3, 2e-3],
        [0.0, 0.0, 1e-3, 1e-3, 1e-3],
        [0.0, 4e-3, 4e-3, 4e-3, 9e-3],
    ]
    .iter()
    .enumerate()
    {
        let mut inputs: InputSpikes = vec![Vec::new(); s.program.inputs.len()];
        inputs[data] = times
            .iter()
            .enumerate()
            .map(|(c, t)| (*t, c as u32))
            .collect();
        inputs[data].sort_by(|a, b| a.0.total_cmp(&b.0));
        let run = plan.run(&inputs).expect("each neuron spikes at most once");
        let slow = engine(&s, &net).run(&inputs, false);
        let compared = assert_same_spikes(&s, &run.outcome, &slow, 1e-12);
        let hidden: Vec<f64> = pop_times(&run.outcome, 0);
        assert_eq!(hidden.len(), 10, "case {k}: every hidden neuron spikes");
        assert!(
            hidden.iter().all(|t| *t == hidden[0]),
            "case {k}: {hidden:?}"
        );
        assert!(compared > 10, "case {k}: only {compared} spikes");
    }
    // One channel alone stays below threshold; five at once cross it.
    let mut inputs: InputSpikes = vec![Vec::new(); s.program.inputs.len()];
    inputs[data] = vec![(3e-3, 0)];
    let alone = plan.run(&inputs).unwrap();
    assert_eq!(alone.outcome.spikes.len(), 1, "only the input spike");
}

/// What the fast path must not run: recurrent projections, equal time constants, refractory
/// periods, parameters that differ within a population. A neuron that would spike twice makes
/// the sample fall back to the engine, with the engine's results bit for bit.
#[test]
fn what_the_fast_path_leaves_to_the_engine() {
    let recurrent = source(
        LIF_TTFS,
        "population hidden = 5 N
population out = 3 N
project data -> hidden dense init normal(3.0, 1.6)
project hidden -> hidden dense init normal(0.1, 0.1)
project hidden -> out dense init normal(1.5, 0.8)",
    );
    let equal_tau = source(
        &LIF_TTFS.replace("tau_syn = 5 ms", "tau_syn = 10 ms"),
        "population hidden = 5 N\npopulation out = 3 N
project data -> hidden dense init normal(3.0, 1.6)
project hidden -> out dense init normal(1.5, 0.8)",
    );
    let refractory = source(
        &LIF_TTFS.replace(
            "on spike { v = v_reset }",
            "on spike { v = v_reset }\n    refractory 2 ms",
        ),
        "population hidden = 5 N\npopulation out = 3 N
project data -> hidden dense init normal(3.0, 1.6)
project hidden -> out dense init normal(1.5, 0.8)",
    );
    for (name, src) in [
        ("recurrent", recurrent),
        ("equal time constants", equal_tau),
        ("refractory", refractory),
        ("per-neuron parameters", String::new()),
    ] {
        let src = if src.is_empty() {
            source(LIF_TTFS, LAYERS)
        } else {
            src
        };
        let s = setup(&src);
        let mut net = Network::build(&s.program, 1);
        if name == "per-neuron parameters" {
            net.params[1][0][3] *= 1.1;
        }
        assert!(
            plan(&s, &net).is_none(),
            "{name}: the fast path must decline"
        );
    }
    // A shallow reset under strong input: neurons spike again.
    let src = source(
        &LIF_TTFS.replace("v_reset = -1000.0", "v_reset = 0.0"),
        "population hidden = 8 N\npopulation out = 3 N
project data -> hidden dense init normal(6.0, 1.0)
project hidden -> out dense init normal(1.5, 0.8)",
    );
    let s = setup(&src);
    let net = Network::build(&s.program, 1);
    let plan = plan(&s, &net).unwrap();
    let (fast, slow) = trainers(&s);
    let mut declined = 0;
    for sample in &fast.train {
        if plan.run(&fast.sample_inputs(sample)).is_some() {
            continue;
        }
        declined += 1;
        let (lf, gf) = fast.loss_and_gradient(&net, sample);
        let (ls, gs) = slow.loss_and_gradient(&net, sample);
        assert_eq!(lf.to_bits(), ls.to_bits());
        assert_eq!(gf, gs);
    }
    assert!(declined > 0, "no sample had a second spike");
}

/// Resets too shallow for the certificate that a neuron stays below threshold (`first`): such
/// layers run through the exact loop instead of in two passes, to the same bits, and a second
/// spike (from the current left after the reset, or from later arrivals) still sends the
/// sample to the engine.
#[test]
fn a_shallow_reset_runs_through_the_exact_loop() {
    let (mut ran, mut exact_loop, mut declined) = (0, 0, 0);
    for (reset, weights) in [
        ("-0.5", "1.3, 0.3"),
        ("-1.0", "3.0, 0.1"),
        ("-3.0", "4.0, 0.1"),
        // Deep enough for the free course, not for later arrivals (the certificate's kicks).
        ("-5.0", "3.0, 1.0"),
        ("-8.0", "4.0, 2.0"),
    ] {
        let src = source(
            &LIF_TTFS.replace("v_reset = -1000.0", &format!("v_reset = {reset}")),
            &format!(
                "population hidden = 8 N\npopulation out = 3 N
project data -> hidden dense init normal({weights})
project hidden -> out dense init normal(0.5, 0.3)"
            ),
        );
        let s = setup(&src);
        let net = Network::build(&s.program, 1);
        let (fast, _) = trainers(&s);
        let plan = plan(&s, &net).unwrap();
        let one_pass = self::plan(&s, &net).unwrap().one_pass();
        let bits = |o: &Outcome| -> Vec<u64> { o.spikes.iter().map(|r| r.t.to_bits()).collect() };
        for sample in &fast.train {
            let inputs = fast.sample_inputs(sample);
            match (plan.run(&inputs), one_pass.run(&inputs)) {
                (Some(run), Some(other)) => {
                    assert_eq!(bits(&run.outcome), bits(&other.outcome));
                    ran += 1;
                    exact_loop += 2 - run.two_pass_layers();
                }
                (None, None) => declined += 1,
                _ => panic!("reset {reset}: the two orders disagree on a second spike"),
            }
        }
    }
    assert!(
        ran > 0 && exact_loop > 0 && declined > 0,
        "{ran} runs, {exact_loop} layers through the exact loop, {declined} declined"
    );
}

/// The certificate's kicks count every arrival of the layer, also those after the first pass
/// has seen every neuron of a group open: a late, strong arrival after a shallow reset sends
/// the sample to the engine (a second spike), a weak one leaves the layer in two passes. Three,
/// eight and eleven hidden neurons: a partial group, a whole one of eight (on AVX-512
/// processors) and both, each compared with the AVX2 copies alone, the portable code and the
/// exact loop.
#[test]
fn kicks_after_every_neuron_opened_still_count() {
    for size in [3, 8, 11] {
        let src = source(
            &LIF_TTFS.replace("v_reset = -1000.0", "v_reset = -20.0"),
            &format!(
                "population hidden = {size} N\npopulation out = 3 N
project data -> hidden dense init constant(6.0)
project hidden -> out dense init constant(0.0)"
            ),
        );
        let s = setup(&src);
        let mut net = Network::build(&s.program, 1);
        let data = s.program.training.as_ref().unwrap().data.index();
        // Channel 0 at 1 ms opens every hidden neuron (a lone weight of 6 peaks at 1.5);
        // channel 1 arrives at 8 ms.
        let mut inputs: InputSpikes = vec![Vec::new(); s.program.inputs.len()];
        inputs[data] = vec![(1e-3, 0), (8e-3, 1)];
        for (late, second_spike) in [(0.05, false), (100.0, true)] {
            net.projections[0].w[size..2 * size].fill(late);
            let plans = [
                plan(&s, &net).unwrap(),
                plan(&s, &net).unwrap().portable(),
                plan(&s, &net).unwrap().without_avx512(),
                plan(&s, &net).unwrap().one_pass(),
            ];
            for (k, p) in plans.iter().enumerate() {
                let what = format!("{size} neurons, late weight {late}, plan {k}");
                let run = p.run(&inputs);
                assert_eq!(run.is_none(), second_spike, "{what}");
                if let Some(run) = run {
                    assert_eq!(pop_times(&run.outcome, 0).len(), size, "{what}");
                    if k < 3 {
                        assert_eq!(run.two_pass_layers(), 2, "{what}");
                    }
                }
            }
        }
    }
}

/// Voltage jumps: a spike can happen at the very time of an arrival. An excitatory and an
/// inhibitory arrival at one time cancel before any search (no spike), as in the engine; the
/// excitatory one alone fires at exactly its arrival time.
#[test]
fn arrivals_at_one_time_act_together_before_any_spike() {
    let jump = "
neuron J {
    param tau = 10 ms
    param v_th = 1.0
    state v = 0.0
    d/dt v = -v / tau
    receptor syn(w) { v += w }
    spike when v >= v_th
    on spike { v = -1000.0 }
}";
    let src = source(
        jump,
        "population hidden = 2 J\npopulation out = 3 J
project data -> hidden dense init constant(0.0)
project hidden -> out dense init constant(0.6)",
    );
    let s = setup(&src);
    let mut net = Network::build(&s.program, 1);
    // Channel 0 kicks both hidden neurons by 1.5, channel 1 by -1.0.
    net.projections[0].w[..2].copy_from_slice(&[1.5, 1.5]);
    net.projections[0].w[2..4].copy_from_slice(&[-1.0, -1.0]);
    let plan = plan(&s, &net).unwrap();
    let data = s.program.training.as_ref().unwrap().data.index();
    for (ch1, hidden_spikes) in [(2e-3, 0), (3e-3, 2)] {
        let mut inputs: InputSpikes = vec![Vec::new(); s.program.inputs.len()];
        inputs[data] = vec![(2e-3, 0), (ch1, 1)];
        let run = plan.run(&inputs).unwrap();
        let slow = engine(&s, &net).run(&inputs, false);
        assert_same_spikes(&s, &run.outcome, &slow, 0.0);
        let hidden: Vec<f64> = pop_times(&run.outcome, 0);
        assert_eq!(
            hidden.len(),
            hidden_spikes,
            "channel 1 at {ch1}: {hidden:?}"
        );
        assert!(hidden.iter().all(|t| *t == 2e-3), "{hidden:?}");
    }
}

/// `train { fast_path false }` (or `--set train.fast_path=false`) sends every sample to the
/// event engine; by default the fast path runs the networks it can.
#[test]
fn the_fast_path_setting_turns_it_off() {
    let on = source(LIF_TTFS, LAYERS);
    let off = on.replace("epochs 1", "epochs 1  fast_path false");
    assert_ne!(on, off);
    for (src, expected) in [(on, true), (off, false)] {
        let s = setup(&src);
        let t = Trainer::with_models(&s.program, &s.kernels, 1, &s.models, Backend::Jit).unwrap();
        let net = Network::build(&s.program, 1);
        assert_eq!(s.program.training.as_ref().unwrap().fast_path, expected);
        assert_eq!(t.modal, expected);
        assert_eq!(t.fast_path_applies(&net), expected);
    }
}
