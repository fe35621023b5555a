//! The exact event-driven engine.
//!
//! Each neuron keeps its state at the time of its last event and is advanced with the model's
//! exact propagator only when something happens to it. Its next threshold crossing comes from
//! `ir::crossing` (never missed, never invented). A global queue orders events by a documented
//! total order: time, then kind (deliveries before threshold crossings), then projection or
//! population, then neuron index, then creation order. Deliveries at the same time commute for
//! additive receptors, so simultaneous spikes (exact ties) give the mathematically simultaneous
//! result without any added noise; a neuron pushed over threshold by them spikes at that same
//! time. Cost is proportional to spikes times fan-out.
//!
//! Refractoriness: for `refractory` seconds after a spike the threshold is not tested (the
//! dynamics continue); if h >= 0 when it ends, the neuron spikes then.
//!
//! With `record_log`, the engine keeps the pre-event states that EventProp needs.
//!
//! Replay: with `forced`, the spikes of every neuron are given (for example observed on
//! hardware) instead of found. The engine then integrates the same dynamics between the given
//! spike times, applies resets there and logs the states, so the adjoint pass computes the
//! software model's gradient at the observed spike times (hardware-in-the-loop training). The
//! membrane at a forced spike is generally not exactly at threshold.

use super::kernels::ModelKernels;
use super::network::Network;
use crate::ir::crossing::{Candidate, Crossing, Deferred, finish_crossing, next_crossing_deferred};
use crate::sema::hir::{Node, Program};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

mod short;
mod stepped;

/// Spike trains of the input nodes: `inputs[input_id]` is a list of (time, channel), sorted.
pub type InputSpikes = Vec<Vec<(f64, u32)>>;

/// Why a run could not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum SimError {
    /// The exact engine needs a linear model with an affine threshold.
    NotExact { model: String },
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::NotExact { model } => write!(
                f,
                "the exact event engine needs neuron model `{model}` to be linear with a closed-form propagator and an affine threshold, and it is not (see `snnc check`); use `mode discrete` for it"
            ),
        }
    }
}

/// A neuron does not spike again within this fraction of t_max after a spike: a burst faster
/// than that (a reset that leaves the neuron at threshold, or a current so large that the reset
/// is overrun at once) would take the engine forever or nearly. Such crossings count as limit
/// hits (`Outcome::limit_hits`), so the results say when this changed them.
pub const BURST_GAP: f64 = 1e-9;

/// A spike of any node, with an id used by the adjoint pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpikeRecord {
    pub node: Node,
    pub idx: u32,
    pub t: f64,
}

/// One logged event, with the offset of the pre-event state(s) in [`EventLog::xs`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogEntry {
    /// Neuron `idx` of population `pop` spiked; `x` is its state just before the reset.
    Spike {
        pop: u32,
        idx: u32,
        t: f64,
        x: u32,
        id: u32,
    },
    /// Spike `source` arrived through projection `proj` at every target of `pre`; `x` is the
    /// offset of the targets' pre-jump states, one block of `n` values per target in order.
    Delivery {
        proj: u32,
        pre: u32,
        t: f64,
        source: u32,
        x: u32,
    },
}

#[derive(Clone, Debug, Default)]
pub struct EventLog {
    pub entries: Vec<LogEntry>,
    pub xs: Vec<f64>,
}

/// The result of one simulation.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Every spike (input and neuron), in processing order; indices are spike ids.
    pub spikes: Vec<SpikeRecord>,
    /// Per population: how many spikes the per-neuron limit suppressed.
    pub limit_hits: Vec<u64>,
    pub log: Option<EventLog>,
}

impl Outcome {
    /// First spike time of every neuron of population `pop` (`f64::INFINITY` if silent), with
    /// the spike id.
    pub fn first_spikes(&self, pop: usize, size: usize) -> Vec<(f64, Option<u32>)> {
        let mut out = vec![(f64::INFINITY, None); size];
        for (id, s) in self.spikes.iter().enumerate() {
            if s.node == Node::Pop(crate::sema::hir::PopId(pop as u32))
                && out[s.idx as usize].1.is_none()
            {
                out[s.idx as usize] = (s.t, Some(id as u32));
            }
        }
        out
    }
}

/// States to sample on a fixed time grid during a run (`record { traces ... }`).
#[derive(Clone, Debug)]
pub struct TraceRequest {
    /// Sampling step: samples at `k dt` for `k = 0, 1, ...` while `k dt <= t_max`.
    pub dt: f64,
    /// (population, state) pairs, by index.
    pub states: Vec<(usize, usize)>,
}

/// Sampled states: `values[r][k * size + i]` is state `states[r]` of neuron `i` at `times[k]`,
/// taken after every event at or before that time. The values are the engine's own trajectory:
/// the exact propagator from the neuron's last event (closed-form models) or the continuous
/// extension of the integrator steps the engine takes (integrated models).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Traces {
    pub times: Vec<f64>,
    pub values: Vec<Vec<f64>>,
}

/// Trace sampling during a run. A neuron's samples in `[t_last, t)` are taken when it is moved
/// from `t_last` to `t` (nothing changes its state in between), the rest when the run ends.
struct TraceBuf {
    out: Traces,
    states: Vec<(usize, usize)>,
    /// Per population: is any of its states traced.
    traced: Vec<bool>,
    /// Scratch: offsets of the samples from `t_last`, and the sampled states (`n` each).
    offsets: Vec<f64>,
    samples: Vec<f64>,
}

impl TraceBuf {
    fn new(req: &TraceRequest, t_max: f64, n_pops: usize) -> TraceBuf {
        let count = (t_max / req.dt * (1.0 + 1e-12)).floor() as usize + 1;
        let times: Vec<f64> = (0..count).map(|k| (k as f64 * req.dt).min(t_max)).collect();
        let mut traced = vec![false; n_pops];
        for &(pop, _) in &req.states {
            traced[pop] = true;
        }
        TraceBuf {
            out: Traces {
                times,
                values: Vec::new(),
            },
            states: req.states.clone(),
            traced,
            offsets: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// Sample indices `k0..k1` with `t0 <= times[k] < end` (or `<= end` when `closing`), and
    /// their offsets from `t0` in `self.offsets`.
    fn window(&mut self, t0: f64, end: f64, closing: bool) -> (usize, usize) {
        let times = &self.out.times;
        let k0 = times.partition_point(|&tk| tk < t0);
        let k1 = if closing {
            times.partition_point(|&tk| tk <= end)
        } else {
            times.partition_point(|&tk| tk < end)
        }
        .max(k0);
        self.offsets.clear();
        self.offsets.extend(times[k0..k1].iter().map(|tk| tk - t0));
        self.samples.clear();
        (k0, k1)
    }

    /// Copies the traced states of neuron `i` of `pop` from `self.samples` (samples `k0..`).
    fn store(&mut self, pop: usize, i: usize, size: usize, n: usize, k0: usize) {
        for (r, &(p, state)) in self.states.iter().enumerate() {
            if p != pop {
                continue;
            }
            for (j, x) in self.samples.chunks_exact(n).enumerate() {
                self.out.values[r][(k0 + j) * size + i] = x[state];
            }
        }
    }
}

/// Orders queue entries: (time, kind, a, b, sequence), packed as (time, kind << 63 | a << 32 |
/// b, sequence) with `a < 2^31` (a projection or population index).
type Key = (u64, u64, u64);

#[derive(Clone, Copy)]
enum Payload {
    Delivery {
        source: u32,
    },
    Crossing {
        version: u32,
    },
    /// Continue the crossing search of an integrated (non-exact) neuron from here.
    Recheck {
        version: u32,
    },
    /// A neuron's deferred crossing check (its [`PopState::slot`]) may be due: the queue holds
    /// at most a few of these per neuron instead of one per search (most searches are
    /// overtaken by a later input before their check is due).
    Wake,
}

/// A queue entry, ordered by its key alone (the sequence number makes keys unique).
struct Entry {
    key: Key,
    payload: Payload,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.key == other.key
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

struct PopState {
    n: usize,
    /// One row of `n + k + 1` values per neuron: its state, its parameters and a free slot for
    /// a function's last argument (a time or a weight), so that the model's functions take the
    /// row as it is, without copying it into an argument buffer first.
    rows: Vec<f64>,
    t_last: Vec<f64>,
    refractory_until: Vec<f64>,
    t_ref: Vec<f64>,
    count: Vec<u32>,
    /// The neuron spikes again only after this time: its last spike plus [`BURST_GAP`] times
    /// t_max (minus infinity before the first spike).
    quiet_until: Vec<f64>,
    version: Vec<u32>,
    /// The neuron's deferred crossing check: (version, due time, candidate). A later input
    /// makes it stale (the version moves on).
    slot: Vec<Option<(u32, f64, Candidate)>>,
    /// The time of the neuron's earliest `Wake` entry in the queue (infinity if none).
    wake: Vec<f64>,
    /// Number of parameters.
    k: usize,
    /// The model has the closed-form path (propagator and exact crossing).
    exact: bool,
    /// Per-neuron, per-state magnitudes for the integrator's relative error control.
    scale: Vec<f64>,
    /// Per-neuron eigenvalues for the crossing finder (`ne` each; parameters never change
    /// during a run).
    lambdas: Vec<f64>,
    ne: usize,
}

impl PopState {
    /// Neuron `i`'s row: state, parameters, free slot.
    fn row(&self, i: usize) -> &[f64] {
        let r = self.n + self.k + 1;
        &self.rows[i * r..(i + 1) * r]
    }

    fn row_mut(&mut self, i: usize) -> &mut [f64] {
        let r = self.n + self.k + 1;
        &mut self.rows[i * r..(i + 1) * r]
    }

    fn x(&self, i: usize) -> &[f64] {
        &self.row(i)[..self.n]
    }

    /// How many neurons this holds (the population's, or a part of it).
    fn size(&self) -> usize {
        self.t_last.len()
    }

    fn x_mut(&mut self, i: usize) -> &mut [f64] {
        let n = self.n;
        &mut self.row_mut(i)[..n]
    }
}

/// `dst.copy_from_slice(src)` without a call to `memcpy` for the usual few states. `src` was
/// just written value by value by generated code: one wide load across two of those stores would
/// stall (no store forwarding), so the values are read one by one.
fn copy_state(dst: &mut [f64], src: &[f64]) {
    match (dst, src) {
        ([d0, d1], [s0, s1]) => (*d0, *d1) = (*s0, std::hint::black_box(*s1)),
        ([d0], [s0]) => *d0 = *s0,
        (dst, src) => dst.copy_from_slice(src),
    }
}

/// Buffers reused by every crossing search of a run.
#[derive(Default)]
struct CrossingScratch {
    /// The row searched from, when that is not the neuron's own (a search after refractoriness).
    base: Vec<f64>,
    pargs: Vec<f64>,
    largs: Vec<f64>,
    xt: Vec<f64>,
    finder: crate::ir::crossing::Scratch,
}

/// Simulates one sample exactly on `[0, t_max]`.
pub struct EventEngine<'a> {
    pub program: &'a Program,
    pub kernels: &'a [ModelKernels],
    pub network: &'a Network,
    pub t_max: f64,
    pub max_spikes: Option<usize>,
    /// Replay: `forced[pop][neuron]` are the spike times to use instead of threshold crossings
    /// (sorted); `None` finds them.
    pub forced: Option<&'a [Vec<Vec<f64>>]>,
}

/// The version number that marks a forced (replayed) spike in the queue.
const FORCED: u32 = u32::MAX;

/// Time as an order-preserving integer (times are never negative).
fn tkey(t: f64) -> u64 {
    t.max(0.0).to_bits()
}

struct Run<'r, 'a> {
    e: &'r EventEngine<'a>,
    pops: Vec<PopState>,
    queue: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    out: Outcome,
    tmp: Vec<f64>,
    scratch: CrossingScratch,
    /// The integrator's buffers, a state being integrated and a saved state (models without
    /// the closed-form path).
    ode: super::ode::Workspace,
    state: Vec<f64>,
    saved: Vec<f64>,
    traces: Option<TraceBuf>,
    /// Leave the check of crossing candidates until they are due (see [`Payload::Wake`]).
    deferred: bool,
    /// A deferred check gave an earlier time than its candidate, so events may have been
    /// processed out of order: the run is repeated without deferring.
    reordered: bool,
}

impl<'a> EventEngine<'a> {
    /// Every model can be simulated: exactly when it has the closed-form path, otherwise with
    /// adaptive Dormand-Prince integration and event location (see `sim::ode`).
    pub fn check(&self) -> Result<(), SimError> {
        Ok(())
    }

    /// Exact gradients (EventProp, analytic) need every model on the closed-form path.
    pub fn check_exact(&self) -> Result<(), SimError> {
        for pop in &self.program.populations {
            let m = pop.model.index();
            if !self.kernels[m].exact_events() {
                return Err(SimError::NotExact {
                    model: self.program.neurons[m].name.clone(),
                });
            }
        }
        Ok(())
    }

    pub fn run(&self, inputs: &InputSpikes, record_log: bool) -> Outcome {
        self.run_traced(inputs, record_log, None, &mut |_| {}).0
    }

    /// [`EventEngine::run`], also sampling the requested states on a fixed grid and calling
    /// `progress` with the model time reached every few thousand events. The spikes are
    /// bit-identical to those of a run without traces.
    pub fn run_traced(
        &self,
        inputs: &InputSpikes,
        record_log: bool,
        traces: Option<&TraceRequest>,
        progress: &mut dyn FnMut(f64),
    ) -> (Outcome, Traces) {
        self.run_threaded(inputs, record_log, traces, progress, 1)
    }

    /// [`EventEngine::run_traced`] on `threads` threads where the stepped driver runs (it
    /// splits every population into that many ranges of neurons); the results are the same
    /// bits for any number of threads.
    pub fn run_threaded(
        &self,
        inputs: &InputSpikes,
        record_log: bool,
        traces: Option<&TraceRequest>,
        progress: &mut dyn FnMut(f64),
        threads: usize,
    ) -> (Outcome, Traces) {
        let threads = Some(threads.max(1));
        self.run_with(inputs, record_log, traces, progress, true, threads)
            .unwrap_or_else(|| {
                self.run_with(inputs, record_log, traces, progress, false, threads)
                    .expect("not deferred")
            })
    }

    /// [`EventEngine::run`] with the queue driver even where the stepped driver applies (for
    /// tests and benchmarks that compare the two).
    pub fn run_queued(&self, inputs: &InputSpikes, record_log: bool) -> Outcome {
        self.run_queued_traced(inputs, record_log, None).0
    }

    /// [`EventEngine::run_queued`] with traces.
    pub fn run_queued_traced(
        &self,
        inputs: &InputSpikes,
        record_log: bool,
        traces: Option<&TraceRequest>,
    ) -> (Outcome, Traces) {
        let mut none = |_| {};
        self.run_with(inputs, record_log, traces, &mut none, true, None)
            .or_else(|| self.run_with(inputs, record_log, traces, &mut none, false, None))
            .expect("not deferred")
    }

    /// Whether a run on `inputs` without event log or traces takes the stepped driver
    /// (`stepped`).
    pub fn steps(&self, inputs: &InputSpikes) -> bool {
        self.steps_traced(inputs, None)
    }

    /// Whether a run on `inputs` with `traces` and without event log takes the stepped driver.
    pub fn steps_traced(&self, inputs: &InputSpikes, traces: Option<&TraceRequest>) -> bool {
        self.stepped_plan(inputs, false, traces).is_some()
    }

    /// The stepped driver's plan where a run takes it: the setting allows it, the network and
    /// the run qualify (`Stepped::new`), and no input comes before time 0 (its bound covers
    /// arrivals within a step only).
    fn stepped_plan(
        &self,
        inputs: &InputSpikes,
        record_log: bool,
        traces: Option<&TraceRequest>,
    ) -> Option<stepped::Stepped> {
        let auto = self.program.simulation.driver == crate::sema::hir::Driver::Auto;
        let timely = inputs.iter().flatten().all(|&(t, _)| t >= 0.0);
        (auto && timely)
            .then(|| stepped::Stepped::new(self, record_log, traces))
            .flatten()
    }

    /// One run; `None` if a deferred crossing check could not keep the event order. With
    /// `stepped` (a number of threads), networks the stepped driver applies to take it
    /// (`stepped`).
    fn run_with(
        &self,
        inputs: &InputSpikes,
        record_log: bool,
        traces: Option<&TraceRequest>,
        progress: &mut dyn FnMut(f64),
        deferred: bool,
        stepped: Option<usize>,
    ) -> Option<(Outcome, Traces)> {
        if let Some(threads) = stepped
            && let Some(plan) = self.stepped_plan(inputs, record_log, traces)
        {
            return Some(stepped::run(
                self,
                &plan,
                inputs,
                (traces, progress),
                threads,
            ));
        }
        let pops = (0..self.program.populations.len())
            .map(|pi| self.pop_state(pi, 0..self.program.populations[pi].size))
            .collect();
        let mut run = self.new_run(pops, record_log, traces, deferred);
        for (input, spikes) in inputs.iter().enumerate() {
            for &(t, idx) in spikes {
                if t <= self.t_max {
                    run.emit(Node::Input(crate::sema::hir::InputId(input as u32)), idx, t);
                }
            }
        }
        match self.forced {
            Some(forced) => {
                for (pop, neurons) in forced.iter().enumerate() {
                    for (i, times) in neurons.iter().enumerate() {
                        for &t in times.iter().filter(|t| **t <= self.t_max) {
                            run.push(
                                t,
                                1,
                                pop as u32,
                                i as u32,
                                Payload::Crossing { version: FORCED },
                            );
                        }
                    }
                }
            }
            None => {
                for pop in 0..run.pops.len() {
                    for i in 0..self.program.populations[pop].size {
                        run.schedule_crossing(pop, i, 0.0);
                    }
                }
            }
        }
        run.drain(progress);
        if run.reordered {
            return None;
        }
        run.close_traces();
        let traces = run.traces.take().map(|t| t.out).unwrap_or_default();
        Some((run.out, traces))
    }
}

impl<'a> EventEngine<'a> {
    /// The state of neurons `range` of population `pi` at time 0 (index 0 is `range.start`).
    fn pop_state(&self, pi: usize, range: std::ops::Range<usize>) -> PopState {
        let kern = &self.kernels[self.program.populations[pi].model.index()];
        let (n, k, size) = (kern.n, kern.n_params, range.len());
        let r = n + k + 1;
        let mut rows = vec![0.0; size * r];
        let mut t_ref = vec![0.0; size];
        let mut buf = vec![0.0; n.max(1)];
        for (i, g) in range.enumerate() {
            let row = &mut rows[i * r..(i + 1) * r];
            for j in 0..k {
                row[n + j] = self.network.params[pi][j][g];
            }
            kern.init.call(&row[n..n + k], &mut buf);
            row[..n].copy_from_slice(&buf[..n]);
            if let Some(r) = &kern.refractory {
                let mut t = [0.0];
                r.call(&row[n..n + k], &mut t);
                t_ref[i] = t[0].max(0.0);
            }
        }
        let ne = kern.eigenvalues.as_ref().map_or(0, |e| e.n_outputs());
        let mut lambdas = vec![0.0; size * ne];
        if let Some(eig) = &kern.eigenvalues {
            let mut a = vec![0.0; n + k];
            for i in 0..size {
                a[n..].copy_from_slice(&rows[i * r + n..i * r + n + k]);
                eig.call(&a, &mut lambdas[i * ne..(i + 1) * ne]);
            }
        }
        let scale = (0..size * n)
            .map(|v| rows[v / n * r + v % n].abs())
            .collect();
        PopState {
            n,
            exact: kern.exact_events(),
            scale,
            lambdas,
            ne,
            rows,
            t_last: vec![0.0; size],
            refractory_until: vec![0.0; size],
            t_ref,
            count: vec![0; size],
            quiet_until: vec![f64::NEG_INFINITY; size],
            version: vec![0; size],
            slot: vec![None; size],
            wake: vec![f64::INFINITY; size],
            k,
        }
    }

    /// A run over the neuron states `pops` (whole populations, or a part of each: then the
    /// traces hold that part), with nothing done yet.
    fn new_run<'r>(
        &'r self,
        pops: Vec<PopState>,
        record_log: bool,
        traces: Option<&TraceRequest>,
        deferred: bool,
    ) -> Run<'r, 'a> {
        let sizes: Vec<usize> = pops.iter().map(PopState::size).collect();
        Run {
            e: self,
            pops,
            queue: BinaryHeap::new(),
            seq: 0,
            out: Outcome {
                limit_hits: vec![0; self.program.populations.len()],
                log: record_log.then(EventLog::default),
                ..Outcome::default()
            },
            tmp: Vec::new(),
            scratch: CrossingScratch::default(),
            ode: super::ode::Workspace::default(),
            state: Vec::new(),
            saved: Vec::new(),
            traces: traces.map(|r| {
                let mut buf = TraceBuf::new(r, self.t_max, self.program.populations.len());
                buf.out.values = r
                    .states
                    .iter()
                    .map(|&(pop, _)| vec![0.0; buf.out.times.len() * sizes[pop]])
                    .collect();
                buf
            }),
            deferred,
            reordered: false,
        }
    }
}

impl Run<'_, '_> {
    fn push(&mut self, t: f64, rank: u8, a: u32, b: u32, payload: Payload) {
        self.seq += 1;
        debug_assert!(rank <= 1 && a < 1 << 31);
        let mid = u64::from(rank) << 63 | u64::from(a) << 32 | u64::from(b);
        let key = (tkey(t), mid, self.seq);
        self.queue.push(Reverse(Entry { key, payload }));
    }

    /// Records a spike of `node` and schedules its deliveries.
    fn emit(&mut self, node: Node, idx: u32, t: f64) -> u32 {
        let id = self.out.spikes.len() as u32;
        self.out.spikes.push(SpikeRecord { node, idx, t });
        for (k, proj) in self.e.network.projections.iter().enumerate() {
            if proj.pre == node && !proj.targets[idx as usize].is_empty() {
                let ta = t + proj.delay;
                if ta <= self.e.t_max {
                    self.push(ta, 0, k as u32, idx, Payload::Delivery { source: id });
                }
            }
        }
        id
    }

    /// Applies `f` (a model function of state, parameters and `extra`) to neuron `i`'s state.
    fn apply(&mut self, pop: usize, i: usize, f: &dyn super::kernels::Eval, extra: f64) {
        let s = &mut self.pops[pop];
        let (n, k) = (s.n, s.k);
        let row = s.row_mut(i);
        row[n + k] = extra;
        self.tmp.resize(n, 0.0);
        f.call(row, &mut self.tmp);
        copy_state(&mut row[..n], &self.tmp);
    }

    /// Moves neuron `i` of `pop` to time `t` with the exact flow (or the integrator), taking
    /// the trace samples in `[t_last, t)` on the way.
    fn advance(&mut self, pop: usize, i: usize, t: f64) {
        let dt = t - self.pops[pop].t_last[i];
        if dt > 0.0 && !self.pops[pop].exact {
            let window = self.trace_window(pop, i, t, false);
            let mut tr = self.traces.take();
            let mut none = Vec::new();
            let (offsets, samples) = match (&mut tr, window) {
                (Some(b), Some(_)) => (std::mem::take(&mut b.offsets), &mut b.samples),
                _ => (Vec::new(), &mut none),
            };
            self.with_flow(pop, i, |flow, ws, x, scale| {
                super::ode::advance_sampled(flow, ws, x, scale, dt, &offsets, samples)
            });
            if let (Some(b), Some(k0)) = (&mut tr, window) {
                b.offsets = offsets;
                b.store(pop, i, self.pops[pop].size(), self.pops[pop].n, k0);
            }
            self.traces = tr;
            self.pops[pop].t_last[i] = t;
            return;
        }
        if dt > 0.0 {
            if let Some(k0) = self.trace_window(pop, i, t, false) {
                self.sample_exact(pop, i, k0);
            }
            let e = self.e;
            let prop = e.kernels[e.program.populations[pop].model.index()]
                .propagate
                .as_ref()
                .expect("checked: exact model");
            self.apply(pop, i, prop.as_ref(), dt);
        }
        self.pops[pop].t_last[i] = t;
    }

    /// The trace samples of neuron `i` due before it moves to `end` (or, when `closing`, up to
    /// and including `end`): the index of the first one, if there are any (offsets prepared).
    fn trace_window(&mut self, pop: usize, i: usize, end: f64, closing: bool) -> Option<usize> {
        let b = self.traces.as_mut().filter(|b| b.traced[pop])?;
        let (k0, k1) = b.window(self.pops[pop].t_last[i], end, closing);
        (k1 > k0).then_some(k0)
    }

    /// Samples neuron `i` of a closed-form model at the prepared offsets from its current state
    /// (exactly the propagator call an event at that time would make) and stores them.
    fn sample_exact(&mut self, pop: usize, i: usize, k0: usize) {
        let Some(mut b) = self.traces.take() else {
            return;
        };
        let n = self.pops[pop].n;
        let prop = self.e.kernels[self.e.program.populations[pop].model.index()]
            .propagate
            .as_ref()
            .expect("checked: exact model");
        self.tmp.resize(n, 0.0);
        let k = self.pops[pop].k;
        for &off in &b.offsets {
            if off == 0.0 {
                b.samples.extend_from_slice(self.pops[pop].x(i));
                continue;
            }
            let row = self.pops[pop].row_mut(i);
            row[n + k] = off;
            prop.call(row, &mut self.tmp);
            b.samples.extend_from_slice(&self.tmp);
        }
        b.store(pop, i, self.pops[pop].size(), n, k0);
        self.traces = Some(b);
    }

    /// Takes every neuron's remaining samples (up to and including `t_max`) from its last state,
    /// as an event at `t_max` would move it; the neuron itself is not changed.
    fn close_traces(&mut self) {
        for pop in 0..self.pops.len() {
            for i in 0..self.pops[pop].size() {
                let Some(k0) = self.trace_window(pop, i, self.e.t_max, true) else {
                    continue;
                };
                if self.pops[pop].exact {
                    self.sample_exact(pop, i, k0);
                    continue;
                }
                let Some(mut b) = self.traces.take() else {
                    return;
                };
                let dt = self.e.t_max - self.pops[pop].t_last[i];
                let n = self.pops[pop].n;
                let saved = self.pops[pop].scale[i * n..(i + 1) * n].to_vec();
                let offsets = std::mem::take(&mut b.offsets);
                self.with_flow(pop, i, |flow, ws, x, scale| {
                    let mut x = x.clone();
                    super::ode::advance_sampled(
                        flow,
                        ws,
                        &mut x,
                        scale,
                        dt,
                        &offsets,
                        &mut b.samples,
                    )
                });
                self.pops[pop].scale[i * n..(i + 1) * n].copy_from_slice(&saved);
                b.offsets = offsets;
                b.store(pop, i, self.pops[pop].size(), n, k0);
                self.traces = Some(b);
            }
        }
    }

    /// Finds neuron `i`'s next crossing after `now` (its current time) and queues it.
    fn schedule_crossing(&mut self, pop: usize, i: usize, now: f64) {
        if self.e.forced.is_some() {
            return;
        }
        self.pops[pop].version[i] += 1;
        let version = self.pops[pop].version[i];
        let start = now.max(self.pops[pop].refractory_until[i]);
        if start > self.e.t_max {
            return;
        }
        if !self.pops[pop].exact {
            self.schedule_integrated(pop, i, now, start, version);
            return;
        }
        let found = match self.search(pop, i, now, start, None) {
            Deferred::Done(found) => found,
            Deferred::Candidate(c) => {
                let s = &self.pops[pop];
                // The check never moves the time earlier (see `Candidate`), so neither limit can
                // apply later if it cannot now.
                let t = start + c.t;
                let free = t > s.quiet_until[i]
                    && self.e.max_spikes.is_none_or(|m| (s.count[i] as usize) < m);
                if self.deferred && free {
                    self.defer(pop, i, version, t, c);
                    return;
                }
                let mut stage = Deferred::Candidate(c);
                loop {
                    match stage {
                        Deferred::Done(found) => break found,
                        Deferred::Candidate(c) => stage = self.search(pop, i, now, start, Some(c)),
                    }
                }
            }
        };
        if let Some(dt) = found.time {
            self.queue_crossing(pop, i, start + dt, version);
        }
    }

    /// Neuron `i`'s crossing search from its state at `now` (its current time), looking from
    /// `start`: the cheap first part, or with `candidate` the rest of it.
    fn search(
        &mut self,
        pop: usize,
        i: usize,
        now: f64,
        start: f64,
        candidate: Option<Candidate>,
    ) -> Deferred {
        let kern = &self.e.kernels[self.e.program.populations[pop].model.index()];
        let s = &self.pops[pop];
        let (n, k, ne) = (s.n, s.k, s.ne);
        let prop = kern.propagate.as_ref().expect("checked: exact model");
        let CrossingScratch {
            base,
            pargs,
            largs,
            xt,
            finder,
        } = &mut self.scratch;
        // The row to search from: the neuron's own, or moved on to `start`.
        let base: &[f64] = if start > now {
            base.clear();
            base.extend_from_slice(s.row(i));
            base[n + k] = start - now;
            xt.resize(n, 0.0);
            prop.call(base, xt);
            base[..n].copy_from_slice(xt);
            base
        } else {
            s.row(i)
        };
        let lambdas = &s.lambdas[i * ne..(i + 1) * ne];
        // Evaluations away from t = 0 fill `pargs` (the base row with time t) and `largs` (the
        // state at t with the parameters) on first use.
        pargs.clear();
        let mut signal = |t: f64, out: &mut [f64]| {
            if t == 0.0 {
                kern.lie.call(base, out);
                return;
            }
            if pargs.is_empty() {
                pargs.extend_from_slice(base);
                largs.clear();
                largs.extend_from_slice(&base[..n + k]);
                xt.resize(n, 0.0);
            }
            pargs[n + k] = t;
            prop.call(pargs, xt);
            copy_state(&mut largs[..n], xt);
            kern.lie.call(largs, out);
        };
        let horizon = self.e.t_max - start;
        match candidate {
            None => next_crossing_deferred(finder, &mut signal, lambdas, horizon),
            Some(c) => finish_crossing(finder, &mut signal, lambdas, horizon, c),
        }
    }

    /// Leaves neuron `i`'s check of candidate `c` until `t`, in its slot; queues a wake-up at
    /// `t` unless an earlier one is already queued (that one moves on to `t` when it fires).
    fn defer(&mut self, pop: usize, i: usize, version: u32, t: f64, c: Candidate) {
        let s = &mut self.pops[pop];
        s.slot[i] = Some((version, t, c));
        if t < s.wake[i] {
            s.wake[i] = t;
            self.push(t, 1, pop as u32, i as u32, Payload::Wake);
        }
    }

    /// A wake-up of neuron `i` fires at `t`: runs its check if that is due now, or moves the
    /// wake-up on to the check's time.
    fn wake(&mut self, pop: usize, i: usize, t: f64) {
        let s = &mut self.pops[pop];
        if s.wake[i].to_bits() != t.to_bits() {
            return; // superseded by an earlier wake-up
        }
        s.wake[i] = f64::INFINITY;
        let Some((version, due, c)) = s.slot[i] else {
            return;
        };
        if version != s.version[i] {
            s.slot[i] = None;
            return;
        }
        if due.to_bits() == t.to_bits() {
            s.slot[i] = None;
            self.check_candidate(pop, i, t, version, c);
        } else {
            debug_assert!(due > t, "a wake-up is never later than its check");
            s.wake[i] = due;
            self.push(due, 1, pop as u32, i as u32, Payload::Wake);
        }
    }

    /// A deferred crossing is due at `t`: checks it and queues the crossing at the checked time.
    fn check_candidate(&mut self, pop: usize, i: usize, t: f64, version: u32, c: Candidate) {
        // Nothing happened to the neuron since the search (its version is unchanged), so the
        // search restarts from the same state, time and start.
        let now = self.pops[pop].t_last[i];
        let start = now.max(self.pops[pop].refractory_until[i]);
        let found = match self.search(pop, i, now, start, Some(c)) {
            Deferred::Done(Crossing {
                time: Some(found), ..
            }) => found,
            Deferred::Done(_) => return,
            // The general method's bound went on: check again when the new candidate is due
            // (it is later, so no limit that does not apply now can apply then).
            Deferred::Candidate(next) => {
                self.defer(pop, i, version, start + next.t, next);
                return;
            }
        };
        let at = start + found;
        if at < t {
            self.reordered = true;
        }
        self.queue_crossing(pop, i, at, version);
    }

    /// Queues neuron `i`'s crossing at `t`, unless its spike limit forbids it or it comes within
    /// [`BURST_GAP`] t_max of its last spike (a reset that leaves it at threshold, or one that
    /// an enormous input overruns at once, would otherwise spin forever or nearly); those count
    /// as limit hits.
    fn queue_crossing(&mut self, pop: usize, i: usize, t: f64, version: u32) {
        let s = &self.pops[pop];
        let limit =
            t <= s.quiet_until[i] || self.e.max_spikes.is_some_and(|m| s.count[i] as usize >= m);
        if limit {
            self.out.limit_hits[pop] += 1;
        } else {
            self.push(t, 1, pop as u32, i as u32, Payload::Crossing { version });
        }
    }

    /// Runs `f` on neuron `i`'s integrator: its flow, the integrator's buffers, its state
    /// (written back) and its scales. Allocates nothing once the buffers have grown.
    fn with_flow<R>(
        &mut self,
        pop: usize,
        i: usize,
        f: impl FnOnce(
            &super::ode::Flow<'_>,
            &mut super::ode::Workspace,
            &mut Vec<f64>,
            &mut [f64],
        ) -> R,
    ) -> R {
        let e = self.e;
        let kern = &e.kernels[e.program.populations[pop].model.index()];
        let Run {
            pops, ode, state, ..
        } = self;
        let PopState {
            rows, scale, n, k, ..
        } = &mut pops[pop];
        let (n, r) = (*n, *n + *k + 1);
        let (x, rest) = rows[i * r..(i + 1) * r].split_at_mut(n);
        let flow = super::ode::Flow {
            rhs: &kern.rhs,
            threshold: &kern.threshold,
            params: &rest[..*k],
            tolerance: e.program.simulation.tolerance,
        };
        state.clear();
        state.extend_from_slice(x);
        let out = f(&flow, ode, state, &mut scale[i * n..(i + 1) * n]);
        x.copy_from_slice(state);
        out
    }

    /// The crossing search of a neuron without a closed-form flow: integrate ahead over a window
    /// and either queue the crossing or a recheck at the window's end.
    fn schedule_integrated(&mut self, pop: usize, i: usize, now: f64, start: f64, version: u32) {
        let window = (self.e.t_max / 16.0).min(self.e.t_max - start);
        // Search on a copy: the neuron's own state stays at `now`.
        let mut saved = std::mem::take(&mut self.saved);
        saved.clear();
        saved.extend_from_slice(self.pops[pop].x(i));
        let found = self.with_flow(pop, i, |flow, ws, x, scale| {
            if start > now {
                super::ode::advance(flow, ws, x, scale, start - now);
            }
            super::ode::first_crossing(flow, ws, x, scale, window)
        });
        self.pops[pop].x_mut(i).copy_from_slice(&saved);
        self.saved = saved;
        match found {
            Some(dt) => self.queue_crossing(pop, i, start + dt, version),
            None if start + window < self.e.t_max => self.push(
                start + window,
                1,
                pop as u32,
                i as u32,
                Payload::Recheck { version },
            ),
            None => {}
        }
    }

    fn drain(&mut self, progress: &mut dyn FnMut(f64)) {
        let mut count = 0u32;
        while let Some(Reverse(Entry { key, payload })) = self.queue.pop() {
            let (tbits, mid, _) = key;
            let (a, b) = ((mid >> 32) as u32 & !(1 << 31), mid as u32);
            let t = f64::from_bits(tbits);
            count = count.wrapping_add(1);
            if count.is_multiple_of(4096) {
                progress(t);
            }
            match payload {
                Payload::Delivery { source } => self.deliver(a as usize, b as usize, source, t),
                Payload::Crossing { version } => {
                    let (pop, i) = (a as usize, b as usize);
                    if version == FORCED || self.pops[pop].version[i] == version {
                        self.spike(pop, i, t);
                    }
                }
                Payload::Wake => self.wake(a as usize, b as usize, t),
                Payload::Recheck { version } => {
                    let (pop, i) = (a as usize, b as usize);
                    if self.pops[pop].version[i] == version {
                        self.advance(pop, i, t);
                        self.schedule_crossing(pop, i, t);
                    }
                }
            }
        }
    }

    fn spike(&mut self, pop: usize, i: usize, t: f64) {
        self.advance(pop, i, t);
        let id = self.out.spikes.len() as u32;
        if let Some(log) = &mut self.out.log {
            let x = log.xs.len() as u32;
            log.xs.extend_from_slice(self.pops[pop].x(i));
            log.entries.push(LogEntry::Spike {
                pop: pop as u32,
                idx: i as u32,
                t,
                x,
                id,
            });
        }
        let e = self.e;
        let reset = &e.kernels[e.program.populations[pop].model.index()].reset;
        // The reset takes state and parameters only; the free slot's value is not read.
        self.apply(pop, i, reset.as_ref(), 0.0);
        self.pops[pop].count[i] += 1;
        self.pops[pop].quiet_until[i] = t + BURST_GAP * self.e.t_max;
        self.pops[pop].refractory_until[i] = t + self.pops[pop].t_ref[i];
        self.emit(Node::Pop(crate::sema::hir::PopId(pop as u32)), i as u32, t);
        self.schedule_crossing(pop, i, t);
    }

    fn deliver(&mut self, proj: usize, pre: usize, source: u32, t: f64) {
        let syn = &self.e.network.projections[proj];
        let (post, receptor) = (syn.post, syn.receptor);
        if let Some(log) = &mut self.out.log {
            let x = log.xs.len() as u32;
            log.entries.push(LogEntry::Delivery {
                proj: proj as u32,
                pre: pre as u32,
                t,
                source,
                x,
            });
        }
        let e = self.e;
        let jump = &e.kernels[e.program.populations[post].model.index()].jumps[receptor];
        let syn = &e.network.projections[proj];
        for (&j, &w) in syn.targets[pre].iter().zip(syn.row(pre)) {
            let j = j as usize;
            self.advance(post, j, t);
            if let Some(log) = &mut self.out.log {
                log.xs.extend_from_slice(self.pops[post].x(j));
            }
            self.apply(post, j, jump.as_ref(), w);
            self.schedule_crossing(post, j, t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::kernels::Backend;

    /// Deferring crossing checks (wake-ups, staged bounds) changes nothing: spikes, limit hits
    /// and the event log are identical to checking each crossing at once, with and without a
    /// spike limit, on recurrent networks with tau_mem = 2 tau_syn (the closed form) and with
    /// excitatory and inhibitory currents (the general method). That the staged search finds
    /// the right crossing is tested against dense sampling (`tests/ir.rs`) and high-precision
    /// integration (`tests/engine.rs`).
    #[test]
    fn deferred_crossing_checks_change_nothing() {
        let closed_form = "
neuron N {
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    state v = 0.0
    state i = 0.0
    d/dt v = (-v + i) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= 1.0
    on spike { v = 0.0 }
}";
        // Excitatory and inhibitory currents: eigenvalues 0, -1/10, -1/5, -1/8 per ms, so the
        // general method with its staged bound.
        let general = "
neuron N {
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    param tau_inh = 8 ms
    state v = 0.0
    state i = 0.0
    state j = 0.0
    d/dt v = (0.3 - v + i - j) / tau_mem
    d/dt i = -i / tau_syn
    d/dt j = -j / tau_inh
    receptor syn(w) { i += w }
    receptor inh(w) { j += w }
    spike when v >= 1.0
    on spike { v = 0.0 }
}";
        for (model, recurrent) in [
            (
                closed_form,
                "project hidden -> hidden dense init normal(0.0, 0.5)",
            ),
            (
                general,
                "project hidden -> hidden dense receptor inh init normal(0.5, 0.5)",
            ),
        ] {
            check_deferral(&format!(
                "{model}
input data = regular(size = 5, rate = 1 Hz)
population hidden = 40 N
population out = 3 N
project data -> hidden dense receptor syn init normal(3.0, 1.6)
{recurrent}
project hidden -> out dense receptor syn init normal(0.5, 0.8)
simulation {{ t_max 30 ms }}"
            ));
        }
    }

    fn check_deferral(src: &str) {
        let checked = crate::driver::check_source("test.snn", src);
        let program = checked.program.expect("the test program checks");
        let kernels: Vec<ModelKernels> = crate::driver::lower(&program)
            .iter()
            .map(|m| ModelKernels::new(m, Backend::Jit).expect("compiles"))
            .collect();
        let network = Network::build(&program, 3);
        let mut rng = crate::sim::rng::Rng::new(7);
        for max_spikes in [None, Some(1)] {
            let engine = EventEngine {
                program: &program,
                kernels: &kernels,
                network: &network,
                t_max: program.simulation.t_max,
                max_spikes,
                forced: None,
            };
            for _ in 0..20 {
                let mut spikes: Vec<(f64, u32)> =
                    (0..5).map(|c| (rng.uniform() * 0.01, c)).collect();
                spikes.sort_by(|a, b| a.0.total_cmp(&b.0));
                let inputs = vec![spikes];
                let now = engine
                    .run_with(&inputs, true, None, &mut |_| {}, false, None)
                    .expect("not deferred")
                    .0;
                let later = engine
                    .run_with(&inputs, true, None, &mut |_| {}, true, None)
                    .expect("in order")
                    .0;
                assert_eq!(now.spikes, later.spikes);
                assert_eq!(now.limit_hits, later.limit_hits);
                let (a, b) = (now.log.unwrap(), later.log.unwrap());
                assert_eq!(a.entries, b.entries);
                assert_eq!(a.xs, b.xs);
                assert!(now.spikes.len() > 5, "the network is active");
            }
        }
    }
}
