//! A network instance: per-neuron parameters, weights and connectivity, built from the checked
//! program with deterministic random streams.
//!
//! Weights are stored per projection as a dense `[pre][post]` matrix with a mask for absent
//! synapses (sparse, one-to-one, no autapses), which keeps gradients simple; the event engine
//! walks only the present synapses through `targets`.

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
    /// `w[i * n_post + j]`: weight from presynaptic `i` to postsynaptic `j`.
    pub w: Vec<f64>,
    /// Postsynaptic targets of each presynaptic neuron (present synapses only).
    pub targets: Vec<Vec<u32>>,
    pub plastic: bool,
}

impl Synapses {
    pub fn present(&self, i: usize, j: usize) -> bool {
        self.targets[i].binary_search(&(j as u32)).is_ok()
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
                let mut w = vec![0.0; n_pre * n_post];
                for i in 0..n_pre {
                    for j in 0..n_post {
                        let present = match proj.connect {
                            Connectivity::OneToOne => i == j,
                            _ if proj.is_recurrent() && !proj.autapses && i == j => false,
                            Connectivity::Dense => true,
                            Connectivity::Sparse { p } => rng.uniform() < p,
                        };
                        if present {
                            targets[i].push(j as u32);
                            w[i * n_post + j] = match proj.init {
                                WeightInit::Constant(c) => c,
                                WeightInit::Normal { mean, std } => mean + std * rng.normal(),
                                WeightInit::Uniform { low, high } => {
                                    low + (high - low) * rng.uniform()
                                }
                            };
                        }
                    }
                }
                Synapses {
                    pre: proj.pre,
                    post: proj.post.index(),
                    receptor: proj.receptor.index(),
                    delay: proj.delay,
                    n_pre,
                    n_post,
                    w,
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
