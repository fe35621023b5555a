//! The compiled form of a model's functions that the engines call.
//!
//! [`Eval`] is the calling convention (arguments in, outputs out, no allocation); the reference
//! implementation interprets the IR. The JIT provides the same trait with native code, so the
//! engines never know which backend runs.

use crate::ir::derive::ModelIr;
use crate::ir::{Function, interp};
use std::cell::RefCell;

/// A callable model function: `out` receives the outputs in declaration order.
pub trait Eval: Send + Sync {
    fn call(&self, args: &[f64], out: &mut [f64]);
    fn n_outputs(&self) -> usize;
}

/// Interprets an IR function (the oracle backend).
pub struct Interp {
    f: Function,
}

impl Interp {
    pub fn new(f: Function) -> Interp {
        Interp { f }
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

impl Eval for Interp {
    fn call(&self, args: &[f64], out: &mut [f64]) {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            interp::eval_into(&self.f, args, &mut s);
            for (o, (_, v)) in out.iter_mut().zip(&self.f.outputs) {
                *o = s[v.index()];
            }
        })
    }

    fn n_outputs(&self) -> usize {
        self.f.outputs.len()
    }
}

/// Which backend compiles model functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// Native code through Cranelift (the default).
    #[default]
    Jit,
    /// The reference interpreter (the oracle).
    Interp,
}

pub type Compiled = Box<dyn Eval>;

/// Compiles a batch of functions with one backend, in order.
fn compile_all(fs: &[&Function], backend: Backend) -> Result<Vec<Compiled>, crate::jit::JitError> {
    Ok(match backend {
        Backend::Interp => fs
            .iter()
            .map(|f| Box::new(Interp { f: (*f).clone() }) as Compiled)
            .collect(),
        Backend::Jit => crate::jit::Jit::new()?
            .compile(fs)?
            .into_iter()
            .map(|f| Box::new(f) as Compiled)
            .collect(),
    })
}

/// Every function of one model the engines and gradients need.
pub struct ModelKernels {
    pub n: usize,
    pub n_params: usize,
    pub rhs: Compiled,
    pub threshold: Compiled,
    pub reset: Compiled,
    pub init: Compiled,
    pub jumps: Vec<Compiled>,
    pub refractory: Option<Compiled>,
    /// Exact flow (linear models only).
    pub propagate: Option<Compiled>,
    /// `(x, p, t, bar_x) -> (bar_x0.., bar_t)`: the transpose of the flow (EventProp).
    pub propagate_adjoint: Option<Compiled>,
    pub eigenvalues: Option<Compiled>,
    pub lie: Compiled,
    pub n_lie: usize,
    pub step_euler: Compiled,
    pub step_rk4: Compiled,
    pub spike_adjoint: Compiled,
    pub input_adjoints: Vec<Compiled>,
    /// `(x, p, w, dx, dw) -> (x', dx')` per receptor (analytic gradients).
    pub jump_tangents: Vec<Compiled>,
    /// `(x, p, t, dx, dt) -> (x(t), dx(t))` (analytic gradients; linear models only).
    pub propagate_tangent: Option<Compiled>,
    /// `(x-, p, dx) -> dt*`: the spike-time sensitivity by the implicit function theorem.
    pub spike_time_tangent: Compiled,
    pub threshold_affine: bool,
    /// Per receptor: the jump is affine in state and weight (`ModelIr::jumps_affine`).
    pub jumps_affine: Vec<bool>,
    /// The reset is affine in the state (`ModelIr::reset_affine`).
    pub reset_affine: bool,
}

impl ModelKernels {
    /// Compiles every function of `m` that the engines call.
    pub fn new(m: &ModelIr, backend: Backend) -> Result<ModelKernels, crate::jit::JitError> {
        let find = |name: &str| m.derivatives.iter().find(|f| f.name == name);
        let propagate_adjoint = find("propagate_adjoint");
        let propagate_tangent = find("propagate_tangent");
        let jump_tangents: Vec<&Function> = m
            .base
            .jumps
            .iter()
            .map(|j| find(&format!("{}_tangent", j.name)).expect("every jump has a tangent"))
            .collect();
        let mut fs: Vec<&Function> = vec![
            &m.base.rhs,
            &m.base.threshold,
            &m.base.reset,
            &m.base.init,
            &m.lie,
            &m.step_euler,
            &m.step_rk4,
            &m.spike_adjoint,
            &m.spike_time_tangent,
        ];
        fs.extend(&m.base.jumps);
        fs.extend(&m.input_adjoints);
        fs.extend(jump_tangents.iter().copied());
        let optional = [
            m.base.refractory.as_ref(),
            m.propagate.as_ref(),
            propagate_adjoint,
            m.eigenvalues.as_ref(),
            propagate_tangent,
        ];
        fs.extend(optional.iter().flatten());
        let mut compiled = compile_all(&fs, backend)?.into_iter();
        let mut next = || compiled.next().expect("one compiled function per input");
        let (rhs, threshold, reset, init, lie, step_euler, step_rk4, spike_adjoint) = (
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
        );
        let spike_time_tangent = next();
        let jumps = m.base.jumps.iter().map(|_| next()).collect();
        let input_adjoints = m.input_adjoints.iter().map(|_| next()).collect();
        let jump_tangents = m.base.jumps.iter().map(|_| next()).collect();
        let mut opt = optional.map(|f| f.map(|_| next()));
        Ok(ModelKernels {
            n: m.n(),
            n_params: m.params.len(),
            rhs,
            threshold,
            reset,
            init,
            jumps,
            refractory: opt[0].take(),
            propagate: opt[1].take(),
            propagate_adjoint: opt[2].take(),
            eigenvalues: opt[3].take(),
            propagate_tangent: opt[4].take(),
            jump_tangents,
            spike_time_tangent,
            lie,
            n_lie: m.lie.outputs.len(),
            step_euler,
            step_rk4,
            spike_adjoint,
            input_adjoints,
            threshold_affine: m.threshold_affine,
            jumps_affine: m.jumps_affine.clone(),
            reset_affine: m.reset_affine,
        })
    }

    /// Whether the exact event engine can run this model.
    pub fn exact_events(&self) -> bool {
        self.propagate.is_some() && self.eigenvalues.is_some() && self.threshold_affine
    }
}
