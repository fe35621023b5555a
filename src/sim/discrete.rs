//! The time-discrete engine: fixed `dt`, the derived spiking step of each model (exact
//! propagator, Euler or RK4, then the Heaviside spike test and the reset blended by the spike),
//! and additive synaptic jumps.
//!
//! Timing: step k advances from k dt to (k+1) dt. Spikes detected at the end of step k, and
//! input spikes with times in [k dt, (k+1) dt), are delivered at the end of step k (after a
//! delay of round(delay / dt) steps), so they act on the dynamics from step k+1 on. Spike times
//! are reported as (k+1) dt. With `record`, the states of every step are kept for
//! backpropagation through time.

use super::kernels::{Backend, Compiled, ModelKernels};
use super::network::Network;
use crate::ir::derive::{ModelIr, surrogate_step};
use crate::ir::{Function, SurrogateFn, interp};
use crate::sema::hir::{Node, Program, Scheme};

/// The spiking step of one model and its adjoint, compiled, plus what the engine needs.
pub struct StepKernels {
    pub step: Compiled,
    pub adjoint: Compiled,
    /// The step without spike test (used while refractory) and its adjoint.
    pub plain: Compiled,
    pub plain_adjoint: Compiled,
    /// The spiking step split by `ir::hoist` (JIT backend only): what depends on parameters and
    /// `dt` alone is computed once per neuron and run, the rest at every step as a population
    /// kernel (one call per population and step, the loop over neurons in generated code).
    pub hoisted: Option<HoistedStep>,
    /// The adjoint split the same way (JIT backend only), for the BPTT backward pass.
    pub hoisted_adjoint: Option<HoistedAdjoint>,
    /// `increment[r]`: the state change per unit weight of receptor `r` (jumps must be additive).
    pub increment: Vec<Vec<f64>>,
    /// The state the spike condition compares (the membrane).
    pub membrane: usize,
}

/// The spiking and the plain step, hoisted: `invariant(x, p, dt)` once per neuron (the state
/// is not read), `body(x, inv)` at every step, bit for bit the unsplit step.
pub struct HoistedStep {
    pub invariant: Compiled,
    pub n_inv: usize,
    pub body: crate::jit::PopulationFn,
    /// `body` for a population whose neurons all have the same invariants (equal parameters):
    /// it reads them once per call.
    pub body_uniform: crate::jit::PopulationFn,
    pub plain_invariant: Compiled,
    pub n_plain_inv: usize,
    pub plain_body: Compiled,
}

/// The adjoint of the spiking step, hoisted like the step: `invariant(x, p, dt, lam, ds)`
/// once per neuron (it reads only `p` and `dt`), `body(x, lam, ds, inv)` for the whole
/// population at every step of the backward pass, bit for bit the unsplit adjoint.
pub struct HoistedAdjoint {
    pub invariant: Compiled,
    pub n_inv: usize,
    pub body: crate::jit::PopulationFn,
    /// `body` reading the invariants once (equal parameters).
    pub body_uniform: crate::jit::PopulationFn,
}

/// Hoists the spiking step's adjoint `adj(x, p, dt, lam, ds)` with `n` states and `k`
/// parameters (the states, the costates and the spike's adjoint vary).
fn hoisted_adjoint(
    adj: &Function,
    n: usize,
    k: usize,
) -> Result<HoistedAdjoint, crate::jit::JitError> {
    let varying: Vec<usize> = (0..n).chain(n + k + 1..n + k + 2 + n).collect();
    let h = crate::ir::hoist::hoist(adj, &varying);
    let invariant = crate::jit::Jit::new()?
        .compile(&[&h.invariant])?
        .pop()
        .expect("one function");
    let (body, body_uniform) = row_kernels(&h.body, n, varying.len())?;
    Ok(HoistedAdjoint {
        invariant: Box::new(invariant),
        n_inv: h.invariant.outputs.len(),
        body,
        body_uniform,
    })
}

/// Why a model cannot run time-discretely.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscreteError(pub String);

/// Builds the step kernels of a model for a scheme and surrogate.
pub fn step_kernels(
    m: &ModelIr,
    scheme: Scheme,
    surrogate: SurrogateFn,
    backend: Backend,
    params: &[f64],
) -> Result<StepKernels, DiscreteError> {
    let step: &Function = match scheme {
        Scheme::Exact => m.step_exact.as_ref().ok_or_else(|| {
            DiscreteError(format!("neuron model `{}` is nonlinear, so `scheme exact` has no propagator; use `scheme rk4` or `scheme euler`", m.name))
        })?,
        Scheme::Euler => &m.step_euler,
        Scheme::Rk4 => &m.step_rk4,
    };
    let (f, adj) = surrogate_step(m, step, surrogate);
    let plain_adj = crate::ir::ad::adjoint_function(step, &(0..m.n()).collect::<Vec<_>>());
    let n = m.n();
    let mut increment = Vec::new();
    for jump in &m.base.jumps {
        // Additive: g(x, w) - x must not depend on x and must be linear in w.
        let at = |x: &[f64], w: f64| {
            let mut a = x.to_vec();
            a.extend_from_slice(params);
            a.push(w);
            let y = interp::eval(jump, &a);
            y.iter().zip(x).map(|(y, x)| y - x).collect::<Vec<f64>>()
        };
        let e = at(&vec![0.0; n], 1.0);
        let probes = [
            (vec![0.3; n], 1.0),
            (vec![-1.7; n], 1.0),
            (vec![0.0; n], 2.5),
            (vec![0.3; n], 2.5),
            (vec![-1.1; n], -0.7),
        ];
        let additive = probes.iter().all(|(x, w)| {
            at(x, *w)
                .iter()
                .zip(&e)
                .all(|(d, ei)| (d - ei * w).abs() <= 1e-12 * (1.0 + ei.abs() * w.abs()))
        });
        if !additive {
            return Err(DiscreteError(format!(
                "receptor `{}` of `{}` is not additive (x += c w); time-discrete training supports additive receptors only",
                &jump.name["jump_".len()..],
                m.name
            )));
        }
        increment.push(e);
    }
    // The membrane: the first state the threshold depends on.
    let mut a = vec![0.0; n];
    a.extend_from_slice(params);
    let membrane = (0..n)
        .find(|&i| {
            let mut plus = a.clone();
            plus[i] += 1.0;
            interp::eval(&m.base.threshold, &plus)[0] != interp::eval(&m.base.threshold, &a)[0]
        })
        .unwrap_or(0);
    let hoisted = match backend {
        Backend::Jit => Some(hoisted_step(&f, step, n).map_err(|e| DiscreteError(e.to_string()))?),
        Backend::Interp => None,
    };
    let hoisted_adjoint = match backend {
        Backend::Jit => Some(
            hoisted_adjoint(&adj, n, m.params.len()).map_err(|e| DiscreteError(e.to_string()))?,
        ),
        Backend::Interp => None,
    };
    let compiled = match backend {
        Backend::Interp => None,
        Backend::Jit => Some(
            crate::jit::Jit::new()
                .and_then(|mut j| j.compile(&[&f, &adj, step, &plain_adj]))
                .map_err(|e| DiscreteError(e.to_string()))?,
        ),
    };
    let mut fns: Vec<Compiled> = match compiled {
        Some(c) => c.into_iter().map(|f| Box::new(f) as Compiled).collect(),
        None => [f, adj, step.clone(), plain_adj]
            .into_iter()
            .map(|f| Box::new(super::kernels::Interp::new(f)) as Compiled)
            .collect(),
    };
    let (plain_adjoint, plain) = (
        fns.pop().expect("four functions"),
        fns.pop().expect("four functions"),
    );
    let (adjoint, step) = (
        fns.pop().expect("four functions"),
        fns.pop().expect("four functions"),
    );
    Ok(StepKernels {
        step,
        adjoint,
        plain,
        plain_adjoint,
        hoisted,
        hoisted_adjoint,
        increment,
        membrane,
    })
}

/// Hoists the spiking step `f` and the plain step (the states, the first `n` arguments, vary).
fn hoisted_step(
    f: &Function,
    plain: &Function,
    n: usize,
) -> Result<HoistedStep, crate::jit::JitError> {
    let states: Vec<usize> = (0..n).collect();
    let h = crate::ir::hoist::hoist(f, &states);
    let hp = crate::ir::hoist::hoist(plain, &states);
    let mut compiled = crate::jit::Jit::new()?.compile(&[&h.invariant, &hp.invariant, &hp.body])?;
    // The states are one row (neuron-major) in and out; the invariants per neuron, or once.
    let (body, body_uniform) = row_kernels(&h.body, n, n)?;
    let plain_body = Box::new(compiled.pop().expect("three functions")) as Compiled;
    let plain_invariant = Box::new(compiled.pop().expect("three functions")) as Compiled;
    let invariant = Box::new(compiled.pop().expect("three functions")) as Compiled;
    Ok(HoistedStep {
        invariant,
        n_inv: h.invariant.outputs.len(),
        body,
        body_uniform,
        plain_invariant,
        n_plain_inv: hp.invariant.outputs.len(),
        plain_body,
    })
}

/// The parameter-only values (`m` per neuron) of a hoisted function for `size` neurons:
/// `invariant` takes the unsplit function's arguments, `n` states (not read), the neuron's
/// parameters (`params[q][neuron]`), `dt`, and `extra` more (not read). One row when all
/// neurons' rows are the same bits (equal parameters): one copy then serves every neuron, and a
/// step streams only the states through the cache.
pub fn invariant_rows(
    invariant: &dyn super::kernels::Eval,
    (m, size): (usize, usize),
    n: usize,
    params: &[Vec<f64>],
    dt: f64,
    extra: usize,
) -> Vec<f64> {
    let np = params.len();
    let mut rows = vec![0.0; size * m];
    let mut a = vec![0.0; n + np + 1 + extra];
    for i in 0..size {
        for (q, values) in params.iter().enumerate() {
            a[n + q] = values[i];
        }
        a[n + np] = dt;
        invariant.call(&a, &mut rows[i * m..(i + 1) * m]);
    }
    one_row_if_equal(&mut rows, m);
    rows
}

/// Keeps only the first row of `v` (rows of `m` values, one per neuron) when all rows are the
/// same bits: one copy then serves every neuron (a uniform kernel argument).
fn one_row_if_equal(v: &mut Vec<f64>, m: usize) {
    if m > 0
        && v.chunks_exact(m).all(|r| {
            r.iter()
                .zip(&v[..m])
                .all(|(a, b)| a.to_bits() == b.to_bits())
        })
    {
        v.truncate(m);
    }
}

/// A hoisted function's body as population kernels whose first `n` arguments and outputs are
/// a neuron's row, with the invariants (the arguments from `first_invariant` on) strided per
/// neuron, and with them uniform.
fn row_kernels(
    body: &Function,
    n: usize,
    first_invariant: usize,
) -> Result<(crate::jit::PopulationFn, crate::jit::PopulationFn), crate::jit::JitError> {
    let mut shape = crate::jit::KernelShape::strided(body.args.len());
    shape.row = n;
    let strided = crate::jit::Jit::new()?.compile_population_shaped(body, &shape)?;
    for u in &mut shape.uniform[first_invariant..] {
        *u = true;
    }
    let uniform = crate::jit::Jit::new()?.compile_population_shaped(body, &shape)?;
    Ok((strided, uniform))
}

/// The nonzero spike flags of a step as (neuron, value), in neuron order. Few neurons spike in
/// a step, so blocks of flags that are all zero are skipped first (their bits without the sign,
/// OR-ed: a test the compiler vectorises).
pub fn nonzero(flags: &[f64]) -> impl Iterator<Item = (usize, f64)> + '_ {
    const BLOCK: usize = 16;
    flags
        .chunks(BLOCK)
        .enumerate()
        .filter(|(_, block)| block.iter().fold(0u64, |acc, v| acc | v.to_bits() << 1) != 0)
        .flat_map(|(b, block)| {
            block
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != 0.0)
                .map(move |(i, v)| (b * BLOCK + i, *v))
        })
}

/// The record of one time-discrete run.
#[derive(Clone, Debug, Default)]
pub struct DiscreteRun {
    pub steps: usize,
    /// `x[pop][k]`: states of every neuron (neuron-major) before step k, k = 0..=steps.
    pub x: Vec<Vec<Vec<f64>>>,
    /// `s[pop][k][i]`: spike of neuron i at the end of step k (0 or 1).
    pub s: Vec<Vec<Vec<f64>>>,
    /// `inputs[input][k]`: channels of each input node that spike during step k.
    pub inputs: Vec<Vec<Vec<u32>>>,
    /// `refractory[pop][k][i]`: neuron i was refractory during step k (no spike test).
    pub refractory: Vec<Vec<Vec<bool>>>,
}

/// What the engine shows an observer.
pub enum Observed<'a> {
    /// The initial states of every population (neuron-major), before step 0.
    Start(&'a [Vec<f64>]),
    /// Step `k` is done, its deliveries included.
    Step {
        k: usize,
        /// States after step k and its deliveries (the states before step k + 1).
        x: &'a [Vec<f64>],
        /// `s[pop][i]`: spike of neuron i at the end of step k (0 or 1).
        s: &'a [Vec<f64>],
        /// `refractory[pop][i]`: neuron i was refractory during step k.
        refractory: &'a [Vec<bool>],
    },
}

/// Runs one sample; inputs as (time, channel) per input node. Keeps every step (for
/// backpropagation through time).
pub fn run(
    program: &Program,
    kernels: &[ModelKernels],
    steps: &[StepKernels],
    net: &Network,
    inputs: &[Vec<(f64, u32)>],
    dt: f64,
) -> DiscreteRun {
    run_with_progress(program, kernels, steps, net, inputs, dt, &mut |_| {})
}

/// [`run`], calling `progress` with the model time reached every 64 steps.
pub fn run_with_progress(
    program: &Program,
    kernels: &[ModelKernels],
    steps: &[StepKernels],
    net: &Network,
    inputs: &[Vec<(f64, u32)>],
    dt: f64,
    progress: &mut dyn FnMut(f64),
) -> DiscreteRun {
    let n_pops = program.populations.len();
    let mut x: Vec<Vec<Vec<f64>>> = vec![Vec::new(); n_pops];
    let mut s: Vec<Vec<Vec<f64>>> = vec![Vec::new(); n_pops];
    let mut refractory: Vec<Vec<Vec<bool>>> = vec![Vec::new(); n_pops];
    let (n_steps, input_step) = run_observed(
        program,
        kernels,
        steps,
        net,
        inputs,
        dt,
        progress,
        &mut |o| match o {
            Observed::Start(x0) => {
                for (h, v) in x.iter_mut().zip(x0) {
                    h.push(v.clone());
                }
            }
            Observed::Step {
                x: xs,
                s: ss,
                refractory: rs,
                ..
            } => {
                for pi in 0..xs.len() {
                    x[pi].push(xs[pi].clone());
                    s[pi].push(ss[pi].clone());
                    refractory[pi].push(rs[pi].clone());
                }
            }
        },
    );
    DiscreteRun {
        steps: n_steps,
        x,
        s,
        inputs: input_step,
        refractory,
    }
}

/// The engine itself: runs one sample and shows every step to `observe` without keeping it
/// (a simulation records only what it needs). Returns the number of steps and the input
/// channels spiking in each step. Buffers are reused from step to step; the spikes of past
/// steps are kept only as long as the longest delay needs them.
#[allow(clippy::too_many_arguments)]
pub fn run_observed(
    program: &Program,
    kernels: &[ModelKernels],
    steps: &[StepKernels],
    net: &Network,
    inputs: &[Vec<(f64, u32)>],
    dt: f64,
    progress: &mut dyn FnMut(f64),
    observe: &mut dyn FnMut(Observed<'_>),
) -> (usize, Vec<Vec<Vec<u32>>>) {
    let n_steps = (program.simulation.t_max / dt).round() as usize;
    let pops = &program.populations;
    let mut cur: Vec<Vec<f64>> = pops
        .iter()
        .enumerate()
        .map(|(pi, pop)| {
            let kern = &kernels[pop.model.index()];
            let mut x0 = vec![0.0; pop.size * kern.n];
            let mut buf = vec![0.0; kern.n];
            for i in 0..pop.size {
                let p: Vec<f64> = (0..kern.n_params).map(|k| net.params[pi][k][i]).collect();
                kern.init.call(&p, &mut buf);
                x0[i * kern.n..(i + 1) * kern.n].copy_from_slice(&buf);
            }
            x0
        })
        .collect();
    observe(Observed::Start(&cur));
    let input_step: Vec<Vec<Vec<u32>>> = inputs
        .iter()
        .map(|train| {
            let mut per = vec![Vec::new(); n_steps];
            for &(t, c) in train {
                let k = (t / dt).floor() as usize;
                if k < n_steps {
                    per[k].push(c);
                }
            }
            per
        })
        .collect();
    let mut args = Vec::new();
    // Refractory period in steps per neuron, and steps of it still to go.
    let ref_steps: Vec<Vec<usize>> = pops
        .iter()
        .enumerate()
        .map(|(pi, pop)| {
            let kern = &kernels[pop.model.index()];
            (0..pop.size)
                .map(|i| {
                    kern.refractory.as_ref().map_or(0, |r| {
                        let p: Vec<f64> =
                            (0..kern.n_params).map(|q| net.params[pi][q][i]).collect();
                        let mut t = [0.0];
                        r.call(&p, &mut t);
                        (t[0].max(0.0) / dt).round() as usize
                    })
                })
                .collect()
        })
        .collect();
    let mut remaining: Vec<Vec<usize>> = pops.iter().map(|p| vec![0; p.size]).collect();
    // The neurons with `remaining > 0` (hoisted steps only).
    let mut refractory: Vec<Vec<usize>> = pops.iter().map(|_| Vec::new()).collect();
    let delays: Vec<usize> = net
        .projections
        .iter()
        .map(|syn| (syn.delay / dt).round() as usize)
        .collect();
    // fired[pop][k % ring]: (neuron, spike value) of the neurons that spiked in step k.
    let ring = delays.iter().max().map_or(1, |d| d + 1);
    let mut fired: Vec<Vec<Vec<(usize, f64)>>> =
        pops.iter().map(|_| vec![Vec::new(); ring]).collect();
    let mut next: Vec<Vec<f64>> = cur.clone();
    let mut spikes: Vec<Vec<f64>> = pops.iter().map(|p| vec![0.0; p.size]).collect();
    let mut refr: Vec<Vec<bool>> = pops.iter().map(|p| vec![false; p.size]).collect();
    let mut active: Vec<(usize, f64)> = Vec::new();
    // Per-neuron invariants of the hoisted steps (parameters and dt never change in a run):
    // `inv[pop]` of the spiking step, `plain_inv[pop]` of the plain one, neuron by neuron.
    let (inv, plain_inv): (Vec<Vec<f64>>, Vec<Vec<f64>>) = pops
        .iter()
        .enumerate()
        .map(|(pi, pop)| {
            let Some(h) = &steps[pop.model.index()].hoisted else {
                return (Vec::new(), Vec::new());
            };
            let n = kernels[pop.model.index()].n;
            let params = &net.params[pi];
            (
                invariant_rows(&*h.invariant, (h.n_inv, pop.size), n, params, dt, 0),
                invariant_rows(
                    &*h.plain_invariant,
                    (h.n_plain_inv, pop.size),
                    n,
                    params,
                    dt,
                    0,
                ),
            )
        })
        .unzip();
    for k in 0..n_steps {
        if k.is_multiple_of(64) {
            progress(k as f64 * dt);
        }
        for (pi, pop) in pops.iter().enumerate() {
            let kern = &kernels[pop.model.index()];
            let (n, np) = (kern.n, kern.n_params);
            let mut out = [0.0; 16];
            let mut out_vec = Vec::new();
            let out: &mut [f64] = if n < 16 {
                &mut out[..n + 1]
            } else {
                out_vec.resize(n + 1, 0.0);
                &mut out_vec
            };
            let step_k = &steps[pop.model.index()];
            let (next, spikes, refr) = (&mut next[pi], &mut spikes[pi], &mut refr[pi]);
            refr.fill(false);
            let xk = &cur[pi];
            if let Some(h) = &step_k.hoisted {
                // The whole population in one call; refractory neurons are redone below.
                let size = pop.size;
                let mut a: Vec<crate::jit::Strided<'_>> = (0..n)
                    .map(|s| crate::jit::Strided {
                        data: xk,
                        offset: s,
                        stride: n,
                    })
                    .collect();
                // One row of invariants for the whole population (see above), or one each.
                let inv_stride = if inv[pi].len() == h.n_inv { 0 } else { h.n_inv };
                a.extend((0..h.n_inv).map(|q| crate::jit::Strided {
                    data: &inv[pi],
                    offset: q,
                    stride: inv_stride,
                }));
                // States neuron-major into `next`, spike flags into `spikes`.
                let layout: Vec<(usize, usize, usize)> = (0..n)
                    .map(|s| (0, s, n))
                    .chain(std::iter::once((1, 0, 1)))
                    .collect();
                let kernel = if inv_stride == 0 {
                    &h.body_uniform
                } else {
                    &h.body
                };
                kernel.run_into(&a, &mut [next, spikes], &layout, size);
            }
            if let Some(h) = &step_k.hoisted {
                // The kernel stepped every neuron with the spike test; the refractory ones
                // (listed, usually few) take the plain step instead.
                let list = &mut refractory[pi];
                let mut kept = 0;
                for r in 0..list.len() {
                    let i = list[r];
                    remaining[pi][i] -= 1;
                    refr[i] = true;
                    spikes[i] = 0.0;
                    let m = h.n_plain_inv;
                    let row = if plain_inv[pi].len() == m { 0 } else { i };
                    args.clear();
                    args.extend_from_slice(&xk[i * n..(i + 1) * n]);
                    args.extend_from_slice(&plain_inv[pi][row * m..(row + 1) * m]);
                    h.plain_body.call(&args, &mut out[..n]);
                    next[i * n..(i + 1) * n].copy_from_slice(&out[..n]);
                    if remaining[pi][i] > 0 {
                        list[kept] = i;
                        kept += 1;
                    }
                }
                list.truncate(kept);
            } else {
                for i in 0..pop.size {
                    args.clear();
                    args.extend_from_slice(&xk[i * n..(i + 1) * n]);
                    if remaining[pi][i] > 0 {
                        remaining[pi][i] -= 1;
                        refr[i] = true;
                        spikes[i] = 0.0;
                        args.extend((0..np).map(|q| net.params[pi][q][i]));
                        args.push(dt);
                        step_k.plain.call(&args, &mut out[..n]);
                        next[i * n..(i + 1) * n].copy_from_slice(&out[..n]);
                        continue;
                    }
                    args.extend((0..np).map(|q| net.params[pi][q][i]));
                    args.push(dt);
                    step_k.step.call(&args, out);
                    next[i * n..(i + 1) * n].copy_from_slice(&out[..n]);
                    spikes[i] = out[n];
                    if out[n] != 0.0 {
                        remaining[pi][i] = ref_steps[pi][i];
                    }
                }
            }
            let list = &mut fired[pi][k % ring];
            list.clear();
            list.extend(nonzero(spikes));
            if step_k.hoisted.is_some() {
                for &(i, _) in list.iter() {
                    remaining[pi][i] = ref_steps[pi][i];
                    if ref_steps[pi][i] > 0 {
                        refractory[pi].push(i);
                    }
                }
            }
        }
        std::mem::swap(&mut cur, &mut next);
        // Deliveries at the end of step k.
        for (syn, &d) in net.projections.iter().zip(&delays) {
            if k < d {
                continue;
            }
            let src = k - d;
            active.clear();
            match syn.pre {
                Node::Input(id) => active.extend(
                    input_step[id.index()][src]
                        .iter()
                        .map(|c| (*c as usize, 1.0)),
                ),
                Node::Pop(q) => active.extend_from_slice(&fired[q.index()][src % ring]),
            }
            let post = syn.post;
            let model = pops[post].model.index();
            let n = kernels[model].n;
            let inc = &steps[model].increment[syn.receptor];
            let xs = &mut cur[post];
            // A receptor usually moves one state: a target then costs one multiply-add.
            // (Adding `w * 0.0` would change nothing: states are finite.)
            let moved: Vec<(usize, f64)> = inc
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, e)| *e != 0.0)
                .collect();
            for &(i, a) in &active {
                for (&j, &w) in syn.targets[i].iter().zip(syn.row(i)) {
                    let w = w * a;
                    for &(q, e) in &moved {
                        xs[j as usize * n + q] += w * e;
                    }
                }
            }
        }
        observe(Observed::Step {
            k,
            x: &cur,
            s: &spikes,
            refractory: &refr,
        });
    }
    (n_steps, input_step)
}
