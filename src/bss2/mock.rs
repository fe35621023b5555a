//! A software model of the BrainScaleS-2 chip that executes a configuration.
//!
//! The mock reads the **configuration**, not the source program: it finds every connection by
//! replaying the routing hardware (crossbar nodes and their label filters, PADI buses, synapse
//! drivers with their row-select masks and row modes, synapse labels), so a routing bug shows up
//! as a wrong simulation. The neurons are the chip's LIF neurons in hardware time and CADC LSB,
//! written in snnc's own language (`HX_NEURON`) and simulated exactly by the event engine, with
//! per-neuron calibrated parameters.
//!
//! Imperfections, each with a documented default and a setting in the `hardware` section
//! (`MockSettings`); all of them off gives the ideal model's spike times on the 8 ns grid:
//! * fixed-pattern noise drawn once per `chip_seed` from the circuit and synapse coordinates
//!   (so it does not change when weights change): leak, reset and threshold σ = 1.5 LSB, τ_mem
//!   and τ_syn σ = 4 %, synaptic gain σ = 5 % per neuron and 7 % per synapse, all times
//!   `fixed_pattern` [assumed magnitudes, see lang/bss2.md];
//! * saturation of the synaptic input at `saturation` LSB;
//! * input spike times on the 8 ns FPGA grid, serialised at least one cycle apart in playback
//!   order when `serialise_inputs`;
//! * recorded spike times on the grid (the cycle in which the spike happened), plus a constant
//!   readout `latency` and Gaussian trial-to-trial `jitter` (seeded per trial).
//!
//! Not modelled: membrane noise, CADC/MADC readout, event-rate limits, the clamping of the
//! membrane during the refractory period (the threshold is simply not tested then).

use super::chip::{FPGA_HZ, hemisphere_name};
use super::config::Config;
use super::input_of;
use crate::sema::hir::{MockSettings, Node, Program};
use crate::sim::event::{EventEngine, InputSpikes};
use crate::sim::kernels::{Backend, ModelKernels};
use crate::sim::network::Network;
use crate::sim::rng::Rng;
use std::collections::BTreeMap;

/// The chip's neuron in hardware units: seconds of hardware time and CADC LSB.
const HX_NEURON: &str = "neuron HX {
    param tau_mem = 10 us
    param tau_exc = 10 us
    param tau_inh = 10 us
    param leak = 80.0
    param threshold = 150.0
    param reset = 80.0
    param i_sat = 400.0
    param t_ref = 2 us
    state v = leak
    state ie = 0.0
    state ii = 0.0
    d/dt v = (leak - v + ie - ii) / tau_mem
    d/dt ie = -ie / tau_exc
    d/dt ii = -ii / tau_inh
    receptor exc(w) { ie = SATURATE_EXC }
    receptor inh(w) { ii = SATURATE_INH }
    spike when v >= threshold
    on spike { v = reset }
    refractory t_ref
}
";

/// Parameter order of `HX_NEURON`.
const P_TAU_MEM: usize = 0;
const P_TAU_EXC: usize = 1;
const P_TAU_INH: usize = 2;
const P_LEAK: usize = 3;
const P_THRESHOLD: usize = 4;
const P_RESET: usize = 5;
const P_SAT: usize = 6;
const P_REF: usize = 7;

/// Fixed-pattern noise at `fixed_pattern = 1` [assumed].
const FPN_POTENTIAL_LSB: f64 = 1.5;
const FPN_TAU: f64 = 0.04;
const FPN_GAIN_NEURON: f64 = 0.05;
const FPN_GAIN_SYNAPSE: f64 = 0.07;

/// Why a configuration cannot run.
#[derive(Clone, Debug, PartialEq)]
pub struct MockError(pub String);

impl std::fmt::Display for MockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BSS-2 mock: {}", self.0)
    }
}

/// The chip's neuron program and its compiled kernels, which depend only on the population
/// sizes (so a re-configuration with new weights reuses them).
struct ChipModel {
    source: String,
    program: Program,
    kernels: Vec<ModelKernels>,
}

/// A configured chip, ready to run samples.
#[derive(Clone)]
pub struct Mock {
    chip: std::sync::Arc<ChipModel>,
    net: Network,
    settings: MockSettings,
    speedup: f64,
    runtime: f64,
    /// How many synapses the route replay reached (each adds to one effective weight).
    pub replayed: usize,
}

/// An event on a PADI bus: (hemisphere, bus, row-select address, synapse label).
type BusEvent = (usize, u32, u32, u32);

/// Spikes a run recorded: per population, per neuron, times in FPGA cycles.
pub type Recorded = Vec<Vec<Vec<u64>>>;

impl Mock {
    /// Builds the chip from `config`.
    pub fn new(
        config: &Config,
        settings: &MockSettings,
        backend: Backend,
    ) -> Result<Mock, MockError> {
        Self::build(config, settings, backend, None)
    }

    /// The same chip with another configuration (new weights); the neuron kernels are reused
    /// when the populations are the same.
    pub fn reconfigure(&self, config: &Config, backend: Backend) -> Result<Mock, MockError> {
        Self::build(config, &self.settings, backend, Some(&self.chip))
    }

    fn build(
        config: &Config,
        settings: &MockSettings,
        backend: Backend,
        previous: Option<&std::sync::Arc<ChipModel>>,
    ) -> Result<Mock, MockError> {
        let pops: Vec<&super::config::Population> = config
            .populations
            .iter()
            .filter(|p| p.kind == "lif")
            .collect();
        let exts: Vec<&super::config::Population> = config
            .populations
            .iter()
            .filter(|p| p.kind == "external")
            .collect();
        let sat = |r: &str| {
            if settings.saturation > 0.0 {
                format!("min({r} + w, i_sat)")
            } else {
                format!("{r} + w")
            }
        };
        let mut src = HX_NEURON
            .replace("SATURATE_EXC", &sat("ie"))
            .replace("SATURATE_INH", &sat("ii"));
        for e in &exts {
            src += &format!("input {} = regular(size = {}, rate = 1 Hz)\n", e.id, e.size);
        }
        for p in &pops {
            src += &format!("population {} = {} HX\n", p.id, p.size);
        }
        let mut proj_index = BTreeMap::new();
        for post in &pops {
            for pre in exts.iter().chain(&pops) {
                for input in ["exc", "inh"] {
                    proj_index.insert((pre.id.clone(), post.id.clone(), input), proj_index.len());
                    let autapses = if pre.id == post.id {
                        " autapses true"
                    } else {
                        ""
                    };
                    src += &format!(
                        "project {} -> {} dense receptor {input} init constant(0.0){autapses}\n",
                        pre.id, post.id
                    );
                }
            }
        }
        let runtime = config.time.runtime_cycles as f64 / FPGA_HZ;
        src += &format!("simulation {{ mode event  t_max {runtime:e} s }}\n");
        let chip = match previous {
            Some(c) if c.source == src => c.clone(),
            _ => {
                let checked = crate::driver::check_source("<bss2 mock>", &src);
                let program = checked.program.ok_or_else(|| {
                    MockError(format!(
                        "the chip model did not check: {:?}",
                        checked.diagnostics.first().map(|d| &d.message)
                    ))
                })?;
                let models = crate::driver::lower(&program);
                let kernels = models
                    .iter()
                    .map(|m| ModelKernels::new(m, backend))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| MockError(e.to_string()))?;
                std::sync::Arc::new(ChipModel {
                    source: src,
                    program,
                    kernels,
                })
            }
        };
        let mut net = Network::build(&chip.program, 0);
        let fp = settings.fixed_pattern;
        // Where every circuit is, and its neuron's parameters with fixed-pattern noise.
        let mut at: BTreeMap<(u32, u32), (usize, usize)> = BTreeMap::new();
        let mut gain_neuron = Vec::new();
        for (q, pop) in pops.iter().enumerate() {
            let mut gains = Vec::new();
            for n in &pop.neurons {
                let comps = n.compartments.as_ref().ok_or_else(|| {
                    MockError(format!(
                        "neuron {} of `{}` has no compartments",
                        n.index, pop.id
                    ))
                })?;
                for a in comps.iter().flat_map(|c| &c.atomic_neurons) {
                    if at.insert((a.row, a.column), (q, n.index)).is_some() {
                        return Err(MockError(format!(
                            "circuit ({}, {}) is used twice",
                            a.row, a.column
                        )));
                    }
                }
                let key = n.calib.as_deref().unwrap_or(&pop.id);
                let t = config
                    .calibration
                    .targets
                    .get(key)
                    .ok_or_else(|| MockError(format!("no calibration target `{key}`")))?;
                let anchor = n
                    .anchor
                    .unwrap_or(super::config::AtomicNeuron { row: 0, column: 0 });
                let mut rng = Rng::stream(
                    settings.chip_seed,
                    &format!("bss2:neuron:{}:{}", anchor.row, anchor.column),
                );
                let mut noisy = |v: f64, sigma: f64| v + fp * sigma * rng.normal();
                let vals = [
                    (P_TAU_MEM, t.tau_mem_s),
                    (P_TAU_EXC, t.tau_syn_s[0]),
                    (P_TAU_INH, t.tau_syn_s[1]),
                    (P_LEAK, t.leak as f64),
                    (P_THRESHOLD, t.threshold as f64),
                    (P_RESET, t.reset as f64),
                    (P_SAT, settings.saturation),
                    (P_REF, t.refractory_s),
                ];
                for (k, v) in vals {
                    let v = match k {
                        P_TAU_MEM | P_TAU_EXC | P_TAU_INH => {
                            v * (1.0 + noisy(0.0, FPN_TAU)).max(0.1)
                        }
                        P_LEAK | P_THRESHOLD | P_RESET => noisy(v, FPN_POTENTIAL_LSB),
                        _ => v,
                    };
                    net.params[q][k][n.index] = v;
                }
                gains.push((1.0 + noisy(0.0, FPN_GAIN_NEURON)).max(0.0));
            }
            gain_neuron.push(gains);
        }
        // The synapse array as configured: (hemisphere, row, column) -> (weight, label).
        let mut array: BTreeMap<(usize, u32, u32), (u32, u32)> = BTreeMap::new();
        for proj in &config.projections {
            for c in &proj.connections {
                for s in &c.synapses {
                    let h = usize::from(s.hemisphere != "top");
                    if array
                        .insert((h, s.row, s.column), (s.weight, s.label))
                        .is_some()
                        && s.weight > 0
                    {
                        return Err(MockError(format!(
                            "two synapses at row {} column {} of the {} array",
                            s.row, s.column, s.hemisphere
                        )));
                    }
                }
            }
        }
        // Row modes and masks per driver.
        let mut drivers: BTreeMap<(usize, u32), (u32, [String; 2])> = BTreeMap::new();
        for d in &config.synapse_drivers {
            let h = usize::from(d.hemisphere != "top");
            drivers.insert(
                (h, d.driver),
                (
                    d.row_address_compare_mask,
                    [
                        d.row_modes.row_2d.clone(),
                        d.row_modes.row_2d_plus_1.clone(),
                    ],
                ),
            );
        }
        let passes = |input: u32, output: u32, label: u32| {
            config.crossbar.iter().any(|n| {
                n.input == input && n.output == output && (label & n.mask) == (n.target & n.mask)
            })
        };
        // Every source's events: (source node, index) -> [(hemisphere, bus, row_select, label)].
        let mut events: Vec<((String, usize), Vec<BusEvent>)> = Vec::new();
        for e in &exts {
            for n in &e.neurons {
                let mut ev = Vec::new();
                for l in n.labels.iter().flatten() {
                    let h = usize::from(l.hemisphere != "top");
                    let out = l.padi_bus + 4 * h as u32;
                    if passes(8 + l.spl1, out, l.neuron_label) {
                        let nl = l.neuron_label;
                        ev.push((h, l.padi_bus, (nl >> 6) & 31, nl & 63));
                    }
                }
                events.push(((e.id.clone(), n.index), ev));
            }
        }
        for p in &pops {
            for n in &p.neurons {
                let (Some(eo), Some(ao)) = (n.event_output, n.address_out) else {
                    continue;
                };
                let mut ev = Vec::new();
                for h in 0..2usize {
                    if passes(eo, eo % 4 + 4 * h as u32, (eo << 8) | ao) {
                        ev.push((h, eo % 4, 4 * eo + (ao >> 6), ao & 63));
                    }
                }
                events.push(((p.id.clone(), n.index), ev));
            }
        }
        // Replay: event -> drivers -> rows -> synapses with the label -> target circuit.
        let mut replayed = 0;
        for ((pre, i), ev) in &events {
            for &(h, bus, row_select, label) in ev {
                for ((dh, d), (mask, modes)) in &drivers {
                    if *dh != h || d % 4 != bus || (row_select & mask) != ((d / 4) & mask) {
                        continue;
                    }
                    for (k, mode) in modes.iter().enumerate() {
                        let Some(input) = input_of(mode) else {
                            continue;
                        };
                        let row = 2 * d + k as u32;
                        let range = (h, row, 0)..=(h, row, u32::MAX);
                        for (&(_, _, col), &(w, l)) in array.range(range) {
                            if l != label || w == 0 {
                                continue;
                            }
                            let Some(&(q, j)) = at.get(&(h as u32, col)) else {
                                return Err(MockError(format!(
                                    "a synapse at row {row} column {col} of the {} array has no neuron",
                                    hemisphere_name(h)
                                )));
                            };
                            let short = if input == super::model::Input::Excitatory {
                                "exc"
                            } else {
                                "inh"
                            };
                            let k = proj_index[&(pre.clone(), pops[q].id.clone(), short)];
                            let syn = &mut net.projections[k];
                            let mut rng = Rng::stream(
                                settings.chip_seed,
                                &format!("bss2:synapse:{h}:{row}:{col}"),
                            );
                            let g = (1.0 + fp * FPN_GAIN_SYNAPSE * rng.normal()).max(0.0)
                                * gain_neuron[q][j];
                            let lsb = config
                                .calibration
                                .mapping
                                .get(&pops[q].id)
                                .map_or(1.0, |m| m.weight_lsb_per_hw_weight[input.index()]);
                            let Some(idx) = syn.index(*i, j) else {
                                return Err(MockError(format!(
                                    "a synapse at row {row} column {col} of the {} array connects a neuron to itself",
                                    hemisphere_name(h)
                                )));
                            };
                            syn.w[idx] += w as f64 * g * lsb;
                            replayed += 1;
                        }
                    }
                }
            }
        }
        for syn in &mut net.projections {
            syn.retain(|w| w != 0.0);
        }
        Ok(Mock {
            chip,
            net,
            settings: settings.clone(),
            speedup: config.target.speedup,
            runtime,
            replayed,
        })
    }

    /// Runs one sample. `inputs[k]` are the spikes of the configuration's `k`-th external
    /// population in **model** time; `trial` seeds the trial-to-trial noise. Returns the spikes
    /// of every on-chip population in FPGA cycles (latency included).
    pub fn run(&self, inputs: &InputSpikes, trial: u64) -> Recorded {
        // Model time to cycles, then playback serialisation.
        let mut events: Vec<(u64, usize, u32)> = Vec::new();
        for (k, spikes) in inputs.iter().enumerate() {
            for &(t, i) in spikes {
                events.push(((t / self.speedup * FPGA_HZ).round().max(0.0) as u64, k, i));
            }
        }
        events.sort();
        if self.settings.serialise_inputs {
            let mut next = 0u64;
            for e in &mut events {
                e.0 = e.0.max(next);
                next = e.0 + 1;
            }
        }
        let mut hw: InputSpikes = vec![Vec::new(); inputs.len()];
        for (c, k, i) in events {
            let t = c as f64 / FPGA_HZ;
            if t < self.runtime {
                hw[k].push((t, i));
            }
        }
        let engine = EventEngine {
            forced: None,
            program: &self.chip.program,
            kernels: &self.chip.kernels,
            network: &self.net,
            t_max: self.runtime,
            max_spikes: None,
        };
        let out = engine.run(&hw, false);
        let latency = (self.settings.latency * FPGA_HZ).round() as i64;
        let sigma = self.settings.jitter * FPGA_HZ;
        let mut rng = Rng::stream(trial, "bss2:jitter");
        let mut rec: Recorded = self
            .chip
            .program
            .populations
            .iter()
            .map(|p| vec![Vec::new(); p.size])
            .collect();
        for s in &out.spikes {
            if let Node::Pop(q) = s.node {
                let jitter = if sigma > 0.0 {
                    (sigma * rng.normal()).round() as i64
                } else {
                    0
                };
                let c = (s.t * FPGA_HZ).floor() as i64 + latency + jitter;
                rec[q.index()][s.idx as usize].push(c.max(0) as u64);
            }
        }
        for neurons in &mut rec {
            for t in neurons {
                t.sort();
            }
        }
        rec
    }

    /// Recorded cycles back to model time, removing the documented latency.
    pub fn to_model_time(&self, cycles: u64) -> f64 {
        let latency = (self.settings.latency * FPGA_HZ).round();
        ((cycles as f64 - latency).max(0.0) / FPGA_HZ) * self.speedup
    }
}
