//! The human-readable resource report printed by `snnc compile --target bss2`.

use super::config::Config;
use std::fmt::Write;

/// A few lines: circuits, synapses, drivers and rows per bus, in-degrees, quantisation.
pub fn resources(c: &Config) -> String {
    let r = &c.resources;
    let mut s = String::new();
    let _ = writeln!(s, "neuron circuits  {:>6} of 512", r.atomic_neurons_used);
    let _ = writeln!(s, "synapses         {:>6} of 131072", r.synapses_used);
    let _ = writeln!(
        s,
        "synapse drivers  {:>6} of 128 (top)   {:>4} of 128 (bottom)",
        r.drivers_used.top, r.drivers_used.bottom
    );
    for (h, name) in ["top", "bottom"].iter().enumerate() {
        let rows = r.rows_per_padi_bus[h];
        let _ = writeln!(
            s,
            "rows per bus     {:<7} {:>3} {:>3} {:>3} {:>3}  (of 64 each)",
            name, rows[0], rows[1], rows[2], rows[3]
        );
    }
    let _ = writeln!(
        s,
        "in-degree        max {} per circuit (of 256), max {} per circuit and bus (of 64)",
        r.max_in_degree, r.max_in_degree_per_bus
    );
    let _ = writeln!(
        s,
        "weights          {} clipped to 63, {} rounded to 0 and dropped",
        r.clipped_weights, r.zero_weights
    );
    let times = c.time.runtime_cycles;
    let _ = writeln!(
        s,
        "run time         {} cycles = {:.3} µs of hardware time per sample",
        times,
        times as f64 / 125.0
    );
    s
}
