//! snnc's side of the jaxsnn cross-check: reads the same JSON as `jaxsnn_forward.py`
//! (weights, per-sample input spike times, LIF parameters) and prints the first spike time of
//! every hidden and output neuron per sample, computed by snnc's exact event engine.
//! Run through `tests/peers/crosscheck.py`.

use snnc::sim::event::EventEngine;
use snnc::sim::kernels::{Backend, ModelKernels};
use snnc::sim::network::Network;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: peer_forward params.json");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("readable params"))
            .expect("valid JSON");
    let matrix = |k: &str| -> Vec<Vec<f64>> {
        serde_json::from_value(cfg[k].clone()).expect("a matrix of numbers")
    };
    let (w_in, w_out, inputs) = (matrix("w_in"), matrix("w_out"), matrix("inputs"));
    let num = |k: &str| cfg[k].as_f64().expect("a number");
    let (n_in, n_hidden, n_out) = (w_in.len(), w_out.len(), w_out[0].len());
    let src = format!(
        "neuron LIF {{
    param tau_mem = {} s
    param tau_syn = {} s
    param v_th = {}
    param v_reset = {}
    state v = 0.0
    state i = 0.0
    d/dt v = (i - v) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) {{ i += w }}
    spike when v >= v_th
    on spike {{ v = v_reset }}
}}
input data = regular(size = {n_in}, rate = 1 Hz)
population hidden = {n_hidden} LIF
population out = {n_out} LIF
project data -> hidden dense init constant(0)
project hidden -> out dense init constant(0)
simulation {{ t_max {} s }}",
        num("tau_mem"),
        num("tau_syn"),
        num("v_th"),
        num("v_reset"),
        num("t_max")
    );
    let checked = snnc::driver::check_source("peer.snn", &src);
    let program = checked.program.expect("the generated program checks");
    let models = snnc::driver::lower(&program);
    let kernels: Vec<ModelKernels> = models
        .iter()
        .map(|m| ModelKernels::new(m, Backend::Jit).expect("JIT"))
        .collect();
    let mut net = Network::build(&program, 0);
    net.projections[0].w = w_in.iter().flatten().copied().collect();
    net.projections[1].w = w_out.iter().flatten().copied().collect();
    let engine = EventEngine {
        forced: None,
        program: &program,
        kernels: &kernels,
        network: &net,
        t_max: program.simulation.t_max,
        max_spikes: None,
    };
    let (mut hidden, mut output) = (Vec::new(), Vec::new());
    for sample in &inputs {
        let mut spikes: Vec<(f64, u32)> = sample
            .iter()
            .enumerate()
            .map(|(c, t)| (*t, c as u32))
            .collect();
        spikes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let out = engine.run(&vec![spikes], false);
        let firsts = |pop: usize, n: usize| -> Vec<Option<f64>> {
            out.first_spikes(pop, n)
                .iter()
                .map(|(t, _)| t.is_finite().then_some(*t))
                .collect()
        };
        hidden.push(firsts(0, n_hidden));
        output.push(firsts(1, n_out));
    }
    println!(
        "{}",
        serde_json::json!({"hidden": hidden, "output": output})
    );
}
