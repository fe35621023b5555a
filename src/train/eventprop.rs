//! EventProp (Wunderlich and Pehle 2021): exact gradients by the adjoint method, walking the
//! event log of one forward run backwards.
//!
//! Between events every neuron's costate lam = dL/dx follows the transposed flow, which for
//! linear models is the adjoint of the exact propagator (`propagate_adjoint`). At events the
//! derived jump functions apply: `spike_adjoint` at a neuron's own spike (with the spike time's
//! loss derivative plus everything downstream neurons said about that time), and
//! `input_adjoint_<r>` at a delivery, which yields dL/dw and the derivative by the arrival time.
//! Works for any number of layers and for recurrent projections: a spike's time adjoint is
//! complete when the spike is reached, because every delivery it caused comes later in time (or
//! later in the engine's order at equal times).

use crate::sema::hir::Program;
use crate::sim::event::{LogEntry, Outcome};
use crate::sim::kernels::ModelKernels;
use crate::sim::network::Network;

/// Gradients of the loss by every weight of every projection (same layout as the weights), and
/// by every spike time (indexed by spike id; includes input spikes).
#[derive(Clone, Debug)]
pub struct Gradients {
    pub weights: Vec<Vec<f64>>,
    pub spike_times: Vec<f64>,
    /// Spikes whose threshold slope was nearly zero (grazing), where the gradient is unreliable.
    pub near_grazing: u32,
}

struct Costates {
    n: usize,
    lam: Vec<f64>,
    t: Vec<f64>,
    p: Vec<f64>,
    k: usize,
}

/// Runs the backward pass. `dl_dt[id]` is the loss's explicit derivative by spike `id`'s time.
pub fn backward(
    program: &Program,
    kernels: &[ModelKernels],
    net: &Network,
    out: &Outcome,
    dl_dt: &[f64],
    t_end: f64,
) -> Gradients {
    let log = out
        .log
        .as_ref()
        .expect("the forward run recorded its event log");
    let mut pops: Vec<Costates> = program
        .populations
        .iter()
        .enumerate()
        .map(|(pi, pop)| {
            let kern = &kernels[pop.model.index()];
            let k = kern.n_params;
            let mut p = vec![0.0; pop.size * k];
            for i in 0..pop.size {
                for j in 0..k {
                    p[i * k + j] = net.params[pi][j][i];
                }
            }
            Costates {
                n: kern.n,
                lam: vec![0.0; pop.size * kern.n],
                t: vec![t_end; pop.size],
                p,
                k,
            }
        })
        .collect();
    let mut grads = Gradients {
        weights: net
            .projections
            .iter()
            .map(|s| vec![0.0; s.w.len()])
            .collect(),
        spike_times: dl_dt.to_vec(),
        near_grazing: 0,
    };
    grads.spike_times.resize(out.spikes.len(), 0.0);
    let mut args = Vec::new();
    let mut res = Vec::new();

    // Brings neuron i's costate back from its time to `t` with the transposed flow.
    let retreat = |pop: &mut Costates,
                   kern: &ModelKernels,
                   i: usize,
                   t: f64,
                   args: &mut Vec<f64>,
                   res: &mut Vec<f64>| {
        let dt = pop.t[i] - t;
        let n = pop.n;
        if dt > 0.0 && pop.lam[i * n..(i + 1) * n].iter().any(|v| *v != 0.0) {
            args.clear();
            args.extend(std::iter::repeat_n(0.0, n));
            args.extend_from_slice(&pop.p[i * pop.k..(i + 1) * pop.k]);
            args.push(dt);
            args.extend_from_slice(&pop.lam[i * n..(i + 1) * n]);
            res.resize(n + 1, 0.0);
            kern.propagate_adjoint
                .as_ref()
                .expect("exact models have a propagator adjoint")
                .call(args, res);
            pop.lam[i * n..(i + 1) * n].copy_from_slice(&res[..n]);
        }
        pop.t[i] = t;
    };

    for entry in log.entries.iter().rev() {
        match *entry {
            LogEntry::Spike { pop, idx, t, x, id } => {
                let (pop, i) = (pop as usize, idx as usize);
                let kern = &kernels[program.populations[pop].model.index()];
                let c = &mut pops[pop];
                retreat(c, kern, i, t, &mut args, &mut res);
                let n = c.n;
                args.clear();
                args.extend_from_slice(&log.xs[x as usize..x as usize + n]);
                args.extend_from_slice(&c.p[i * c.k..(i + 1) * c.k]);
                args.extend_from_slice(&c.lam[i * n..(i + 1) * n]);
                args.push(grads.spike_times[id as usize]);
                res.resize(n + 1, 0.0);
                kern.spike_adjoint.call(&args, &mut res);
                c.lam[i * n..(i + 1) * n].copy_from_slice(&res[..n]);
                if res[n].abs() < 1e-9 {
                    grads.near_grazing += 1;
                }
            }
            LogEntry::Delivery {
                proj,
                pre,
                t,
                source,
                x,
            } => {
                let syn = &net.projections[proj as usize];
                let kern = &kernels[program.populations[syn.post].model.index()];
                let c = &mut pops[syn.post];
                let n = c.n;
                for (slot, &j) in syn.targets[pre as usize].iter().enumerate() {
                    let j = j as usize;
                    retreat(c, kern, j, t, &mut args, &mut res);
                    let idx = syn.offsets[pre as usize] + slot;
                    let w = syn.w[idx];
                    let xo = x as usize + slot * n;
                    args.clear();
                    args.extend_from_slice(&log.xs[xo..xo + n]);
                    args.extend_from_slice(&c.p[j * c.k..(j + 1) * c.k]);
                    args.push(w);
                    args.extend_from_slice(&c.lam[j * n..(j + 1) * n]);
                    res.resize(n + 2, 0.0);
                    kern.input_adjoints[syn.receptor].call(&args, &mut res);
                    c.lam[j * n..(j + 1) * n].copy_from_slice(&res[..n]);
                    grads.weights[proj as usize][idx] += res[n];
                    grads.spike_times[source as usize] += res[n + 1];
                }
            }
        }
    }
    grads
}
