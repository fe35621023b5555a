//! The modal path's backward pass: first-spike gradients by the implicit function theorem
//! (equal to EventProp's on these networks, where each neuron spikes at most once), from the
//! coefficients and exponentials the forward pass kept.
//!
//! What it does not do: anything for samples the engine ran (EventProp does those).

use super::{Gradients, Layer, MAX_STATES, Plan, Run};
use crate::sema::hir::Node;

impl Plan<'_> {
    /// First-spike gradients of one run by every weight; `dl_dt[id]` is the loss's derivative
    /// by the time of spike `id`.
    pub fn backward(&self, run: &Run, dl_dt: &[f64]) -> Gradients {
        let mut grads = Gradients {
            weights: self
                .net
                .projections
                .iter()
                .map(|s| vec![0.0; s.w.len()])
                .collect(),
            near_grazing: 0,
        };
        let mut lt = dl_dt.to_vec();
        lt.resize(run.outcome.spikes.len(), 0.0);
        for &pop in self.order.iter().rev() {
            let layer = &run.layers[pop];
            match self.modes[pop].n {
                1 => self.backward_layer::<1>(pop, layer, &mut lt, &mut grads),
                2 => self.backward_layer::<2>(pop, layer, &mut lt, &mut grads),
                3 => self.backward_layer::<3>(pop, layer, &mut lt, &mut grads),
                4 => self.backward_layer::<4>(pop, layer, &mut lt, &mut grads),
                n => unreachable!("Plan::new admits at most {MAX_STATES} states, not {n}"),
            }
        }
        grads
    }

    /// One layer of [`Plan::backward`]: spiking neuron by spiking neuron, every arrival before
    /// its spike. With k_m = -dL/dt / h'(t) g_m e^{lambda_m t} at the spike, an arrival at s
    /// with weight w moves the loss by sum_m k_m d_m e^{-lambda_m s} per unit weight and by
    /// -w sum_m lambda_m k_m d_m e^{-lambda_m s} per unit of s.
    fn backward_layer<const N: usize>(
        &self,
        pop: usize,
        layer: &Layer,
        lt: &mut [f64],
        grads: &mut Gradients,
    ) {
        let md = &self.modes[pop];
        let (dq, _) = layer.dq.as_chunks::<N>();
        // One dense projection into the layer (the common case): its lookups hoisted.
        let single = match self.into[pop][..] {
            [k] if self.dense[k] => Some(k),
            _ => None,
        };
        for (j, f) in layer.fired.iter().enumerate() {
            let Some(f) = f else { continue };
            if f.slope.abs() < 1e-9 {
                grads.near_grazing += 1;
            }
            let delta = lt[f.id as usize];
            if delta == 0.0 {
                continue;
            }
            let factor = -delta / f.slope;
            let p = &layer.p_fired[j * N..(j + 1) * N];
            let k: [f64; N] = std::array::from_fn(|m| factor * (md.g[m] * p[m]));
            let lk: [f64; N] = std::array::from_fn(|m| -md.lambda[m] * k[m]);
            let applied = f.applied as usize;
            let terms = |dq: &[f64; N]| {
                let (mut dw, mut ds) = (0.0, 0.0);
                for m in 0..N {
                    dw += k[m] * dq[m];
                    ds += lk[m] * dq[m];
                }
                (dw, ds)
            };
            if let Some(proj) = single {
                let syn = &self.net.projections[proj];
                let from_pop = matches!(syn.pre, Node::Pop(_));
                let gw = &mut grads.weights[proj];
                for (a, dq) in layer.arrivals[..applied].iter().zip(dq) {
                    let idx = syn.offsets[a.pre as usize] + j;
                    let (dw, ds) = terms(dq);
                    gw[idx] += dw;
                    if from_pop {
                        lt[a.source as usize] += ds * syn.w[idx];
                    }
                }
                continue;
            }
            for (a, dq) in layer.arrivals[..applied].iter().zip(dq) {
                let proj = a.proj as usize;
                let syn = &self.net.projections[proj];
                let pre = a.pre as usize;
                let idx = if self.dense[proj] {
                    syn.offsets[pre] + j
                } else {
                    match syn.index(pre, j) {
                        Some(idx) => idx,
                        None => continue,
                    }
                };
                let (dw, ds) = terms(dq);
                grads.weights[proj][idx] += dw;
                // Input spikes carry no gradient: their time derivative is not needed.
                if let Node::Pop(_) = syn.pre {
                    lt[a.source as usize] += ds * syn.w[idx];
                }
            }
        }
    }
}
