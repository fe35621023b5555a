//! Analytic first-spike-time gradients (Göltz et al. 2021 style), from the implicit function
//! theorem at each neuron's first spike.
//!
//! For neuron j with first spike t_j (pre-spike state x_j) and each input that arrived before,
//! at time t_a with weight w: the input moved the state at t_j by F(t_j - t_a) dg/dw per unit
//! weight and by F(t_j - t_a) (G f(x_a-) - f(x_a+)) per unit of arrival time (F: the flow's
//! tangent map, G: the jump's), so dt_j/dtheta = -grad h . (dx(t_j)/dtheta) / (grad h . f(x_j)).
//! The loss gradient is then carried back layer by layer through the first-spike times.
//!
//! This is exact for feed-forward networks whose loss depends on first spikes and whose neurons
//! are influenced only through first spikes (time-to-first-spike coding); there it equals
//! EventProp. Recurrent projections are rejected.

use crate::sema::hir::Program;
use crate::sim::event::{LogEntry, Outcome};
use crate::sim::kernels::ModelKernels;
use crate::sim::network::Network;

/// One delivery into a neuron: (projection, presynaptic index, arrival time, source spike id,
/// offset of the pre-jump state).
type Arrival = (usize, usize, f64, u32, usize);

/// Weight gradients by the analytic method; `dl_dt[id]` is the loss's derivative by the time of
/// spike `id` (only output first spikes have one).
pub fn backward(
    program: &Program,
    kernels: &[ModelKernels],
    net: &Network,
    out: &Outcome,
    dl_dt: &[f64],
    order: &[usize],
) -> Vec<Vec<f64>> {
    let log = out
        .log
        .as_ref()
        .expect("the forward run recorded its event log");
    let mut grads: Vec<Vec<f64>> = net
        .projections
        .iter()
        .map(|s| vec![0.0; s.w.len()])
        .collect();
    let mut lt = dl_dt.to_vec();
    lt.resize(out.spikes.len(), 0.0);
    // First spike of every neuron: (time, spike id, offset of the pre-spike state).
    let mut first: Vec<Vec<Option<(f64, u32, usize)>>> = program
        .populations
        .iter()
        .map(|q| vec![None; q.size])
        .collect();
    for e in &log.entries {
        if let LogEntry::Spike { pop, idx, t, x, id } = *e {
            let slot = &mut first[pop as usize][idx as usize];
            if slot.is_none() {
                *slot = Some((t, id, x as usize));
            }
        }
    }
    // Deliveries per target neuron: (proj, pre, arrival time, source spike, state offset).
    let mut arrivals: Vec<Vec<Vec<Arrival>>> = program
        .populations
        .iter()
        .map(|q| vec![Vec::new(); q.size])
        .collect();
    for e in &log.entries {
        if let LogEntry::Delivery {
            proj,
            pre,
            t,
            source,
            x,
        } = *e
        {
            let syn = &net.projections[proj as usize];
            let n = kernels[program.populations[syn.post].model.index()].n;
            for (slot, &j) in syn.targets[pre as usize].iter().enumerate() {
                arrivals[syn.post][j as usize].push((
                    proj as usize,
                    syn.offsets[pre as usize] + slot,
                    t,
                    source,
                    x as usize + slot * n,
                ));
            }
        }
    }
    let mut args = Vec::new();
    for &pop in order.iter().rev() {
        let kern = &kernels[program.populations[pop].model.index()];
        let (n, k) = (kern.n, kern.n_params);
        for j in 0..program.populations[pop].size {
            let Some((tj, id, xj)) = first[pop][j] else {
                continue;
            };
            let l = lt[id as usize];
            if l == 0.0 {
                continue;
            }
            let p: Vec<f64> = (0..k).map(|q| net.params[pop][q][j]).collect();
            let xj = &log.xs[xj..xj + n];
            // dt_j for a state perturbation dx at t_j.
            let dtj = |dx: &[f64], args: &mut Vec<f64>| {
                args.clear();
                args.extend_from_slice(xj);
                args.extend_from_slice(&p);
                args.extend_from_slice(dx);
                let mut o = [0.0];
                kern.spike_time_tangent.call(args, &mut o);
                o[0]
            };
            for &(proj, idx, ta, source, xo) in &arrivals[pop][j] {
                if ta > tj {
                    continue;
                }
                let syn = &net.projections[proj];
                let w = syn.w[idx];
                let xa = &log.xs[xo..xo + n];
                // Jump tangents: dg/dw, and G f(x-) with f(x+).
                let jt = &kern.jump_tangents[syn.receptor];
                let mut o = vec![0.0; 2 * n];
                args.clear();
                args.extend_from_slice(xa);
                args.extend_from_slice(&p);
                args.push(w);
                args.extend(std::iter::repeat_n(0.0, n));
                args.push(1.0);
                jt.call(&args, &mut o);
                let dg_dw = o[n..].to_vec();
                let mut fa = vec![0.0; n];
                let mut rargs: Vec<f64> = xa.to_vec();
                rargs.extend_from_slice(&p);
                kern.rhs.call(&rargs, &mut fa);
                args.truncate(n + k + 1);
                args.extend_from_slice(&fa);
                args.push(0.0);
                jt.call(&args, &mut o);
                let (x_plus, g_f) = (o[..n].to_vec(), o[n..].to_vec());
                let mut f_plus = vec![0.0; n];
                rargs[..n].copy_from_slice(&x_plus);
                kern.rhs.call(&rargs, &mut f_plus);
                let dt_dir: Vec<f64> = g_f.iter().zip(&f_plus).map(|(a, b)| a - b).collect();
                // Carry both directions to t_j with the flow's tangent map.
                let carry = |v: &[f64], args: &mut Vec<f64>| -> Vec<f64> {
                    args.clear();
                    args.extend_from_slice(&x_plus);
                    args.extend_from_slice(&p);
                    args.push(tj - ta);
                    args.extend_from_slice(v);
                    args.push(0.0);
                    let mut o = vec![0.0; 2 * n];
                    kern.propagate_tangent
                        .as_ref()
                        .expect("exact models have a propagator tangent")
                        .call(args, &mut o);
                    o[n..].to_vec()
                };
                let sw = carry(&dg_dw, &mut args);
                let st = carry(&dt_dir, &mut args);
                grads[proj][idx] += l * dtj(&sw, &mut args);
                lt[source as usize] += l * dtj(&st, &mut args);
            }
        }
    }
    grads
}
