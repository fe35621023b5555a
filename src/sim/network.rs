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

/// How many pairs are absent before the next present one when each is present with
/// probability `p`, independently: floor(ln u / ln(1 - p)) for u uniform in (0, 1], since the
/// count is at least m with probability (1 - p)^m. Every pair when p >= 1, none (a count past
/// any population) when p <= 0.
fn absent_before_next(rng: &mut Rng, p: f64) -> usize {
    if p >= 1.0 {
        return 0;
    }
    if p.is_nan() || p <= 0.0 {
        return usize::MAX / 2;
    }
    let u = 1.0 - rng.uniform();
    let gap = (u.ln() / (-p).ln_1p()).floor();
    if gap < usize::MAX as f64 / 2.0 {
        gap as usize
    } else {
        usize::MAX / 2
    }
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
                let no_autapse = proj.is_recurrent() && !proj.autapses;
                for i in 0..n_pre {
                    offsets.push(w.len());
                    let mut j = 0;
                    while j < n_post {
                        // The next present pair from j on: for `sparse`, the number of absent
                        // pairs before it is geometric (one draw per synapse, not per pair).
                        j += match proj.connect {
                            Connectivity::OneToOne if i >= j => i - j,
                            Connectivity::OneToOne => n_post,
                            Connectivity::Dense => 0,
                            Connectivity::Sparse { p } => absent_before_next(&mut rng, p),
                        };
                        if j >= n_post {
                            break;
                        }
                        let present =
                            proj.connect == Connectivity::OneToOne || !no_autapse || i != j;
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
                        j += 1;
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

    /// `sparse(p)` connects each pair independently with probability p: over 600 x 500 pairs
    /// the count is within 5 sigma of p n, every column and every presynaptic row is as often
    /// connected as chance allows (chi-square over 10 blocks each), no recurrent pair (i, i)
    /// without `autapses`, and p = 1 and p = 0 give every pair and none.
    #[test]
    fn sparse_pairs_are_independent_draws() {
        let build = |p: f64, post: &str| {
            let src = format!(
                "
neuron N {{ state v = 0.0  d/dt v = -v / 10 ms  receptor syn(w) {{ v += w }}  spike when v >= 1.0 }}
population a = 600 N
population b = 500 N
project a -> {post} sparse(p = {p}) init constant(0.5)
simulation {{ t_max 1 ms }}"
            );
            let checked = crate::driver::check_source("t.snn", &src);
            Network::build(checked.program.as_ref().unwrap(), 7).projections[0].clone()
        };
        for p in [0.3, 0.02] {
            let s = build(p, "b");
            let pairs = 600.0 * 500.0;
            let count: usize = s.targets.iter().map(Vec::len).sum();
            let (mean, sigma) = (p * pairs, (pairs * p * (1.0 - p)).sqrt());
            assert!((count as f64 - mean).abs() < 5.0 * sigma, "p {p}: {count}");
            let mut cols = [0.0f64; 10];
            let mut rows = [0.0f64; 10];
            for (i, t) in s.targets.iter().enumerate() {
                assert!(t.windows(2).all(|w| w[0] < w[1]));
                rows[i / 60] += t.len() as f64;
                for &j in t {
                    cols[j as usize / 50] += 1.0;
                }
            }
            for blocks in [cols, rows] {
                let expect = count as f64 / 10.0;
                let chi2: f64 = blocks.iter().map(|o| (o - expect).powi(2) / expect).sum();
                // 9 degrees of freedom: P(chi2 > 27.9) = 0.001.
                assert!(chi2 < 27.9, "p {p}: chi2 {chi2} {blocks:?}");
            }
        }
        let recurrent = build(0.5, "a");
        for (i, t) in recurrent.targets.iter().enumerate() {
            assert!(!t.contains(&(i as u32)));
        }
        let all = build(1.0, "b");
        assert!(all.targets.iter().all(|t| t.len() == 500));
        let none = build(0.0, "b");
        assert!(none.targets.iter().all(|t| t.is_empty()));
    }
}
