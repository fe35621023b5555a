//! Feed-forward networks of linear neurons, simulated layer by layer in modal coordinates: the
//! fast path of the exact engine for training (forward pass and first-spike gradients).
//!
//! A linear model x' = A x + b whose eigenvalues lambda_m are distinct and non-zero moves
//! freely as x(t) = x_inf + sum_m v_m C_m e^{lambda_m t}, with right eigenvectors v_m, the fixed
//! point x_inf = -A^{-1} b and coefficients C_m taken at the absolute time origin (not at the
//! neuron's last event), which stay constant between events. An additive input jump x += w d at
//! time s adds w (u_m . d) e^{-lambda_m s} to C_m (u_m: the left eigenvectors), and the
//! threshold is h(t) = h_inf + sum_m (g . v_m) C_m e^{lambda_m t}. So the exponentials of an
//! arrival time are computed once for all of its targets, a neuron is a few numbers, and the
//! neurons of a layer are tested together between arrivals: each term of h is monotone in t,
//! so on an interval h <= h_inf + sum_m max(term at the start, term at the end). A neuron whose
//! bound reaches zero gets the same bound on eight pieces of the interval, and from the first
//! piece where that reaches zero the crossing search: for eigenvalues a and 2a (tau_mem =
//! 2 tau_syn) the quadratic in e^{a t} solved from the coefficients and checked as the finder
//! checks its closed forms (`ir::crossing::check_root`), otherwise the engine's crossing finder
//! fed with Lie derivatives computed from the coefficients. The bounds leave a relative slack
//! far above their rounding, so rounding never hides a crossing.
//!
//! What it does not do: state traces, replayed (forced) spikes, an event log, or anything but
//! training's forward and backward passes (simulation-only runs use the engine).
//!
//! Layers run in order (every projection runs forward, `network::layer_order`): all
//! arrivals of a layer are known once the layers before it are done. Arrivals at equal times are
//! all applied before the search from that time, as in the event engine, whose deliveries come
//! before crossings at equal times. A spike resets the neuron through the model's own reset
//! function, applied to the state rebuilt from the coefficients.
//!
//! [`Plan::backward`] gives the first-spike gradients by the implicit function theorem, which
//! for these networks (each neuron spikes at most once) equal EventProp's:
//! dt_j = -(dh(t_j)/dtheta) / h'(t_j), where dh(t_j)/dw and dh(t_j)/ds for each arrival before
//! the spike come in closed form from the same coefficients and exponentials.
//!
//! Networks it declines: recurrent projections, refractoriness, receptor jumps that are not
//! additive (x += w d), equal or zero eigenvalues, more than four states, parameters that
//! differ within a population,
//! horizons beyond 300 time constants (the absolute-time exponentials would overflow), and a
//! neuron's second spike. [`Plan::new`] returns `None` for a network it cannot run and
//! [`Plan::run`] returns `None` for a sample in which a neuron spikes twice; the caller then
//! uses the event engine. Spike times agree with the engine's to rounding (the arithmetic
//! differs), not bit for bit; `tests/modal.rs` holds the two together.

use super::event::{InputSpikes, Outcome, SpikeRecord};
use super::kernels::ModelKernels;
use super::network::Network;
use crate::ir::crossing::{Scratch, check_root, next_crossing_in, ratio_two_roots};
use crate::sema::hir::{InputId, Node, PopId, Program};

/// Largest |lambda| t_max for which e^{-lambda t} stays far from overflow.
const MAX_EXPONENT: f64 = 300.0;

/// The bounds rule a neuron out only when they stay below zero by this much relative to the
/// size of their terms (far more than their rounding errors).
const SLACK: f64 = 1e-12;

/// Whether a bound stays below zero by more than the slack (false for NaN).
fn clearly_below(bound: f64, size: f64) -> bool {
    bound + SLACK * size < 0.0
}

/// The larger of two numbers, NaN if `a` is NaN (one instruction, unlike `f64::max`).
#[inline(always)]
fn larger(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Pieces an interval is cut into when its bound does not rule a neuron out.
const PIECES: usize = 8;

/// Most states a model may have here (the loops are compiled for each count up to it).
const MAX_STATES: usize = 4;

/// What one population's model looks like in modal coordinates (its parameters are the same
/// for every neuron).
#[derive(Clone, Debug)]
struct Modes {
    n: usize,
    /// The eigenvalues, mode m belonging to state m (the diagonal of A).
    lambda: Vec<f64>,
    /// The kernel's eigenvalue list for the crossing finder (with 0 for the constant part).
    finder_lambdas: Vec<f64>,
    /// Right eigenvectors: `v[s * n + m]` is state s of mode m.
    v: Vec<f64>,
    /// Left eigenvectors: `u[m * n + s]`.
    u: Vec<f64>,
    x_inf: Vec<f64>,
    /// g . v_m per mode, and h at the fixed point.
    g: Vec<f64>,
    h_inf: f64,
    /// Per receptor, per mode: u_m . d_r, the coefficient a unit weight adds at time 0.
    d: Vec<Vec<f64>>,
    /// Every neuron's coefficients at time 0.
    c0: Vec<f64>,
    /// For two modes with eigenvalues a and 2a (tau_mem = 2 tau_syn): (mode of a, mode of 2a,
    /// a). The crossing is then a quadratic in e^{a t}, solved from the coefficients directly.
    ratio_two: Option<(usize, usize, f64)>,
    params: Vec<f64>,
}

/// The fast path for one network instance (weights as they are now).
pub struct Plan<'a> {
    program: &'a Program,
    kernels: &'a [ModelKernels],
    net: &'a Network,
    t_max: f64,
    order: Vec<usize>,
    modes: Vec<Modes>,
    /// Per population: the projections into it.
    into: Vec<Vec<usize>>,
}

/// One arrival at a layer: time, projection, presynaptic index, source spike id.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    t: f64,
    proj: u32,
    pre: u32,
    source: u32,
}

/// A neuron's spike, with what the gradient needs.
#[derive(Clone, Copy, Debug)]
struct Fired {
    t: f64,
    id: u32,
    /// How many of the layer's arrivals (in order) came before the spike.
    applied: u32,
    /// h'(t) just before the spike.
    slope: f64,
}

#[derive(Clone, Debug, Default)]
struct Layer {
    arrivals: Vec<Arrival>,
    /// e^{-lambda_m t} of every arrival, `n` per arrival.
    q: Vec<f64>,
    fired: Vec<Option<Fired>>,
    /// e^{lambda_m t} at each fired neuron's spike, `n` per neuron.
    p_fired: Vec<f64>,
}

/// Buffers of one run.
#[derive(Default)]
struct Work {
    finder: Scratch,
    args: Vec<f64>,
    x: Vec<f64>,
    /// The neurons a bound could not rule out on the current interval.
    candidates: Vec<u32>,
    /// A layer's spikes as (time, neuron), to be numbered in order.
    fired: Vec<(f64, u32)>,
    /// Every neuron's bound on the current interval plus its slack.
    margins: Vec<f64>,
}

thread_local! {
    /// Each thread's buffers, kept from run to run (the finder keeps its prepared eigenvalues).
    static WORK: std::cell::RefCell<Work> = std::cell::RefCell::default();
}

/// One sample's forward run: the spikes (as the engine reports them, without event log) and
/// what [`Plan::backward`] needs.
pub struct Run {
    pub outcome: Outcome,
    layers: Vec<Layer>,
}

/// Gradients by every weight (same layout as the weights), and how many spikes had a nearly
/// flat threshold crossing.
pub struct Gradients {
    pub weights: Vec<Vec<f64>>,
    pub near_grazing: u32,
}

impl Modes {
    fn new(kern: &ModelKernels, params: &[f64], t_max: f64) -> Option<Modes> {
        let (n, k) = (kern.n, kern.n_params);
        let eig = kern.eigenvalues.as_ref()?;
        if n > MAX_STATES {
            return None;
        }
        if kern.propagate.is_none() || !kern.threshold_affine || kern.refractory.is_some() {
            return None;
        }
        let mut args = vec![0.0; n + k + 1];
        args[n..n + k].copy_from_slice(params);
        let mut finder_lambdas = vec![0.0; eig.n_outputs()];
        eig.call(&args[..n + k], &mut finder_lambdas);
        let lambda = finder_lambdas.get(..n)?.to_vec();
        let scale = lambda.iter().fold(0.0f64, |a, l| a.max(l.abs()));
        for (m, &l) in lambda.iter().enumerate() {
            let distinct = lambda[..m]
                .iter()
                .all(|&o| (l - o).abs() > 1e-6 * l.abs().max(o.abs()));
            if !(l.abs() > 1e-9 * scale && l.abs() * t_max <= MAX_EXPONENT && distinct) {
                return None;
            }
        }
        // A and b from the right-hand side, which is affine in the state.
        let mut b = vec![0.0; n];
        kern.rhs.call(&args[..n + k], &mut b);
        let mut a = vec![0.0; n * n];
        let mut col = vec![0.0; n];
        for s in 0..n {
            args[s] = 1.0;
            kern.rhs.call(&args[..n + k], &mut col);
            args[s] = 0.0;
            for r in 0..n {
                a[r * n + s] = if r == s { lambda[s] } else { col[r] - b[r] };
            }
        }
        // States in an order that makes A lower triangular.
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            let next = (0..n).find(|&s| {
                !order.contains(&s)
                    && (0..n).all(|j| j == s || a[s * n + j] == 0.0 || order.contains(&j))
            })?;
            order.push(next);
        }
        // Right eigenvectors by substitution down the triangular order.
        let mut v = vec![0.0; n * n];
        for m in 0..n {
            let pm = order.iter().position(|&s| s == m)?;
            v[m * n + m] = 1.0;
            for &s in &order[pm + 1..] {
                let sum: f64 = (0..n)
                    .filter(|&j| j != s)
                    .map(|j| a[s * n + j] * v[j * n + m])
                    .sum();
                v[s * n + m] = sum / (lambda[m] - lambda[s]);
            }
        }
        let u = invert(&v, n)?;
        // Each v_m must be an eigenvector to rounding.
        for m in 0..n {
            for r in 0..n {
                let av: f64 = (0..n).map(|j| a[r * n + j] * v[j * n + m]).sum();
                let norm: f64 = (0..n).map(|j| (a[r * n + j] * v[j * n + m]).abs()).sum();
                if (av - lambda[m] * v[r * n + m]).abs()
                    > 1e-9 * norm.max(lambda[m].abs() * v[r * n + m].abs())
                {
                    return None;
                }
            }
        }
        let modal = |x: &[f64], m: usize| -> f64 { (0..n).map(|s| u[m * n + s] * x[s]).sum() };
        // x_inf = -A^{-1} b = -sum_m v_m (u_m . b) / lambda_m.
        let ub: Vec<f64> = (0..n).map(|m| modal(&b, m) / lambda[m]).collect();
        let x_inf: Vec<f64> = (0..n)
            .map(|s| -(0..n).map(|m| v[s * n + m] * ub[m]).sum::<f64>())
            .collect();
        // The threshold h(x) = g . x + h0.
        let mut h = [0.0];
        kern.threshold.call(&args[..n + k], &mut h);
        let h0 = h[0];
        let mut gx = vec![0.0; n];
        for s in 0..n {
            args[s] = 1.0;
            kern.threshold.call(&args[..n + k], &mut h);
            args[s] = 0.0;
            gx[s] = h[0] - h0;
        }
        let g: Vec<f64> = (0..n)
            .map(|m| (0..n).map(|s| gx[s] * v[s * n + m]).sum())
            .collect();
        let h_inf = h0 + (0..n).map(|s| gx[s] * x_inf[s]).sum::<f64>();
        // Receptor jumps must be x += w d: affine (checked in the IR), identity in x, no offset.
        let mut d = Vec::with_capacity(kern.jumps.len());
        let mut out = vec![0.0; n];
        for (r, jump) in kern.jumps.iter().enumerate() {
            if !kern.jumps_affine.get(r).copied().unwrap_or(false) {
                return None;
            }
            args[n + k] = 0.0;
            jump.call(&args, &mut out);
            if out.iter().any(|c| *c != 0.0) {
                return None;
            }
            for s in 0..n {
                args[s] = 1.0;
                jump.call(&args, &mut out);
                args[s] = 0.0;
                if (0..n).any(|q| out[q] != if q == s { 1.0 } else { 0.0 }) {
                    return None;
                }
            }
            args[n + k] = 1.0;
            jump.call(&args, &mut out);
            args[n + k] = 0.0;
            d.push((0..n).map(|m| modal(&out, m)).collect());
        }
        let mut x0 = vec![0.0; n];
        kern.init.call(params, &mut x0);
        let rel: Vec<f64> = x0.iter().zip(&x_inf).map(|(x, xi)| x - xi).collect();
        let c0 = (0..n).map(|m| modal(&rel, m)).collect();
        let ratio_two = match lambda[..] {
            [l0, l1] => crate::ir::crossing::ratio_two_exponents(&[0.0, l0, l1])
                .map(|(a, _)| if a == l0 { (0, 1, a) } else { (1, 0, a) }),
            _ => None,
        };
        Some(Modes {
            ratio_two,
            n,
            lambda,
            finder_lambdas,
            v,
            u,
            x_inf,
            g,
            h_inf,
            d,
            c0,
            params: params.to_vec(),
        })
    }

    /// Lie derivatives `[h, h', h'', ..]` at `t0 + tau` of a neuron whose terms at `t0` are
    /// `e[m] = C_m e^{lambda_m t0}`.
    fn lie(&self, e: &[f64], tau: f64, out: &mut [f64]) {
        let n = self.n;
        let mut terms = [0.0; MAX_STATES];
        for m in 0..n {
            let em = if tau == 0.0 {
                e[m]
            } else {
                e[m] * (self.lambda[m] * tau).exp()
            };
            terms[m] = self.g[m] * em;
        }
        for (k, o) in out.iter_mut().enumerate() {
            let mut s = 0.0;
            for m in 0..n {
                s += terms[m];
                terms[m] *= self.lambda[m];
            }
            *o = if k == 0 { self.h_inf + s } else { s };
        }
    }
}

/// The inverse of the `n` x `n` matrix `m` (row-major), by Gauss-Jordan elimination with
/// partial pivoting; `None` if it is singular.
fn invert(m: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut a = m.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    for c in 0..n {
        let p = (c..n).max_by(|&x, &y| a[x * n + c].abs().total_cmp(&a[y * n + c].abs()))?;
        if a[p * n + c] == 0.0 {
            return None;
        }
        for j in 0..n {
            a.swap(c * n + j, p * n + j);
            inv.swap(c * n + j, p * n + j);
        }
        let piv = a[c * n + c];
        for j in 0..n {
            a[c * n + j] /= piv;
            inv[c * n + j] /= piv;
        }
        for r in 0..n {
            if r != c {
                let f = a[r * n + c];
                if f != 0.0 {
                    for j in 0..n {
                        a[r * n + j] -= f * a[c * n + j];
                        inv[r * n + j] -= f * inv[c * n + j];
                    }
                }
            }
        }
    }
    Some(inv)
}

impl<'a> Plan<'a> {
    /// The fast path for `net`, or `None` if some part of the network is outside its scope
    /// (see the module comment). `max_spikes` is the engine's per-neuron spike limit.
    pub fn new(
        program: &'a Program,
        kernels: &'a [ModelKernels],
        net: &'a Network,
        t_max: f64,
        max_spikes: Option<usize>,
    ) -> Option<Plan<'a>> {
        if max_spikes == Some(0) || !(t_max.is_finite() && t_max > 0.0) {
            return None;
        }
        let order = super::network::layer_order(program)?;
        let mut modes = Vec::with_capacity(program.populations.len());
        for (pi, pop) in program.populations.iter().enumerate() {
            let ps = &net.params[pi];
            if ps
                .iter()
                .any(|q| q.iter().any(|v| v.to_bits() != q[0].to_bits()))
            {
                return None;
            }
            let params: Vec<f64> = ps
                .iter()
                .map(|q| q.first().copied().unwrap_or(0.0))
                .collect();
            modes.push(Modes::new(&kernels[pop.model.index()], &params, t_max)?);
        }
        let mut into = vec![Vec::new(); program.populations.len()];
        for (k, syn) in net.projections.iter().enumerate() {
            if let Node::Pop(p) = syn.pre
                && p.index() == syn.post
            {
                return None;
            }
            into[syn.post].push(k);
        }
        Some(Plan {
            program,
            kernels,
            net,
            t_max,
            order,
            modes,
            into,
        })
    }

    /// Simulates one sample; `None` if a neuron would spike twice (use the event engine).
    pub fn run(&self, inputs: &InputSpikes) -> Option<Run> {
        let npops = self.program.populations.len();
        let neurons: usize = self.program.populations.iter().map(|p| p.size).sum();
        let given: usize = inputs.iter().map(Vec::len).sum();
        let mut outcome = Outcome {
            spikes: Vec::with_capacity(given + neurons),
            limit_hits: vec![0; npops],
            log: None,
        };
        // Spikes of every node as (time, index, id): inputs first, as the engine numbers them.
        let mut input_spikes: Vec<Vec<(f64, u32, u32)>> = Vec::with_capacity(inputs.len());
        for (input, spikes) in inputs.iter().enumerate() {
            let mut list = Vec::with_capacity(spikes.len());
            for &(t, idx) in spikes {
                // Negative (or NaN) times are the engine's business.
                if t < 0.0 || t.is_nan() {
                    return None;
                }
                if t <= self.t_max {
                    let id = outcome.spikes.len() as u32;
                    outcome.spikes.push(SpikeRecord {
                        node: Node::Input(InputId(input as u32)),
                        idx,
                        t,
                    });
                    list.push((t, idx, id));
                }
            }
            input_spikes.push(list);
        }
        let mut pop_spikes: Vec<Vec<(f64, u32, u32)>> = self
            .program
            .populations
            .iter()
            .map(|p| Vec::with_capacity(p.size))
            .collect();
        let mut layers: Vec<Layer> = vec![Layer::default(); npops];
        let mut work = WORK.with(|w| w.take());
        for &pop in &self.order {
            let mut layer = Layer::default();
            let incoming: usize = self.into[pop]
                .iter()
                .map(|&k| match self.net.projections[k].pre {
                    Node::Input(i) => input_spikes[i.index()].len(),
                    Node::Pop(p) => pop_spikes[p.index()].len(),
                })
                .sum();
            layer.arrivals.reserve_exact(incoming);
            for &k in &self.into[pop] {
                let syn = &self.net.projections[k];
                let source = match syn.pre {
                    Node::Input(i) => &input_spikes[i.index()],
                    Node::Pop(p) => &pop_spikes[p.index()],
                };
                for &(t, idx, id) in source {
                    let ta = t + syn.delay;
                    if ta <= self.t_max && !syn.targets[idx as usize].is_empty() {
                        layer.arrivals.push(Arrival {
                            t: ta,
                            proj: k as u32,
                            pre: idx,
                            source: id,
                        });
                    }
                }
            }
            // The keys are unique, so an unstable sort gives one order.
            // (Times are not negative, so their bits sort as they do.)
            layer
                .arrivals
                .sort_unstable_by_key(|a| (a.t.to_bits(), a.proj, a.pre, a.source));
            let ran = self.run_layer(pop, &mut layer, &mut work);
            if ran.is_none() {
                WORK.with(|w| w.replace(work));
                return None;
            }
            let fired = &mut work.fired;
            fired.clear();
            fired.extend(
                layer
                    .fired
                    .iter()
                    .enumerate()
                    .filter_map(|(j, f)| f.map(|f| (f.t, j as u32))),
            );
            fired.sort_unstable_by_key(|&(t, j)| (t.to_bits(), j));
            for &(t, j) in fired.iter() {
                let id = outcome.spikes.len() as u32;
                outcome.spikes.push(SpikeRecord {
                    node: Node::Pop(PopId(pop as u32)),
                    idx: j,
                    t,
                });
                if let Some(f) = layer.fired[j as usize].as_mut() {
                    f.id = id;
                }
                pop_spikes[pop].push((t, j, id));
            }
            layers[pop] = layer;
        }
        WORK.with(|w| w.replace(work));
        Some(Run { outcome, layers })
    }

    /// Runs one population over its sorted arrivals; `None` if a neuron spikes twice.
    fn run_layer(&self, pop: usize, layer: &mut Layer, work: &mut Work) -> Option<()> {
        match self.modes[pop].n {
            1 => self.run_layer_n::<1>(pop, layer, work),
            2 => self.run_layer_n::<2>(pop, layer, work),
            3 => self.run_layer_n::<3>(pop, layer, work),
            4 => self.run_layer_n::<4>(pop, layer, work),
            n => unreachable!("Plan::new admits at most {MAX_STATES} states, not {n}"),
        }
    }

    /// [`Plan::run_layer`] for a model of `N` states (the loops unrolled by the compiler).
    fn run_layer_n<const N: usize>(
        &self,
        pop: usize,
        layer: &mut Layer,
        work: &mut Work,
    ) -> Option<()> {
        let md = &self.modes[pop];
        let size = self.program.populations[pop].size;
        let lambda: [f64; N] = std::array::from_fn(|m| md.lambda[m]);
        let g: [f64; N] = std::array::from_fn(|m| md.g[m]);
        let mut c: Vec<[f64; N]> = vec![std::array::from_fn(|m| md.c0[m]); size];
        layer.fired = vec![None; size];
        layer.p_fired = vec![0.0; size * N];
        layer.q = vec![0.0; layer.arrivals.len() * N];
        let (mut p0, mut p1) = ([1.0; N], [0.0; N]);
        let (mut gp0, mut gp1) = (g, [0.0; N]);
        let mut t0 = 0.0;
        let mut next = 0;
        let mut candidates = std::mem::take(&mut work.candidates);
        let mut margins = std::mem::take(&mut work.margins);
        loop {
            let closing = next == layer.arrivals.len();
            let t1 = if closing {
                self.t_max
            } else {
                layer.arrivals[next].t
            };
            for m in 0..N {
                p1[m] = (lambda[m] * t1).exp();
                gp1[m] = g[m] * p1[m];
            }
            // The bounds without branches (so the loop vectorises), then the candidates.
            margins.clear();
            margins.extend(c.iter().map(|cj| {
                let (mut bound, mut size) = (md.h_inf, md.h_inf.abs());
                for m in 0..N {
                    let top = larger(cj[m] * gp0[m], cj[m] * gp1[m]);
                    bound += top;
                    size += top.abs();
                }
                bound + SLACK * size
            }));
            candidates.clear();
            // A NaN bound searches too.
            candidates.extend(
                margins
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| !clearly_below(**b, 0.0))
                    .map(|(j, _)| j as u32),
            );
            if !candidates.is_empty() && md.ratio_two.is_some() {
                // The quadratic decides the whole interval about as fast as the pieces would.
                for &j in &candidates {
                    let j = j as usize;
                    self.search::<N>(
                        pop,
                        j,
                        &mut c[j],
                        layer,
                        (t0, t1),
                        (&p0, &gp1),
                        closing,
                        next,
                        work,
                    )?;
                }
            } else if !candidates.is_empty() {
                // The interval in PIECES pieces, each with its own bound: the search starts
                // at the first piece whose bound reaches zero, if any does.
                let mut pieces = [([0.0; N], [0.0; N], 0.0); PIECES + 1];
                pieces[0] = (p0, gp0, t0);
                pieces[PIECES] = (p1, gp1, t1);
                // e^{lambda dt} per piece, multiplied on (the bounds allow for the rounding).
                let dt = (t1 - t0) / PIECES as f64;
                let r: [f64; N] = std::array::from_fn(|m| (lambda[m] * dt).exp());
                for k in 1..PIECES {
                    let p: [f64; N] = std::array::from_fn(|m| pieces[k - 1].0[m] * r[m]);
                    let t = t0 + dt * k as f64;
                    pieces[k] = (p, std::array::from_fn(|m| g[m] * p[m]), t);
                }
                for &j in &candidates {
                    let j = j as usize;
                    let cj = c[j];
                    let first = (0..PIECES).find(|&k| {
                        let (mut bound, mut size) = (md.h_inf, md.h_inf.abs());
                        for m in 0..N {
                            let top = larger(cj[m] * pieces[k].1[m], cj[m] * pieces[k + 1].1[m]);
                            bound += top;
                            size += top.abs();
                        }
                        !clearly_below(bound, size)
                    });
                    let Some(k) = first else { continue };
                    self.search::<N>(
                        pop,
                        j,
                        &mut c[j],
                        layer,
                        (pieces[k].2, t1),
                        (&pieces[k].0, &gp1),
                        closing,
                        next,
                        work,
                    )?;
                }
            }
            if closing {
                work.candidates = candidates;
                work.margins = margins;
                return Some(());
            }
            // Apply every arrival at t1.
            let q: [f64; N] = std::array::from_fn(|m| 1.0 / p1[m]);
            while next < layer.arrivals.len() && layer.arrivals[next].t == t1 {
                let a = layer.arrivals[next];
                let syn = &self.net.projections[a.proj as usize];
                layer.q[next * N..(next + 1) * N].copy_from_slice(&q);
                let d = &md.d[syn.receptor];
                let dq: [f64; N] = std::array::from_fn(|m| d[m] * q[m]);
                let pre = a.pre as usize;
                for (&j, &w) in syn.targets[pre].iter().zip(syn.row(pre)) {
                    let cj = &mut c[j as usize];
                    for m in 0..N {
                        cj[m] += w * dq[m];
                    }
                }
                next += 1;
            }
            t0 = t1;
            p0 = p1;
            gp0 = gp1;
        }
    }

    /// The crossings of neuron `j` (coefficients `c`) in `[t0, t1)` (or `[t0, t1]` when
    /// `closing`), with the resets they cause; `None` at a second spike. `p0[m]` is
    /// e^{lambda_m t0} and `gp1[m]` g_m e^{lambda_m t1}.
    #[allow(clippy::too_many_arguments)]
    fn search<const N: usize>(
        &self,
        pop: usize,
        j: usize,
        c: &mut [f64; N],
        layer: &mut Layer,
        (t0, t1): (f64, f64),
        (p0, gp1): (&[f64; N], &[f64; N]),
        closing: bool,
        applied: usize,
        work: &mut Work,
    ) -> Option<()> {
        let md = &self.modes[pop];
        let kern = &self.kernels[self.program.populations[pop].model.index()];
        let mut start = t0;
        let mut ps = *p0;
        loop {
            let e: [f64; N] = std::array::from_fn(|m| c[m] * ps[m]);
            let horizon = t1 - start;
            let mut signal = |tau: f64, out: &mut [f64]| md.lie(&e, tau, out);
            let lambdas = &md.finder_lambdas;
            // For tau_mem = 2 tau_syn the quadratic's root is checked here (h >= 0 there, as
            // the finder's check asks) with the exponentials the reset needs anyway; the finder
            // takes over when that check fails or the roots are in doubt.
            let mut grown: Option<[f64; N]> = None;
            let found = match md.ratio_two {
                Some((ia, ib, a)) => {
                    let (c1, c2) = (md.g[ia] * e[ia], md.g[ib] * e[ib]);
                    if md.h_inf + (c1 + c2) >= 0.0 {
                        Some(0.0)
                    } else {
                        match ratio_two_roots([md.h_inf, c1, c2], a, horizon) {
                            None => {
                                next_crossing_in(&mut work.finder, &mut signal, lambdas, horizon)
                                    .time
                            }
                            Some(None) => None,
                            Some(Some((root, z))) => {
                                // At the root itself e^{a t} is the quadratic's z (and
                                // e^{2a t} its square): no exponential in the common case.
                                let mut eval = |t: f64| {
                                    let grow: [f64; N] = std::array::from_fn(|m| match m {
                                        _ if t != root => (md.lambda[m] * t).exp(),
                                        _ if m == ia => z,
                                        _ => z * z,
                                    });
                                    let (mut sum, mut slope) = (0.0, 0.0);
                                    for m in 0..N {
                                        let term = md.g[m] * (e[m] * grow[m]);
                                        sum += term;
                                        slope += term * md.lambda[m];
                                    }
                                    grown = Some(grow);
                                    (md.h_inf + sum, slope)
                                };
                                match check_root(&mut eval, root, horizon) {
                                    Some(t) => Some(t),
                                    None => {
                                        grown = None;
                                        next_crossing_in(
                                            &mut work.finder,
                                            &mut signal,
                                            lambdas,
                                            horizon,
                                        )
                                        .time
                                    }
                                }
                            }
                        }
                    }
                }
                None => next_crossing_in(&mut work.finder, &mut signal, lambdas, horizon).time,
            };
            let tau = match found {
                Some(tau) if tau < horizon || (closing && tau <= horizon) => tau,
                _ => return Some(()),
            };
            if layer.fired[j].is_some() {
                return None;
            }
            let t = start + tau;
            // e^{lambda_m t}, and the slope of h at t.
            let grow = grown.unwrap_or_else(|| {
                std::array::from_fn(|m| {
                    if tau == 0.0 {
                        1.0
                    } else {
                        (md.lambda[m] * tau).exp()
                    }
                })
            });
            let mut slope = 0.0;
            for m in 0..N {
                ps[m] *= grow[m];
                slope += md.g[m] * md.lambda[m] * e[m] * grow[m];
            }
            layer.fired[j] = Some(Fired {
                t,
                id: 0,
                applied: applied as u32,
                slope,
            });
            layer.p_fired[j * N..(j + 1) * N].copy_from_slice(&ps);
            // Reset: rebuild the state at t, apply the model's reset, back to coefficients.
            let Work { args, x, .. } = work;
            args.clear();
            for s in 0..N {
                let mut xs = md.x_inf[s];
                for m in 0..N {
                    xs += md.v[s * N + m] * c[m] * ps[m];
                }
                args.push(xs);
            }
            args.extend_from_slice(&md.params);
            x.resize(N, 0.0);
            kern.reset.call(args, x);
            for s in 0..N {
                x[s] -= md.x_inf[s];
            }
            let mut bound = md.h_inf;
            for m in 0..N {
                let um: f64 = (0..N).map(|s| md.u[m * N + s] * x[s]).sum();
                c[m] = um / ps[m];
                bound += (md.g[m] * um).max(c[m] * gp1[m]);
            }
            // Most resets leave the neuron far below threshold until t1.
            if bound < 0.0 {
                return Some(());
            }
            start = t;
        }
    }

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

    /// One layer of [`Plan::backward`]: arrival by arrival, every neuron that spiked after it.
    fn backward_layer<const N: usize>(
        &self,
        pop: usize,
        layer: &Layer,
        lt: &mut [f64],
        grads: &mut Gradients,
    ) {
        let md = &self.modes[pop];
        let receptors = md.d.len();
        // The spiking neurons with a loss derivative: (neuron, arrivals before the spike,
        // -dL/dt / h'(t)), and per receptor k[m] = (g . v_m) e^{lambda_m t} (u_m . d_r), the
        // derivative of h(t) by the weight per unit e^{-lambda_m s} of the arrival.
        let mut spiking: Vec<(usize, usize, f64)> = Vec::new();
        let mut k: Vec<[f64; N]> = Vec::new();
        for (j, f) in layer.fired.iter().enumerate() {
            let Some(f) = f else { continue };
            if f.slope.abs() < 1e-9 {
                grads.near_grazing += 1;
            }
            let delta = lt[f.id as usize];
            if delta == 0.0 {
                continue;
            }
            spiking.push((j, f.applied as usize, -delta / f.slope));
            let p = &layer.p_fired[j * N..(j + 1) * N];
            for dr in &md.d {
                k.push(std::array::from_fn(|m| md.g[m] * p[m] * dr[m]));
            }
        }
        if spiking.is_empty() {
            return;
        }
        let lambda: [f64; N] = std::array::from_fn(|m| md.lambda[m]);
        for (e, a) in layer.arrivals.iter().enumerate() {
            let syn = &self.net.projections[a.proj as usize];
            let pre = a.pre as usize;
            let full = syn.targets[pre].len() == syn.n_post;
            let q: [f64; N] = std::array::from_fn(|m| layer.q[e * N + m]);
            let weights = &mut grads.weights[a.proj as usize];
            let mut by_time = 0.0;
            for (s, &(j, applied, factor)) in spiking.iter().enumerate() {
                if applied <= e {
                    continue;
                }
                let idx = if full {
                    syn.offsets[pre] + j
                } else {
                    match syn.index(pre, j) {
                        Some(idx) => idx,
                        None => continue,
                    }
                };
                let kr = &k[s * receptors + syn.receptor];
                let (mut dw, mut ds) = (0.0, 0.0);
                for m in 0..N {
                    let term = kr[m] * q[m];
                    dw += term;
                    ds -= lambda[m] * term;
                }
                weights[idx] += factor * dw;
                by_time += factor * ds * syn.w[idx];
            }
            lt[a.source as usize] += by_time;
        }
    }
}
