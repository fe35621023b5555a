//! The exact engine's stepped driver, for networks of linear neurons whose projections between
//! populations all have delays: time advances in steps no longer than the shortest such delay.
//!
//! Within a step no neuron can affect another (a spike arrives a delay later, in a later step),
//! so each neuron's step is its own business: its free evolution plus the arrivals of the step,
//! all known when the step begins. Most neurons are shown to stay below threshold for the whole
//! step by a bound of the threshold signal h (below) and moved to the step's end in closed form:
//! x <- P x + p plus, per arrival at t_a, its exact response w Phi(t1 - t_a) d (the flow is
//! affine, so the parts add). Every other neuron (near threshold, waiting after a spike-gap hit)
//! goes through the step as the queue driver moves it, arrival by arrival, with its resets,
//! refractoriness and spike-gap rule; the crossings between two arrivals come from `short`, a
//! finder for intervals this short that works on the same modes and never misses a crossing
//! either. So spike times are exact to rounding; they are not the queue driver's bits, because
//! the states advance and the roots are found by other floating-point operations.
//!
//! The bound. Along the free flow h(s) = sum_j c_j m_j(s), with modes m_j = e^{lambda_j s} or
//! s e^{lambda_j s} (a repeated eigenvalue) and c = T x + t from the Lie derivatives
//! (`crossing::mode_map`). On [0, L], h <= max(h(0), h(L)) + L^2/8 max|h''| (the interpolation
//! error of a C^2 function), and |h''| <= sum_j |c_j| w_j with w_j the largest |m_j''| there.
//! An arrival of weight w adds at most max(0, w kappa_max, w kappa_min), where
//! [kappa_min, kappa_max] bounds the response of h to a unit jump over [0, L] the same way
//! (0 because the arrival may come late in the step). A neuron is cleared when the sum stays
//! below zero by a relative margin far above rounding.
//!
//! Order at one time is the queue driver's: arrivals before crossings, and spikes recorded by
//! (time, population, neuron) after the input spikes.
//!
//! Threads. Each thread takes one range of every population's neurons (a [`Part`]). The calling
//! thread gathers a step's arrivals and computes their responses once; every part adds them to
//! its own neurons (the synapse lists are cut at the ranges once per run), sweeps them and runs
//! the exact path of those it marks; the calling thread then merges the parts' spikes in the
//! order above and files their arrivals by step. What a neuron computes, and the order in which
//! its arrivals are added, do not depend on the ranges, so a run gives the same bits on any
//! number of threads.
//!
//! Traces. A traced neuron the sweep clears is sampled from its state at the step's start: the
//! free flow to each sample of the step (one matrix and vector per sample and population) plus
//! the response of each arrival before the sample (one per arrival and sample, for all its
//! targets). A neuron on the exact path is sampled as the queue driver samples it, when it is
//! moved. Both are its exact trajectory, to rounding.
//!
//! What it does not do: event logs (gradients), forced spikes, spike limits, models
//! without the closed-form path or with more than five states, per-neuron parameters,
//! receptors that are not `x += w d`, projections between populations without delay, input
//! spikes before time 0. `EventEngine` runs the queue driver then.

use super::short;
use super::{BURST_GAP, EventEngine, InputSpikes, Run, SpikeRecord, TraceRequest};
use crate::ir::crossing::mode_map;
use crate::sema::hir::{InputId, Node, PopId};
use crate::sim::network::Synapses;
use crate::sim::spin::receive;
use std::mem::take;
use std::sync::Arc;
use std::sync::mpsc::channel;

/// Relative margin of the bound (far above its rounding, far below anything it must see).
const MARGIN: f64 = 1e-9;

/// Relative tolerance of the checks that the probed maps reproduce the model's functions.
const PROBE_TOLERANCE: f64 = 1e-7;

/// Most states a model may have here (a [`Line`] holds them and two more values).
const MAX_STATES: usize = 5;

/// Steps shorter than this fraction of the fastest time constant keep the bound tight.
const STEP_OF_FASTEST: f64 = 0.25;

/// Below this fraction of the fastest time constant a step (set by a short delay) is not worth
/// it: the queue driver runs instead.
const SHORTEST_STEP_OF_FASTEST: f64 = 0.01;

/// Most trace sample values a step may hold (states times neurons times samples per step):
/// beyond, the queue driver samples as it goes.
const MOST_SAMPLE_VALUES: f64 = (1u64 << 24) as f64;

/// What one step length needs of a population.
struct Step {
    /// The free flow over the step: x' = P x + p (`p_mat` row by row).
    p_mat: Vec<f64>,
    p_vec: Vec<f64>,
    /// Per mode: its value at 0 and at `len`, the bound of |m''| over the step times
    /// len^2 / 8, and the bounds of |m''| and |m| themselves (for `short`).
    m0: Vec<f64>,
    m1: Vec<f64>,
    curve: Vec<f64>,
    weight: Vec<f64>,
    size: Vec<f64>,
    /// Per receptor: the range of h's response to a unit jump over the step, and its size.
    kappa: Vec<(f64, f64, f64)>,
}

/// One population's model as the driver uses it.
struct PopPlan {
    /// c = T x + t, the coefficients of h's modes (`t_mat` has n values per mode).
    t_mat: Vec<f64>,
    t_vec: Vec<f64>,
    /// The modes' eigenvalues and powers (`crossing::mode_map`).
    lambda: Vec<f64>,
    power: Vec<u8>,
    /// Per receptor: the state jump of a unit weight.
    d: Vec<Vec<f64>>,
    /// The fixed point x_inf of the flow, and per receptor x_inf + d, so that one propagator
    /// call gives a jump's response (`None` without a fixed point: then two calls).
    fixed: Option<(Vec<f64>, Vec<Vec<f64>>)>,
    /// The parameters (the same for every neuron).
    params: Vec<f64>,
    full: Step,
    last: Step,
}

/// The driver's plan for one network: the step and every population's maps.
pub(super) struct Stepped {
    dt: f64,
    steps: usize,
    pops: Vec<PopPlan>,
    /// Per population: whether any of its states is traced.
    traced: Vec<bool>,
    /// The sweep runs in its AVX2 copy (x86-64 processors that have it).
    avx2: bool,
}

/// An arrival of a spike through a projection (at every target of `pre`).
#[derive(Clone, Copy)]
struct Arrival {
    t: f64,
    proj: u32,
    pre: u32,
}

impl Stepped {
    /// The plan for this engine's network, or `None` where the driver does not apply (see the
    /// module comment).
    pub(super) fn new(
        e: &EventEngine,
        record_log: bool,
        traces: Option<&TraceRequest>,
    ) -> Option<Stepped> {
        if record_log || e.forced.is_some() || e.max_spikes.is_some() {
            return None;
        }
        if traces.is_some_and(|r| !(r.dt > 0.0 && r.dt.is_finite())) {
            return None;
        }
        if !(e.t_max.is_finite() && e.t_max > 0.0) {
            return None;
        }
        let mut delay = f64::INFINITY;
        let mut linked = false;
        for p in &e.network.projections {
            if let Node::Pop(_) = p.pre {
                linked = true;
                delay = delay.min(p.delay);
            }
        }
        // Without links between populations the queue driver does no more work than needed.
        if !linked || delay.is_nan() || delay <= 0.0 {
            return None;
        }
        let mut fastest = 0.0f64;
        let mut models = Vec::new();
        for (pi, pop) in e.program.populations.iter().enumerate() {
            let kern = &e.kernels[pop.model.index()];
            if !kern.exact_events() || pop.size == 0 || kern.n > MAX_STATES {
                return None;
            }
            let ps = &e.network.params[pi];
            if ps
                .iter()
                .any(|q| q.iter().any(|v| v.to_bits() != q[0].to_bits()))
            {
                return None;
            }
            let params: Vec<f64> = ps.iter().map(|q| q[0]).collect();
            let mut args = vec![0.0; kern.n + kern.n_params];
            args[kern.n..].copy_from_slice(&params);
            let eig = kern.eigenvalues.as_ref()?;
            let mut lambdas = vec![0.0; eig.n_outputs()];
            eig.call(&args, &mut lambdas);
            fastest = lambdas.iter().fold(fastest, |m, l| m.max(l.abs()));
            models.push((params, lambdas));
        }
        // Strictly shorter than every delay, so that a spike's arrivals land in a later step
        // whatever the rounding of t + delay.
        let mut dt = (delay * (1.0 - 1e-6)).min(e.t_max);
        if fastest > 0.0 {
            dt = dt.min(STEP_OF_FASTEST / fastest);
            // Steps much shorter than the dynamics (a tiny delay) would cost more than events.
            if dt < SHORTEST_STEP_OF_FASTEST / fastest && dt < e.t_max {
                return None;
            }
        }
        let mut steps = (e.t_max / dt).ceil().max(1.0) as usize;
        while (steps - 1) as f64 * dt >= e.t_max && steps > 1 {
            steps -= 1;
        }
        while (steps as f64) * dt < e.t_max {
            steps += 1;
        }
        let last_len = e.t_max - (steps - 1) as f64 * dt;
        // The samples of a step are kept for every traced neuron until the step's end.
        let mut traced = vec![false; e.program.populations.len()];
        if let Some(req) = traces {
            for &(pop, _) in &req.states {
                traced[pop] = true;
            }
            let per_step = (dt / req.dt).ceil() + 1.0;
            let values: f64 = (0..traced.len())
                .filter(|&p| traced[p])
                .map(|p| {
                    let n = e.kernels[e.program.populations[p].model.index()].n;
                    (e.program.populations[p].size * n) as f64
                })
                .sum();
            if per_step * values > MOST_SAMPLE_VALUES {
                return None;
            }
        }
        let pops = e
            .program
            .populations
            .iter()
            .zip(&models)
            .map(|(pop, (params, lambdas))| {
                PopPlan::new(&e.kernels[pop.model.index()], params, lambdas, dt, last_len)
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Stepped {
            dt,
            steps,
            pops,
            traced,
            avx2: avx2_available(),
        })
    }
}

impl PopPlan {
    fn new(
        kern: &crate::sim::kernels::ModelKernels,
        params: &[f64],
        lambdas: &[f64],
        dt: f64,
        last_len: f64,
    ) -> Option<PopPlan> {
        let (n, k) = (kern.n, kern.n_params);
        let (power, inv) = mode_map(lambdas)?;
        let nm = lambdas.len();
        if kern.n_lie < nm || nm != n + 1 || n > MAX_STATES {
            return None;
        }
        let mut row = vec![0.0; n + k + 1];
        row[n..n + k].copy_from_slice(params);
        // c = inv L(x), with L(x) the Lie derivatives, affine in x: probed at 0 and at the unit
        // vectors.
        let mut lie = vec![0.0; kern.n_lie];
        let modes_at = |row: &[f64], lie: &mut Vec<f64>| -> Vec<f64> {
            kern.lie.call(&row[..n + k], lie);
            (0..nm)
                .map(|j| (0..nm).map(|m| inv[j][m] * lie[m]).sum())
                .collect()
        };
        let t_vec = modes_at(&row, &mut lie);
        let mut t_mat = vec![0.0; nm * n];
        for s in 0..n {
            row[s] = 1.0;
            let c = modes_at(&row, &mut lie);
            row[s] = 0.0;
            for j in 0..nm {
                t_mat[j * n + s] = c[j] - t_vec[j];
            }
        }
        // Per receptor, x += w d: probed at 0 and checked at the unit vectors and weight 2.
        let mut d = Vec::with_capacity(kern.jumps.len());
        let mut out = vec![0.0; n];
        for jump in &kern.jumps {
            row[n + k] = 1.0;
            jump.call(&row, &mut out);
            let dr = out.clone();
            let scale = dr.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            row[n + k] = 2.0;
            jump.call(&row, &mut out);
            if (0..n).any(|s| (out[s] - 2.0 * dr[s]).abs() > PROBE_TOLERANCE * scale) {
                return None;
            }
            for s in 0..n {
                row[s] = 1.0;
                row[n + k] = 1.0;
                jump.call(&row, &mut out);
                row[s] = 0.0;
                let moved = (0..n).any(|r| {
                    let want = dr[r] + if r == s { 1.0 } else { 0.0 };
                    (out[r] - want).abs() > PROBE_TOLERANCE * scale
                });
                if moved {
                    return None;
                }
            }
            d.push(dr);
        }
        row[n + k] = 0.0;
        let mut plan = PopPlan {
            t_mat,
            t_vec,
            lambda: lambdas.to_vec(),
            power: power[..nm].to_vec(),
            fixed: None,
            params: params.to_vec(),
            d,
            full: Step::empty(),
            last: Step::empty(),
        };
        plan.full = plan.step(kern, &mut row, lambdas, &power, dt)?;
        plan.last = plan.step(kern, &mut row, lambdas, &power, last_len)?;
        plan.fixed = fixed_point(&plan.full.p_mat, &plan.full.p_vec).map(|x| {
            let shifted = plan
                .d
                .iter()
                .map(|d| x.iter().zip(d).map(|(x, d)| x + d).collect())
                .collect();
            (x, shifted)
        });
        Some(plan)
    }

    /// What a step of length `len` needs, checked against the model's own functions.
    fn step(
        &self,
        kern: &crate::sim::kernels::ModelKernels,
        row: &mut [f64],
        lambdas: &[f64],
        power: &[u8; 6],
        len: f64,
    ) -> Option<Step> {
        let n = kern.n;
        let k = kern.n_params;
        let nm = lambdas.len();
        let prop = kern.propagate.as_ref()?;
        row[..n].fill(0.0);
        row[n + k] = len;
        let mut p_vec = vec![0.0; n];
        prop.call(row, &mut p_vec);
        let mut p_mat = vec![0.0; n * n];
        let mut out = vec![0.0; n];
        for s in 0..n {
            row[s] = 1.0;
            prop.call(row, &mut out);
            row[s] = 0.0;
            for r in 0..n {
                p_mat[r * n + s] = out[r] - p_vec[r];
            }
        }
        let mut m0 = vec![0.0; nm];
        let mut m1 = vec![0.0; nm];
        let mut curve = vec![0.0; nm];
        let mut weight = vec![0.0; nm];
        let mut size = vec![0.0; nm];
        for j in 0..nm {
            let (l, grow) = (lambdas[j], (lambdas[j] * len).exp().max(1.0));
            let (a, b, second, most) = if power[j] == 0 {
                (1.0, (l * len).exp(), l * l * grow, grow)
            } else {
                let second = (l * l * len + 2.0 * l.abs()) * grow;
                (0.0, len * (l * len).exp(), second, len * grow)
            };
            (m0[j], m1[j], curve[j]) = (a, b, second * len * len / 8.0);
            (weight[j], size[j]) = (second, most);
        }
        if m1.iter().chain(&curve).chain(&size).any(|v| !v.is_finite()) {
            return None;
        }
        // The modes must give h at both ends of the step, from 0 and every unit vector.
        let mut h = [0.0];
        for s in 0..=n {
            if s < n {
                row[s] = 1.0;
            }
            let c = self.modes(&row[..n]);
            kern.threshold.call(&row[..n + k], &mut h);
            let at0: f64 = (0..nm).map(|j| c[j] * m0[j]).sum();
            prop.call(row, &mut out);
            let saved: Vec<f64> = row[..n].to_vec();
            row[..n].copy_from_slice(&out);
            let mut h1 = [0.0];
            kern.threshold.call(&row[..n + k], &mut h1);
            row[..n].copy_from_slice(&saved);
            let at1: f64 = (0..nm).map(|j| c[j] * m1[j]).sum();
            let size: f64 = (0..nm)
                .map(|j| (c[j] * m0[j]).abs() + (c[j] * m1[j]).abs())
                .sum();
            if (at0 - h[0]).abs() > PROBE_TOLERANCE * size.max(h[0].abs())
                || (at1 - h1[0]).abs() > PROBE_TOLERANCE * size.max(h1[0].abs())
            {
                return None;
            }
            if s < n {
                row[s] = 0.0;
            }
        }
        let kappa = self
            .d
            .iter()
            .map(|dr| {
                let e: Vec<f64> = (0..nm)
                    .map(|j| (0..n).map(|s| self.t_mat[j * n + s] * dr[s]).sum())
                    .collect();
                let k0: f64 = (0..nm).map(|j| e[j] * m0[j]).sum();
                let k1: f64 = (0..nm).map(|j| e[j] * m1[j]).sum();
                let bend: f64 = (0..nm).map(|j| e[j].abs() * curve[j]).sum();
                let size: f64 = (0..nm)
                    .map(|j| e[j].abs() * (m0[j].abs() + m1[j].abs()))
                    .sum::<f64>()
                    + bend;
                (k0.min(k1) - bend, k0.max(k1) + bend, size)
            })
            .collect();
        row[n + k] = 0.0;
        Some(Step {
            p_mat,
            p_vec,
            m0,
            m1,
            curve,
            weight,
            size,
            kappa,
        })
    }

    /// The mode coefficients of state `x`.
    fn modes(&self, x: &[f64]) -> Vec<f64> {
        let n = x.len();
        (0..self.t_vec.len())
            .map(|j| self.t_vec[j] + (0..n).map(|s| self.t_mat[j * n + s] * x[s]).sum::<f64>())
            .collect()
    }
}

/// The fixed point of x -> P x + p (`p_mat` row by row), by Gaussian elimination with partial
/// pivoting on (I - P) x = p; `None` if there is none to rounding (a state that does not decay).
fn fixed_point(p_mat: &[f64], p_vec: &[f64]) -> Option<Vec<f64>> {
    let n = p_vec.len();
    let mut a: Vec<Vec<f64>> = (0..n)
        .map(|r| {
            let mut row: Vec<f64> = (0..n)
                .map(|c| f64::from(u8::from(r == c)) - p_mat[r * n + c])
                .collect();
            row.push(p_vec[r]);
            row
        })
        .collect();
    for col in 0..n {
        let piv = (col..n).max_by(|x, y| a[*x][col].abs().total_cmp(&a[*y][col].abs()))?;
        a.swap(col, piv);
        let d = a[col][col];
        if d.abs() <= 1e-9 {
            return None;
        }
        for r in 0..n {
            if r != col {
                let f = a[r][col] / d;
                for c in col..=n {
                    a[r][c] -= f * a[col][c];
                }
            }
        }
    }
    let x: Vec<f64> = (0..n).map(|r| a[r][n] / a[r][r]).collect();
    // It must be a fixed point to rounding.
    let moved = (0..n).any(|r| {
        let y: f64 = p_vec[r] + (0..n).map(|c| p_mat[r * n + c] * x[c]).sum::<f64>();
        (y - x[r]).abs() > PROBE_TOLERANCE * x[r].abs().max(p_vec[r].abs()).max(f64::MIN_POSITIVE)
    });
    (!moved && x.iter().all(|v| v.is_finite())).then_some(x)
}

impl Step {
    fn empty() -> Step {
        Step {
            p_mat: Vec::new(),
            p_vec: Vec::new(),
            m0: Vec::new(),
            m1: Vec::new(),
            curve: Vec::new(),
            weight: Vec::new(),
            size: Vec::new(),
            kappa: Vec::new(),
        }
    }
}

/// What the arrivals of the current step left on one neuron, in one cache line: their exact
/// responses at the step's end (`n` values), and last the bound's kick (with its margin).
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Line([f64; LINE]);

/// Values in a [`Line`].
const LINE: usize = 8;

/// Index of the kick and of its size in a [`Line`].
const KICK: usize = LINE - 1;

/// Per population, what the arrivals of the current step left on each neuron.
#[derive(Default)]
struct Pending {
    lines: Vec<Line>,
    /// The neuron had an arrival this step (kept only while some neuron is `stalled`).
    touched: Vec<bool>,
    /// Where the neuron goes through the step exactly: its list of arrivals.
    slot: Vec<u32>,
    /// After a spike-gap hit: the neuron waits for its next arrival (as the queue driver
    /// searches again only at its next event).
    stalled: Vec<bool>,
    /// How many neurons are `stalled`.
    waiting: usize,
}

const NO_SLOT: u32 = u32::MAX;

/// Adds one arrival's response `resp` (weight 1) to its targets, with weights `w`, and its
/// bound's kick `max(0, w kappa_max, w kappa_min)` plus its margin `|w| m`, computed as
/// `max(w up, -w down)` with `up = max(kappa_max, 0) + m` and `down = max(-kappa_min, 0) + m`
/// (the same for either sign of w, since kappa_min <= kappa_max).
fn scatter<const N: usize>(
    pd: &mut Pending,
    lo: u32,
    (targets, w): (&[u32], &[f64]),
    resp: &[f64; MAX_STATES],
    (kmin, kmax, margin): (f64, f64, f64),
) {
    let resp: [f64; N] = std::array::from_fn(|v| resp[v]);
    let (up, down) = (kmax.max(0.0) + margin, (-kmin).max(0.0) + margin);
    let track = pd.waiting > 0;
    for (&j, &w) in targets.iter().zip(w) {
        let j = (j - lo) as usize;
        let line = &mut pd.lines[j].0;
        for v in 0..N {
            line[v] += w * resp[v];
        }
        line[KICK] += (w * up).max(-w * down);
        if track {
            pd.touched[j] = true;
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Tests set this to run the portable sweep on processors with AVX2.
    static PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the sweep may run in its AVX2 copy.
fn avx2_available() -> bool {
    #[cfg(test)]
    if PORTABLE.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[allow(unreachable_code)]
    false
}

/// [`sweep`] compiled for AVX2 (the same operations on wider registers, so the same bits), for
/// processors that have it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sweep_avx2<const N: usize, const M: usize>(
    pp: &PopPlan,
    step: &Step,
    args: (&mut Pending, &mut super::PopState, (f64, bool)),
    pop: usize,
    marked: &mut Vec<(usize, usize)>,
) {
    sweep::<N, M>(pp, step, args, pop, marked)
}

/// [`sweep`] for `N` states, in its AVX2 copy where `avx2`.
fn sweep_any<const N: usize, const M: usize>(
    avx2: bool,
    pp: &PopPlan,
    step: &Step,
    args: (&mut Pending, &mut super::PopState, (f64, bool)),
    pop: usize,
    marked: &mut Vec<(usize, usize)>,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only where the processor reports AVX2 (`Stepped::new`).
        return unsafe { sweep_avx2::<N, M>(pp, step, args, pop, marked) };
    }
    let _ = avx2;
    sweep::<N, M>(pp, step, args, pop, marked)
}

/// One population's neurons for a step ending at `t1` (included when `closing`): each cleared by
/// the bound and moved to t1 in closed form (with its arrivals' responses), or marked for the
/// exact path (appended to `marked` and given a slot). `N` states, `M = N + 1` modes.
#[inline(always)]
fn sweep<const N: usize, const M: usize>(
    pp: &PopPlan,
    step: &Step,
    (pd, s, (t1, closing)): (&mut Pending, &mut super::PopState, (f64, bool)),
    pop: usize,
    marked: &mut Vec<(usize, usize)>,
) {
    debug_assert_eq!((s.n, pp.t_vec.len()), (N, M));
    let t_mat: [[f64; N]; M] =
        std::array::from_fn(|j| std::array::from_fn(|v| pp.t_mat[j * N + v]));
    let t_vec: [f64; M] = std::array::from_fn(|j| pp.t_vec[j]);
    let (m0, m1, curve): ([f64; M], [f64; M], [f64; M]) = (
        std::array::from_fn(|j| step.m0[j]),
        std::array::from_fn(|j| step.m1[j]),
        std::array::from_fn(|j| step.curve[j]),
    );
    // The size of the modes' values at the ends, for the margin.
    let ends: [f64; M] = std::array::from_fn(|j| m0[j].abs() + m1[j].abs());
    let p_mat: [[f64; N]; N] =
        std::array::from_fn(|r| std::array::from_fn(|c| step.p_mat[r * N + c]));
    let p_vec: [f64; N] = std::array::from_fn(|r| step.p_vec[r]);
    let stride = s.n + s.k + 1;
    let size = pd.lines.len();
    // GROUP neurons at a time, each lane's sums its own (so they run side by side).
    for i0 in (0..size).step_by(GROUP) {
        let lanes = GROUP.min(size - i0);
        let mut x = [[0.0f64; GROUP]; N];
        let mut kick = [0.0f64; GROUP];
        for l in 0..lanes {
            for v in 0..N {
                x[v][l] = s.rows[(i0 + l) * stride + v];
            }
            kick[l] = pd.lines[i0 + l].0[KICK];
        }
        let (mut h0, mut h1, mut bend, mut big) =
            ([0.0; GROUP], [0.0; GROUP], [0.0; GROUP], [0.0; GROUP]);
        for j in 0..M {
            let mut c = [t_vec[j]; GROUP];
            for v in 0..N {
                for l in 0..GROUP {
                    c[l] += t_mat[j][v] * x[v][l];
                }
            }
            for l in 0..GROUP {
                h0[l] += c[l] * m0[j];
                h1[l] += c[l] * m1[j];
                bend[l] += c[l].abs() * curve[j];
                big[l] += c[l].abs() * ends[j];
            }
        }
        let mut y = [[0.0f64; GROUP]; N];
        for r in 0..N {
            for l in 0..GROUP {
                let mut v = p_vec[r];
                for c in 0..N {
                    v += p_mat[r][c] * x[c][l];
                }
                y[r][l] = v;
            }
        }
        for l in 0..lanes {
            let i = i0 + l;
            let line = std::mem::take(&mut pd.lines[i]).0;
            let ru = s.refractory_until[i];
            // A neuron whose refractory period ends in the step is tested from then on; the
            // bound covers the whole step, so it clears that part too.
            let untested = ru > t1 || (ru == t1 && !closing);
            let through = if pd.stalled[i] {
                pd.touched[i]
            } else if untested {
                false
            } else {
                let bound = h0[l].max(h1[l]) + bend[l] + kick[l];
                let cleared = bound + MARGIN * (big[l] + bend[l]) < 0.0;
                !cleared
            };
            if through {
                pd.slot[i] = marked.len() as u32;
                marked.push((pop, i));
                continue;
            }
            for r in 0..N {
                s.rows[i * stride + r] = y[r][l] + line[r];
            }
            s.t_last[i] = t1;
        }
    }
}

/// Neurons swept side by side.
const GROUP: usize = 4;

/// What every part needs of one step.
struct StepData {
    t0: f64,
    t1: f64,
    closing: bool,
    /// The step's arrivals, in the queue driver's order.
    arrivals: Vec<Arrival>,
    /// Per arrival: its exact response at t1 to a unit weight, and its bound's kick
    /// (kappa_min, kappa_max, margin).
    resp: Vec<([f64; MAX_STATES], (f64, f64, f64))>,
    /// The trace samples in [t0, t1): index in the time grid, time.
    samples: Vec<(usize, f64)>,
    /// Per traced population, per sample: the free flow from t0 (`n * n` values of P row by
    /// row, then `n` of p).
    flows: Vec<Vec<f64>>,
    /// Per arrival into a traced population: the first sample at or after it, and where its
    /// responses to a unit weight at those samples begin in `late`.
    late_from: Vec<(usize, usize)>,
    late: Vec<[f64; MAX_STATES]>,
}

/// One thread's share of a run: the same range of neurons of every population, numbered from
/// 0 in its `run` (`range[pop].0` is neuron 0), with what its steps leave for the merge.
struct Part<'r, 'a> {
    run: Run<'r, 'a>,
    range: Vec<(u32, u32)>,
    /// [`cuts`] for `range`.
    cut: Vec<Vec<(u32, u32)>>,
    pending: Vec<Pending>,
    exact: Vec<(usize, usize)>,
    lists: Vec<Vec<(u32, f64)>>,
    /// The step's spikes (time, population, neuron of the whole population).
    fired: Vec<(f64, u32, u32)>,
    /// Their arrivals, with the step each falls in.
    sent: Vec<(usize, Arrival)>,
    /// Per traced population: its neurons' states at the step's trace samples (`n` values per
    /// sample, the samples of a neuron together), for the neurons the sweep clears.
    samples: Vec<Vec<f64>>,
}

/// What a helper sends back after a step: its spikes and their arrivals.
type Reply = (Vec<(f64, u32, u32)>, Vec<(usize, Arrival)>);

/// A part gets at least this many neurons (fewer are not worth a thread's messages).
const LEAST_PER_PART: usize = 512;

/// Runs the whole sample with the stepped driver (`plan` for this engine's network), on up to
/// `threads` threads. Each takes a range of every population's neurons; a step's arrivals and
/// their responses are computed once, the spikes of all ranges are merged in the order
/// (time, population, neuron). Nothing a neuron computes depends on the ranges, so the results
/// are the same bits for any number of threads.
pub(super) fn run(
    e: &EventEngine,
    plan: &Stepped,
    inputs: &InputSpikes,
    (traces, progress): (Option<&TraceRequest>, &mut dyn FnMut(f64)),
    threads: usize,
) -> (super::Outcome, super::Traces) {
    let t_max = e.t_max;
    let mut out = super::Outcome {
        limit_hits: vec![0; e.program.populations.len()],
        ..super::Outcome::default()
    };
    // The input spikes are recorded first, as the queue driver emits them, and their arrivals
    // sorted once.
    let mut from_inputs: Vec<Arrival> = Vec::new();
    for (input, spikes) in inputs.iter().enumerate() {
        let node = Node::Input(InputId(input as u32));
        for &(t, idx) in spikes {
            if t > t_max {
                continue;
            }
            out.spikes.push(SpikeRecord { node, idx, t });
            for (k, proj) in e.network.projections.iter().enumerate() {
                if proj.pre == node && !proj.targets[idx as usize].is_empty() {
                    let ta = t + proj.delay;
                    if ta <= t_max {
                        from_inputs.push(Arrival {
                            t: ta,
                            proj: k as u32,
                            pre: idx,
                        });
                    }
                }
            }
        }
    }
    from_inputs.sort_unstable_by_key(arrival_key);
    let mut next_input = 0;
    // Spike arrivals by step, in a ring long enough for the longest delay.
    let longest = e
        .network
        .projections
        .iter()
        .fold(0.0f64, |m, p| m.max(p.delay));
    let ring = (longest / plan.dt).ceil() as usize + 3;
    let mut buckets: Vec<Vec<Arrival>> = vec![Vec::new(); ring];
    let neurons: usize = e.program.populations.iter().map(|p| p.size).sum();
    let threads = threads.min(neurons / LEAST_PER_PART).max(1);
    let processors = std::thread::available_parallelism().map_or(1, |n| n.get());
    let spin = threads <= processors;
    let mut parts: Vec<Part> = (0..threads)
        .map(|p| Part::new(e, p, threads, traces))
        .collect();
    let times = traces.map(|r| super::TraceBuf::new(r, t_max, plan.traced.len()).out.times);
    let mut next_sample = 0;
    let mut data = Arc::new(StepData {
        t0: 0.0,
        t1: 0.0,
        closing: false,
        arrivals: Vec::new(),
        resp: Vec::new(),
        samples: Vec::new(),
        flows: vec![Vec::new(); plan.traced.len()],
        late_from: Vec::new(),
        late: Vec::new(),
    });
    let mut fired: Vec<(f64, u32, u32)> = Vec::new();
    let mut args: Vec<f64> = Vec::new();
    let helpers = parts.split_off(1);
    let mine = &mut parts[0];
    let mut theirs_done = Vec::new();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut lines = Vec::new();
        for mut part in helpers {
            let (task_tx, tasks) = channel::<Arc<StepData>>();
            let (replies, reply_rx) = channel::<Reply>();
            handles.push(scope.spawn(move || {
                while let Ok(d) = receive(&tasks, spin) {
                    part.step(plan, &d);
                    drop(d);
                    let reply = (take(&mut part.fired), take(&mut part.sent));
                    if replies.send(reply).is_err() {
                        break;
                    }
                }
                part.finish();
                part
            }));
            lines.push((task_tx, reply_rx));
        }
        for k in 0..plan.steps {
            let d = Arc::get_mut(&mut data).expect("every helper let go of the last step");
            d.t0 = k as f64 * plan.dt;
            d.closing = k + 1 == plan.steps;
            d.t1 = if d.closing {
                t_max
            } else {
                (k + 1) as f64 * plan.dt
            };
            if k % 64 == 0 {
                progress(d.t0);
            }
            d.arrivals.clear();
            d.arrivals.append(&mut buckets[k % ring]);
            while next_input < from_inputs.len() && (from_inputs[next_input].t < d.t1 || d.closing)
            {
                d.arrivals.push(from_inputs[next_input]);
                next_input += 1;
            }
            d.arrivals.sort_unstable_by_key(arrival_key);
            d.resp.clear();
            for a in &d.arrivals {
                d.resp
                    .push(response(e, plan, a, (d.t1, d.closing), &mut args));
            }
            if let Some(times) = &times {
                d.samples.clear();
                while next_sample < times.len() && times[next_sample] < d.t1 {
                    d.samples.push((next_sample, times[next_sample]));
                    next_sample += 1;
                }
                samples_of_step(e, plan, d, &mut args);
            }
            for (tasks, _) in &lines {
                tasks
                    .send(Arc::clone(&data))
                    .expect("a simulation thread panicked");
            }
            mine.step(plan, &data);
            fired.clear();
            fired.append(&mut mine.fired);
            let mut file = |sent: &mut Vec<(usize, Arrival)>| {
                for (step, a) in sent.drain(..) {
                    buckets[step % ring].push(a);
                }
            };
            file(&mut mine.sent);
            for (_, replies) in &lines {
                let (theirs, mut sent) =
                    receive(replies, spin).expect("a simulation thread panicked");
                fired.extend(theirs);
                file(&mut sent);
            }
            fired.sort_unstable_by_key(|&(t, pop, i)| (t.to_bits(), pop, i));
            for &(t, pop, i) in &fired {
                out.spikes.push(SpikeRecord {
                    node: Node::Pop(PopId(pop)),
                    idx: i,
                    t,
                });
            }
        }
        drop(lines);
        theirs_done = handles
            .into_iter()
            .map(|h| h.join().expect("a simulation thread panicked"))
            .collect();
    });
    mine.finish();
    let mut sampled = super::Traces::default();
    for (p, part) in std::iter::once(&mut parts[0])
        .chain(&mut theirs_done)
        .enumerate()
    {
        for (total, n) in out.limit_hits.iter_mut().zip(&part.run.out.limit_hits) {
            *total += n;
        }
        let Some(buf) = part.run.traces.take() else {
            continue;
        };
        if threads == 1 {
            sampled = buf.out;
            continue;
        }
        if p == 0 {
            sampled.times = buf.out.times.clone();
            sampled.values = buf
                .states
                .iter()
                .map(|&(pop, _)| vec![0.0; sampled.times.len() * e.program.populations[pop].size])
                .collect();
        }
        // This part's neurons into their places.
        for (r, &(pop, _)) in buf.states.iter().enumerate() {
            let (lo, size) = (part.range[pop].0 as usize, e.program.populations[pop].size);
            let local = part.run.pops[pop].size();
            for k in 0..sampled.times.len() {
                sampled.values[r][k * size + lo..k * size + lo + local]
                    .copy_from_slice(&buf.out.values[r][k * local..(k + 1) * local]);
            }
        }
    }
    (out, sampled)
}

/// A step's trace data (`d.samples` set): the free flow to each sample of every traced
/// population, and the responses of the arrivals into them at the samples after them.
fn samples_of_step(e: &EventEngine, plan: &Stepped, d: &mut StepData, args: &mut Vec<f64>) {
    for (pop, pp) in plan.pops.iter().enumerate() {
        d.flows[pop].clear();
        if !plan.traced[pop] {
            continue;
        }
        let prop = e.kernels[e.program.populations[pop].model.index()]
            .propagate
            .as_ref()
            .expect("checked: exact model");
        let n = e.kernels[e.program.populations[pop].model.index()].n;
        let mut out = vec![0.0; n];
        for &(_, ts) in &d.samples {
            let at = d.flows[pop].len();
            d.flows[pop].resize(at + n * n + n, 0.0);
            // p, then P column by column.
            for c in 0..=n {
                args.clear();
                args.extend((0..n).map(|v| f64::from(u8::from(v == c))));
                args.extend_from_slice(&pp.params);
                args.push(ts - d.t0);
                prop.call(args, &mut out);
                let f = &mut d.flows[pop][at..];
                if c == n {
                    f[n * n..].copy_from_slice(&out);
                } else {
                    for r in 0..n {
                        f[r * n + c] = out[r];
                    }
                }
            }
            let f = &mut d.flows[pop][at..];
            for r in 0..n {
                for c in 0..n {
                    f[r * n + c] -= f[n * n + r];
                }
            }
        }
    }
    d.late_from.clear();
    d.late.clear();
    for a in &d.arrivals {
        let post = e.network.projections[a.proj as usize].post;
        let first = d.samples.partition_point(|&(_, ts)| ts < a.t);
        d.late_from.push((first, d.late.len()));
        if plan.traced[post] {
            for &(_, ts) in &d.samples[first..] {
                d.late.push(unit_response(e, plan, a, ts - a.t, args));
            }
        }
    }
}

/// The queue driver's order of arrivals at one time.
fn arrival_key(a: &Arrival) -> (u64, u32, u32) {
    (a.t.to_bits(), a.proj, a.pre)
}

/// Arrival `a`'s exact response at the end `t1` of its step to a unit weight and its bound's
/// kick.
fn response(
    e: &EventEngine,
    plan: &Stepped,
    a: &Arrival,
    (t1, closing): (f64, bool),
    args: &mut Vec<f64>,
) -> ([f64; MAX_STATES], (f64, f64, f64)) {
    let syn = &e.network.projections[a.proj as usize];
    let pp = &plan.pops[syn.post];
    let step = if closing { &pp.last } else { &pp.full };
    let (kmin, kmax, ksize) = step.kappa[syn.receptor];
    let resp = unit_response(e, plan, a, t1 - a.t, args);
    (resp, (kmin, kmax, MARGIN * ksize))
}

/// Arrival `a`'s response to a unit weight `u` after it, Phi(u) d (the flow from x_inf + d
/// less x_inf, or from d less the flow from 0).
fn unit_response(
    e: &EventEngine,
    plan: &Stepped,
    a: &Arrival,
    u: f64,
    args: &mut Vec<f64>,
) -> [f64; MAX_STATES] {
    let syn = &e.network.projections[a.proj as usize];
    let (post, r) = (syn.post, syn.receptor);
    let pp = &plan.pops[post];
    let prop = e.kernels[e.program.populations[post].model.index()]
        .propagate
        .as_ref()
        .expect("checked: exact model");
    let n = pp.d[r].len();
    let mut resp = [0.0; MAX_STATES];
    let mut zero = [0.0; MAX_STATES];
    args.clear();
    let (from, base) = match &pp.fixed {
        Some((x_inf, shifted)) => (&shifted[r], Some(x_inf)),
        None => (&pp.d[r], None),
    };
    args.extend_from_slice(from);
    args.extend_from_slice(&pp.params);
    args.push(u);
    prop.call(args, &mut resp[..n]);
    match base {
        Some(x_inf) => zero[..n].copy_from_slice(x_inf),
        None => {
            args[..n].fill(0.0);
            prop.call(args, &mut zero[..n]);
        }
    }
    for v in 0..n {
        resp[v] -= zero[v];
    }
    resp
}

/// Per projection and presynaptic neuron, where its targets within `range` (of the
/// postsynaptic population) begin and end in its list of targets.
fn cuts(e: &EventEngine, range: &[(u32, u32)]) -> Vec<Vec<(u32, u32)>> {
    e.network
        .projections
        .iter()
        .map(|syn| {
            let (lo, hi) = range[syn.post];
            syn.targets
                .iter()
                .map(|targets| {
                    let a = targets.partition_point(|&j| j < lo);
                    let b = a + targets[a..].partition_point(|&j| j < hi);
                    (a as u32, b as u32)
                })
                .collect()
        })
        .collect()
}

/// Arrival `a`'s targets within a part and their weights (`cut` from [`cuts`]).
fn share<'s>(syn: &'s Synapses, a: &Arrival, cut: &[Vec<(u32, u32)>]) -> (&'s [u32], &'s [f64]) {
    let pre = a.pre as usize;
    let (from, to) = cut[a.proj as usize][pre];
    let (from, to) = (from as usize, to as usize);
    (&syn.targets[pre][from..to], &syn.row(pre)[from..to])
}

impl<'r, 'a> Part<'r, 'a> {
    /// Part `p` of `parts`: neurons from `size p / parts` (rounded down to a multiple of
    /// [`GROUP`]) of every population.
    fn new(
        e: &'r EventEngine<'a>,
        p: usize,
        parts: usize,
        traces: Option<&TraceRequest>,
    ) -> Part<'r, 'a> {
        let edge = |size: usize, p: usize| {
            if p == parts {
                size
            } else {
                size * p / parts / GROUP * GROUP
            }
        };
        let range: Vec<(u32, u32)> = e
            .program
            .populations
            .iter()
            .map(|q| (edge(q.size, p) as u32, edge(q.size, p + 1) as u32))
            .collect();
        let pops = range
            .iter()
            .enumerate()
            .map(|(pi, &(lo, hi))| e.pop_state(pi, lo as usize..hi as usize))
            .collect();
        let pending = range
            .iter()
            .map(|&(lo, hi)| {
                let size = (hi - lo) as usize;
                Pending {
                    lines: vec![Line::default(); size],
                    touched: vec![false; size],
                    slot: vec![NO_SLOT; size],
                    stalled: vec![false; size],
                    waiting: 0,
                }
            })
            .collect();
        Part {
            run: e.new_run(pops, false, traces, false),
            cut: cuts(e, &range),
            range,
            pending,
            exact: Vec::new(),
            lists: Vec::new(),
            fired: Vec::new(),
            sent: Vec::new(),
            samples: vec![Vec::new(); e.program.populations.len()],
        }
    }

    /// After the last step: the trace samples at t_max (every neuron is there).
    fn finish(&mut self) {
        self.run.close_traces();
    }

    /// This part's neurons through one step: the arrivals' responses and kicks scattered, the
    /// sweep, and the exact path of the neurons it marks.
    fn step(&mut self, plan: &Stepped, d: &StepData) {
        let e = self.run.e;
        let Part {
            run,
            range,
            cut,
            pending,
            exact,
            lists,
            fired,
            sent,
            samples,
        } = self;
        let (t0, t1, closing) = (d.t0, d.t1, d.closing);
        let sampling = run.traces.is_some() && !d.samples.is_empty();
        // The traced neurons' free flow to the step's samples, from their states at t0.
        if sampling {
            for (pop, buf) in samples.iter_mut().enumerate() {
                if d.flows[pop].is_empty() {
                    continue;
                }
                let s = &run.pops[pop];
                let (n, ns) = (s.n, d.samples.len());
                buf.clear();
                buf.resize(s.size() * ns * n, 0.0);
                for i in 0..s.size() {
                    let x = s.x(i);
                    for k in 0..ns {
                        let f = &d.flows[pop][k * (n * n + n)..(k + 1) * (n * n + n)];
                        let out = &mut buf[(i * ns + k) * n..(i * ns + k + 1) * n];
                        for r in 0..n {
                            let mut v = f[n * n + r];
                            for c in 0..n {
                                v += f[r * n + c] * x[c];
                            }
                            out[r] = v;
                        }
                    }
                }
            }
        }
        // The arrivals' exact responses at t1 and the bound's kicks, target by target.
        for (ai, (a, (resp, kick))) in d.arrivals.iter().zip(&d.resp).enumerate() {
            let syn = &e.network.projections[a.proj as usize];
            let post = syn.post;
            let lo = range[post].0;
            let targets = share(syn, a, cut);
            if sampling && !d.flows[post].is_empty() {
                // Its responses at the samples after it, into its targets' samples.
                let (first, at) = d.late_from[ai];
                let (n, ns) = (run.pops[post].n, d.samples.len());
                let late = &d.late[at..at + ns - first];
                let buf = &mut samples[post];
                for (&j, &w) in targets.0.iter().zip(targets.1) {
                    let i = (j - lo) as usize;
                    for (k, resp) in (first..ns).zip(late) {
                        let out = &mut buf[(i * ns + k) * n..(i * ns + k + 1) * n];
                        for r in 0..n {
                            out[r] += w * resp[r];
                        }
                    }
                }
            }
            let pd = &mut pending[post];
            match run.pops[post].n {
                1 => scatter::<1>(pd, lo, targets, resp, *kick),
                2 => scatter::<2>(pd, lo, targets, resp, *kick),
                3 => scatter::<3>(pd, lo, targets, resp, *kick),
                4 => scatter::<4>(pd, lo, targets, resp, *kick),
                _ => scatter::<5>(pd, lo, targets, resp, *kick),
            }
        }
        // Every neuron: cleared and moved in closed form, or marked for the exact path.
        exact.clear();
        for pop in 0..run.pops.len() {
            let pp = &plan.pops[pop];
            let step = if closing { &pp.last } else { &pp.full };
            let args = (&mut pending[pop], &mut run.pops[pop], (t1, closing));
            let avx2 = plan.avx2;
            match pp.t_vec.len() {
                2 => sweep_any::<1, 2>(avx2, pp, step, args, pop, exact),
                3 => sweep_any::<2, 3>(avx2, pp, step, args, pop, exact),
                4 => sweep_any::<3, 4>(avx2, pp, step, args, pop, exact),
                5 => sweep_any::<4, 5>(avx2, pp, step, args, pop, exact),
                6 => sweep_any::<5, 6>(avx2, pp, step, args, pop, exact),
                m => unreachable!("Stepped::new admits n + 1 modes for n <= 5, not {m}"),
            }
        }
        // The cleared traced neurons' samples (the marked ones are sampled on their exact path,
        // as the queue driver samples).
        if sampling && let Some(b) = run.traces.as_mut() {
            for (r, &(pop, state)) in b.states.iter().enumerate() {
                let (n, ns, size) = (run.pops[pop].n, d.samples.len(), run.pops[pop].size());
                let buf = &samples[pop];
                let pd = &pending[pop];
                // Sample by sample, so that the writes go along the output's rows.
                for (k, &(ks, _)) in d.samples.iter().enumerate() {
                    let row = &mut b.out.values[r][ks * size..(ks + 1) * size];
                    for (i, v) in row.iter_mut().enumerate() {
                        if pd.slot[i] == NO_SLOT {
                            *v = buf[(i * ns + k) * n + state];
                        }
                    }
                }
            }
        }
        // The marked neurons' arrivals, in order.
        if lists.len() < exact.len() {
            lists.resize_with(exact.len(), Vec::new);
        }
        for l in &mut lists[..exact.len()] {
            l.clear();
        }
        if !exact.is_empty() {
            for (ai, a) in d.arrivals.iter().enumerate() {
                let syn = &e.network.projections[a.proj as usize];
                let pd = &pending[syn.post];
                let lo = range[syn.post].0;
                let (targets, w) = share(syn, a, cut);
                for (&j, &w) in targets.iter().zip(w) {
                    let slot = pd.slot[(j - lo) as usize];
                    if slot != NO_SLOT {
                        lists[slot as usize].push((ai as u32, w));
                    }
                }
            }
        }
        for (slot, &(pop, i)) in exact.iter().enumerate() {
            let list = std::mem::take(&mut lists[slot]);
            let mut stalled = pending[pop].stalled[i];
            let mut cur = t0;
            let mut at = 0;
            let mut sink = Sink {
                plan,
                last: closing,
                lo: range[pop].0,
                fired,
                sent,
            };
            while at < list.len() {
                let ta = d.arrivals[list[at].0 as usize].t;
                // A spike-gap hit here waits for this very arrival.
                if !stalled {
                    run.scan(pop, i, (cur, ta, false), &mut sink);
                }
                run.advance(pop, i, ta);
                while at < list.len() && d.arrivals[list[at].0 as usize].t == ta {
                    let (ai, w) = list[at];
                    let r = e.network.projections[d.arrivals[ai as usize].proj as usize].receptor;
                    let jump = &e.kernels[e.program.populations[pop].model.index()].jumps[r];
                    run.apply(pop, i, jump.as_ref(), w);
                    at += 1;
                }
                stalled = false;
                cur = ta;
            }
            if !stalled {
                stalled = run.scan(pop, i, (cur, t1, closing), &mut sink);
            }
            run.advance(pop, i, t1);
            let pd = &mut pending[pop];
            if pd.stalled[i] != stalled {
                pd.stalled[i] = stalled;
                pd.waiting = if stalled {
                    pd.waiting + 1
                } else {
                    pd.waiting - 1
                };
            }
            pd.slot[i] = NO_SLOT;
            lists[slot] = list;
        }
        for pd in pending.iter_mut() {
            pd.touched.fill(false);
        }
    }
}

/// Where the exact path's spikes go: the plan and whether this is the last step, the first
/// neuron of the part's range, its spikes and their arrivals.
struct Sink<'s> {
    plan: &'s Stepped,
    last: bool,
    lo: u32,
    fired: &'s mut Vec<(f64, u32, u32)>,
    sent: &'s mut Vec<(usize, Arrival)>,
}

impl Run<'_, '_> {
    /// Finds and fires neuron `i`'s crossings in `[from, to)` (`[from, to]` when `closed`) from
    /// its state at `from`, as the queue driver would between two events. True if a crossing
    /// fell within the spike gap (a limit hit): the neuron then waits for its next arrival.
    fn scan(
        &mut self,
        pop: usize,
        i: usize,
        (mut from, to, closed): (f64, f64, bool),
        sink: &mut Sink,
    ) -> bool {
        let pp = &sink.plan.pops[pop];
        let step = if sink.last { &pp.last } else { &pp.full };
        let modes = short::Modes {
            lambda: &pp.lambda,
            power: &pp.power,
            weight: &step.weight,
            size: &step.size,
        };
        let (n, m) = (self.pops[pop].n, pp.t_vec.len());
        loop {
            let start = from.max(self.pops[pop].refractory_until[i]);
            if start > to || (start == to && !closed) {
                return false;
            }
            // Nothing happens to the neuron before `start`.
            self.advance(pop, i, start);
            let x = self.pops[pop].x(i);
            let mut c = [0.0; short::MODES];
            for j in 0..m {
                c[j] = pp.t_vec[j];
                for v in 0..n {
                    c[j] += pp.t_mat[j * n + v] * x[v];
                }
            }
            let Some(dt) = short::first_crossing(&modes, &c[..m], to - start) else {
                return false;
            };
            let t = start + dt;
            if t > to || (t == to && !closed) {
                return false;
            }
            if t <= self.pops[pop].quiet_until[i] {
                self.out.limit_hits[pop] += 1;
                return true;
            }
            self.fire(pop, i, t, sink);
            from = t;
        }
    }

    /// Neuron `i` spikes at `t`: reset, refractoriness, spike gap, and its arrivals with the
    /// steps they fall in.
    fn fire(&mut self, pop: usize, i: usize, t: f64, sink: &mut Sink) {
        let e = self.e;
        let plan = sink.plan;
        self.advance(pop, i, t);
        let reset = &e.kernels[e.program.populations[pop].model.index()].reset;
        self.apply(pop, i, reset.as_ref(), 0.0);
        let s = &mut self.pops[pop];
        s.count[i] += 1;
        s.quiet_until[i] = t + BURST_GAP * e.t_max;
        s.refractory_until[i] = t + s.t_ref[i];
        let g = sink.lo + i as u32;
        sink.fired.push((t, pop as u32, g));
        let node = Node::Pop(PopId(pop as u32));
        for (k, proj) in e.network.projections.iter().enumerate() {
            if proj.pre != node || proj.targets[g as usize].is_empty() {
                continue;
            }
            let ta = t + proj.delay;
            if ta > e.t_max {
                continue;
            }
            let mut step = ((ta / plan.dt) as usize).min(plan.steps - 1);
            while step > 0 && step as f64 * plan.dt > ta {
                step -= 1;
            }
            while step + 1 < plan.steps && (step + 1) as f64 * plan.dt <= ta {
                step += 1;
            }
            let arrival = Arrival {
                t: ta,
                proj: k as u32,
                pre: g,
            };
            sink.sent.push((step, arrival));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PORTABLE;
    use crate::sim::event::EventEngine;
    use crate::sim::kernels::{Backend, ModelKernels};
    use crate::sim::network::Network;

    /// The sweep's AVX2 copy and its portable code give the same spikes bit for bit (the same
    /// IEEE operations, no fused multiply-adds), on a recurrent E/I network of three-state
    /// neurons and one of two-state neurons.
    #[test]
    fn the_avx2_sweep_gives_the_portable_bits() {
        let ei = include_str!("../../../bench/ei_10k.snn")
            .replace("8000 LIF", "400 LIF")
            .replace("2000 LIF", "100 LIF")
            .replace("size = 2000", "size = 200")
            .replace("p = 0.01", "p = 0.2")
            .replace("t_max 1 s", "t_max 200 ms");
        let program = crate::driver::check_source("test.snn", &ei)
            .program
            .expect("the test program checks");
        let kernels: Vec<ModelKernels> = crate::driver::lower(&program)
            .iter()
            .map(|m| ModelKernels::new(m, Backend::Jit).expect("compiles"))
            .collect();
        let network = Network::build(&program, 5);
        let engine = EventEngine {
            program: &program,
            kernels: &kernels,
            network: &network,
            t_max: program.simulation.t_max,
            max_spikes: None,
            forced: None,
        };
        let inputs = crate::sim::inputs::generate(&program, 1, program.simulation.t_max);
        assert!(engine.steps(&inputs));
        let wide = engine.run(&inputs, false);
        PORTABLE.with(|p| p.set(true));
        let portable = engine.run(&inputs, false);
        PORTABLE.with(|p| p.set(false));
        let bits = |o: &crate::sim::event::Outcome| -> Vec<(u32, u64)> {
            o.spikes.iter().map(|s| (s.idx, s.t.to_bits())).collect()
        };
        assert!(wide.spikes.len() > 2000, "{}", wide.spikes.len());
        assert_eq!(bits(&wide), bits(&portable));
    }
}
