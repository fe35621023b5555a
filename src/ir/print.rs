//! The stable text form of IR functions (used by `snnc ir` and snapshot tests).
//!
//! ```text
//! fn rhs(x.v, x.i, p.tau_mem, p.tau_syn) {
//!   %4 = sub %1, %0
//!   %5 = div %4, %2
//!   ...
//!   return dv = %5, di = %8
//! }
//! ```
//! Arguments are `%0 ..`; numbers print in Rust's shortest round-trip form.

use super::{BinaryOp, Function, Op, SurrogateFn, UnaryOp};
use std::fmt::Write;

fn unary_name(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "neg",
        UnaryOp::Exp => "exp",
        UnaryOp::Expm1 => "expm1",
        UnaryOp::Log => "log",
        UnaryOp::Sqrt => "sqrt",
        UnaryOp::Abs => "abs",
        UnaryOp::Tanh => "tanh",
        UnaryOp::Sin => "sin",
        UnaryOp::Cos => "cos",
        UnaryOp::Not => "not",
    }
}

fn binary_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
        BinaryOp::Pow => "pow",
        BinaryOp::Min => "min",
        BinaryOp::Max => "max",
        BinaryOp::Lt => "lt",
        BinaryOp::Le => "le",
        BinaryOp::Eq => "eq",
        BinaryOp::Ne => "ne",
        BinaryOp::And => "and",
        BinaryOp::Or => "or",
    }
}

fn surrogate_name(s: SurrogateFn) -> String {
    match s {
        SurrogateFn::SuperSpike { beta } => format!("superspike({beta})"),
        SurrogateFn::Sigmoid { beta } => format!("sigmoid({beta})"),
    }
}

pub fn function(f: &Function) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "fn {}({}) {{", f.name, f.args.join(", "));
    for (i, op) in f.insts.iter().enumerate() {
        let text = match op {
            Op::Arg(_) => continue,
            Op::Const(c) => format!("const {c:?}"),
            Op::Unary(o, a) => format!("{} %{}", unary_name(*o), a.0),
            Op::Binary(o, a, b) => format!("{} %{}, %{}", binary_name(*o), a.0, b.0),
            Op::Select(c, a, b) => format!("select %{}, %{}, %{}", c.0, a.0, b.0),
            Op::Heaviside(a, sg) => format!("heaviside %{} [{}]", a.0, surrogate_name(*sg)),
            Op::SurrogateGrad(a, sg) => {
                format!("surrogate_grad %{} [{}]", a.0, surrogate_name(*sg))
            }
            Op::DdExp(vs) => {
                let nodes: Vec<String> = vs[1..].iter().map(|v| format!("%{}", v.0)).collect();
                format!("dd_exp t=%{}, [{}]", vs[0].0, nodes.join(", "))
            }
            Op::Expm { n, at, args } => {
                let m: Vec<String> = args[1..].iter().map(|v| format!("%{}", v.0)).collect();
                let rows: Vec<String> = m.chunks(*n as usize).map(|r| r.join(", ")).collect();
                format!(
                    "expm[{}][{}] t=%{}, [{}]",
                    at / n,
                    at % n,
                    args[0].0,
                    rows.join("; ")
                )
            }
        };
        let _ = writeln!(s, "  %{i} = {text}");
    }
    let outs: Vec<String> = f
        .outputs
        .iter()
        .map(|(n, v)| format!("{n} = %{}", v.0))
        .collect();
    let _ = writeln!(s, "  return {}\n}}", outs.join(", "));
    s
}

/// A model with all its functions, as printed by `snnc ir`.
pub fn model(m: &super::derive::ModelIr) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model {}", m.name);
    let _ = writeln!(s, "  states: {}", m.states.join(", "));
    let _ = writeln!(s, "  params: {}", m.params.join(", "));
    let _ = writeln!(s, "  dynamics: {}", classification(m));
    let _ = writeln!(
        s,
        "  threshold: {}",
        if m.threshold_affine {
            "affine in the state"
        } else {
            "nonlinear in the state"
        }
    );
    for f in m.functions() {
        let _ = write!(s, "\n{}", function(f));
    }
    s
}

/// One line saying how the model is simulated and why.
pub fn classification(m: &super::derive::ModelIr) -> String {
    use super::linear::Dynamics;
    match (&m.dynamics, &m.propagate) {
        (Dynamics::Linear(_), Some(_)) if m.eigenvalues.is_none() => "linear time-invariant with cyclic coupling: matrix-exponential propagator (exact in discrete mode); event mode integrates it adaptively (Dormand-Prince 5(4))".into(),
        (Dynamics::Linear(_), Some(_)) if m.threshold_affine => {
            "linear time-invariant: exact closed-form propagator, exact threshold crossing".into()
        }
        (Dynamics::Linear(_), Some(_)) => "linear time-invariant with a threshold nonlinear in the state: event mode integrates it adaptively (Dormand-Prince 5(4)); exact gradients need an affine threshold".into(),
        (Dynamics::Linear(_), None) => unreachable!("every linear model has a propagator"),
        (Dynamics::Nonlinear { reason }, _) => format!("nonlinear ({reason}): event mode integrates it adaptively (Dormand-Prince 5(4)) with event location; trains with `mode discrete`"),
    }
}
