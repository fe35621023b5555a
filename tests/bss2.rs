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

fn jit_kernels(p: &Program) -> Vec<ModelKernels> {
    snnc::driver::lower(p)
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).unwrap())
        .collect()
}

/// Every neuron's spike times, `[population][neuron]`, mapped by `f`.
fn neuron_spikes<T>(
    p: &Program,
    out: &snnc::sim::event::Outcome,
    f: impl Fn(f64) -> T,
) -> Vec<Vec<Vec<T>>> {
    let mut spikes: Vec<Vec<Vec<T>>> = p
        .populations
        .iter()
        .map(|q| (0..q.size).map(|_| Vec::new()).collect())
        .collect();
    for sp in &out.spikes {
        if let Node::Pop(q) = sp.node {
            spikes[q.index()][sp.idx as usize].push(f(sp.t));
        }
    }
    spikes
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
    let kernels = jit_kernels(&p);
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
        let expected = neuron_spikes(&p, &out, |t| (t / hw.speedup * 125e6).floor() as u64);
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
    let kernels = jit_kernels(&p);
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
        let forced = neuron_spikes(&p, &found, |t| t);
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

fn verify(c: &snnc::bss2::Compiled) -> snnc::bss2::verify::Report {
    let text = c.config.to_text();
    snnc::bss2::verify::verify_text(&text).expect("the compiler writes JSON")
}

const LIF: &str = "neuron LIF {
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    state v = 0.0
    state i = 0.0
    d/dt v = (i - v) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= 1.0
    on spike { v = 0.0 }
    refractory 20 ms
}
";

/// Compiles `body` (populations, projections) with a hardware section.
fn compile_net(body: &str, hardware: &str) -> (Option<snnc::bss2::Compiled>, Vec<String>) {
    let src = format!(
        "{LIF}{body}\nsimulation {{ t_max 20 ms }}\nhardware {{ target bss2 {hardware} }}\n"
    );
    let p = checked(&src, &[]);
    let (c, d) = snnc::bss2::compile_program(&p, &src);
    (
        c,
        d.iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{}: {} ({})", d.code, d.message, d.labels[0].message))
            .collect(),
    )
}

#[test]
fn yin_yang_layouts_compile_and_pass_the_checker() {
    let p = checked(&example("yinyang_bss2"), &[]);
    let c = snnc::bss2::compile_program(&p, &example("yinyang_bss2"))
        .0
        .unwrap();
    let r = verify(&c);
    assert!(r.is_ok(), "{r}");
    // 5 inputs and 120 hidden neurons: every connection realised.
    assert_eq!(r.replayed_connections, r.stats.requested_connections);
    // jaxsnn's layout: the 5 inputs repeated 5 times, 100 hidden neurons.
    let (c, errs) = compile_net(
        "input data = poisson(size = 25, rate = 50 Hz, seed = 1)
         population hidden = 100 LIF
         population out = 3 LIF
         project data -> hidden dense init normal(0.3, 0.5)
         project hidden -> out dense init normal(0.1, 0.5)",
        "weight_scale 58",
    );
    let c = c.unwrap_or_else(|| panic!("{errs:?}"));
    let r = verify(&c);
    assert!(r.is_ok(), "{r}");
}

#[test]
fn reference_fixtures() {
    // A weight of 130 becomes three synapses, 63 + 63 + 4.
    let (c, errs) = compile_net(
        "input a = poisson(size = 1, rate = 50 Hz, seed = 1)
         population p = 1 LIF
         project a -> p dense init constant(130.0)",
        "weight_scale 1  weight_clip 200",
    );
    let c = c.unwrap_or_else(|| panic!("{errs:?}"));
    let syns: Vec<u32> = c.config.projections[0].connections[0]
        .synapses
        .iter()
        .map(|s| s.weight)
        .collect();
    assert_eq!(syns, vec![63, 63, 4]);
    assert!(verify(&c).is_ok(), "{}", verify(&c));
    // 65 external sources with dense fan-in need a second label group (two row-select
    // addresses).
    let (c, errs) = compile_net(
        "input a = poisson(size = 65, rate = 50 Hz, seed = 1)
         population p = 4 LIF
         project a -> p dense init constant(0.5)",
        "",
    );
    let c = c.unwrap_or_else(|| panic!("{errs:?}"));
    let mut addresses: Vec<u32> = c.config.populations[0]
        .neurons
        .iter()
        .flat_map(|n| {
            n.labels
                .iter()
                .flatten()
                .map(|l| l.row_select * 8 + l.padi_bus)
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 2, "{addresses:?}");
    assert!(verify(&c).is_ok(), "{}", verify(&c));
    // Fan-in of 300 onto single-circuit neurons does not fit one circuit: logical neurons of
    // two circuits.
    let (c, errs) = compile_net(
        "input a = poisson(size = 300, rate = 50 Hz, seed = 1)
         population p = 5 LIF
         project a -> p dense init constant(0.5)",
        "",
    );
    let c = c.unwrap_or_else(|| panic!("{errs:?}"));
    assert_eq!(
        c.config.populations[1].shape.as_ref().unwrap().compartments[0]
            .cells
            .len(),
        2
    );
    assert!(verify(&c).is_ok(), "{}", verify(&c));
    // A 784 -> 256 layer does not fit: E0503 with the arithmetic.
    let (c, errs) = compile_net(
        "input a = poisson(size = 784, rate = 50 Hz, seed = 1)
         population p = 256 LIF
         project a -> p dense init constant(0.5)",
        "",
    );
    assert!(c.is_none());
    assert!(
        errs[0].starts_with("E0503") && errs[0].contains("4 circuits"),
        "{errs:?}"
    );
}

/// Every configuration the compiler emits for a random network passes the independent checker,
/// and every network it rejects violates a stated limit of the chip.
#[test]
fn random_networks_compile_to_valid_configurations_or_violate_a_limit() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut rejected) = (0, 0);
    for case in 0..60 {
        let n_in = 1 + (rng.uniform() * 300.0) as usize;
        let layers = 1 + (rng.uniform() * 3.0) as usize;
        let mut body = format!("input a = poisson(size = {n_in}, rate = 50 Hz, seed = 1)\n");
        let mut prev = "a".to_string();
        let mut circuits_lower_bound = 0usize;
        for l in 0..layers {
            let size = 1 + (rng.uniform() * 200.0) as usize;
            body += &format!("population p{l} = {size} LIF\n");
            let mean = rng.range(-0.5, 0.8);
            let std = rng.range(0.0, 0.6);
            let conn = if rng.uniform() < 0.5 {
                "dense".to_string()
            } else {
                format!("sparse(p = {:.2})", rng.range(0.05, 1.0))
            };
            body += &format!("project {prev} -> p{l} {conn} init normal({mean:.3}, {std:.3})\n");
            if rng.uniform() < 0.3 {
                body += &format!("project p{l} -> p{l} sparse(p = 0.1) init normal(0.0, 0.3)\n");
            }
            circuits_lower_bound += size;
            prev = format!("p{l}");
        }
        let pins = match case % 3 {
            0 => "",
            1 => "top [p0]",
            _ => "bottom [p0]",
        };
        let (c, errs) = compile_net(&body, pins);
        match c {
            Some(c) => {
                let r = verify(&c);
                assert!(r.is_ok(), "case {case}:\n{body}\n{r}");
                assert_eq!(r.replayed_connections, r.stats.requested_connections);
                ok += 1;
            }
            None => {
                rejected += 1;
                let e = &errs[0];
                let placement = e.starts_with("E0503")
                    && (circuits_lower_bound > 256 || e.contains("circuits each"));
                let routing = e.starts_with("E0504")
                    && (e.contains("rows, a bus has 64")
                        || e.contains("no PADI bus has that many free")
                        || e.contains("cannot be shared"));
                assert!(
                    placement || routing,
                    "case {case}: unexpected rejection {errs:?}\n{body}"
                );
            }
        }
    }
    assert!(
        ok >= 20 && rejected >= 5,
        "{ok} compiled, {rejected} rejected"
    );
}

/// The CLI: `compile` writes a configuration that `verify-config` accepts (exit 0), and a
/// program the chip cannot run gives a diagnostic and exit code 1.
#[test]
fn cli_compile_and_verify() {
    let exe = env!("CARGO_BIN_EXE_snnc");
    let dir = common::TempDir::new("bss2-cli", true);
    let out = dir.join("config.json");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/yinyang_bss2.snn");
    let run = |args: &[&str]| std::process::Command::new(exe).args(args).output().unwrap();
    let r = run(&[
        "compile",
        "--target",
        "bss2",
        example,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("neuron circuits     123 of 512"));
    let r = run(&["verify-config", out.to_str().unwrap()]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    let bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/ui/bss2/too_many_neurons.snn"
    );
    let r = run(&[
        "compile",
        "--target",
        "bss2",
        bad,
        "-o",
        dir.join("x.json").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("E0503"));
    assert!(!dir.join("x.json").exists());
    // A simulation-only program runs on the mock and writes its spikes.
    let prog = dir.join("sim.snn");
    std::fs::write(
        &prog,
        format!(
            "{LIF}input drive = poisson(size = 20, rate = 200 Hz, seed = 3)\npopulation p = 10 LIF\nproject drive -> p dense init constant(0.6)\nsimulation {{ t_max 20 ms }}\nhardware {{ target bss2 }}\n"
        ),
    )
    .unwrap();
    let res = dir.join("res");
    let r = run(&[
        "run",
        "--backend",
        "bss2-mock",
        prog.to_str().unwrap(),
        "--out",
        res.to_str().unwrap(),
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let csv = std::fs::read_to_string(res.join("spikes.csv")).unwrap();
    assert!(
        csv.lines().filter(|l| l.starts_with("p,")).count() > 5,
        "{csv}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
