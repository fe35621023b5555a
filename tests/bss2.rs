#![allow(clippy::needless_range_loop)]
//! The BrainScaleS-2 target end to end: compiling is deterministic, the mock with every
//! imperfection switched off reproduces the ideal software model (quantised weights, time
//! scaled by the speed-up) on the 8 ns grid, and hardware-in-the-loop replay is exact when the
//! "hardware" is the software itself.

mod common;

use common::*;
use snnc::bss2::mock::Mock;
use snnc::sema::hir::{Node, Program};
use snnc::sim::event::EventEngine;
use snnc::sim::kernels::{Backend, ModelKernels};
use snnc::sim::network::Network;

fn checked(src: &str, overrides: &[&str]) -> Program {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let c = snnc::driver::check_source_with("test.snn", src, &o);
    c.program.unwrap_or_else(|| panic!("{:?}", c.diagnostics))
}

const IDEAL: [&str; 5] = [
    "hardware.fixed_pattern=0",
    "hardware.jitter=0 s",
    "hardware.latency=0 s",
    "hardware.saturation=0",
    "hardware.serialise_inputs=false",
];

#[test]
fn compiling_twice_gives_identical_bytes() {
    let p = checked(&example("yinyang_bss2"), &[]);
    let text = example("yinyang_bss2");
    let a = snnc::bss2::compile_program(&p, &text).0.unwrap();
    let b = snnc::bss2::compile_program(&p, &text).0.unwrap();
    assert!(a.config.to_text() == b.config.to_text());
    let round = snnc::bss2::config::Config::from_text(&a.config.to_text()).unwrap();
    assert!(
        round.to_text() == a.config.to_text(),
        "the text does not round-trip"
    );
}

#[test]
fn ideal_mock_reproduces_the_software_model_on_the_grid() {
    let src = example("yinyang_bss2");
    let p = checked(&src, &IDEAL);
    let compiled = snnc::bss2::compile_program(&p, &src).0.unwrap();
    let hw = p.hardware.clone().unwrap();
    let mock = Mock::new(&compiled.config, &hw.mock, Backend::Jit).unwrap();
    // The software reference: quantised weights, the same inputs on the grid.
    let models = snnc::driver::lower(&p);
    let kernels: Vec<ModelKernels> = models
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
        .collect();
    let mut net = Network::build(&p, p.training.as_ref().unwrap().seed);
    for s in &mut net.projections {
        for w in &mut s.w {
            *w = snnc::bss2::quantise::quantise(hw.weight_scale, *w) as f64 / hw.weight_scale;
        }
    }
    let trainer = snnc::train::Trainer::new(&p, &kernels, 1).unwrap();
    let (mut spikes, mut exact, mut off_by_one) = (0, 0, 0);
    for s in trainer.test.iter().take(100) {
        let mut inputs = trainer.sample_inputs(s);
        for train in &mut inputs {
            for (t, _) in train.iter_mut() {
                // On the FPGA grid, in model time.
                *t = (*t / hw.speedup * 125e6).round() / 125e6 * hw.speedup;
            }
        }
        let recorded = mock.run(&inputs, 0);
        let engine = EventEngine {
            forced: None,
            program: &p,
            kernels: &kernels,
            network: &net,
            t_max: p.simulation.t_max,
            max_spikes: None,
        };
        let out = engine.run(&inputs, false);
        let mut expected: Vec<Vec<Vec<u64>>> = p
            .populations
            .iter()
            .map(|q| vec![Vec::new(); q.size])
            .collect();
        for sp in &out.spikes {
            if let Node::Pop(q) = sp.node {
                expected[q.index()][sp.idx as usize]
                    .push((sp.t / hw.speedup * 125e6).floor() as u64);
            }
        }
        for (q, pop) in expected.iter().enumerate() {
            for (i, times) in pop.iter().enumerate() {
                let got = &recorded[q][i];
                assert_eq!(
                    got.len(),
                    times.len(),
                    "spike count of neuron {i} of population {q}"
                );
                for (a, b) in got.iter().zip(times) {
                    spikes += 1;
                    match a.abs_diff(*b) {
                        0 => exact += 1,
                        1 => off_by_one += 1,
                        d => panic!("neuron {i} of population {q}: {a} vs {b} cycles ({d} apart)"),
                    }
                }
            }
        }
    }
    assert!(spikes > 2000, "only {spikes} spikes compared");
    // A spike within rounding error of a cycle boundary may land in the neighbouring cycle.
    assert!(
        off_by_one * 1000 <= spikes,
        "{off_by_one} of {spikes} spikes one cycle off"
    );
    assert!(exact + off_by_one == spikes);
    assert!(mock.replayed > 0);
}

/// Hardware in the loop replays observed spikes through the software model; when the observed
/// spikes are the software's own, the replay must give exactly the software's gradients.
#[test]
fn replaying_the_softwares_own_spikes_reproduces_its_gradients() {
    let src = example("yinyang");
    let p = checked(&src, &[]);
    let models = snnc::driver::lower(&p);
    let kernels: Vec<ModelKernels> = models
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
        .collect();
    let net = Network::build(&p, 0);
    let trainer = snnc::train::Trainer::new(&p, &kernels, 1).unwrap();
    let out_pop = p.training.as_ref().unwrap().output.index();
    let mut compared = 0;
    for s in trainer.test.iter().take(20) {
        let inputs = trainer.sample_inputs(s);
        let mut engine = EventEngine {
            forced: None,
            program: &p,
            kernels: &kernels,
            network: &net,
            t_max: p.simulation.t_max,
            max_spikes: None,
        };
        let found = engine.run(&inputs, true);
        let mut forced: Vec<Vec<Vec<f64>>> = p
            .populations
            .iter()
            .map(|q| vec![Vec::new(); q.size])
            .collect();
        for sp in &found.spikes {
            if let Node::Pop(q) = sp.node {
                forced[q.index()][sp.idx as usize].push(sp.t);
            }
        }
        engine.forced = Some(&forced);
        let replayed = engine.run(&inputs, true);
        assert_eq!(found.spikes, replayed.spikes);
        let grads = |o: &snnc::sim::event::Outcome| {
            let firsts = o.first_spikes(out_pop, 3);
            let times: Vec<f64> = firsts.iter().map(|f| f.0).collect();
            let (_, dl) = snnc::train::loss::first_spike_loss(
                &p.training.as_ref().unwrap().loss,
                &times,
                s.label,
                p.simulation.t_max,
            );
            let mut dl_dt = vec![0.0; o.spikes.len()];
            for ((_, id), g) in firsts.iter().zip(&dl) {
                if let Some(id) = id {
                    dl_dt[*id as usize] = *g;
                }
            }
            snnc::train::eventprop::backward(&p, &kernels, &net, o, &dl_dt, p.simulation.t_max)
                .weights
        };
        let (a, b) = (grads(&found), grads(&replayed));
        assert!(a == b, "replayed gradients differ");
        compared += a.iter().flatten().filter(|g| **g != 0.0).count();
    }
    assert!(compared > 1000, "only {compared} non-zero gradient entries");
}
