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
        let mut weights = Vec::new();
        let near_grazing = self.backward_into(run, &mut dl_dt.to_vec(), &mut weights);
        Gradients {
            weights,
            near_grazing,
        }
    }

    /// [`Plan::backward`] into buffers kept by the caller (training runs thousands of samples
    /// an epoch): `weights` is reshaped to the weights' layout and its values replaced;
    /// `dl_dt` serves as the spikes' derivatives as they accumulate (so its values change).
    /// Returns how many spikes had a nearly flat threshold crossing.
    pub fn backward_into(
        &self,
        run: &Run,
        dl_dt: &mut Vec<f64>,
        weights: &mut Vec<Vec<f64>>,
    ) -> u32 {
        weights.resize_with(self.net.projections.len(), Vec::new);
        for (g, s) in weights.iter_mut().zip(&self.net.projections) {
            g.clear();
            g.resize(s.w.len(), 0.0);
        }
        let mut grads = Gradients {
            weights: std::mem::take(weights),
            near_grazing: 0,
        };
        let lt = dl_dt;
        lt.resize(run.outcome.spikes.len(), 0.0);
        for &pop in self.order.iter().rev() {
            let layer = &run.layers[pop];
            match self.modes[pop].n {
                1 => self.backward_layer::<1>(pop, layer, lt, &mut grads),
                2 => self.backward_layer::<2>(pop, layer, lt, &mut grads),
                3 => self.backward_layer::<3>(pop, layer, lt, &mut grads),
                4 => self.backward_layer::<4>(pop, layer, lt, &mut grads),
                n => unreachable!("Plan::new admits at most {MAX_STATES} states, not {n}"),
            }
        }
        *weights = grads.weights;
        grads.near_grazing
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
        if let Some(proj) = single {
            self.backward_dense::<N>(proj, layer, lt, grads);
            return;
        }
        for (j, f) in layer.fired.iter().enumerate() {
            let Some((f, k, lk)) = spike_factors::<N>(md, layer, j, f, lt, grads) else {
                continue;
            };
            let applied = f.applied as usize;
            let terms = |dq: &[f64; N]| terms(&k, &lk, dq);
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

    /// [`Plan::backward_layer`] for a layer whose one projection is dense. From inputs, arrival
    /// by arrival over the neurons (a loop without branches, four neurons at a time in the AVX2
    /// copy): each weight receives the same terms in the same order as neuron by neuron, so the
    /// same bits. (A weight a spike did not reach receives +0.0, which leaves it as it is: the
    /// sums start at +0.0 and never become -0.0.) From a population, neuron by neuron over the
    /// arrivals that reached it (the source spikes' derivatives too). Compiled a second time
    /// for AVX2, as the layer code is.
    fn backward_dense<const N: usize>(
        &self,
        proj: usize,
        layer: &Layer,
        lt: &mut [f64],
        grads: &mut Gradients,
    ) {
        BACK.with_borrow_mut(|scratch| {
            #[cfg(target_arch = "x86_64")]
            if self.avx2 {
                // SAFETY: `avx2` is set only where the processor reports AVX2 (`Plan::new`).
                return unsafe { self.backward_dense_avx2::<N>(proj, layer, lt, grads, scratch) };
            }
            self.backward_dense_any::<N>(proj, layer, lt, grads, scratch)
        });
    }

    /// [`Plan::backward_dense`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn backward_dense_avx2<const N: usize>(
        &self,
        proj: usize,
        layer: &Layer,
        lt: &mut [f64],
        grads: &mut Gradients,
        scratch: &mut Scratch,
    ) {
        self.backward_dense_any::<N>(proj, layer, lt, grads, scratch)
    }

    /// [`Plan::backward_dense`] for the processor it is compiled for.
    #[inline(always)]
    fn backward_dense_any<const N: usize>(
        &self,
        proj: usize,
        layer: &Layer,
        lt: &mut [f64],
        grads: &mut Gradients,
        (k, lk, reach): &mut Scratch,
    ) {
        let syn = &self.net.projections[proj];
        let md = &self.modes[syn.post];
        let size = layer.fired.len();
        let (dq, _) = layer.dq.as_chunks::<N>();
        // Per mode and neuron its k and lambda k, and per neuron how many arrivals reached it
        // before its spike (0: none to differentiate).
        for v in [&mut *k, &mut *lk] {
            v.clear();
            v.resize(N * size, 0.0);
        }
        reach.clear();
        reach.resize(size, 0.0);
        for (j, f) in layer.fired.iter().enumerate() {
            let Some((f, kj, lkj)) = spike_factors::<N>(md, layer, j, f, lt, grads) else {
                continue;
            };
            for m in 0..N {
                (k[m * size + j], lk[m * size + j]) = (kj[m], lkj[m]);
            }
            reach[j] = f.applied as f64;
        }
        let gw = &mut grads.weights[proj];
        // Dense: the weight from `pre` to `j` is at `pre * size + j`.
        debug_assert!((0..=syn.n_pre).all(|pre| syn.offsets[pre] == pre * size));
        if let Node::Pop(_) = syn.pre {
            // Neuron by neuron, each over the arrivals that reached it before its spike (its k
            // in registers, no test per arrival): every weight and every source's derivative
            // receives the same terms in the same order as arrival by arrival (a source's terms
            // come neuron by neuron either way), so the same bits.
            for j in 0..size {
                let kj: [f64; N] = std::array::from_fn(|m| k[m * size + j]);
                let lkj: [f64; N] = std::array::from_fn(|m| lk[m * size + j]);
                let reached = reach[j] as usize;
                for (a, dq) in layer.arrivals[..reached].iter().zip(dq) {
                    let at = a.pre as usize * size + j;
                    let (dw, ds) = terms(&kj, &lkj, dq);
                    gw[at] += dw;
                    lt[a.source as usize] += ds * syn.w[at];
                }
            }
            return;
        }
        // From inputs (no source derivative): arrival by arrival over the neurons, without
        // branches.
        let ks: [&[f64]; N] = std::array::from_fn(|m| &k[m * size..(m + 1) * size]);
        for (e, (a, dq)) in layer.arrivals.iter().zip(dq).enumerate() {
            let base = syn.offsets[a.pre as usize];
            let gw = &mut gw[base..base + size];
            let e = e as f64;
            for j in 0..size {
                let mut dw = 0.0;
                for m in 0..N {
                    dw += ks[m][j] * dq[m];
                }
                gw[j] += if reach[j] > e { dw } else { 0.0 };
            }
        }
    }
}

/// [`Plan::backward_dense`]'s per-mode factors k and lambda k (mode-major) and per-neuron
/// arrival counts.
type Scratch = (Vec<f64>, Vec<f64>, Vec<f64>);

thread_local! {
    /// [`Plan::backward_dense`]'s scratch, kept from sample to sample.
    static BACK: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// For neuron `j` of a layer, if it spiked: its spike, and k_m = -dL/dt / h'(t) g_m
/// e^{lambda_m t} and lambda_m k_m, or `None` where the loss does not depend on its spike time.
/// Counts the spike in `near_grazing` where its crossing is nearly flat.
#[inline(always)]
fn spike_factors<'f, const N: usize>(
    md: &super::modes::Modes,
    layer: &Layer,
    j: usize,
    fired: &'f Option<super::Fired>,
    lt: &[f64],
    grads: &mut Gradients,
) -> Option<(&'f super::Fired, [f64; N], [f64; N])> {
    let f = fired.as_ref()?;
    if f.slope.abs() < 1e-9 {
        grads.near_grazing += 1;
    }
    let delta = lt[f.id as usize];
    if delta == 0.0 {
        return None;
    }
    let factor = -delta / f.slope;
    let p = &layer.p_fired[j * N..(j + 1) * N];
    let k: [f64; N] = std::array::from_fn(|m| factor * (md.g[m] * p[m]));
    let lk: [f64; N] = std::array::from_fn(|m| -md.lambda[m] * k[m]);
    Some((f, k, lk))
}

/// The derivatives one arrival (its `dq`) adds for one spiking neuron (its k and lambda k): by
/// the arrival's weight and by its time (per unit weight), each summed mode by mode from +0.0.
#[inline(always)]
fn terms<const N: usize>(k: &[f64; N], lk: &[f64; N], dq: &[f64; N]) -> (f64, f64) {
    let (mut dw, mut ds) = (0.0, 0.0);
    for m in 0..N {
        dw += k[m] * dq[m];
        ds += lk[m] * dq[m];
    }
    (dw, ds)
}
