//! A network instance: per-neuron parameters, weights and connectivity, built from the checked
//! program with deterministic random streams.
//!
//! Weights are stored per projection for the present synapses only, row by row (compressed
//! sparse rows): `w[offsets[i] + k]` is the weight from presynaptic `i` to `targets[i][k]`, and
//! `targets[i]` is sorted. For a dense projection this is exactly the `[pre][post]` matrix; a
//! sparse one costs memory in proportion to its synapses, not to `n_pre * n_post`. Gradients and
//! optimiser state use the same layout. Saved weights are expanded to dense matrices
//! ([`Synapses::dense`]).

use super::rng::Rng;
use crate::sema::hir::{Connectivity, Node, Program, WeightInit};

/// One projection's synapses.
#[derive(Clone, Debug)]
pub struct Synapses {
    pub pre: Node,
    pub post: usize,
    pub receptor: usize,
    pub delay: f64,
    pub n_pre: usize,
    pub n_post: usize,
    /// Weights of the present synapses, row by row: `w[offsets[i] + k]` is the weight from
    /// presynaptic `i` to `targets[i][k]`.
    pub w: Vec<f64>,
    /// Where each presynaptic neuron's row starts in `w` (`n_pre + 1` entries).
    pub offsets: Vec<usize>,
    /// Postsynaptic targets of each presynaptic neuron (present synapses only, ascending).
    pub targets: Vec<Vec<u32>>,
    pub plastic: bool,
}

impl Synapses {
    /// The position in `w` of the synapse from `i` to `j`, if it is present.
    pub fn index(&self, i: usize, j: usize) -> Option<usize> {
        self.targets[i]
            .binary_search(&(j as u32))
            .ok()
            .map(|k| self.offsets[i] + k)
    }

    pub fn present(&self, i: usize, j: usize) -> bool {
        self.index(i, j).is_some()
    }

    /// The weights of presynaptic neuron `i`'s synapses, parallel to `targets[i]`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.w[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The weights as a dense `[pre][post]` matrix (0 where there is no synapse).
    pub fn dense(&self) -> Vec<f64> {
        let mut d = vec![0.0; self.n_pre * self.n_post];
        for (i, t) in self.targets.iter().enumerate() {
            for (j, w) in t.iter().zip(self.row(i)) {
                d[i * self.n_post + *j as usize] = *w;
            }
        }
        d
    }

    /// Drops the synapses whose weight does not satisfy `keep`.
    pub fn retain(&mut self, keep: impl Fn(f64) -> bool) {
        let mut w = Vec::with_capacity(self.w.len());
        let mut offsets = vec![0];
        for (i, t) in self.targets.iter_mut().enumerate() {
            let row = &self.w[self.offsets[i]..self.offsets[i + 1]];
            let mut k = 0;
            t.retain(|_| {
                let kept = keep(row[k]);
                if kept {
                    w.push(row[k]);
                }
                k += 1;
                kept
            });
            offsets.push(w.len());
        }
        self.w = w;
        self.offsets = offsets;
    }
}

/// Parameters and weights of one instance of a program.
#[derive(Clone, Debug)]
pub struct Network {
    /// `params[pop][k]`: value of parameter `k` for every neuron of the population
    /// (`params[pop][k][neuron]`), so heterogeneous parameters are possible.
    pub params: Vec<Vec<Vec<f64>>>,
    pub sizes: Vec<usize>,
    pub projections: Vec<Synapses>,
}

/// The name of a projection's random stream, stable under edits elsewhere in the file.
pub fn projection_name(p: &Program, k: usize) -> String {
    let proj = &p.projections[k];
    let same = p.projections[..k]
        .iter()
        .filter(|q| q.pre == proj.pre && q.post == proj.post)
        .count();
    format!(
        "weights:{}->{}#{same}",
        p.node_name(proj.pre),
        p.populations[proj.post.index()].name
    )
}

/// Populations ordered so that every population comes after those projecting onto it, or
/// `None` if the projections form a cycle.
pub fn layer_order(p: &Program) -> Option<Vec<usize>> {
    let n = p.populations.len();
    let mut order = Vec::new();
    let mut done = vec![false; n];
    while order.len() < n {
        let next = (0..n).find(|&q| {
            !done[q] && p.projections.iter().all(|proj| {
                proj.post.index() != q
                    || matches!(proj.pre, Node::Input(_))
                    || matches!(proj.pre, Node::Pop(src) if done[src.index()] && src.index() != q)
            })
        })?;
        done[next] = true;
        order.push(next);
    }
    Some(order)
}

impl Network {
    pub fn build(p: &Program, seed: u64) -> Network {
        let params = p
            .populations
            .iter()
            .map(|pop| pop.params.iter().map(|v| vec![*v; pop.size]).collect())
            .collect();
        let sizes = p.populations.iter().map(|pop| pop.size).collect();
        let projections = (0..p.projections.len())
            .map(|k| {
                let proj = &p.projections[k];
                let mut rng = Rng::stream(seed, &projection_name(p, k));
                let n_pre = p.node_size(proj.pre);
                let n_post = p.populations[proj.post.index()].size;
                let mut targets = vec![Vec::new(); n_pre];
                let mut w = Vec::new();
                let mut offsets = Vec::with_capacity(n_pre + 1);
                for i in 0..n_pre {
                    offsets.push(w.len());
                    for j in 0..n_post {
                        let present = match proj.connect {
                            Connectivity::OneToOne => i == j,
                            _ if proj.is_recurrent() && !proj.autapses && i == j => false,
                            Connectivity::Dense => true,
                            Connectivity::Sparse { p } => rng.uniform() < p,
                        };
                        if present {
                            targets[i].push(j as u32);
                            w.push(match proj.init {
                                WeightInit::Constant(c) => c,
                                WeightInit::Normal { mean, std } => mean + std * rng.normal(),
                                WeightInit::Uniform { low, high } => {
                                    low + (high - low) * rng.uniform()
                                }
                            });
                        }
                    }
                }
                offsets.push(w.len());
                Synapses {
                    pre: proj.pre,
                    post: proj.post.index(),
                    receptor: proj.receptor.index(),
                    delay: proj.delay,
                    n_pre,
                    n_post,
                    w,
                    offsets,
                    targets,
                    plastic: proj.plastic,
                }
            })
            .collect();
        Network {
            params,
            sizes,
            projections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synapses() -> Synapses {
        // 3 x 4, rows {1, 3}, {}, {0, 2, 3}.
        Synapses {
            pre: Node::Pop(crate::sema::hir::PopId(0)),
            post: 0,
            receptor: 0,
            delay: 0.0,
            n_pre: 3,
            n_post: 4,
            w: vec![1.0, 0.0, 3.0, 4.0, 0.0],
            offsets: vec![0, 2, 2, 5],
            targets: vec![vec![1, 3], vec![], vec![0, 2, 3]],
            plastic: true,
        }
    }

    #[test]
    fn rows_index_and_dense_agree() {
        let s = synapses();
        assert_eq!(s.index(0, 3), Some(1));
        assert_eq!(s.index(2, 2), Some(3));
        assert_eq!(s.index(1, 0), None);
        assert_eq!(s.row(2), &[3.0, 4.0, 0.0]);
        let d = s.dense();
        for i in 0..3 {
            for j in 0..4 {
                let want = s.index(i, j).map_or(0.0, |k| s.w[k]);
                assert_eq!(d[i * 4 + j], want);
            }
        }
    }

    #[test]
    fn retain_keeps_rows_aligned() {
        let mut s = synapses();
        s.retain(|w| w != 0.0);
        assert_eq!(s.targets, vec![vec![1], vec![], vec![0, 2]]);
        assert_eq!(s.w, vec![1.0, 3.0, 4.0]);
        assert_eq!(s.offsets, vec![0, 1, 1, 3]);
        assert_eq!(s.index(2, 2), Some(2));
    }

    /// A sparse projection stores only its synapses.
    #[test]
    fn sparse_weights_cost_memory_per_synapse() {
        let src = "
neuron N { state v = 0.0  d/dt v = -v / 10 ms  receptor syn(w) { v += w }  spike when v >= 1.0 }
population a = 400 N
project a -> a sparse(p = 0.01) init constant(0.5)
simulation { t_max 1 ms }";
        let checked = crate::driver::check_source("t.snn", src);
        let net = Network::build(checked.program.as_ref().unwrap(), 1);
        let s = &net.projections[0];
        let count: usize = s.targets.iter().map(Vec::len).sum();
        assert_eq!(s.w.len(), count);
        assert!(count > 1000 && count < 2200, "{count}");
        assert_eq!(s.offsets.len(), 401);
    }
}
