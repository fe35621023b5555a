//! Surrogate-gradient backpropagation through time on the time-discrete engine.
//!
//! Walks the recorded steps backwards: the adjoint of the additive synaptic jumps (weight
//! gradients, and the spike's adjoint through the weights), then the derived adjoint of the
//! spiking step, whose Heaviside spike has the chosen surrogate derivative.
//!
//! Losses on time-discrete outputs: `max_membrane_ce` (cross-entropy over the maximum membrane
//! value of each output neuron over time) and `spike_count_ce` (over spike counts); the rate
//! regulariser `rate_reg [strength, target]` adds strength * (count - target)^2 per neuron of
//! every non-output population.

use crate::jit::Strided;
use crate::sema::hir::{Loss, Node, Program, Training};
use crate::sim::discrete::{DiscreteRun, StepKernels};
use crate::sim::kernels::ModelKernels;
use crate::sim::network::{Network, Synapses};

fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, b| a.max(*b));
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Loss value, prediction and the direct loss derivatives by states and spikes.
pub struct DiscreteLoss {
    pub value: f64,
    pub prediction: usize,
    /// `(pop, step k, flat state index, value)`: dL/dx[pop][k][index].
    pub dx: Vec<(usize, usize, usize, f64)>,
    /// `ds[pop][k][i]`.
    pub ds: Vec<Vec<Vec<f64>>>,
}

pub fn loss(
    program: &Program,
    tr: &Training,
    steps: &[StepKernels],
    kernels: &[ModelKernels],
    r: &DiscreteRun,
    label: usize,
) -> DiscreteLoss {
    let out = tr.output.index();
    let pop = &program.populations[out];
    let model = pop.model.index();
    let n = kernels[model].n;
    let mem = steps[model].membrane;
    let mut ds: Vec<Vec<Vec<f64>>> =
        r.s.iter()
            .map(|p| p.iter().map(|row| vec![0.0; row.len()]).collect())
            .collect();
    let mut dx = Vec::new();
    let (mut value, prediction) = match tr.loss {
        Loss::SpikeCountCe => {
            let counts: Vec<f64> = (0..pop.size)
                .map(|c| r.s[out].iter().map(|row| row[c]).sum())
                .collect();
            let sm = softmax(&counts);
            for row in ds[out].iter_mut() {
                for c in 0..pop.size {
                    row[c] += sm[c] - f64::from(u8::from(c == label));
                }
            }
            (-sm[label].max(1e-300).ln(), argmax(&counts))
        }
        _ => {
            // Maximum membrane over the states after each step (k = 1..=steps).
            let mut best = vec![(f64::NEG_INFINITY, 1); pop.size];
            for k in 1..=r.steps {
                for (c, b) in best.iter_mut().enumerate() {
                    let v = r.x[out][k][c * n + mem];
                    if v > b.0 {
                        *b = (v, k);
                    }
                }
            }
            let m: Vec<f64> = best.iter().map(|b| b.0).collect();
            let sm = softmax(&m);
            for (c, b) in best.iter().enumerate() {
                dx.push((
                    out,
                    b.1,
                    c * n + mem,
                    sm[c] - f64::from(u8::from(c == label)),
                ));
            }
            (-sm[label].max(1e-300).ln(), argmax(&m))
        }
    };
    if let Some((strength, target)) = tr.rate_reg {
        for (pi, p) in r.s.iter().enumerate() {
            if pi == out {
                continue;
            }
            for i in 0..program.populations[pi].size {
                let count: f64 = p.iter().map(|row| row[i]).sum();
                value += strength * (count - target).powi(2);
                for row in ds[pi].iter_mut() {
                    row[i] += 2.0 * strength * (count - target);
                }
            }
        }
    }
    DiscreteLoss {
        value,
        prediction,
        dx,
        ds,
    }
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |b, (i, x)| if *x > b.1 { (i, *x) } else { b },
        )
        .0
}

/// Weight gradients by backpropagation through time.
pub fn backward(
    program: &Program,
    kernels: &[ModelKernels],
    steps: &[StepKernels],
    net: &Network,
    r: &DiscreteRun,
    l: &DiscreteLoss,
    dt: f64,
) -> Vec<Vec<f64>> {
    let pops = &program.populations;
    let mut grads: Vec<Vec<f64>> = net
        .projections
        .iter()
        .map(|s| vec![0.0; s.w.len()])
        .collect();
    // lam[pop]: dL/dx at the current step boundary.
    let mut lam: Vec<Vec<f64>> = pops
        .iter()
        .map(|p| vec![0.0; p.size * kernels[p.model.index()].n])
        .collect();
    let mut ds = l.ds.clone();
    let mut args = Vec::new();
    let add_direct = |lam: &mut Vec<Vec<f64>>, k: usize| {
        for &(pop, step, idx, v) in &l.dx {
            if step == k {
                lam[pop][idx] += v;
            }
        }
    };
    add_direct(&mut lam, r.steps);
    // Buffers reused from step to step: the jump adjoints of one projection, its active
    // presynaptic neurons, one neuron's new adjoint, and every population's next one.
    let (mut b, mut active, mut out): (Vec<f64>, Vec<(usize, f64)>, Vec<f64>) = Default::default();
    let mut next = lam.clone();
    let columns: Vec<Columns> = net.projections.iter().map(Columns::new).collect();
    let mut g: Vec<f64> = Vec::new();
    // The hoisted adjoint's parameter-only values per population (one row when all neurons
    // share them), computed once for the whole pass.
    let adjoint_inv: Vec<Option<Vec<f64>>> = pops
        .iter()
        .enumerate()
        .map(|(pi, pop)| {
            let model = pop.model.index();
            let h = steps[model].hoisted_adjoint.as_ref()?;
            let n = kernels[model].n;
            // After dt the adjoint takes the costates and the spike's adjoint (not read).
            Some(crate::sim::discrete::invariant_rows(
                &*h.invariant,
                (h.n_inv, pop.size),
                n,
                &net.params[pi],
                dt,
                n + 1,
            ))
        })
        .collect();
    for k in (0..r.steps).rev() {
        // Jumps at the end of step k: x_{k+1} = y_k + sum w a e.
        for (pk, syn) in net.projections.iter().enumerate() {
            let d = (syn.delay / dt).round() as usize;
            if k < d {
                continue;
            }
            let src = k - d;
            let post = syn.post;
            let model = pops[post].model.index();
            let n = kernels[model].n;
            let inc = &steps[model].increment[syn.receptor];
            // B_j = lam_j . e (the adjoint of the jump amount at target j).
            b.clear();
            b.extend(
                (0..syn.n_post).map(|j| (0..n).map(|q| lam[post][j * n + q] * inc[q]).sum::<f64>()),
            );
            match syn.pre {
                Node::Input(_) => {
                    // Input spikes carry no gradient of their own; weights do (handled below).
                }
                Node::Pop(q) => {
                    // g = W b column by column: target j adds w_ij b_j to every g_i of its
                    // presynaptic neurons, a run of consecutive i at a time (a loop the compiler
                    // vectorises). Each g_i still adds its terms in its targets' order, from
                    // -0.0, as the row-by-row `Iterator::sum` does: the same bits, but the
                    // additions of different rows no longer wait for each other.
                    columns[pk].transpose_times(&b, syn.n_pre, &mut g);
                    for (d, gi) in ds[q.index()][src].iter_mut().zip(&g) {
                        *d += gi;
                    }
                }
            }
            active.clear();
            match syn.pre {
                Node::Pop(q) => active.extend(
                    (0..syn.n_pre)
                        .filter(|i| r.s[q.index()][src][*i] != 0.0)
                        .map(|i| (i, r.s[q.index()][src][i])),
                ),
                Node::Input(id) => {
                    active.extend(r.inputs[id.index()][src].iter().map(|c| (*c as usize, 1.0)))
                }
            }
            for &(i, a) in &active {
                let at = syn.offsets[i];
                for (slot, &j) in syn.targets[i].iter().enumerate() {
                    grads[pk][at + slot] += a * b[j as usize];
                }
            }
        }
        // Adjoint of the spiking step k for every neuron.
        for (pi, pop) in pops.iter().enumerate() {
            let model = pop.model.index();
            let (n, np) = (kernels[model].n, kernels[model].n_params);
            out.resize(n, 0.0);
            let new = &mut next[pi];
            if let (Some(h), Some(inv)) = (&steps[model].hoisted_adjoint, &adjoint_inv[pi]) {
                // The whole population in one call; refractory neurons are redone below with
                // the plain step's adjoint, as in the loop after this.
                let uniform = inv.len() == h.n_inv;
                let mut a: Vec<Strided<'_>> = (0..n)
                    .map(|q| Strided {
                        data: &r.x[pi][k],
                        offset: q,
                        stride: n,
                    })
                    .collect();
                a.extend((0..n).map(|q| Strided {
                    data: &lam[pi],
                    offset: q,
                    stride: n,
                }));
                a.push(Strided {
                    data: &ds[pi][k],
                    offset: 0,
                    stride: 1,
                });
                a.extend((0..h.n_inv).map(|q| Strided {
                    data: inv,
                    offset: q,
                    stride: if uniform { 0 } else { h.n_inv },
                }));
                let layout: Vec<(usize, usize, usize)> = (0..n).map(|q| (0, q, n)).collect();
                let kernel = if uniform { &h.body_uniform } else { &h.body };
                kernel.run_into(&a, &mut [&mut new[..]], &layout, pop.size);
                for i in (0..pop.size).filter(|&i| r.refractory[pi][k][i]) {
                    args.clear();
                    args.extend_from_slice(&r.x[pi][k][i * n..(i + 1) * n]);
                    args.extend((0..np).map(|q| net.params[pi][q][i]));
                    args.push(dt);
                    args.extend_from_slice(&lam[pi][i * n..(i + 1) * n]);
                    steps[model].plain_adjoint.call(&args, &mut out);
                    new[i * n..(i + 1) * n].copy_from_slice(&out);
                }
                std::mem::swap(&mut lam[pi], &mut next[pi]);
                continue;
            }
            for i in 0..pop.size {
                args.clear();
                args.extend_from_slice(&r.x[pi][k][i * n..(i + 1) * n]);
                args.extend((0..np).map(|q| net.params[pi][q][i]));
                args.push(dt);
                args.extend_from_slice(&lam[pi][i * n..(i + 1) * n]);
                if r.refractory[pi][k][i] {
                    steps[model].plain_adjoint.call(&args, &mut out);
                } else {
                    args.push(ds[pi][k][i]);
                    steps[model].adjoint.call(&args, &mut out);
                }
                new[i * n..(i + 1) * n].copy_from_slice(&out);
            }
            std::mem::swap(&mut lam[pi], &mut next[pi]);
        }
        add_direct(&mut lam, k);
    }
    grads
}

/// A projection's weights by target, for the adjoint through it: the presynaptic neurons of
/// target `j` as runs of consecutive indices, `runs[starts[j]..starts[j + 1]]`, each
/// `(first presynaptic index, length, offset of its weights in w)`, ascending.
struct Columns {
    starts: Vec<usize>,
    runs: Vec<(u32, u32, usize)>,
    w: Vec<f64>,
}

impl Columns {
    fn new(syn: &Synapses) -> Columns {
        // Counting sort by target: presynaptic indices and weights, ascending within a target.
        let mut first = vec![0usize; syn.n_post + 1];
        for t in &syn.targets {
            for &j in t {
                first[j as usize + 1] += 1;
            }
        }
        for j in 0..syn.n_post {
            first[j + 1] += first[j];
        }
        let mut fill = first.clone();
        let (mut pre, mut w) = (vec![0u32; syn.w.len()], vec![0.0; syn.w.len()]);
        for (i, t) in syn.targets.iter().enumerate() {
            for (&j, &wij) in t.iter().zip(syn.row(i)) {
                let at = &mut fill[j as usize];
                (pre[*at], w[*at]) = (i as u32, wij);
                *at += 1;
            }
        }
        let mut runs = Vec::new();
        let mut starts = Vec::with_capacity(syn.n_post + 1);
        starts.push(0);
        for j in 0..syn.n_post {
            for at in first[j]..first[j + 1] {
                match runs.last_mut() {
                    Some((i0, len, _)) if at > first[j] && *i0 + *len == pre[at] => *len += 1,
                    _ => runs.push((pre[at], 1, at)),
                }
            }
            starts.push(runs.len());
        }
        Columns { starts, runs, w }
    }

    /// `g_i = sum_j w_ij b_j` for the `n_pre` presynaptic neurons, each sum from -0.0 over
    /// `i`'s targets in ascending order, as `Iterator::sum` over `i`'s row gives it.
    fn transpose_times(&self, b: &[f64], n_pre: usize, g: &mut Vec<f64>) {
        g.clear();
        g.resize(n_pre, -0.0);
        for (j, bj) in b.iter().enumerate() {
            for &(i0, len, at) in &self.runs[self.starts[j]..self.starts[j + 1]] {
                let (i0, len) = (i0 as usize, len as usize);
                for (gi, w) in g[i0..i0 + len].iter_mut().zip(&self.w[at..at + len]) {
                    *gi += w * bj;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sema::hir::{Node, PopId};

    /// The column-wise product gives the row-by-row sums bit for bit: dense, without the
    /// diagonal (autapses off), sparse and empty rows, with zeros of both signs among the
    /// adjoints (where only the order of additions decides the sign of a zero sum).
    #[test]
    fn columns_give_the_row_sums_bit_for_bit() {
        let mut rng = crate::sim::rng::Rng::new(5);
        for (n_pre, n_post, keep) in [(7, 5, 1.0), (9, 9, 2.0), (13, 11, 0.4), (4, 6, 0.0)] {
            let mut targets = vec![Vec::new(); n_pre];
            let mut w = Vec::new();
            let mut offsets = Vec::new();
            for (i, t) in targets.iter_mut().enumerate() {
                offsets.push(w.len());
                for j in 0..n_post {
                    // keep 2.0: all but the diagonal.
                    let present = if keep > 1.0 {
                        i != j
                    } else {
                        rng.uniform() < keep
                    };
                    if present {
                        t.push(j as u32);
                        w.push(if rng.uniform() < 0.2 {
                            -0.0
                        } else {
                            rng.normal()
                        });
                    }
                }
            }
            offsets.push(w.len());
            let syn = Synapses {
                pre: Node::Pop(PopId(0)),
                post: 0,
                receptor: 0,
                delay: 0.0,
                n_pre,
                n_post,
                w,
                offsets,
                targets,
                plastic: true,
            };
            let c = Columns::new(&syn);
            for _ in 0..20 {
                let b: Vec<f64> = (0..n_post)
                    .map(|_| match (rng.uniform() * 4.0) as u32 {
                        0 => 0.0,
                        1 => -0.0,
                        _ => rng.normal(),
                    })
                    .collect();
                let mut g = Vec::new();
                c.transpose_times(&b, n_pre, &mut g);
                for (i, gi) in g.iter().enumerate() {
                    let row: f64 = syn.targets[i]
                        .iter()
                        .zip(syn.row(i))
                        .map(|(&j, w)| w * b[j as usize])
                        .sum();
                    assert_eq!(gi.to_bits(), row.to_bits(), "row {i}: {gi} vs {row}");
                }
            }
        }
    }
}
