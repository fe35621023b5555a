//! The IR well-formedness checker, run after every pass in debug builds and in tests.
//!
//! Checks: arguments come first and in order, every operand refers to an earlier instruction,
//! `dd_exp` has a time and at least one node, outputs refer to existing values and have unique
//! names. A violation is a compiler bug, reported as a message (never a user diagnostic).

use super::{Function, Op};

pub fn verify(f: &Function) -> Result<(), String> {
    let n_args = f.args.len();
    for (i, op) in f.insts.iter().enumerate() {
        match op {
            Op::Arg(k) if i < n_args && *k as usize == i => {}
            Op::Arg(k) => {
                return Err(format!(
                    "{}: %{i} = arg {k} is not in argument position",
                    f.name
                ));
            }
            _ if i < n_args => return Err(format!("{}: %{i} should be argument {i}", f.name)),
            Op::DdExp(vs) if vs.len() < 2 => {
                return Err(format!("{}: %{i} dd_exp needs t and a node", f.name));
            }
            Op::Expm { n, at, args }
                if *n == 0 || args.len() != 1 + (n * n) as usize || at >= &(n * n) =>
            {
                return Err(format!(
                    "{}: %{i} expm of a {n}x{n} matrix needs t and {} entries and an entry below {}",
                    f.name,
                    n * n,
                    n * n
                ));
            }
            other => {
                for o in other.operands() {
                    if o.index() >= i {
                        return Err(format!(
                            "{}: %{i} uses %{} before its definition",
                            f.name, o.0
                        ));
                    }
                }
            }
        }
    }
    for (k, (name, v)) in f.outputs.iter().enumerate() {
        if v.index() >= f.insts.len() {
            return Err(format!(
                "{}: output `{name}` refers to missing %{}",
                f.name, v.0
            ));
        }
        if f.outputs[..k].iter().any(|(n, _)| n == name) {
            return Err(format!("{}: output `{name}` appears twice", f.name));
        }
    }
    Ok(())
}
