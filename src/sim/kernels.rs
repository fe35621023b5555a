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
    #[default]
    Interp,
}

pub type Compiled = Box<dyn Eval>;

fn compile(f: &Function, _backend: Backend) -> Compiled {
    Box::new(Interp { f: f.clone() })
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
    pub threshold_affine: bool,
}

impl ModelKernels {
    pub fn new(m: &ModelIr, backend: Backend) -> ModelKernels {
        let c = |f: &Function| compile(f, backend);
        let propagate_adjoint = m.derivatives.iter().find(|f| f.name == "propagate_adjoint").map(c);
        ModelKernels {
            n: m.n(),
            n_params: m.params.len(),
            rhs: c(&m.base.rhs),
            threshold: c(&m.base.threshold),
            reset: c(&m.base.reset),
            init: c(&m.base.init),
            jumps: m.base.jumps.iter().map(c).collect(),
            refractory: m.base.refractory.as_ref().map(c),
            propagate: m.propagate.as_ref().map(c),
            propagate_adjoint,
            eigenvalues: m.eigenvalues.as_ref().map(c),
            lie: c(&m.lie),
            n_lie: m.lie.outputs.len(),
            step_euler: c(&m.step_euler),
            step_rk4: c(&m.step_rk4),
            spike_adjoint: c(&m.spike_adjoint),
            input_adjoints: m.input_adjoints.iter().map(c).collect(),
            threshold_affine: m.threshold_affine,
        }
    }

    /// Whether the exact event engine can run this model.
    pub fn exact_events(&self) -> bool {
        self.propagate.is_some() && self.eigenvalues.is_some() && self.threshold_affine
    }
}
