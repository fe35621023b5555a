//! The configuration file `snnc.bss2.config/v1` (see `lang/bss2.md`) as Rust types, and its
//! canonical text: keys sorted, lists in their documented order, so that the same program
//! always gives the same bytes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "snnc.bss2.config/v1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub schema: String,
    pub target: Target,
    pub time: Time,
    pub populations: Vec<Population>,
    pub projections: Vec<Projection>,
    pub synapse_drivers: Vec<Driver>,
    pub rows: Vec<Row>,
    pub crossbar: Vec<CrossbarNode>,
    pub background_sources: Vec<serde_json::Value>,
    pub recording: Recording,
    pub calibration: Calibration,
    pub resources: Resources,
    pub provenance: Provenance,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub chip: String,
    pub revision: u32,
    pub speedup: f64,
    pub fpga_clock_hz: u64,
    pub limits: Limits,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub atomic_neurons: u32,
    pub columns: u32,
    pub rows_per_synram: u32,
    pub drivers_per_hemisphere: u32,
    pub padi_buses_per_hemisphere: u32,
    pub weight_max: u32,
    pub label_max: u32,
    pub row_select_max: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Time {
    pub runtime_cycles: u64,
    pub inter_batch_entry_wait_cycles: u64,
    pub batch_size: u64,
    pub bio_ms_per_hw_us: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Population {
    pub id: String,
    pub kind: String,
    pub size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    pub neurons: Vec<Neuron>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub compartments: Vec<ShapeCompartment>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShapeCompartment {
    pub id: u32,
    pub cells: Vec<[u32; 2]>,
}

/// A neuron of either kind: external neurons have `labels`, on-chip ones the rest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neuron {
    pub index: usize,
    pub record_spikes: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<Label>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<AtomicNeuron>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compartments: Option<Vec<Compartment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_output: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_out: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calib: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AtomicNeuron {
    pub row: u32,
    pub column: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compartment {
    pub id: u32,
    pub atomic_neurons: Vec<AtomicNeuron>,
    pub spike_master: u32,
    pub receptors: Vec<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub hemisphere: String,
    pub padi_bus: u32,
    pub spl1: u32,
    pub neuron_label: u32,
    pub row_select: u32,
    pub synapse_label: u32,
    pub spike_label: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub id: String,
    pub source: String,
    pub pre: String,
    pub post: String,
    pub receptor: String,
    pub sw_weight_scale: f64,
    /// The clamp bound of quantisation (63 unless the hardware section raises it).
    #[serde(default = "default_clip")]
    pub weight_clip: u32,
    pub connections: Vec<Connection>,
}

fn default_clip() -> u32 {
    63
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub pre: [usize; 2],
    pub post: [usize; 2],
    pub sw_weight: f64,
    pub weight: u32,
    pub synapses: Vec<Synapse>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Synapse {
    pub hemisphere: String,
    pub row: u32,
    pub column: u32,
    pub weight: u32,
    pub label: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    pub hemisphere: String,
    pub driver: u32,
    pub padi_bus: u32,
    pub index_on_bus: u32,
    pub row_address_compare_mask: u32,
    pub row_modes: RowModes,
    pub enable_receiver: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowModes {
    pub row_2d: String,
    pub row_2d_plus_1: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub hemisphere: String,
    pub row: u32,
    pub driver: u32,
    pub mode: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossbarNode {
    pub input: u32,
    pub output: u32,
    pub mask: u32,
    pub target: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub spikes: Vec<String>,
    pub cadc: Vec<serde_json::Value>,
    pub madc: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub tool: String,
    pub cadc: Cadc,
    pub global: Global,
    pub targets: BTreeMap<String, CalibTarget>,
    pub mapping: BTreeMap<String, Mapping>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cadc {
    pub dynamic_range: [u32; 2],
    pub read_range: [u32; 2],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Global {
    pub synapse_dac_bias: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibTarget {
    pub leak: i64,
    pub reset: i64,
    pub threshold: i64,
    pub tau_mem_s: f64,
    pub tau_syn_s: [f64; 2],
    pub refractory_s: f64,
    pub holdoff_s: f64,
    pub membrane_capacitance: u32,
    pub i_synin_gm: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub model: String,
    pub v_leak: f64,
    pub v_threshold: f64,
    pub v_reset: f64,
    pub lsb_per_model_unit: f64,
    /// Membrane drive of one unit of model weight through each chip input, in model units of
    /// synaptic current, [excitatory, inhibitory] (1 for a current that is added to `v`).
    pub input_gain: [f64; 2],
    /// LSB of synaptic input per unit of hardware weight, [excitatory, inhibitory]:
    /// `lsb_per_model_unit * input_gain / weight_scale`.
    pub weight_lsb_per_hw_weight: [f64; 2],
    pub leak_over_threshold: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub atomic_neurons_used: u32,
    pub synapses_used: u32,
    pub rows_used: PerHemisphere,
    pub drivers_used: PerHemisphere,
    pub rows_per_padi_bus: [[u32; 4]; 2],
    pub max_in_degree: u32,
    pub max_in_degree_per_bus: u32,
    pub clipped_weights: u32,
    pub zero_weights: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerHemisphere {
    pub top: u32,
    pub bottom: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub snnc_version: String,
    pub router: String,
    pub seed: u64,
    pub program_hash: String,
}

/// Sorts the keys of every object (whatever map type serde_json was built with).
fn canonical(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                m.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(canonical).collect())
        }
        other => other,
    }
}

impl Config {
    /// The canonical text: sorted keys, two-space indentation, a final newline.
    pub fn to_text(&self) -> String {
        let v = canonical(serde_json::to_value(self).expect("configurations serialise"));
        let mut s = serde_json::to_string_pretty(&v).expect("values serialise");
        s.push('\n');
        s
    }

    pub fn from_text(text: &str) -> Result<Config, String> {
        let c: Config = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if c.schema != SCHEMA {
            return Err(format!(
                "schema `{}` is not the supported `{SCHEMA}`",
                c.schema
            ));
        }
        Ok(c)
    }
}
