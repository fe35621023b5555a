//! The checker's own table of HICANN-X v3 constants (reference notes §0, §1, §3.1).
//!
//! Deliberately written apart from the compiler: `target.limits` in a configuration is compared
//! with this table, never trusted.

/// Neuron circuits on the chip (2 rows × 256 columns).
pub const ATOMIC_NEURONS: i64 = 512;
/// Neuron columns per row, and synapse columns per synapse array.
pub const COLUMNS: i64 = 256;
/// Synapse rows per synapse array (one array per hemisphere).
pub const ROWS_PER_SYNRAM: i64 = 256;
/// Synapse drivers per hemisphere; driver `d` drives rows `2d` and `2d + 1`.
pub const DRIVERS_PER_HEMISPHERE: i64 = 128;
/// PADI buses per hemisphere; driver `d` listens on bus `d % 4`.
pub const BUSES: i64 = 4;
/// Drivers on one PADI bus.
pub const DRIVERS_PER_BUS: i64 = 32;
/// Synapse rows reachable from one PADI bus.
pub const ROWS_PER_BUS: i64 = 64;
/// Largest 6-bit synapse weight.
pub const WEIGHT_MAX: i64 = 63;
/// Largest 6-bit synapse label.
pub const LABEL_MAX: i64 = 63;
/// Largest 5-bit row-select address (and compare mask).
pub const ROW_SELECT_MAX: i64 = 31;
/// Largest 8-bit `AddressOut` of a neuron.
pub const ADDRESS_OUT_MAX: i64 = 255;
/// Largest 14-bit NeuronLabel.
pub const NEURON_LABEL_MAX: i64 = 16383;
/// Largest 16-bit SpikeLabel.
pub const SPIKE_LABEL_MAX: i64 = 65535;
/// Largest 2-bit SPL1 address.
pub const SPL1_MAX: i64 = 3;
/// Crossbar inputs: 0..7 neuron event outputs, 8..11 SPL1 (FPGA), 12..19 background generators.
pub const CROSSBAR_INPUTS: i64 = 20;
/// Crossbar outputs: 0..7 PADI buses (0..3 top, 4..7 bottom), 8..11 L2 towards the FPGA.
pub const CROSSBAR_OUTPUTS: i64 = 12;
/// First crossbar input fed by the FPGA (SPL1 channel 0).
pub const CROSSBAR_SPL1_INPUT: i64 = 8;
/// First crossbar output towards the FPGA (L2).
pub const CROSSBAR_L2_OUTPUT: i64 = 8;
/// Neuron columns merged into one neuron event output.
pub const COLUMNS_PER_EVENT_OUTPUT: i64 = 32;
/// Largest 14-bit crossbar mask or target.
pub const CROSSBAR_MASK_MAX: i64 = 16383;
/// Synapses into one neuron circuit from one PADI bus.
pub const IN_DEGREE_PER_BUS: i64 = 64;
/// The 32-bit FPGA timer, in cycles.
pub const TIMER_MAX: i64 = 4_294_967_295;
/// FPGA clock, Hz (8 ns per cycle).
pub const FPGA_CLOCK_HZ: i64 = 125_000_000;
/// Shortest CADC sampling period hxtorch reaches (about 1.7 µs), in cycles.
pub const CADC_PERIOD_MIN_CYCLES: i64 = 213;
/// Background spike generators on the chip.
pub const BACKGROUND_SOURCES: i64 = 8;
/// Largest CapMem cell value.
pub const CAPMEM_MAX: i64 = 1022;
/// Largest membrane capacitance setting.
pub const MEMBRANE_CAPACITANCE_MAX: i64 = 63;
/// CADC calibration: CapMem dynamic range and the read range it maps to.
pub const CADC_DYNAMIC_RANGE: [i64; 2] = [70, 550];
/// CADC read range (LSB); leak, reset and threshold outside it cannot be read back.
pub const CADC_READ_RANGE: [i64; 2] = [20, 220];

/// What `target.limits` must say, key by key.
pub const LIMITS: [(&str, i64); 8] = [
    ("atomic_neurons", ATOMIC_NEURONS),
    ("columns", COLUMNS),
    ("rows_per_synram", ROWS_PER_SYNRAM),
    ("drivers_per_hemisphere", DRIVERS_PER_HEMISPHERE),
    ("padi_buses_per_hemisphere", BUSES),
    ("weight_max", WEIGHT_MAX),
    ("label_max", LABEL_MAX),
    ("row_select_max", ROW_SELECT_MAX),
];

/// A calibration target's ranges: outside `hard` is an error, outside `feasible` a warning.
pub struct CalibRange {
    pub key: &'static str,
    pub hard: (f64, f64),
    pub feasible: (f64, f64),
    pub unit: &'static str,
}

/// calix ranges (reference §3.1). For leak, reset and threshold the hard range is the CADC read
/// range; `refractory_s` and `holdoff_s` have no documented hard limit beyond being >= 0 and
/// representable, so their hard range is wide.
pub const CALIB_RANGES: [CalibRange; 9] = [
    CalibRange {
        key: "leak",
        hard: (20.0, 220.0),
        feasible: (50.0, 160.0),
        unit: "LSB",
    },
    CalibRange {
        key: "reset",
        hard: (20.0, 220.0),
        feasible: (50.0, 160.0),
        unit: "LSB",
    },
    CalibRange {
        key: "threshold",
        hard: (20.0, 220.0),
        feasible: (50.0, 220.0),
        unit: "LSB",
    },
    CalibRange {
        key: "tau_mem_s",
        hard: (0.1e-6, 2000e-6),
        feasible: (0.5e-6, 60e-6),
        unit: "s",
    },
    CalibRange {
        key: "tau_syn_s",
        hard: (0.1e-6, 100e-6),
        feasible: (0.3e-6, 30e-6),
        unit: "s",
    },
    CalibRange {
        key: "refractory_s",
        hard: (0.0, 1e-3),
        feasible: (40e-9, 32e-6),
        unit: "s",
    },
    CalibRange {
        key: "holdoff_s",
        hard: (0.0, 1e-3),
        feasible: (0.0, 4e-6),
        unit: "s",
    },
    CalibRange {
        key: "membrane_capacitance",
        hard: (0.0, MEMBRANE_CAPACITANCE_MAX as f64),
        feasible: (0.0, MEMBRANE_CAPACITANCE_MAX as f64),
        unit: "LSB",
    },
    CalibRange {
        key: "i_synin_gm",
        hard: (0.0, CAPMEM_MAX as f64),
        feasible: (30.0, 800.0),
        unit: "LSB",
    },
];

/// The global `synapse_dac_bias` (CapMem LSB).
pub const SYNAPSE_DAC_BIAS: CalibRange = CalibRange {
    key: "synapse_dac_bias",
    hard: (0.0, CAPMEM_MAX as f64),
    feasible: (30.0, CAPMEM_MAX as f64),
    unit: "LSB",
};
