//! Hoisting: splits a function into what depends only on some of its arguments (computed once)
//! and the rest (computed at every call).
//!
//! The time-discrete engine calls a model's step `(x, p, dt) -> x'` at every step, but its
//! parameters and `dt` never change during a run, so everything computed from them alone (the
//! exponentials of an exact propagator, `1 / tau`, ...) is the same at every step. `hoist`
//! returns `invariant(args) -> inv..` (those values, once per neuron) and `body(varying..,
//! inv..) -> outputs` (the remaining instructions, which read the invariant values as
//! arguments). Both keep every instruction exactly as it was (no re-simplification), so
//! `body(x, invariant(x, p, dt))` is bit for bit `f(x, p, dt)`.
//!
//! It does not decide which arguments vary; the caller says so.

use super::{Builder, Function, Op, Value, passes};
use std::collections::HashMap;

/// The two halves of a hoisted function.
#[derive(Clone, Debug)]
pub struct Hoisted {
    /// `invariant(f's arguments) -> inv0, inv1, ..` (reads only the arguments that do not vary).
    pub invariant: Function,
    /// `body(the varying arguments in order, inv0, inv1, ..) -> f's outputs`.
    pub body: Function,
}

/// Splits `f`; `varying` are the indices of the arguments that change from call to call.
pub fn hoist(f: &Function, varying: &[usize]) -> Hoisted {
    // Which instructions depend on a varying argument.
    let mut dep = vec![false; f.insts.len()];
    for (i, op) in f.insts.iter().enumerate() {
        dep[i] = match op {
            Op::Arg(n) => varying.contains(&(*n as usize)),
            other => other.operands().iter().any(|o| dep[o.index()]),
        };
    }
    let is_const = |v: Value| matches!(f.insts[v.index()], Op::Const(_));
    // The invariant values the body reads (non-constant, in first-use order).
    let mut inv: Vec<Value> = Vec::new();
    let note = |v: Value, inv: &mut Vec<Value>| {
        if !dep[v.index()] && !is_const(v) && !inv.contains(&v) {
            inv.push(v);
        }
    };
    for (i, op) in f.insts.iter().enumerate() {
        if dep[i] && !matches!(op, Op::Arg(_)) {
            for o in op.operands() {
                note(o, &mut inv);
            }
        }
    }
    for (_, v) in &f.outputs {
        note(*v, &mut inv);
    }
    // The body: varying arguments, then the invariant values as arguments.
    let mut args: Vec<String> = varying.iter().map(|&i| f.args[i].clone()).collect();
    args.extend((0..inv.len()).map(|k| format!("inv{k}")));
    let mut b = Builder::raw(&args);
    let mut map: HashMap<Value, Value> = HashMap::new();
    for (k, &i) in varying.iter().enumerate() {
        map.insert(Value(i as u32), b.arg(k));
    }
    for (k, v) in inv.iter().enumerate() {
        map.insert(*v, b.arg(varying.len() + k));
    }
    let get = |v: Value, b: &mut Builder, map: &mut HashMap<Value, Value>| -> Value {
        if let Some(m) = map.get(&v) {
            return *m;
        }
        // Only constants are neither mapped nor dependent.
        let Op::Const(c) = f.insts[v.index()] else {
            unreachable!("every invariant operand was noted")
        };
        let m = b.push(Op::Const(c));
        map.insert(v, m);
        m
    };
    for (i, op) in f.insts.iter().enumerate() {
        if !dep[i] || matches!(op, Op::Arg(_)) {
            continue;
        }
        let mapped = op.map_operands(&mut |o| get(o, &mut b, &mut map));
        let nv = b.push(mapped);
        map.insert(Value(i as u32), nv);
    }
    let outputs = f
        .outputs
        .iter()
        .map(|(name, v)| (name.clone(), get(*v, &mut b, &mut map)))
        .collect();
    let body = passes::dce(&b.finish(format!("{}_body", f.name), outputs));
    let invariant = passes::dce(&Function {
        name: format!("{}_invariant", f.name),
        args: f.args.clone(),
        insts: f.insts.clone(),
        outputs: inv
            .iter()
            .enumerate()
            .map(|(k, v)| (format!("inv{k}"), *v))
            .collect(),
    });
    Hoisted { invariant, body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::interp::eval;
    use crate::ir::verify::verify;

    /// `body(x, invariant(x, p, t))` equals `f(x, p, t)` bit for bit, and the body has no
    /// exponential left, for the exact step of a LIF neuron.
    #[test]
    fn hoisted_propagator_is_bit_identical_and_exp_free() {
        let src = "
neuron N {
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    param v_leak = 0.2
    state v = 0.0
    state i = 0.0
    d/dt v = (v_leak - v + i) / tau_mem
    d/dt i = -i / tau_syn
    spike when v >= 1.0
}
population p = 1 N
simulation { t_max 1 ms }";
        let checked = crate::driver::check_source("t.snn", src);
        let m = crate::driver::lower(checked.program.as_ref().unwrap()).remove(0);
        let f = m.step_exact.as_ref().unwrap();
        let h = hoist(f, &[0, 1]);
        verify(&h.body).unwrap();
        verify(&h.invariant).unwrap();
        assert!(h.body.insts.iter().all(|op| !matches!(op, Op::DdExp(_))));
        let mut rng = crate::sim::rng::Rng::stream(1, "hoist");
        for _ in 0..1000 {
            let a = [
                rng.normal(),
                rng.normal(),
                0.002 + 0.03 * rng.uniform(),
                0.002 + 0.03 * rng.uniform(),
                rng.normal(),
                1e-4 + 1e-3 * rng.uniform(),
            ];
            let want = eval(f, &a);
            let inv = eval(&h.invariant, &a);
            let mut b = vec![a[0], a[1]];
            b.extend(&inv);
            let got = eval(&h.body, &b);
            for (x, y) in got.iter().zip(&want) {
                assert_eq!(x.to_bits(), y.to_bits());
            }
        }
    }
}
