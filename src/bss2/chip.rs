//! The facts about the BrainScaleS-2 chip (HICANN-X v3) that the compiler and the mock rely on.
//!
//! Sources: halco, haldls, grenade and calix (see `lang/bss2.md`). The checker in
//! `bss2::verify` keeps its own copy of these numbers on purpose.

/// Neuron columns per row; each hemisphere is one row of circuits and one synapse array.
pub const COLUMNS: usize = 256;
pub const HEMISPHERES: usize = 2;
/// Synapse rows per synapse array.
pub const ROWS: usize = 256;
/// Synapse drivers per hemisphere; driver `d` drives rows `2d` and `2d + 1`.
pub const DRIVERS: usize = 128;
/// PADI buses per hemisphere; driver `d` listens on bus `d % 4`.
pub const BUSES: usize = 4;
pub const DRIVERS_PER_BUS: usize = DRIVERS / BUSES;
pub const ROWS_PER_BUS: usize = 2 * DRIVERS_PER_BUS;
/// Largest 6-bit synapse weight.
pub const WEIGHT_MAX: u32 = 63;
/// Distinct synapse labels (6 bit).
pub const LABELS: usize = 64;
/// Columns per neuron event output.
pub const COLUMNS_PER_EVENT_OUTPUT: usize = 32;
/// FPGA clock: every time on the chip's interface is an integer number of 8 ns cycles.
pub const FPGA_HZ: f64 = 125e6;
/// The experiment timer has 32 bits of cycles.
pub const TIMER_MAX: u64 = u32::MAX as u64;

/// Calibratable ranges (calix), hardware seconds: outside them a target is rejected.
pub const TAU_MEM: (f64, f64) = (0.5e-6, 60e-6);
pub const TAU_SYN: (f64, f64) = (0.3e-6, 30e-6);
pub const REFRACTORY: (f64, f64) = (40e-9, 32e-6);
/// Voltages in CADC LSB: the reliable read range (outside: error) and calix's feasible ranges
/// (outside: warning).
pub const CADC_READ: (f64, f64) = (20.0, 220.0);
pub const LEAK_FEASIBLE: (f64, f64) = (50.0, 160.0);
pub const THRESHOLD_FEASIBLE: (f64, f64) = (50.0, 220.0);

/// Hemisphere name as written in configurations.
pub fn hemisphere_name(h: usize) -> &'static str {
    if h == 0 { "top" } else { "bottom" }
}

/// Seconds to FPGA cycles (nearest).
pub fn cycles(seconds: f64) -> u64 {
    (seconds * FPGA_HZ).round().max(0.0) as u64
}
