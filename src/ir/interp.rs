//! The reference interpreter: evaluates IR functions in `f64`.
//!
//! This is the oracle the JIT must match. The semantics of every instruction are defined here
//! (`unary`, `binary`, `surrogate`) and nowhere else.

use super::{BinaryOp, Function, Op, SurrogateFn, UnaryOp, rt};

pub fn unary(op: UnaryOp, a: f64) -> f64 {
    match op {
        UnaryOp::Neg => -a,
        UnaryOp::Exp => a.exp(),
        UnaryOp::Expm1 => a.exp_m1(),
        UnaryOp::Log => a.ln(),
        UnaryOp::Sqrt => a.sqrt(),
        UnaryOp::Abs => a.abs(),
        UnaryOp::Tanh => a.tanh(),
        UnaryOp::Sin => a.sin(),
        UnaryOp::Cos => a.cos(),
        UnaryOp::Not => f64::from(u8::from(a == 0.0)),
    }
}

pub fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    let t = |c: bool| f64::from(u8::from(c));
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Min => a.min(b),
        BinaryOp::Max => a.max(b),
        BinaryOp::Lt => t(a < b),
        BinaryOp::Le => t(a <= b),
        BinaryOp::Eq => t(a == b),
        BinaryOp::Ne => t(a != b),
        BinaryOp::And => t(a != 0.0 && b != 0.0),
        BinaryOp::Or => t(a != 0.0 || b != 0.0),
    }
}

/// The surrogate derivative of the Heaviside step at `h`.
pub fn surrogate(s: SurrogateFn, h: f64) -> f64 {
    match s {
        SurrogateFn::SuperSpike { beta } => 1.0 / (beta * h.abs() + 1.0).powi(2),
        SurrogateFn::Sigmoid { beta } => {
            let s = 1.0 / (1.0 + (-beta * h).exp());
            beta * s * (1.0 - s)
        }
    }
}

/// Evaluates `f` at `args`, writing every value into `scratch` (reused to avoid allocation).
pub fn eval_into(f: &Function, args: &[f64], scratch: &mut Vec<f64>) {
    scratch.clear();
    for op in &f.insts {
        let v = match op {
            Op::Const(c) => *c,
            Op::Arg(n) => args[*n as usize],
            Op::Unary(o, a) => unary(*o, scratch[a.index()]),
            Op::Binary(o, a, b) => binary(*o, scratch[a.index()], scratch[b.index()]),
            Op::Select(c, a, b) => {
                if scratch[c.index()] != 0.0 {
                    scratch[a.index()]
                } else {
                    scratch[b.index()]
                }
            }
            Op::Heaviside(a, _) => f64::from(u8::from(scratch[a.index()] >= 0.0)),
            Op::SurrogateGrad(a, s) => surrogate(*s, scratch[a.index()]),
            Op::DdExp(vs) => {
                let t = scratch[vs[0].index()];
                let nodes: Vec<f64> = vs[1..].iter().map(|v| scratch[v.index()]).collect();
                rt::dd_exp(t, &nodes)
            }
            Op::Expm { at, args, .. } => {
                let m: Vec<f64> = args[1..].iter().map(|v| scratch[v.index()]).collect();
                rt::expm_entry(scratch[args[0].index()], &m, *at as usize)
            }
        };
        scratch.push(v);
    }
}

/// Evaluates `f` at `args` and returns its outputs.
pub fn eval(f: &Function, args: &[f64]) -> Vec<f64> {
    let mut scratch = Vec::with_capacity(f.insts.len());
    eval_into(f, args, &mut scratch);
    f.outputs.iter().map(|(_, v)| scratch[v.index()]).collect()
}
