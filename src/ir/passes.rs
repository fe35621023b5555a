//! IR passes. Each rebuilds a function; `run` applies the standard list and verifies the result
//! after every pass (in debug builds and tests).
//!
//! - `fold`: constant folding and algebraic identities (`x + 0`, `x * 1`, `--x`, constant
//!   `select`...), by re-adding every instruction through a folding [`Builder`].
//! - `cse`: common-subexpression elimination (equal instructions share one value); done by the
//!   same builder, so `fold` and `cse` are one rebuild.
//! - `dce`: removes instructions no output depends on.
//!
//! ```text
//! before:  %2 = const 0; %3 = add %0, %2; %4 = mul %3, %1; %5 = mul %0, %1; return a = %4, b = %5
//! after:   %2 = mul %0, %1; return a = %2, b = %2
//! ```

use super::verify::verify;
use super::{Builder, Function, Op, Value};

/// Constant folding, identities and CSE: rebuild through a simplifying builder.
pub fn fold_and_cse(f: &Function) -> Function {
    let mut b = Builder::new(&f.args);
    let mut map: Vec<Value> = Vec::with_capacity(f.insts.len());
    for op in &f.insts {
        let v = match op {
            Op::Arg(n) => b.arg(*n as usize),
            other => {
                let op = other.map_operands(&mut |v| map[v.index()]);
                b.push(op)
            }
        };
        map.push(v);
    }
    let outputs = f
        .outputs
        .iter()
        .map(|(n, v)| (n.clone(), map[v.index()]))
        .collect();
    b.finish(f.name.clone(), outputs)
}

/// Dead-code elimination: keep arguments and what the outputs need.
pub fn dce(f: &Function) -> Function {
    let mut live = vec![false; f.insts.len()];
    for (_, v) in &f.outputs {
        live[v.index()] = true;
    }
    for i in (0..f.insts.len()).rev() {
        if live[i] {
            for o in f.insts[i].operands() {
                live[o.index()] = true;
            }
        }
    }
    let mut map = vec![Value(u32::MAX); f.insts.len()];
    let mut insts = Vec::new();
    for (i, op) in f.insts.iter().enumerate() {
        if live[i] || matches!(op, Op::Arg(_)) {
            map[i] = Value(insts.len() as u32);
            insts.push(op.map_operands(&mut |v| map[v.index()]));
        }
    }
    let outputs = f
        .outputs
        .iter()
        .map(|(n, v)| (n.clone(), map[v.index()]))
        .collect();
    Function {
        name: f.name.clone(),
        args: f.args.clone(),
        insts,
        outputs,
    }
}

/// A pass: a named rebuild of a function.
type Pass = fn(&Function) -> Function;

/// The standard pipeline: fold+CSE, then DCE, verifying after each pass in debug builds.
pub fn run(f: Function) -> Function {
    let passes: [(&str, Pass); 2] = [("fold_and_cse", fold_and_cse), ("dce", dce)];
    let mut f = f;
    check(&f, "input");
    for (name, pass) in passes {
        f = pass(&f);
        check(&f, name);
    }
    f
}

static VERIFY: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(cfg!(debug_assertions));

/// Turns the verifier after every pass on (it is on by default in debug builds); tests turn it
/// on in release builds too.
pub fn verify_after_every_pass(on: bool) {
    VERIFY.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn check(f: &Function, after: &str) {
    if VERIFY.load(std::sync::atomic::Ordering::Relaxed)
        && let Err(e) = verify(f)
    {
        panic!(
            "IR verifier failed after `{after}`: {e}\n{}",
            super::print::function(f)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::interp::eval;

    fn sample() -> Function {
        let mut b = Builder::raw(&["x".into(), "y".into()]);
        let (x, y) = (b.arg(0), b.arg(1));
        let zero = b.c(0.0);
        let s = b.add(x, zero);
        let m1 = b.mul(s, y);
        let m2 = b.mul(x, y);
        let _dead = b.mul(m2, m2);
        b.finish("sample", vec![("a".into(), m1), ("b".into(), m2)])
    }

    #[test]
    fn passes_shrink_and_preserve_results() {
        let f = sample();
        let g = run(f.clone());
        assert_eq!(g.insts.len(), 3, "{}", crate::ir::print::function(&g));
        assert_eq!(g.outputs[0].1, g.outputs[1].1);
        for (x, y) in [(1.5, -2.0), (0.0, 3.0), (1e300, 1e-300)] {
            assert_eq!(eval(&f, &[x, y]), eval(&g, &[x, y]));
        }
    }

    #[test]
    fn verifier_rejects_use_before_definition() {
        let mut f = sample();
        f.insts[3] = Op::Binary(crate::ir::BinaryOp::Add, Value(5), Value(0));
        assert!(verify(&f).is_err());
        assert!(verify(&sample()).is_ok());
    }
}
