#![allow(clippy::needless_range_loop)]
//! EventProp gradients against central finite differences of the loss, on small networks with
//! several layers, recurrent projections, leak, multiple spikes per neuron and physical units.

mod common;

use common::*;
use snnc::sim::kernels::{Backend, ModelKernels};
use snnc::sim::network::Network;
use snnc::train::Trainer;
use snnc::train::data::Sample;

fn network_source(model: &str, extra_projection: &str) -> String {
    format!(
        "{model}
input data = yinyang(train = 4, validation = 0, test = 1, seed = 3, t_early = 0 ms, t_late = 10 ms)
population hidden = 6 N
population out = 3 N
project data -> hidden dense init normal(2.0, 1.0)
project hidden -> out dense init normal(1.5, 1.0)
{extra_projection}
simulation {{ mode event  t_max 30 ms }}
train {{
    output out
    loss first_spike_ce(tau = 2 ms, alpha = 0.01, beta = 2.0)
    gradient eventprop
    epochs 1
}}
"
    )
}

const LIF_LEAK: &str = "
neuron N {
    param tau_mem = 10 ms
    param tau_syn = 4 ms
    param v_th = 1.0
    param v_leak = 0.3
    param v_reset = 0.0
    state v = 0.0
    state i = 0.0
    d/dt v = (v_leak - v + i) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= v_th
    on spike { v = v_reset }
}";

/// Same time constants for membrane and synapse: the degenerate t e^{-t/tau} case.
const LIF_EQUAL_TAU: &str = "
neuron N {
    param tau = 6 ms
    param v_th = 0.5
    state v = 0.0
    state i = 0.0
    d/dt v = (i - v) / tau
    d/dt i = -i / tau
    receptor syn(w) { i += w }
    spike when v >= v_th
    on spike { v -= v_th }
}";

/// Physical units, two state-coupled currents.
const LIF_UNITS: &str = "
neuron N {
    param tau_mem = 20 ms
    param tau_syn = 5 ms
    param c_mem = 250 pF
    param e_leak = -65 mV
    param v_th = -60 mV
    state v = e_leak
    state i = 0 nA
    d/dt v = (e_leak - v) / tau_mem + i / c_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w * 1 nA }
    spike when v >= v_th
    on spike { v = e_leak }
}";

fn check_gradients(src: &str, seed_samples: usize) -> usize {
    check_gradients_with(src, seed_samples, Backend::Interp, 11, 1e-3, false)
}

/// Compares every present weight's gradient with a central finite difference of the loss, and
/// counts the weights whose gradient magnitude exceeds `count_above` (so a silent network, whose
/// gradients are all zero, cannot pass).
fn check_gradients_with(
    src: &str,
    seed_samples: usize,
    backend: Backend,
    seed: u64,
    count_above: f64,
    modal: bool,
) -> usize {
    let program = program(src);
    let models = snnc::driver::lower(&program);
    let kernels: Vec<ModelKernels> = models
        .iter()
        .map(|m| ModelKernels::new(m, backend).unwrap())
        .collect();
    // The event engine's EventProp, or (`modal`) the modal fast path, which must then run
    // every sample checked.
    let mut trainer = Trainer::with_models(&program, &kernels, 1, &models, backend).unwrap();
    trainer.modal = modal;
    let net = Network::build(&program, seed);
    if modal {
        let plan =
            snnc::sim::modal::Plan::new(&program, &kernels, &net, program.simulation.t_max, None)
                .expect("the modal path runs this network");
        for s in trainer.train.iter().take(seed_samples) {
            assert!(plan.run(&trainer.sample_inputs(s)).is_some());
        }
    }
    // Counts only weights with a clearly nonzero gradient, so a silent network cannot pass.
    let mut checked = 0;
    let samples: Vec<Sample> = trainer.train.iter().take(seed_samples).cloned().collect();
    for s in &samples {
        let (l0, grads) = trainer.loss_and_gradient(&net, s);
        assert!(l0.is_finite());
        for (k, proj) in net.projections.iter().enumerate() {
            // Every entry of `w` is a present synapse.
            for idx in 0..proj.w.len() {
                // The modal path's loss carries about ten times the rounding of the engine's
                // (about 1e-15 against 1e-16 here: its exponentials run on absolute time),
                // which a step of 1e-6 would blow up to 1e-9 in the difference quotient.
                let h = if modal { 1e-5 } else { 1e-6 };
                let at = |d: f64| {
                    let mut n2 = net.clone();
                    n2.projections[k].w[idx] += d;
                    trainer.loss(&n2, s)
                };
                let (lp, lm) = (at(h), at(-h));
                let central = (lp - lm) / (2.0 * h);
                // Skip points where the loss is not smooth (a spike appears or vanishes nearby):
                // there the one-sided differences disagree.
                let (fwd, bwd) = ((lp - l0) / h, (l0 - lm) / h);
                if (fwd - bwd).abs() > 1e-3 * (fwd.abs() + bwd.abs()).max(1e-3) {
                    continue;
                }
                let g = grads[k][idx];
                let err = (g - central).abs() / central.abs().max(g.abs()).max(1e-4);
                assert!(
                    err <= 1e-6 || (g - central).abs() < 1e-9,
                    "projection {k} weight {idx}: eventprop {g} vs finite difference {central} (rel {err})"
                );
                if central.abs() > count_above {
                    checked += 1;
                }
            }
        }
    }
    checked
}

/// The modal fast path's first-spike gradients against finite differences of its own loss,
/// independently of the event engine (time-to-first-spike LIF, two layers).
#[test]
fn modal_gradients_match_finite_differences() {
    let src = network_source(LIF_TTFS, "");
    assert!(check_gradients_with(&src, 3, Backend::Jit, 11, 1e-3, true) > 20);
}

#[test]
fn eventprop_matches_finite_differences_with_leak_and_several_spikes() {
    assert!(check_gradients(&network_source(LIF_LEAK, ""), 2) > 40);
}

#[test]
fn eventprop_through_a_recurrent_projection() {
    let rec = "project hidden -> hidden sparse(p = 0.5) init normal(0.2, 0.3)";
    assert!(check_gradients(&network_source(LIF_LEAK, rec), 2) > 40);
}

#[test]
fn eventprop_with_equal_time_constants_and_reset_by_subtraction() {
    assert!(check_gradients(&network_source(LIF_EQUAL_TAU, ""), 2) > 40);
}

#[test]
fn eventprop_with_physical_units() {
    assert!(check_gradients(&network_source(LIF_UNITS, ""), 2) > 20);
}

/// Backpropagation through time on the time-discrete engine against finite differences, for a
/// readout whose loss does not pass through any spike (so the surrogate plays no role and the
/// gradient must be exact): inputs -> `neuron` readouts with a delayed recurrent projection,
/// max-membrane cross-entropy, exact step.
fn check_bptt_readout(neuron: &str, name: &str) {
    let src = format!(
        "{neuron}
input data = yinyang(train = 4, validation = 0, test = 1, seed = 3, t_late = 15 ms)
population out = 3 {name}
project data -> out dense init normal(0.0, 0.5)
project out -> out dense init normal(0.0, 0.2) delay 1 ms
simulation {{ mode discrete  dt 0.5 ms  scheme exact  t_max 30 ms }}
train {{ output out  loss max_membrane_ce  gradient surrogate(superspike, beta = 80)  epochs 1 }}
"
    );
    let checked = check_gradients_with(&src, 2, Backend::Jit, 5, 1e-4, false);
    assert!(
        checked > 10,
        "{name}: only {checked} clearly nonzero gradients"
    );
}

/// A leaky-integrator readout: it never spikes, so its membrane is what the loss reads.
const LI: &str = "
neuron LI {
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    state v = 0.0
    state i = 0.0
    d/dt v = (i - v) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= 1e9
}";

/// Leaky integrators (the closed-form exact step).
#[test]
fn bptt_matches_finite_differences_through_the_readout() {
    check_bptt_readout(LI, "LI");
}

/// Resonate-and-fire readouts (cyclic coupling: the exact step is a matrix exponential, and
/// its adjoint is made of matrix-exponential entries too).
#[test]
fn bptt_through_a_matrix_exponential_step_matches_finite_differences() {
    let resonator = "
neuron R {
    param tau = 20 ms
    param freq = 40 Hz
    state x = 0.0
    state y = 0.0
    let omega = 6.283185307179586 * freq
    d/dt x = -x / tau - omega * y
    d/dt y = omega * x - y / tau
    receptor syn(w) { x += w }
    spike when y >= 1e9
}";
    check_bptt_readout(resonator, "R");
}

/// On a feed-forward time-to-first-spike network the analytic first-spike gradient (implicit
/// function theorem, layer by layer) equals EventProp to 1e-9 relative, weight by weight.
#[test]
fn analytic_first_spike_gradients_equal_eventprop_on_feed_forward_networks() {
    for (model, extra) in [(
        LIF_TTFS,
        "project hidden -> hidden2 dense init normal(1.0, 0.5)",
    )] {
        let src = format!(
            "{model}
input data = yinyang(train = 6, validation = 0, test = 1, seed = 4, t_late = 10 ms)
population hidden = 12 N
population hidden2 = 8 N
population out = 3 N
project data -> hidden dense init normal(3.0, 1.6)
{extra}
project hidden2 -> out dense init normal(1.0, 0.8)
simulation {{ mode event  t_max 30 ms }}
train {{ output out  loss first_spike_ce(tau = 1 ms, alpha = 0.01, beta = 2.0)  gradient eventprop  epochs 1 }}"
        );
        let mut program = program(&src);
        let models = snnc::driver::lower(&program);
        let kernels: Vec<ModelKernels> = models
            .iter()
            .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
            .collect();
        let net = Network::build(&program, 2);
        // Both on the event engine: the modal fast path would serve them alike.
        let mut eventprop =
            Trainer::with_models(&program, &kernels, 1, &models, Backend::Jit).unwrap();
        eventprop.modal = false;
        let samples: Vec<Sample> = eventprop.train.clone();
        let reference: Vec<Vec<Vec<f64>>> = samples
            .iter()
            .map(|s| eventprop.loss_and_gradient(&net, s).1)
            .collect();
        program.training.as_mut().unwrap().gradient = snnc::sema::hir::Gradient::Analytic;
        let mut analytic =
            Trainer::with_models(&program, &kernels, 1, &models, Backend::Jit).unwrap();
        analytic.modal = false;
        let mut compared = 0;
        for (s, want) in samples.iter().zip(&reference) {
            let got = analytic.loss_and_gradient(&net, s).1;
            for (gp, wp) in got.iter().zip(want) {
                for (g, w) in gp.iter().zip(wp) {
                    assert!(
                        (g - w).abs() <= 1e-9 * w.abs().max(g.abs()) + 1e-15,
                        "analytic {g} vs eventprop {w}"
                    );
                    if w.abs() > 1e-6 {
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 50, "only {compared} nonzero gradients compared");
    }
}

/// The JIT's backward pass runs the step's adjoint hoisted, as one population kernel per step
/// (refractory neurons redone with the plain step's adjoint); the interpreter runs the adjoint
/// as written, neuron by neuron. On spiking hidden neurons with a refractory period, a
/// recurrent projection and surrogate gradients, with equal and with per-neuron parameters,
/// loss and gradients are the same bits.
#[test]
fn bptt_on_the_jit_equals_the_interpreter_bit_for_bit() {
    let src = format!(
        "
neuron LIF {{
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    param v_th = 1.0
    state v = 0.0
    state i = 0.0
    d/dt v = (i - v) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) {{ i += w }}
    spike when v >= v_th
    on spike {{ v = 0.0 }}
    refractory 1 ms
}}
{LI}
input data = yinyang(train = 6, validation = 0, test = 1, seed = 3, t_late = 15 ms)
population hidden = 30 LIF
population out = 3 LI
project data -> hidden dense init normal(1.5, 1.0)
project hidden -> hidden dense init normal(0.0, 0.3)
project hidden -> out dense init normal(0.0, 0.5)
simulation {{ mode discrete  dt 0.5 ms  scheme exact  t_max 30 ms }}
train {{ output out  loss max_membrane_ce  gradient surrogate(superspike, beta = 80)  epochs 1 }}
"
    );
    let program = program(&src);
    let models = snnc::driver::lower(&program);
    for heterogeneous in [false, true] {
        let mut net = Network::build(&program, 5);
        if heterogeneous {
            for values in &mut net.params[0] {
                for (i, v) in values.iter_mut().enumerate() {
                    *v *= 1.0 + 0.02 * (i % 5) as f64;
                }
            }
        }
        let run = |backend: Backend| {
            let kernels: Vec<ModelKernels> = models
                .iter()
                .map(|m| ModelKernels::new(m, backend).unwrap())
                .collect();
            let trainer = Trainer::with_models(&program, &kernels, 1, &models, backend).unwrap();
            let samples: Vec<Sample> = trainer.train.to_vec();
            samples
                .iter()
                .map(|s| trainer.loss_and_gradient(&net, s))
                .collect::<Vec<_>>()
        };
        let (jit, interp) = (run(Backend::Jit), run(Backend::Interp));
        let mut nonzero = 0;
        for ((lj, gj), (li, gi)) in jit.iter().zip(&interp) {
            assert_eq!(lj.to_bits(), li.to_bits());
            for (a, b) in gj.iter().flatten().zip(gi.iter().flatten()) {
                assert_eq!(a.to_bits(), b.to_bits(), "heterogeneous: {heterogeneous}");
                nonzero += usize::from(*a != 0.0);
            }
        }
        assert!(nonzero > 100, "only {nonzero} nonzero gradients");
    }
}
