//! Feed-forward networks of linear neurons, simulated layer by layer in modal coordinates: the
//! fast path of the exact engine for training (forward pass and first-spike gradients).
//!
//! A linear model x' = A x + b whose eigenvalues lambda_m are distinct and non-zero moves
//! freely as x(t) = x_inf + sum_m v_m C_m e^{lambda_m t}, with right eigenvectors v_m, the fixed
//! point x_inf = -A^{-1} b and coefficients C_m taken at the absolute time origin (not at the
//! neuron's last event), which stay constant between events. An additive input jump x += w d at
//! time s adds w (u_m . d) e^{-lambda_m s} to C_m (u_m: the left eigenvectors), and the
//! threshold is h(t) = h_inf + sum_m (g . v_m) C_m e^{lambda_m t}. So the exponentials of an
//! arrival time are computed once for all of its targets, a neuron is a few numbers, and each
//! neuron is tested on each interval between arrivals (`bounds`): each term of h is monotone
//! in t, so on an interval h <= h_inf + sum_m max(term at the start, term at the end); for
//! eigenvalues a and 2a, h is a quadratic in z = e^{a t} whose largest value on the interval is
//! known exactly. Where the test does not rule a crossing out the search runs: for eigenvalues
//! a and 2a (tau_mem = 2 tau_syn) the largest root of that quadratic inside the interval (a
//! logarithm only for the root taken), accepted when h there is short of zero by at most a
//! Newton step of 1e-9 of the interval (the tolerance of `ir::crossing::check_root`) and moved
//! on by that step; otherwise the bound on eight pieces of the interval, and from the first
//! piece where it reaches zero the engine's crossing finder fed with Lie derivatives computed
//! from the coefficients. The bounds leave a relative slack far above their rounding, so
//! rounding never hides a crossing.
//!
//! An undelayed arrival from a population with the same eigenvalues takes e^{lambda_m t} from
//! its source's spike (where the quadratic's root gave it), not from a new exponential.
//!
//! When every projection into a layer is dense, the layer runs four neurons at a time through
//! all its intervals (the neurons' coefficients stay in registers and the loops over the four
//! vectorise); otherwise interval by interval, each arrival updating its targets. The
//! arithmetic per neuron is the same in both orders, so the results are the same bit for bit
//! (`Plan::arrival_major` forces the second order; `tests/modal.rs` compares them). On x86-64
//! the layer code is compiled a second time for AVX2 and that copy runs where the processor
//! has it; without fused multiply-adds it does the same operations, so the same bits
//! (`Plan::portable` forces the first copy; compared in the same test). A dense layer of
//! ratio-two neurons whose affine reset leaves them below threshold for good (a certificate per
//! spike) runs in two passes instead (`first`): first each neuron's first interval the exact
//! test lets through, without branches, then those spikes four at a time; where the
//! certificate or a root is in doubt the layer runs through the exact loop, so the results are
//! the same bits either way (`Plan::one_pass` forces the exact loop; compared in the same test).
//! Where the processor has AVX-512 both passes take eight neurons per register
//! (`first_avx512`), again with the same operations.
//!
//! What it does not do: state traces, replayed (forced) spikes, an event log, or anything but
//! training's forward and backward passes (simulation-only runs use the engine).
//!
//! Layers run in order (every projection runs forward, `network::layer_order`): all
//! arrivals of a layer are known once the layers before it are done. Arrivals at equal times are
//! all applied before the search from that time, as in the event engine, whose deliveries come
//! before crossings at equal times. A spike resets the neuron through the model's own reset:
//! when the IR shows it affine in the state (`ModelIr::reset_affine`), as a matrix and shift in
//! modal coordinates probed from the reset function once per plan; otherwise the reset function
//! applied to the state rebuilt from the coefficients.
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
//!
//! This file holds the plan and the forward pass; `modes` derives a model's modal form,
//! `bounds` holds the interval tests, `first` (with `first_avx2` and `first_avx512`) the
//! two-pass layers, `backward` the gradients, `sort` (with `sort_avx512`) the order of a
//! layer's spikes.

use super::event::{Outcome, SpikeRecord};
use super::kernels::ModelKernels;
use super::network::Network;
use crate::ir::crossing::{Scratch, check_root, next_crossing_in, ordered_roots, ratio_two_roots};
use crate::sema::hir::{InputId, Node, PopId, Program};

mod backward;
mod bounds;
mod first;
#[cfg(target_arch = "x86_64")]
mod first_avx2;
#[cfg(target_arch = "x86_64")]
mod first_avx512;
mod log;
mod modes;
mod sort;
#[cfg(target_arch = "x86_64")]
mod sort_avx512;

use bounds::{LANES, Quad, QuadInterval, bound, bound_lanes, clearly_below, quad_bound};

use modes::Modes;
use sort::sort_by_time;

/// Largest |lambda| t_max for which e^{-lambda t} stays far from overflow.
const MAX_EXPONENT: f64 = 300.0;

/// Whether this processor runs the AVX2 copy of the layer code.
fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// Whether this processor runs the AVX-512 passes of two-pass layers (`first_avx512`).
fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// Pieces an interval is cut into when its bound does not rule a neuron out.
const PIECES: usize = 8;

/// Most states a model may have here (the loops are compiled for each count up to it).
const MAX_STATES: usize = 4;

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
    /// Per projection: every presynaptic neuron reaches every postsynaptic one.
    dense: Vec<bool>,
    /// Per projection: its spikes arrive undelayed from a population with the same eigenvalues,
    /// so e^{lambda_m t} at an arrival is the one its source's spike computed.
    carries: Vec<bool>,
    /// The layers run in their AVX2 copy (x86-64 processors that have it).
    avx2: bool,
    /// Whether both passes of two-pass layers run in AVX-512 (`first_avx512`; x86-64
    /// processors with AVX-512F, and only with `avx2`).
    avx512: bool,
    /// Per population: the range of its receptor's response to a unit weight, where the layer
    /// may run in two passes (`first`: ratio-two modes, an affine reset, one receptor).
    kappa: Vec<Option<(f64, f64)>>,
}

/// One arrival at a layer: time, projection, presynaptic index, source spike id.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    t: f64,
    proj: u32,
    pre: u32,
    source: u32,
}

/// An interval between a layer's arrival times (the first from 0, the last to t_max), with
/// p = e^{lambda_m t} and g_m p at both ends, and the arrivals at its end (`start..end`).
#[derive(Clone, Copy, Debug)]
struct Interval<const N: usize> {
    t0: f64,
    t1: f64,
    p0: [f64; N],
    gp0: [f64; N],
    p1: [f64; N],
    gp1: [f64; N],
    /// Arrivals before the interval, and up to its end.
    start: usize,
    end: usize,
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
    /// d_m e^{-lambda_m s} of every arrival (d: its receptor's jump in modal coordinates), the
    /// coefficient a unit weight adds, `n` per arrival.
    dq: Vec<f64>,
    fired: Vec<Option<Fired>>,
    /// e^{lambda_m t} at each fired neuron's spike, and e^{-lambda_m t}, `n` per neuron.
    p_fired: Vec<f64>,
    q_fired: Vec<f64>,
}

/// Buffers of one run.
#[derive(Default)]
struct Work {
    /// Buffers whose type depends on the model's state count (`Kept`).
    kept: Kept,
    finder: Scratch,
    args: Vec<f64>,
    x: Vec<f64>,
    /// The neurons a bound could not rule out on the current interval.
    candidates: Vec<u32>,
    /// A layer's spikes as (time, neuron), to be numbered in order.
    fired: Vec<(f64, u32)>,
    /// Spikes of every input and population as (time, index, id), in time order.
    input_spikes: Vec<Vec<(f64, u32, u32)>>,
    pop_spikes: Vec<Vec<(f64, u32, u32)>>,
    /// Scratch space of `sort_by_time`.
    sort: sort::Scratch,
    /// The neurons the first pass of `first` found opening an interval.
    opened: Vec<first::Opened>,
    /// Layers of this run that ran in two passes.
    two_pass: usize,
    /// The coefficients of the layer being run, `n` per neuron.
    coef: Vec<f64>,
    /// The layers of finished runs, for the next run to fill (see `Drop for Run`).
    spare: Vec<Vec<Layer>>,
    /// The spike list of a finished run, for the next run's outcome.
    spikes: Vec<SpikeRecord>,
    /// The spike-limit counts of a finished run, likewise.
    limit_hits: Vec<u64>,
}

/// Vectors kept from run to run by element type (a few types: intervals and arrivals for each
/// state count), handed out empty.
#[derive(Default)]
struct Kept(Vec<Box<dyn std::any::Any>>);

impl Kept {
    /// The kept vector of `T`, cleared (a new one the first time).
    fn take<T: 'static>(&mut self) -> Vec<T> {
        let kept = self.0.iter_mut().find_map(|b| b.downcast_mut::<Vec<T>>());
        let mut v = kept.map(std::mem::take).unwrap_or_default();
        v.clear();
        v
    }

    /// Keeps `v` for the next [`Kept::take`] of its type.
    fn put<T: 'static>(&mut self, v: Vec<T>) {
        match self.0.iter_mut().find_map(|b| b.downcast_mut::<Vec<T>>()) {
            Some(slot) => *slot = v,
            None => self.0.push(Box::new(v)),
        }
    }
}

/// `v` emptied, as a vector of `B` in the same allocation where the layouts agree (the
/// standard library collects a mapped `IntoIter` in place): how a buffer of borrowed slices
/// outlives one run's borrows.
fn relabel<A, B>(mut v: Vec<A>) -> Vec<B> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// Appends to `v` the values `fill` pushes into its [`Appender`], at most `room` of them, with
/// the space reserved beforehand: the loop that pushes makes no call to grow the vector (such a
/// call, cold as it is, has the loop keep its values in memory rather than in registers, and
/// only a push past `room` panics instead).
fn append<T, R>(v: &mut Vec<T>, room: usize, fill: impl FnOnce(&mut Appender<'_, T>) -> R) -> R {
    v.reserve(room);
    let len = v.len();
    let mut out = Appender {
        free: &mut v.spare_capacity_mut()[..room],
        written: 0,
    };
    let r = fill(&mut out);
    let written = out.written;
    // SAFETY: `Appender::push` wrote the first `written` places past the length.
    unsafe { v.set_len(len + written) };
    r
}

/// The reserved places past a vector's end, written in order ([`append`]).
struct Appender<'a, T> {
    free: &'a mut [std::mem::MaybeUninit<T>],
    written: usize,
}

impl<T> Appender<'_, T> {
    #[inline(always)]
    fn push(&mut self, value: T) {
        self.free[self.written].write(value);
        self.written += 1;
    }
}

thread_local! {
    /// Each thread's buffers, kept from run to run (the finder keeps its prepared eigenvalues).
    static WORK: std::cell::RefCell<Work> = std::cell::RefCell::default();
}

/// Clears `lists` down to `n` empty lists, keeping their buffers.
fn reuse<T>(lists: &mut Vec<Vec<T>>, n: usize) {
    lists.resize_with(n, Vec::new);
    for l in lists.iter_mut() {
        l.clear();
    }
}

/// One sample's forward run: the spikes (as the engine reports them, without event log) and
/// what [`Plan::backward`] needs.
pub struct Run {
    pub outcome: Outcome,
    layers: Vec<Layer>,
    /// How many layers ran in two passes (`first`).
    two_pass: usize,
}

impl Run {
    /// How many layers ran in two passes (`first`; the others through the exact loop): for
    /// tests and benchmarks.
    pub fn two_pass_layers(&self) -> usize {
        self.two_pass
    }

    /// The first spike of each neuron of population `pop` as [`Outcome::first_spikes`] gives
    /// it (time and spike id; infinite and `None` for a silent neuron), read from the layer
    /// (each neuron spikes at most once here) instead of from the whole spike list.
    pub fn first_spikes(&self, pop: usize) -> Vec<(f64, Option<u32>)> {
        let mut out = Vec::new();
        self.first_spikes_into(pop, &mut out);
        out
    }

    /// [`Run::first_spikes`] into `out` (its contents replaced).
    pub fn first_spikes_into(&self, pop: usize, out: &mut Vec<(f64, Option<u32>)>) {
        out.clear();
        out.extend(
            self.layers[pop]
                .fired
                .iter()
                .map(|f| f.map_or((f64::INFINITY, None), |f| (f.t, Some(f.id)))),
        );
    }

    /// The spikes, without what the backward pass needs.
    pub fn into_outcome(mut self) -> Outcome {
        let empty = Outcome {
            spikes: Vec::new(),
            limit_hits: Vec::new(),
            log: None,
        };
        std::mem::replace(&mut self.outcome, empty)
    }
}

impl Drop for Run {
    /// Hands the layers' buffers back to this thread's next run (no allocation per sample).
    fn drop(&mut self) {
        let layers = std::mem::take(&mut self.layers);
        let spikes = std::mem::take(&mut self.outcome.spikes);
        let limit_hits = std::mem::take(&mut self.outcome.limit_hits);
        // `try_with`: during thread teardown the buffers are simply freed.
        let _ = WORK.try_with(|w| {
            if let Ok(mut w) = w.try_borrow_mut() {
                if w.spare.len() < 4 {
                    w.spare.push(layers);
                }
                if spikes.capacity() > w.spikes.capacity() {
                    w.spikes = spikes;
                }
                if limit_hits.capacity() > w.limit_hits.capacity() {
                    w.limit_hits = limit_hits;
                }
            }
        });
    }
}

/// Gradients by every weight (same layout as the weights), and how many spikes had a nearly
/// flat threshold crossing.
pub struct Gradients {
    pub weights: Vec<Vec<f64>>,
    pub near_grazing: u32,
}

/// An arrival's weights by target and its d_m e^{-lambda_m s}.
type Weighed<'w, const N: usize> = (&'w [f64], [f64; N]);

/// The intervals of a layer whose arrivals all come through one projection `syn` (receptor
/// jump `d` in modal coordinates, threshold row `g`), into `ivs` and `arr` (per arrival its
/// weights by target and `dq` = d_m e^{-lambda_m s}, also written to `dqs`); `end` is the
/// interval that ends at 0 and comes back as the last one pushed. `exps` gives the
/// exponentials e^{lambda_m t} and e^{-lambda_m t} of an arrival from its presynaptic neuron
/// and time (from its source spike, or computed).
/// Returns the number of arrivals taken (all of them). Kept out of the layer code so that
/// its loop keeps its values in registers (and writing through [`append`]).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn single_intervals<'w, const N: usize>(
    arrs: &[Arrival],
    syn: &'w super::network::Synapses,
    (d, g): ([f64; N], [f64; N]),
    exps: impl Fn(usize, f64) -> ([f64; N], [f64; N]),
    dqs: &mut [[f64; N]],
    (ivs, arr): (&mut Vec<Interval<N>>, &mut Vec<Weighed<'w, N>>),
    end: &mut Interval<N>,
) -> usize {
    let arrivals = arrs.len();
    // At most one interval per arrival.
    append(ivs, arrivals, |ivs| {
        append(arr, arrivals, |arr| {
            // The last interval in locals, not behind `end`: each new one is built from the
            // last one's end in registers (loads of a struct just written field by field stall
            // the processor).
            let mut last = *end;
            let mut next = 0;
            while next < arrivals {
                let t1 = arrs[next].t;
                let pre = arrs[next].pre as usize;
                let (p1, q1) = exps(pre, t1);
                let start = next;
                let dq: [f64; N] = std::array::from_fn(|m| d[m] * q1[m]);
                loop {
                    dqs[next] = dq;
                    arr.push((syn.row(arrs[next].pre as usize), dq));
                    next += 1;
                    if next == arrivals || arrs[next].t != t1 {
                        break;
                    }
                }
                last = Interval {
                    t0: last.t1,
                    t1,
                    p0: last.p1,
                    gp0: last.gp1,
                    p1,
                    gp1: std::array::from_fn(|m| g[m] * p1[m]),
                    start,
                    end: next,
                };
                ivs.push(last);
            }
            *end = last;
            next
        })
    })
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
        let dense = net
            .projections
            .iter()
            .map(|s| s.targets.iter().all(|t| t.len() == s.n_post))
            .collect();
        let carries = net
            .projections
            .iter()
            .map(|s| match s.pre {
                Node::Pop(p) => {
                    let (a, b) = (&modes[p.index()], &modes[s.post]);
                    s.delay == 0.0
                        && a.ratio_two == b.ratio_two
                        && a.lambda
                            .iter()
                            .map(|x| x.to_bits())
                            .eq(b.lambda.iter().map(|x| x.to_bits()))
                }
                Node::Input(_) => false,
            })
            .collect();
        let kappa = (0..program.populations.len())
            .map(|pop| {
                let md = &modes[pop];
                let receptor = net.projections[*into[pop].first()?].receptor;
                let one = into[pop]
                    .iter()
                    .all(|&k| net.projections[k].receptor == receptor);
                if !one || md.reset.is_none() {
                    return None;
                }
                first::kernel_range(md, &md.d[receptor], t_max)
            })
            .collect();
        Some(Plan {
            kappa,
            dense,
            carries,
            avx2: avx2_available(),
            avx512: avx2_available() && avx512_available(),
            program,
            kernels,
            net,
            t_max,
            order,
            modes,
            into,
        })
    }

    /// The same plan without the AVX2 copy of the layer code (for tests: the results are the
    /// same bit for bit).
    pub fn portable(mut self) -> Plan<'a> {
        self.avx2 = false;
        self.avx512 = false;
        self
    }

    /// The same plan without the AVX-512 passes, so that the AVX2 copies take every group of
    /// a two-pass layer (for tests on processors with AVX-512: the results are the same bits).
    pub fn without_avx512(mut self) -> Plan<'a> {
        self.avx512 = false;
        self
    }

    /// The same plan without the two-pass layers of `first` (for tests: the results are the
    /// same bit for bit).
    pub fn one_pass(mut self) -> Plan<'a> {
        self.kappa.fill(None);
        self
    }

    /// The same plan running every layer arrival by arrival (for tests and benchmarks: the
    /// results are the same bit for bit as in the neuron-by-neuron order of dense layers).
    pub fn arrival_major(mut self) -> Plan<'a> {
        self.dense.fill(false);
        self
    }

    /// Simulates one sample; `None` if a neuron would spike twice (use the event engine).
    pub fn run<S: AsRef<[(f64, u32)]>>(&self, inputs: &[S]) -> Option<Run> {
        let npops = self.program.populations.len();
        let neurons: usize = self.program.populations.iter().map(|p| p.size).sum();
        let given: usize = inputs.iter().map(|s| s.as_ref().len()).sum();
        // Negative (or NaN) times are the engine's business.
        if inputs
            .iter()
            .flat_map(|s| s.as_ref())
            .any(|&(t, _)| t < 0.0 || t.is_nan())
        {
            return None;
        }
        let mut work = WORK.with(|w| w.take());
        let mut spikes = std::mem::take(&mut work.spikes);
        spikes.clear();
        spikes.reserve(given + neurons);
        let mut limit_hits = std::mem::take(&mut work.limit_hits);
        limit_hits.clear();
        limit_hits.resize(npops, 0);
        let mut outcome = Outcome {
            spikes,
            limit_hits,
            log: None,
        };
        // Spikes of every node as (time, index, id): inputs first, as the engine numbers them.
        let mut input_spikes = std::mem::take(&mut work.input_spikes);
        let mut pop_spikes = std::mem::take(&mut work.pop_spikes);
        reuse(&mut input_spikes, inputs.len());
        reuse(&mut pop_spikes, npops);
        for (input, spikes) in inputs.iter().enumerate() {
            for &(t, idx) in spikes.as_ref() {
                if t <= self.t_max {
                    let id = outcome.spikes.len() as u32;
                    outcome.spikes.push(SpikeRecord {
                        node: Node::Input(InputId(input as u32)),
                        idx,
                        t,
                    });
                    input_spikes[input].push((t, idx, id));
                }
            }
        }
        let mut layers = work.spare.pop().unwrap_or_default();
        layers.resize_with(npops, Layer::default);
        let mut ran_all = true;
        for &pop in &self.order {
            // Out of the list while it runs, so that it can read the layers before it.
            let mut layer = std::mem::take(&mut layers[pop]);
            layer.arrivals.clear();
            let incoming: usize = self.into[pop]
                .iter()
                .map(|&k| match self.net.projections[k].pre {
                    Node::Input(i) => input_spikes[i.index()].len(),
                    Node::Pop(p) => pop_spikes[p.index()].len(),
                })
                .sum();
            append(&mut layer.arrivals, incoming, |arrivals| {
                for &k in &self.into[pop] {
                    let syn = &self.net.projections[k];
                    let source = match syn.pre {
                        Node::Input(i) => &input_spikes[i.index()],
                        Node::Pop(p) => &pop_spikes[p.index()],
                    };
                    // Every source reaches a target of a dense projection.
                    let dense = self.dense[k];
                    for &(t, idx, id) in source {
                        let ta = t + syn.delay;
                        if ta <= self.t_max && (dense || !syn.targets[idx as usize].is_empty()) {
                            arrivals.push(Arrival {
                                t: ta,
                                proj: k as u32,
                                pre: idx,
                                source: id,
                            });
                        }
                    }
                }
            });
            // The keys are unique, so an unstable sort gives one order.
            // (Times are not negative, so their bits sort as they do.)
            // From one projection they often come sorted already, and from one undelayed
            // projection of a population always (a layer's spikes are numbered in order of
            // time, then neuron), so that case skips even the test.
            let key = |a: &Arrival| (a.t.to_bits(), a.proj, a.pre, a.source);
            let presorted = match self.into[pop][..] {
                [k] => {
                    let syn = &self.net.projections[k];
                    matches!(syn.pre, Node::Pop(_)) && syn.delay == 0.0
                }
                _ => false,
            };
            debug_assert!(!presorted || layer.arrivals.is_sorted_by_key(key));
            if !presorted && !layer.arrivals.is_sorted_by_key(key) {
                layer.arrivals.sort_unstable_by_key(key);
            }
            if self
                .run_layer(pop, &mut layer, &layers, &mut work)
                .is_none()
            {
                layers[pop] = layer;
                ran_all = false;
                break;
            }
            let fired = &mut work.fired;
            fired.clear();
            append(fired, layer.fired.len(), |out| {
                for (j, f) in layer.fired.iter().enumerate() {
                    if let Some(f) = f {
                        out.push((f.t, j as u32));
                    }
                }
            });
            sort_by_time(fired, self.t_max, &mut work.sort, self.avx512);
            let first_id = outcome.spikes.len() as u32;
            append(&mut outcome.spikes, fired.len(), |records| {
                append(&mut pop_spikes[pop], fired.len(), |spikes| {
                    for (&(t, j), id) in fired.iter().zip(first_id..) {
                        records.push(SpikeRecord {
                            node: Node::Pop(PopId(pop as u32)),
                            idx: j,
                            t,
                        });
                        if let Some(f) = layer.fired[j as usize].as_mut() {
                            f.id = id;
                        }
                        spikes.push((t, j, id));
                    }
                })
            });
            layers[pop] = layer;
        }
        work.input_spikes = input_spikes;
        work.pop_spikes = pop_spikes;
        let two_pass = std::mem::take(&mut work.two_pass);
        if !ran_all && work.spare.len() < 4 {
            work.spare.push(layers);
            WORK.with(|w| w.replace(work));
            return None;
        }
        WORK.with(|w| w.replace(work));
        ran_all.then_some(Run {
            outcome,
            layers,
            two_pass,
        })
    }

    /// Runs one population over its sorted arrivals; `None` if a neuron spikes twice.
    /// `done` holds the layers before it (the exponentials of their spikes, `p_fired` and
    /// `q_fired`). Compiled twice on x86-64, and the AVX2 copy taken where the processor has
    /// it: the same operations on wider registers, so the same bits (`Plan::portable`).
    fn run_layer(
        &self,
        pop: usize,
        layer: &mut Layer,
        done: &[Layer],
        work: &mut Work,
    ) -> Option<()> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where the processor reports AVX2 (`Plan::new`).
            return unsafe { self.run_layer_avx2(pop, layer, done, work) };
        }
        self.run_layer_any(pop, layer, done, work)
    }

    /// [`Plan::run_layer`] compiled for AVX2 (the code it inlines included).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_layer_avx2(
        &self,
        pop: usize,
        layer: &mut Layer,
        done: &[Layer],
        work: &mut Work,
    ) -> Option<()> {
        self.run_layer_any(pop, layer, done, work)
    }

    /// [`Plan::run_layer`] for the processor it is compiled for.
    #[inline(always)]
    fn run_layer_any(
        &self,
        pop: usize,
        layer: &mut Layer,
        done: &[Layer],
        work: &mut Work,
    ) -> Option<()> {
        match self.modes[pop].n {
            1 => self.run_layer_n::<1>(pop, layer, done, work),
            2 => self.run_layer_n::<2>(pop, layer, done, work),
            3 => self.run_layer_n::<3>(pop, layer, done, work),
            4 => self.run_layer_n::<4>(pop, layer, done, work),
            n => unreachable!("Plan::new admits at most {MAX_STATES} states, not {n}"),
        }
    }

    /// [`Plan::run_layer`] for a model of `N` states (the loops unrolled by the compiler).
    ///
    /// The arrivals at one time form a group; the interval ends are 0, the group times and
    /// t_max, with e^{lambda_m t} and g_m e^{lambda_m t} computed once per end (or taken from
    /// the source spike, `Plan::carries`). A neuron is tested on each interval in turn
    /// (`Plan::candidate`), and the arrivals at the interval's end are applied before the next
    /// one. When every projection into the layer is dense,
    /// the layer runs neuron by neuron (each neuron's coefficients stay in registers); otherwise
    /// arrival by arrival, over every target of the arrival. Both orders do the same
    /// arithmetic per neuron, so they give the same results bit for bit.
    #[inline(always)]
    fn run_layer_n<const N: usize>(
        &self,
        pop: usize,
        layer: &mut Layer,
        done: &[Layer],
        work: &mut Work,
    ) -> Option<()> {
        let md = &self.modes[pop];
        let size = self.program.populations[pop].size;
        let g: [f64; N] = std::array::from_fn(|m| md.g[m]);
        let arrivals = layer.arrivals.len();
        layer.fired.clear();
        layer.fired.resize(size, None);
        // Sized, not cleared: a neuron's exponentials are written when it fires and read only
        // for neurons that fired, and every arrival's `dq` is written below.
        layer.p_fired.resize(size * N, 0.0);
        layer.q_fired.resize(size * N, 0.0);
        layer.dq.resize(arrivals * N, 0.0);
        let p_at = |t: f64| -> [f64; N] {
            match md.ratio_two {
                // e^{2 a t} is the square of e^{a t} (to rounding, which the bounds allow for).
                Some((_, ib, a)) => {
                    let z = (a * t).exp();
                    std::array::from_fn(|m| if m == ib { z * z } else { z })
                }
                None => std::array::from_fn(|m| (md.lambda[m] * t).exp()),
            }
        };
        // The intervals, and per arrival its weights (by target) and d_r e^{-lambda_m s}.
        // This thread's buffers of earlier layers (allocated and first touched once).
        let mut ivs: Vec<Interval<N>> = work.kept.take();
        let mut arr: Vec<(&[f64], [f64; N])> =
            relabel(work.kept.take::<(&'static [f64], [f64; N])>());
        ivs.reserve(arrivals + 1);
        arr.reserve(arrivals);
        let mut end = Interval {
            t0: 0.0,
            t1: 0.0,
            p0: [1.0; N],
            gp0: g,
            p1: [1.0; N],
            gp1: g,
            start: 0,
            end: 0,
        };
        // One projection into the layer (the common case): its lookups hoisted, and the
        // exponentials its source spikes carry (`Plan::carries`) as arrays by neuron.
        let single = match self.into[pop][..] {
            [k] => {
                let syn = &self.net.projections[k];
                let d: [f64; N] = std::array::from_fn(|m| md.d[syn.receptor][m]);
                let carried = match syn.pre {
                    Node::Pop(src) if self.carries[k] => Some((
                        done[src.index()].p_fired.as_chunks::<N>().0,
                        done[src.index()].q_fired.as_chunks::<N>().0,
                    )),
                    _ => None,
                };
                Some((syn, d, carried))
            }
            _ => None,
        };
        let mut next = 0;
        // One projection: its arrivals in a loop of their own (the general one below then only
        // closes the last interval).
        if let Some((syn, d, carried)) = single {
            let dqs = layer.dq.as_chunks_mut::<N>().0;
            // One copy of the loop each way (one that calls `exp` keeps its values in memory).
            next = match carried {
                Some((p, q)) => single_intervals::<N>(
                    &layer.arrivals,
                    syn,
                    (d, g),
                    |pre, _| (p[pre], q[pre]),
                    dqs,
                    (&mut ivs, &mut arr),
                    &mut end,
                ),
                None => single_intervals::<N>(
                    &layer.arrivals,
                    syn,
                    (d, g),
                    |_, t| {
                        let p = p_at(t);
                        (p, md.inverse(&p))
                    },
                    dqs,
                    (&mut ivs, &mut arr),
                    &mut end,
                ),
            };
        }
        loop {
            let closing = next == arrivals;
            let t1 = if closing {
                self.t_max
            } else {
                layer.arrivals[next].t
            };
            // From the first arrival's source spike where it carries e^{lambda_m t} and
            // e^{-lambda_m t}.
            let (p1, q1) = match layer.arrivals.get(next) {
                Some(a) if self.carries[a.proj as usize] => {
                    let Node::Pop(src) = self.net.projections[a.proj as usize].pre else {
                        unreachable!("only population spikes carry exponentials")
                    };
                    let at = a.pre as usize * N;
                    let (p, q) = (
                        &done[src.index()].p_fired[at..],
                        &done[src.index()].q_fired[at..],
                    );
                    (std::array::from_fn(|m| p[m]), std::array::from_fn(|m| q[m]))
                }
                _ => {
                    let p = p_at(t1);
                    (p, md.inverse(&p))
                }
            };
            (end.t0, end.p0, end.gp0) = (end.t1, end.p1, end.gp1);
            (end.t1, end.p1, end.gp1) = (t1, p1, std::array::from_fn(|m| g[m] * p1[m]));
            end.start = end.end;
            if !closing {
                let q = q1;
                while next < arrivals && layer.arrivals[next].t == t1 {
                    let a = layer.arrivals[next];
                    let syn = &self.net.projections[a.proj as usize];
                    let d: [f64; N] = std::array::from_fn(|m| md.d[syn.receptor][m]);
                    let dq: [f64; N] = std::array::from_fn(|m| d[m] * q[m]);
                    layer.dq[next * N..(next + 1) * N].copy_from_slice(&dq);
                    arr.push((syn.row(a.pre as usize), dq));
                    next += 1;
                }
            }
            end.end = next;
            ivs.push(end);
            if closing {
                break;
            }
        }
        let ran = self.run_intervals::<N>(pop, layer, &ivs, &arr, work);
        work.kept.put(ivs);
        work.kept.put(relabel::<_, (&'static [f64], [f64; N])>(arr));
        ran
    }

    /// The rest of [`Plan::run_layer_n`]: the layer's neurons over its intervals `ivs` (the
    /// arrivals `arr` as there).
    #[inline(always)]
    fn run_intervals<const N: usize>(
        &self,
        pop: usize,
        layer: &mut Layer,
        ivs: &[Interval<N>],
        arr: &[(&[f64], [f64; N])],
        work: &mut Work,
    ) -> Option<()> {
        let md = &self.modes[pop];
        let size = self.program.populations[pop].size;
        let last = ivs.len() - 1;
        let c0: [f64; N] = std::array::from_fn(|m| md.c0[m]);
        let quad = md.ratio_two.map(|(ia, ib, _)| Quad {
            ia,
            ib,
            ga: md.g[ia],
            gb: md.g[ib],
        });
        if self.into[pop].iter().all(|&k| self.dense[k]) {
            if let (Some(q), Some(kappa)) = (quad, self.kappa[pop]) {
                let mut opened = std::mem::take(&mut work.opened);
                let done =
                    self.run_first_spikes::<N>(pop, layer, ivs, arr, (q, c0, kappa), &mut opened);
                work.opened = opened;
                if done {
                    work.two_pass += 1;
                    return Some(());
                }
                // The exact loop, from the start.
                layer.fired.fill(None);
            }
            // LANES neurons at a time, their coefficients mode by mode (the loops over lanes
            // vectorise); a lane past the layer's end has weight 0 and is never searched.
            for j0 in (0..size).step_by(LANES) {
                let lanes = LANES.min(size - j0);
                let live = (1u32 << lanes) - 1;
                let mut cl: [[f64; LANES]; N] = std::array::from_fn(|m| [c0[m]; LANES]);
                for (i, iv) in ivs.iter().enumerate() {
                    let b = match quad {
                        Some(q) => {
                            let qi = QuadInterval::new(q, iv);
                            let (ca, cb) = (cl[q.ia], cl[q.ib]);
                            let mut b = [0.0; LANES];
                            for l in 0..LANES {
                                b[l] = quad_bound(md.h_inf, q, ca[l], cb[l], &qi);
                            }
                            b
                        }
                        None => bound_lanes(md.h_inf, &cl, &iv.gp0, &iv.gp1),
                    };
                    // One branch for all lanes (a lane past the layer's end never opens).
                    let open = (0..LANES).fold(0u32, |mask, l| {
                        mask | u32::from(!clearly_below(b[l], 0.0)) << l
                    });
                    if open & live != 0 {
                        for (l, &b) in b[..lanes].iter().enumerate() {
                            if clearly_below(b, 0.0) {
                                continue;
                            }
                            let mut cj: [f64; N] = std::array::from_fn(|m| cl[m][l]);
                            self.candidate::<N>(pop, j0 + l, &mut cj, layer, iv, i == last, work)?;
                            for m in 0..N {
                                cl[m][l] = cj[m];
                            }
                        }
                    }
                    // The arrivals at the interval's end.
                    for (row, dq) in &arr[iv.start..iv.end] {
                        let w: [f64; LANES] = match row.get(j0..j0 + LANES) {
                            Some(w) => std::array::from_fn(|l| w[l]),
                            None => {
                                std::array::from_fn(|l| if l < lanes { row[j0 + l] } else { 0.0 })
                            }
                        };
                        for m in 0..N {
                            for l in 0..LANES {
                                cl[m][l] += w[l] * dq[m];
                            }
                        }
                    }
                }
            }
            return Some(());
        }
        // Arrival by arrival.
        let mut coef = std::mem::take(&mut work.coef);
        coef.clear();
        for _ in 0..size {
            coef.extend_from_slice(&c0);
        }
        let c: &mut [[f64; N]] = coef.as_chunks_mut::<N>().0;
        let mut candidates = std::mem::take(&mut work.candidates);
        for (i, iv) in ivs.iter().enumerate() {
            // The bounds first (a loop without branches), then the candidates.
            candidates.clear();
            let qi = quad.map(|q| (q, QuadInterval::new(q, iv)));
            candidates.extend(
                c.iter()
                    .map(|cj| match &qi {
                        Some((q, qi)) => quad_bound(md.h_inf, *q, cj[q.ia], cj[q.ib], qi),
                        None => bound(md.h_inf, cj, &iv.gp0, &iv.gp1),
                    })
                    .enumerate()
                    .filter(|(_, b)| !clearly_below(*b, 0.0))
                    .map(|(j, _)| j as u32),
            );
            for &j in &candidates {
                let j = j as usize;
                self.candidate::<N>(pop, j, &mut c[j], layer, iv, i == last, work)?;
            }
            for (e, (_, dq)) in arr[iv.start..iv.end].iter().enumerate() {
                let a = layer.arrivals[iv.start + e];
                let syn = &self.net.projections[a.proj as usize];
                let pre = a.pre as usize;
                for (&j, &w) in syn.targets[pre].iter().zip(syn.row(pre)) {
                    let cj = &mut c[j as usize];
                    for m in 0..N {
                        cj[m] += w * dq[m];
                    }
                }
            }
        }
        work.candidates = candidates;
        work.coef = coef;
        Some(())
    }

    /// Tests neuron `j` (coefficients `c`) on `[t0, t1]` after its bound there failed to rule
    /// a crossing out: for tau_mem = 2 tau_syn by the quadratic, otherwise by the bound on
    /// `PIECES` pieces of the interval and the crossing finder from the first piece whose bound
    /// reaches zero. `None` if the neuron spikes a second time.
    #[allow(clippy::too_many_arguments)]
    fn candidate<const N: usize>(
        &self,
        pop: usize,
        j: usize,
        c: &mut [f64; N],
        layer: &mut Layer,
        iv: &Interval<N>,
        closing: bool,
        work: &mut Work,
    ) -> Option<()> {
        let (t0, t1, applied) = (iv.t0, iv.t1, iv.start);
        let (p0, p1, gp1) = (&iv.p0, &iv.p1, &iv.gp1);
        let md = &self.modes[pop];
        if md.ratio_two.is_some() {
            return self.search_ratio_two::<N>(
                pop,
                j,
                c,
                layer,
                (t0, t1),
                (p0, p1, gp1),
                closing,
                applied,
                work,
            );
        }
        // e^{lambda dt} per piece, multiplied on (the bounds allow for the rounding).
        let dt = (t1 - t0) / PIECES as f64;
        let r: [f64; N] = std::array::from_fn(|m| (md.lambda[m] * dt).exp());
        let mut p = *p0;
        let mut gp: [f64; N] = std::array::from_fn(|m| md.g[m] * p[m]);
        for k in 0..PIECES {
            let (p_next, gp_next) = if k + 1 == PIECES {
                (*p1, *gp1)
            } else {
                let pn: [f64; N] = std::array::from_fn(|m| p[m] * r[m]);
                (pn, std::array::from_fn(|m| md.g[m] * pn[m]))
            };
            let b = bound(md.h_inf, c, &gp, &gp_next);
            if !clearly_below(b, 0.0) {
                let start = t0 + dt * k as f64;
                return self.search::<N>(
                    pop,
                    j,
                    c,
                    layer,
                    (start, t1),
                    (&p, gp1),
                    closing,
                    applied,
                    work,
                );
            }
            (p, gp) = (p_next, gp_next);
        }
        Some(())
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
            if self.fire(pop, j, c, layer, (t, &ps, slope), gp1, applied, work) {
                return Some(());
            }
            start = t;
        }
    }

    /// Records neuron `j`'s spike at `t` (`ps[m]` = e^{lambda_m t}, `slope` = h'(t)) and resets
    /// it through the model's reset function; true if the reset neuron stays clearly below
    /// threshold until the end of the interval (`gp1[m]` = g_m e^{lambda_m t1}).
    #[allow(clippy::too_many_arguments)]
    fn fire<const N: usize>(
        &self,
        pop: usize,
        j: usize,
        c: &mut [f64; N],
        layer: &mut Layer,
        (t, ps, slope): (f64, &[f64; N], f64),
        gp1: &[f64; N],
        applied: usize,
        work: &mut Work,
    ) -> bool {
        let md = &self.modes[pop];
        layer.fired[j] = Some(Fired {
            t,
            id: 0,
            applied: applied as u32,
            slope,
        });
        layer.p_fired[j * N..(j + 1) * N].copy_from_slice(ps);
        let q = md.inverse(ps);
        layer.q_fired[j * N..(j + 1) * N].copy_from_slice(&q);
        let e = match md.reset {
            Some(_) => md.reset_affine(c, ps),
            None => {
                let kern = &self.kernels[self.program.populations[pop].model.index()];
                md.reset_generic(kern, c, ps, work)
            }
        };
        for m in 0..N {
            c[m] = e[m] * q[m];
        }
        // Most resets leave the neuron far below threshold until t1.
        let gp: [f64; N] = std::array::from_fn(|m| md.g[m] * ps[m]);
        clearly_below(bound(md.h_inf, c, &gp, gp1), 0.0)
    }

    /// [`Plan::search`] for eigenvalues a and 2a (tau_mem = 2 tau_syn): h(t) = h_inf + A z +
    /// B z^2 with z = e^{a t}, so the first crossing in `[t0, t1)` is the largest root of that
    /// quadratic in `[e^{a t1}, e^{a t0}]`, found and checked (as `check_root` checks) without a
    /// logarithm for roots outside the interval. Doubtful roots (near a double root, or a
    /// check that fails) and whatever follows a reset go to [`Plan::search`].
    #[allow(clippy::too_many_arguments)]
    fn search_ratio_two<const N: usize>(
        &self,
        pop: usize,
        j: usize,
        c: &mut [f64; N],
        layer: &mut Layer,
        (t0, t1): (f64, f64),
        (p0, p1, gp1): (&[f64; N], &[f64; N], &[f64; N]),
        closing: bool,
        applied: usize,
        work: &mut Work,
    ) -> Option<()> {
        let md = &self.modes[pop];
        let Some((ia, ib, a)) = md.ratio_two else {
            unreachable!("search_ratio_two runs only for ratio-two models")
        };
        let general = |c: &mut [f64; N], layer: &mut Layer, work: &mut Work| {
            self.search::<N>(
                pop,
                j,
                c,
                layer,
                (t0, t1),
                (p0, gp1),
                closing,
                applied,
                work,
            )
        };
        let (lb, hi) = (md.lambda[ib], md.h_inf);
        let (ca, cb) = (md.g[ia] * c[ia], md.g[ib] * c[ib]);
        let (za, zb) = (p0[ia], p0[ib]);
        let h0 = hi + (ca * za + cb * zb);
        let horizon = t1 - t0;
        if h0 >= 0.0 || horizon.is_nan() || horizon <= 0.0 {
            return general(c, layer, work);
        }
        // B z^2 + A z + h_inf = 0, as `ratio_two_roots` solves it.
        // The same tests of a negligible e^{2at} term and of a double root as
        // `ratio_two_roots` makes (there on the coefficients relative to t0).
        let scale = hi.abs() + (ca * za).abs() + (cb * zb).abs();
        if (cb * zb).abs() <= 1e-12 * scale {
            return general(c, layer, work);
        }
        let Some(roots) = ordered_roots([hi, ca, cb], a) else {
            return general(c, layer, work);
        };
        let Some((first, second)) = roots else {
            return Some(());
        };
        let z1 = p1[ia];
        let within = |z: f64| {
            if a < 0.0 {
                z <= za && z >= z1
            } else {
                z >= za && z <= z1
            }
        };
        let z = if first > 0.0 && within(first) {
            first
        } else if second > 0.0 && within(second) {
            second
        } else {
            return Some(());
        };
        // The root is checked as `check_root` checks it: h must not be below zero there by
        // more than a Newton step of 1e-9 of the interval (else the finder decides). A root
        // short of zero by rounding moves on by its Newton step (about 1e-16 relative, so
        // e^{lambda t} need not be recomputed).
        let (pa, pb) = (z, z * z);
        let slope = a * ca * pa + lb * cb * pb;
        let h = hi + (ca * pa + cb * pb);
        // Without a branch on the sign of h, which rounding makes a coin toss.
        let newton = if h < 0.0 { -h / slope } else { 0.0 };
        if h < 0.0 && !(slope > 0.0 && newton <= 1e-9 * horizon) {
            return general(c, layer, work);
        }
        // 1 / a is ready long before the logarithm is: no division after it.
        let t = (log::ln(z) * (1.0 / a) + newton).max(t0);
        if !(t < t1 || (closing && t <= t1)) {
            return Some(());
        }
        if layer.fired[j].is_some() {
            return None;
        }
        let mut ps = [0.0; N];
        ps[ia] = pa;
        ps[ib] = pb;
        if self.fire(pop, j, c, layer, (t, &ps, slope), gp1, applied, work) {
            return Some(());
        }
        // Rare: the reset neuron may cross again before t1 (then it spikes twice).
        let p: [f64; N] = std::array::from_fn(|m| ps[m]);
        self.search::<N>(pop, j, c, layer, (t, t1), (&p, gp1), closing, applied, work)
    }
}

#[cfg(test)]
mod tests {
    use super::append;

    /// `append` keeps what was there, adds exactly what was pushed (fewer than the room
    /// included, and nothing), and hands back the closure's value.
    #[test]
    fn append_adds_what_was_pushed() {
        let mut v = vec![1u32, 2];
        let r = append(&mut v, 5, |out| {
            for x in [3, 4, 5] {
                out.push(x);
            }
            "done"
        });
        assert_eq!((v.as_slice(), r), ([1, 2, 3, 4, 5].as_slice(), "done"));
        append(&mut v, 3, |_| {});
        assert_eq!(v, [1, 2, 3, 4, 5]);
        let mut strings: Vec<String> = Vec::new();
        append(&mut strings, 2, |out| {
            out.push("a".to_string());
            out.push("b".to_string());
        });
        assert_eq!(strings, ["a", "b"]);
    }

    /// A push past the room panics rather than writing past the reserved space.
    #[test]
    #[should_panic]
    fn append_refuses_a_push_past_its_room() {
        let mut v: Vec<u8> = Vec::with_capacity(64);
        append(&mut v, 2, |out| {
            for x in 0..3 {
                out.push(x);
            }
        });
    }
}
