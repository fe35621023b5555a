//! The BrainScaleS-2 target: lowering a checked program to a chip configuration.
//!
//! `compile` runs the passes in order, each in its own module: recognise the neuron model and
//! map its parameters to calibration targets (`model`, here), quantise the weights
//! (`quantise`), place neurons on circuits (`place`), route events to synapses (`route`), and
//! write the configuration (`config`). Errors are data (`error`), rendered as diagnostics on the
//! user's source. The independent checker lives in `verify` and shares no code with these
//! passes; the software model of the chip in `mock`.

pub mod chip;
pub mod config;
pub mod error;
pub mod mock;
pub mod model;
pub mod place;
pub mod quantise;
pub mod report;
pub mod route;
pub mod verify;

use crate::ir::derive::ModelIr;
use crate::sema::hir::{Hardware, Node, Program};
use crate::sim::network::Network;
use chip::*;
use config::*;
use error::{Bss2Error, Bss2Warning};
use model::{HwModel, Input};
use std::collections::BTreeMap;

/// The result of a successful compile.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub config: Config,
    pub warnings: Vec<Bss2Warning>,
    /// The recognised model of every population, at its parameters.
    pub models: Vec<HwModel>,
}

/// Where the weights come from and what to record in the provenance.
pub struct Options<'a> {
    pub seed: u64,
    pub program_hash: &'a str,
    pub batch_size: u64,
}

/// Lowers `p` with the weights of `net` to a configuration.
pub fn compile(
    p: &Program,
    models: &[ModelIr],
    net: &Network,
    opts: &Options<'_>,
) -> Result<Compiled, Vec<Bss2Error>> {
    let hw = p.hardware.clone().unwrap_or_else(|| default_hardware(p));
    let mut warnings = Vec::new();
    let (hw_models, targets, mappings) = calibrate(p, models, net, &hw, &mut warnings)?;
    let (projections, stats) = quantise::run(p, net, &hw_models, hw.weight_scale, hw.weight_clip);
    for (k, st) in stats.iter().enumerate() {
        if st.clipped > 0 {
            warnings.push(Bss2Warning::Clipped {
                projection: net_name(p, k),
                clipped: st.clipped,
                total: st.total,
                largest: st.largest,
                span: p.projections[k].span,
            });
        }
    }
    let mut fan_in = vec![0usize; p.populations.len()];
    {
        let mut per_neuron: Vec<Vec<usize>> =
            p.populations.iter().map(|q| vec![0; q.size]).collect();
        for proj in &projections {
            for c in &proj.connections {
                per_neuron[proj.post][c.post] += route::split(c.weight).len();
            }
        }
        for (q, v) in per_neuron.iter().enumerate() {
            fan_in[q] = v.iter().copied().max().unwrap_or(0);
        }
    }
    let requests: Vec<place::Request> = p
        .populations
        .iter()
        .enumerate()
        .map(|(q, pop)| {
            let id = crate::sema::hir::PopId(q as u32);
            let rows = if hw.top.contains(&id) {
                vec![0]
            } else if hw.bottom.contains(&id) {
                vec![1]
            } else {
                vec![0, 1]
            };
            place::Request {
                size: pop.size,
                fan_in: fan_in[q],
                rows,
            }
        })
        .collect();
    let placed = place::run(&requests).map_err(|e| {
        vec![Bss2Error::Placement {
            population: p.populations[e.population].name.clone(),
            reason: e.reason,
            help: e.help,
            span: p.populations[e.population].span,
        }]
    })?;
    let recorded: Vec<bool> = (0..p.populations.len())
        .map(|q| {
            p.record
                .spikes
                .contains(&Node::Pop(crate::sema::hir::PopId(q as u32)))
                || p.training.as_ref().is_some_and(|t| t.output.index() == q)
        })
        .collect();
    let routed = route::run(&projections, &placed, &recorded).map_err(|e| {
        let proj = &projections[e.projection];
        vec![Bss2Error::Routing {
            projection: proj.name.clone(),
            reason: e.reason,
            help: e.help,
            span: p.projections[proj.source].span,
        }]
    })?;
    let config = assemble(
        p,
        &hw,
        opts,
        &projections,
        &stats,
        &placed,
        &routed,
        &recorded,
        targets,
        mappings,
    );
    if cfg!(debug_assertions) {
        let value = serde_json::to_value(&config).expect("configurations serialise");
        let report = verify::verify(&value);
        assert!(
            report.is_ok(),
            "the compiler emitted a configuration the checker rejects:\n{report}"
        );
    }
    Ok(Compiled {
        config,
        warnings,
        models: hw_models,
    })
}

fn net_name(p: &Program, k: usize) -> String {
    crate::sim::network::projection_name(p, k)
        .trim_start_matches("weights:")
        .to_string()
}

/// The defaults of the hardware section, for programs without one.
pub fn default_hardware(p: &Program) -> Hardware {
    Hardware {
        target: "bss2".into(),
        weight_scale: 58.0,
        weight_clip: 63,
        speedup: 1000.0,
        leak_lsb: 80.0,
        threshold_lsb: 150.0,
        synapse_dac_bias: 1000,
        top: Vec::new(),
        bottom: Vec::new(),
        mock: crate::sema::hir::MockSettings {
            fixed_pattern: 1.0,
            chip_seed: 0,
            jitter: 16e-9,
            latency: 80e-9,
            saturation: 1000.0,
            serialise_inputs: true,
        },
        span: p.simulation.span,
    }
}

type Calibrated = (
    Vec<HwModel>,
    BTreeMap<String, CalibTarget>,
    BTreeMap<String, Mapping>,
);

/// Recognises every population's model and maps its parameters to calibration targets.
fn calibrate(
    p: &Program,
    models: &[ModelIr],
    net: &Network,
    hw: &Hardware,
    warnings: &mut Vec<Bss2Warning>,
) -> Result<Calibrated, Vec<Bss2Error>> {
    let mut errs = Vec::new();
    let mut out = Vec::new();
    let mut targets = BTreeMap::new();
    let mut mappings = BTreeMap::new();
    for (q, pop) in p.populations.iter().enumerate() {
        let neuron = &p.neurons[pop.model.index()];
        let m = match model::recognise(&models[pop.model.index()], &pop.params) {
            Ok(m) => m,
            Err(reason) => {
                errs.push(Bss2Error::Model {
                    model: neuron.name.clone(),
                    reason,
                    span: neuron.name_span,
                });
                continue;
            }
        };
        if m.v_threshold <= m.v_leak {
            errs.push(Bss2Error::Model {
                model: neuron.name.clone(),
                reason: "its threshold is not above its leak potential (leak-over-threshold neurons are not supported)".into(),
                span: neuron.name_span,
            });
            continue;
        }
        let lsb = (hw.threshold_lsb - hw.leak_lsb) / (m.v_threshold - m.v_leak);
        let reset = hw.leak_lsb + (m.v_reset - m.v_leak) * lsb;
        // Which receptor drives which input, from the weights' signs. A conflict is reported
        // once per population and input, with the projection's weight that caused it.
        let mut tau: [Option<(f64, String, &str)>; 2] = [None, None];
        let mut gain: [Option<f64>; 2] = [None, None];
        let mut conflict: [Option<String>; 2] = [None, None];
        for syn in net.projections.iter().filter(|s| s.post == q) {
            let r = &m.receptors[syn.receptor];
            let rname = &neuron.receptors[syn.receptor].name;
            for i in 0..syn.n_pre {
                for &w in syn.row(i) {
                    let (input, _) = m.route(syn.receptor, w);
                    let k = input.index();
                    if conflict[k].is_some() {
                        continue;
                    }
                    let sign = if w < 0.0 { "negative" } else { "positive" };
                    match &tau[k] {
                        Some((t, other, other_sign)) if (t - r.tau).abs() > 1e-9 * t.abs() => {
                            conflict[k] = Some(format!(
                                "`{other}` ({other_sign} weights) and `{rname}` ({sign} weights) both drive the chip's {} input, but their currents decay with different time constants",
                                input.name()
                            ));
                        }
                        Some(_) => {}
                        None => tau[k] = Some((r.tau, rname.clone(), sign)),
                    }
                    match gain[k] {
                        Some(g) if (g - r.gain.abs()).abs() > 1e-9 * g => {
                            conflict[k] = Some(format!(
                                "two receptors drive the chip's {} input with different strengths per unit weight",
                                input.name()
                            ));
                        }
                        Some(_) => {}
                        None => gain[k] = Some(r.gain.abs()),
                    }
                }
            }
        }
        for reason in conflict.into_iter().flatten() {
            errs.push(Bss2Error::Model {
                model: neuron.name.clone(),
                reason,
                span: neuron.name_span,
            });
        }
        let any_tau = tau
            .iter()
            .flatten()
            .map(|t| t.0)
            .next()
            .or(m.receptors.first().map(|r| r.tau))
            .unwrap_or(m.tau_mem);
        let any_gain = gain
            .iter()
            .flatten()
            .copied()
            .next()
            .or(m.receptors.first().map(|r| r.gain.abs()))
            .unwrap_or(1.0);
        let tau_syn = [0, 1].map(|k| tau[k].as_ref().map_or(any_tau, |t| t.0) / hw.speedup);
        let input_gain = [0, 1].map(|k| gain[k].unwrap_or(any_gain));
        let w_lsb = [0, 1].map(|k| input_gain[k] * lsb / hw.weight_scale);
        let tau_mem = m.tau_mem / hw.speedup;
        let mut refractory = m.refractory / hw.speedup;
        let mut range = |what: &str, value: f64, (lo, hi): (f64, f64), unit: &str, help: &str| {
            if !(lo..=hi).contains(&value) {
                let show = |v: f64| {
                    if unit == "us" {
                        format!("{:.3} µs", v * 1e6)
                    } else {
                        format!("{v:.1} LSB")
                    }
                };
                errs.push(Bss2Error::Range {
                    population: pop.name.clone(),
                    what: what.into(),
                    value: show(value),
                    allowed: format!("{}..{}", show(lo), show(hi)),
                    help: help.into(),
                    span: pop.span,
                    hardware: hw.span,
                });
            }
        };
        let speed = format!(
            "hardware time is model time / {} (`speedup`); choose model time constants in {:.1}..{:.1} ms at this speed-up",
            hw.speedup,
            TAU_MEM.0 * hw.speedup * 1e3,
            TAU_MEM.1 * hw.speedup * 1e3
        );
        range("the membrane time constant", tau_mem, TAU_MEM, "us", &speed);
        for (k, name) in ["excitatory", "inhibitory"].iter().enumerate() {
            range(
                &format!("the {name} synaptic time constant"),
                tau_syn[k],
                TAU_SYN,
                "us",
                &format!(
                    "synaptic time constants must lie in {:.1}..{:.1} ms of model time at this speed-up",
                    TAU_SYN.0 * hw.speedup * 1e3,
                    TAU_SYN.1 * hw.speedup * 1e3
                ),
            );
        }
        range(
            "the reset potential",
            reset,
            CADC_READ,
            "lsb",
            "the chip resets within its readable voltage range; to make each neuron spike at most once, reset to the leak potential and use a refractory period of at least `t_max` (as jaxsnn's BSS-2 example does)",
        );
        if refractory < REFRACTORY.0 {
            warnings.push(Bss2Warning::Feasible {
                population: pop.name.clone(),
                what: "the refractory period".into(),
                value: format!("{:.3} µs", refractory * 1e6),
                feasible: "40 ns..32 µs; it is raised to 40 ns".into(),
                span: pop.span,
            });
            refractory = REFRACTORY.0;
        }
        range(
            "the refractory period",
            refractory,
            REFRACTORY,
            "us",
            "the refractory counter reaches at most 32 µs of hardware time",
        );
        for (what, v, feasible) in [
            ("the leak potential", hw.leak_lsb, LEAK_FEASIBLE),
            ("the reset potential", reset, LEAK_FEASIBLE),
            ("the threshold", hw.threshold_lsb, THRESHOLD_FEASIBLE),
        ] {
            if (CADC_READ.0..=CADC_READ.1).contains(&v) && !(feasible.0..=feasible.1).contains(&v) {
                warnings.push(Bss2Warning::Feasible {
                    population: pop.name.clone(),
                    what: what.into(),
                    value: format!("{v:.1} LSB"),
                    feasible: format!("{}..{} LSB", feasible.0, feasible.1),
                    span: pop.span,
                });
            }
        }
        targets.insert(
            pop.name.clone(),
            CalibTarget {
                leak: hw.leak_lsb.round() as i64,
                reset: reset.round() as i64,
                threshold: hw.threshold_lsb.round() as i64,
                tau_mem_s: tau_mem,
                tau_syn_s: tau_syn,
                refractory_s: refractory,
                holdoff_s: 0.0,
                membrane_capacitance: 63,
                i_synin_gm: 500,
            },
        );
        mappings.insert(
            pop.name.clone(),
            Mapping {
                model: neuron.name.clone(),
                v_leak: m.v_leak,
                v_threshold: m.v_threshold,
                v_reset: m.v_reset,
                lsb_per_model_unit: lsb,
                input_gain,
                weight_lsb_per_hw_weight: w_lsb,
                leak_over_threshold: false,
            },
        );
        out.push(m);
    }
    if errs.is_empty() {
        Ok((out, targets, mappings))
    } else {
        Err(errs)
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    p: &Program,
    hw: &Hardware,
    opts: &Options<'_>,
    projections: &[quantise::HwProjection],
    stats: &[quantise::ClipStats],
    placed: &[place::Placed],
    routed: &route::Routed,
    recorded: &[bool],
    targets: BTreeMap<String, CalibTarget>,
    mapping: BTreeMap<String, Mapping>,
) -> Config {
    let mut populations = Vec::new();
    for (i, input) in p.inputs.iter().enumerate() {
        let record = p
            .record
            .spikes
            .contains(&Node::Input(crate::sema::hir::InputId(i as u32)));
        let neurons = (0..input.size)
            .map(|idx| Neuron {
                index: idx,
                record_spikes: record,
                labels: Some(
                    routed
                        .external
                        .get(&(i, idx))
                        .map(|ls| {
                            ls.iter()
                                .map(|l| {
                                    let neuron_label = ((l.hemisphere as u32) << 13)
                                        | (l.row_select << 6)
                                        | l.label;
                                    Label {
                                        hemisphere: hemisphere_name(l.hemisphere).into(),
                                        padi_bus: l.bus as u32,
                                        spl1: l.bus as u32,
                                        neuron_label,
                                        row_select: l.row_select,
                                        synapse_label: l.label,
                                        spike_label: ((l.bus as u32) << 14) | neuron_label,
                                    }
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                anchor: None,
                compartments: None,
                event_output: None,
                address_out: None,
                calib: None,
            })
            .collect();
        populations.push(Population {
            id: input.name.clone(),
            kind: "external".into(),
            size: input.size,
            shape: None,
            neurons,
        });
    }
    for (q, pop) in p.populations.iter().enumerate() {
        let pl = &placed[q];
        let neurons = (0..pop.size)
            .map(|idx| {
                let (e, ao) = routed.internal[&(q, idx)];
                let (r, c) = pl.anchors[idx];
                Neuron {
                    index: idx,
                    record_spikes: recorded[q],
                    labels: None,
                    anchor: Some(AtomicNeuron {
                        row: r as u32,
                        column: c as u32,
                    }),
                    compartments: Some(vec![Compartment {
                        id: 0,
                        atomic_neurons: pl
                            .circuits(idx)
                            .map(|(r, c)| AtomicNeuron {
                                row: r as u32,
                                column: c as u32,
                            })
                            .collect(),
                        spike_master: 0,
                        receptors: vec![vec!["excitatory".into(), "inhibitory".into()]; pl.k],
                    }]),
                    event_output: Some(e),
                    address_out: Some(ao),
                    calib: Some(pop.name.clone()),
                }
            })
            .collect();
        populations.push(Population {
            id: pop.name.clone(),
            kind: "lif".into(),
            size: pop.size,
            shape: Some(Shape {
                compartments: vec![ShapeCompartment {
                    id: 0,
                    cells: (0..pl.k as u32).map(|dx| [dx, 0]).collect(),
                }],
            }),
            neurons,
        });
    }
    let mut projs: Vec<config::Projection> = projections
        .iter()
        .enumerate()
        .map(|(k, proj)| config::Projection {
            id: format!("{}/{}", proj.name, proj.input.name()),
            source: proj.name.clone(),
            pre: p.node_name(proj.pre).into(),
            post: p.populations[proj.post].name.clone(),
            receptor: proj.input.name().into(),
            sw_weight_scale: hw.weight_scale,
            weight_clip: hw.weight_clip,
            connections: proj
                .connections
                .iter()
                .enumerate()
                .map(|(ci, c)| Connection {
                    pre: [c.pre, 0],
                    post: [c.post, 0],
                    sw_weight: c.sw,
                    weight: c.weight,
                    synapses: routed.synapses[k][ci]
                        .iter()
                        .map(|s| Synapse {
                            hemisphere: hemisphere_name(s.hemisphere).into(),
                            row: s.row as u32,
                            column: s.column as u32,
                            weight: s.weight,
                            label: s.label,
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    projs.sort_by(|a, b| a.id.cmp(&b.id));
    let drivers: Vec<Driver> = routed
        .drivers
        .iter()
        .map(|d| Driver {
            hemisphere: hemisphere_name(d.hemisphere).into(),
            driver: d.driver as u32,
            padi_bus: (d.driver % BUSES) as u32,
            index_on_bus: (d.driver / BUSES) as u32,
            row_address_compare_mask: d.mask,
            row_modes: RowModes {
                row_2d: d.modes[0].name().into(),
                row_2d_plus_1: d.modes[1].name().into(),
            },
            enable_receiver: true,
        })
        .collect();
    let rows: Vec<Row> = routed
        .drivers
        .iter()
        .flat_map(|d| {
            (0..2).map(move |k| Row {
                hemisphere: hemisphere_name(d.hemisphere).into(),
                row: (2 * d.driver + k) as u32,
                driver: d.driver as u32,
                mode: d.modes[k].name().into(),
            })
        })
        .collect();
    let crossbar = routed
        .crossbar
        .iter()
        .map(|c| config::CrossbarNode {
            input: c.input,
            output: c.output,
            mask: c.mask,
            target: c.target,
        })
        .collect();
    // Resources.
    let mut degree = [[0u32; COLUMNS]; HEMISPHERES];
    let mut degree_bus: BTreeMap<(usize, usize, usize), u32> = BTreeMap::new();
    let mut synapses_used = 0;
    for conns in &routed.synapses {
        for syns in conns {
            for s in syns {
                synapses_used += 1;
                degree[s.hemisphere][s.column] += 1;
                *degree_bus
                    .entry((s.hemisphere, s.column, (s.row / 2) % BUSES))
                    .or_default() += 1;
            }
        }
    }
    let mut rows_per_bus = [[0u32; 4]; 2];
    let mut drivers_used = [0u32; 2];
    for d in &routed.drivers {
        rows_per_bus[d.hemisphere][d.driver % BUSES] += 2;
        drivers_used[d.hemisphere] += 1;
    }
    let resources = Resources {
        atomic_neurons_used: placed
            .iter()
            .map(|pl| (pl.k * pl.anchors.len()) as u32)
            .sum(),
        synapses_used,
        rows_used: PerHemisphere {
            top: 2 * drivers_used[0],
            bottom: 2 * drivers_used[1],
        },
        drivers_used: PerHemisphere {
            top: drivers_used[0],
            bottom: drivers_used[1],
        },
        rows_per_padi_bus: rows_per_bus,
        max_in_degree: degree.iter().flatten().copied().max().unwrap_or(0),
        max_in_degree_per_bus: degree_bus.values().copied().max().unwrap_or(0),
        clipped_weights: stats.iter().map(|s| s.clipped as u32).sum(),
        zero_weights: stats.iter().map(|s| s.zero as u32).sum(),
    };
    let mut spikes: Vec<String> = p
        .populations
        .iter()
        .enumerate()
        .filter(|(q, _)| recorded[*q])
        .map(|(_, pop)| pop.name.clone())
        .collect();
    spikes.sort();
    Config {
        schema: SCHEMA.into(),
        target: config::Target {
            chip: "HICANN-X".into(),
            revision: 3,
            speedup: hw.speedup,
            fpga_clock_hz: FPGA_HZ as u64,
            limits: Limits {
                atomic_neurons: (COLUMNS * HEMISPHERES) as u32,
                columns: COLUMNS as u32,
                rows_per_synram: ROWS as u32,
                drivers_per_hemisphere: DRIVERS as u32,
                padi_buses_per_hemisphere: BUSES as u32,
                weight_max: WEIGHT_MAX,
                label_max: (LABELS - 1) as u32,
                row_select_max: 31,
            },
        },
        time: config::Time {
            runtime_cycles: cycles(p.simulation.t_max / hw.speedup),
            inter_batch_entry_wait_cycles: 0,
            batch_size: opts.batch_size,
            bio_ms_per_hw_us: hw.speedup / 1000.0,
        },
        populations,
        projections: projs,
        synapse_drivers: drivers,
        rows,
        crossbar,
        background_sources: Vec::new(),
        recording: Recording {
            spikes,
            cadc: Vec::new(),
            madc: None,
        },
        calibration: Calibration {
            tool: "calix-compatible".into(),
            cadc: Cadc {
                dynamic_range: [70, 550],
                read_range: [20, 220],
            },
            global: Global {
                synapse_dac_bias: hw.synapse_dac_bias,
            },
            targets,
            mapping,
        },
        resources,
        provenance: Provenance {
            snnc_version: env!("CARGO_PKG_VERSION").into(),
            router: "snnc-greedy-v1".into(),
            seed: opts.seed,
            program_hash: opts.program_hash.into(),
        },
    }
}

/// The input a hardware projection's receptor string names.
pub fn input_of(receptor: &str) -> Option<Input> {
    match receptor {
        "excitatory" => Some(Input::Excitatory),
        "inhibitory" => Some(Input::Inhibitory),
        _ => None,
    }
}

/// Compiles a checked program with the weights it initialises (the training seed, else 0):
/// the configuration, or the diagnostics that say why not (warnings come with either).
pub fn compile_program(
    p: &Program,
    source_text: &str,
) -> (Option<Compiled>, Vec<crate::diag::Diagnostic>) {
    let models = crate::driver::lower(p);
    let seed = p.training.as_ref().map_or(0, |t| t.seed);
    let net = Network::build(p, seed);
    let opts = Options {
        seed,
        program_hash: &crate::results::hash_text(source_text),
        batch_size: p.training.as_ref().map_or(1, |t| t.batch as u64),
    };
    match compile(p, &models, &net, &opts) {
        Ok(c) => {
            let diags = c.warnings.iter().map(Bss2Warning::to_diagnostic).collect();
            (Some(c), diags)
        }
        Err(errs) => (None, errs.iter().map(Bss2Error::to_diagnostic).collect()),
    }
}
