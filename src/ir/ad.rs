//! Symbolic differentiation on the IR: forward (tangent) and reverse (adjoint) mode.
//!
//! Both work inside a [`Builder`]: they read the instructions already built and append the
//! derivative instructions, so derived functions are ordinary IR (printable, verifiable,
//! interpretable, compilable) and derivatives of derivatives work the same way.
//!
//! Conventions: comparisons and boolean operators have zero derivative; `select` differentiates
//! the chosen branch; `heaviside` has zero derivative in forward mode and its surrogate in
//! reverse mode (surrogate-gradient training); `surrogate_grad` is treated as locally constant.
//! The derivative of a divided difference of the exponential is again one:
//! `d/d lambda_i exp[l_0..l_r] = exp[l_0..l_i, l_i..l_r]`; that of a matrix exponential is
//! again one (of `M` for the time, of a block matrix for the entries of `M`).

use super::{BinaryOp, Builder, Function, Op, UnaryOp, Value};
use std::collections::HashMap;

/// Which values depend on any of `wrt`.
fn dependents(b: &Builder, wrt: &[Value], upto: usize) -> Vec<bool> {
    let mut dep = vec![false; upto];
    for w in wrt {
        if w.index() < upto {
            dep[w.index()] = true;
        }
    }
    for i in 0..upto {
        if !dep[i] {
            dep[i] = b.insts[i].operands().iter().any(|o| dep[o.index()]);
        }
    }
    dep
}

/// `d dd_exp(t, nodes) / d node_i`: the same divided difference with node `i` repeated.
fn dd_repeat(b: &mut Builder, args: &[Value], i: usize) -> Value {
    let mut a = args.to_vec();
    a.insert(i + 1, args[i + 1]);
    b.push(Op::DdExp(a))
}

/// `d dd_exp(t, nodes) / dt = l_0 * dd_exp(t, nodes) + dd_exp(t, nodes[1..])`.
fn dd_time(b: &mut Builder, args: &[Value], y: Value) -> Value {
    let first = b.mul(args[1], y);
    if args.len() > 2 {
        let mut rest = vec![args[0]];
        rest.extend_from_slice(&args[2..]);
        let tail = b.push(Op::DdExp(rest));
        b.add(first, tail)
    } else {
        first
    }
}

/// `d exp(M t)[i][j] / dt = (M exp(M t))[i][j]`.
fn expm_time(b: &mut Builder, n: usize, at: usize, args: &[Value]) -> Value {
    let (i, j) = (at / n, at % n);
    let terms: Vec<Value> = (0..n)
        .map(|k| {
            let e = b.push(Op::Expm {
                n: n as u32,
                at: (k * n + j) as u32,
                args: args.to_vec(),
            });
            b.mul(args[1 + i * n + k], e)
        })
        .collect();
    b.sum(terms)
}

/// `d exp(M t)[i][j] / d M[k][l]`: entry `(i, n + j)` of `exp(B t)` for the block matrix
/// `B = [[M, E_kl], [0, M]]` (the Fréchet derivative of the exponential, Van Loan 1978).
fn expm_entry_derivative(b: &mut Builder, n: usize, at: usize, args: &[Value], kl: usize) -> Value {
    let (i, j) = (at / n, at % n);
    let (zero, one) = (b.c(0.0), b.c(1.0));
    let m = 2 * n;
    let mut block = vec![args[0]];
    for r in 0..m {
        for c in 0..m {
            block.push(match (r < n, c < n) {
                (true, true) => args[1 + r * n + c],
                (false, false) => args[1 + (r - n) * n + (c - n)],
                (true, false) if r * n + (c - n) == kl => one,
                _ => zero,
            });
        }
    }
    b.push(Op::Expm {
        n: m as u32,
        at: (i * m + n + j) as u32,
        args: block,
    })
}

/// Local partial derivatives of instruction `v` with respect to each operand, as values.
/// `needed` says which operands matter; expensive partials are built only for those.
fn partials(b: &mut Builder, v: Value, needed: &dyn Fn(Value) -> bool) -> Vec<(Value, Value)> {
    let op = b.insts[v.index()].clone();
    let y = v;
    match op {
        Op::Const(_) | Op::Arg(_) | Op::SurrogateGrad(..) => vec![],
        Op::Unary(o, x) => {
            let d = match o {
                UnaryOp::Neg => b.c(-1.0),
                UnaryOp::Exp => y,
                UnaryOp::Expm1 => {
                    let one = b.c(1.0);
                    b.add(y, one)
                }
                UnaryOp::Log => {
                    let one = b.c(1.0);
                    b.div(one, x)
                }
                UnaryOp::Sqrt => {
                    let half = b.c(0.5);
                    b.div(half, y)
                }
                UnaryOp::Abs => {
                    let zero = b.c(0.0);
                    let neg = b.bin(BinaryOp::Lt, x, zero);
                    let (m, p) = (b.c(-1.0), b.c(1.0));
                    b.select(neg, m, p)
                }
                UnaryOp::Tanh => {
                    let one = b.c(1.0);
                    let sq = b.mul(y, y);
                    b.sub(one, sq)
                }
                UnaryOp::Sin => b.un(UnaryOp::Cos, x),
                UnaryOp::Cos => {
                    let s = b.un(UnaryOp::Sin, x);
                    b.neg(s)
                }
                UnaryOp::Not => return vec![],
            };
            vec![(x, d)]
        }
        Op::Binary(o, x, z) => match o {
            BinaryOp::Add => {
                let one = b.c(1.0);
                vec![(x, one), (z, one)]
            }
            BinaryOp::Sub => {
                let (one, m) = (b.c(1.0), b.c(-1.0));
                vec![(x, one), (z, m)]
            }
            BinaryOp::Mul => vec![(x, z), (z, x)],
            BinaryOp::Div => {
                let one = b.c(1.0);
                let dx = b.div(one, z);
                let q = b.div(y, z);
                let dz = b.neg(q);
                vec![(x, dx), (z, dz)]
            }
            BinaryOp::Pow => {
                let one = b.c(1.0);
                let em1 = b.sub(z, one);
                let p = b.bin(BinaryOp::Pow, x, em1);
                let dx = b.mul(z, p);
                let mut out = vec![(x, dx)];
                if b.constant_of(z).is_none() {
                    let l = b.un(UnaryOp::Log, x);
                    out.push((z, b.mul(y, l)));
                }
                out
            }
            BinaryOp::Min | BinaryOp::Max => {
                let pick_x = if o == BinaryOp::Min {
                    b.bin(BinaryOp::Le, x, z)
                } else {
                    b.bin(BinaryOp::Le, z, x)
                };
                let (one, zero) = (b.c(1.0), b.c(0.0));
                let dx = b.select(pick_x, one, zero);
                let dz = b.select(pick_x, zero, one);
                vec![(x, dx), (z, dz)]
            }
            _ => vec![],
        },
        Op::Select(c, x, z) => {
            let (one, zero) = (b.c(1.0), b.c(0.0));
            let dx = b.select(c, one, zero);
            let dz = b.select(c, zero, one);
            vec![(x, dx), (z, dz)]
        }
        Op::Heaviside(..) => vec![],
        Op::DdExp(args) => {
            let mut out = vec![(args[0], dd_time(b, &args, y))];
            for i in 0..args.len() - 1 {
                out.push((args[i + 1], dd_repeat(b, &args, i)));
            }
            out
        }
        Op::Expm { n, at, args } => {
            let (n, at) = (n as usize, at as usize);
            let mut out = Vec::new();
            if needed(args[0]) {
                out.push((args[0], expm_time(b, n, at, &args)));
            }
            for kl in 0..n * n {
                if needed(args[1 + kl]) {
                    out.push((args[1 + kl], expm_entry_derivative(b, n, at, &args, kl)));
                }
            }
            out
        }
    }
}

/// Forward mode: the tangents of `outputs` given tangents `dwrt` of the values `wrt`.
pub fn jvp(b: &mut Builder, wrt: &[Value], dwrt: &[Value], outputs: &[Value]) -> Vec<Value> {
    let upto = outputs.iter().map(|v| v.index() + 1).max().unwrap_or(0);
    let dep = dependents(b, wrt, upto);
    let mut tangent: HashMap<Value, Value> =
        wrt.iter().copied().zip(dwrt.iter().copied()).collect();
    for i in 0..upto {
        let v = Value(i as u32);
        if !dep[i] || tangent.contains_key(&v) {
            continue;
        }
        let has = |o: Value| tangent.contains_key(&o);
        let terms: Vec<Value> = partials(b, v, &has)
            .into_iter()
            .filter_map(|(operand, d)| tangent.get(&operand).map(|t| (*t, d)))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(t, d)| b.mul(d, t))
            .collect();
        let t = b.sum(terms);
        tangent.insert(v, t);
    }
    outputs
        .iter()
        .map(|o| tangent.get(o).copied().unwrap_or_else(|| b.c(0.0)))
        .collect()
}

/// Reverse mode: the adjoints of the values `wrt` given adjoints `seeds` of `outputs`
/// (vector-Jacobian product). Heaviside steps contribute their surrogate derivative.
pub fn vjp(b: &mut Builder, outputs: &[Value], seeds: &[Value], wrt: &[Value]) -> Vec<Value> {
    let upto = outputs.iter().map(|v| v.index() + 1).max().unwrap_or(0);
    let dep = dependents(b, wrt, upto);
    let mut adj: HashMap<Value, Value> = HashMap::new();
    for (o, s) in outputs.iter().zip(seeds) {
        let cur = adj.get(o).copied();
        let new = match cur {
            Some(c) => b.add(c, *s),
            None => *s,
        };
        adj.insert(*o, new);
    }
    for i in (0..upto).rev() {
        let v = Value(i as u32);
        let Some(a) = adj.get(&v).copied() else {
            continue;
        };
        if !dep[i] || wrt.contains(&v) && b.insts[i].operands().is_empty() {
            continue;
        }
        let mut contributions = partials(b, v, &|o: Value| dep[o.index()]);
        if let Op::Heaviside(h, s) = b.insts[i] {
            let g = b.push(Op::SurrogateGrad(h, s));
            contributions.push((h, g));
        }
        for (operand, d) in contributions {
            if !dep[operand.index()] {
                continue;
            }
            let term = b.mul(a, d);
            let new = match adj.get(&operand) {
                Some(c) => b.add(*c, term),
                None => term,
            };
            adj.insert(operand, new);
        }
    }
    wrt.iter()
        .map(|w| adj.get(w).copied().unwrap_or_else(|| b.c(0.0)))
        .collect()
}

/// The tangent function of `f`: arguments are `f`'s arguments followed by one tangent per
/// argument in `wrt`; outputs are `f`'s outputs followed by their tangents (`d<name>`).
pub fn tangent_function(f: &Function, wrt: &[usize]) -> Function {
    let mut args = f.args.clone();
    args.extend(wrt.iter().map(|i| format!("d{}", f.args[*i])));
    let mut b = Builder::new(&args);
    let primal: Vec<Value> = (0..f.args.len()).map(|i| b.arg(i)).collect();
    let outs = b.inline(f, &primal);
    let wrt_v: Vec<Value> = wrt.iter().map(|i| primal[*i]).collect();
    let dv: Vec<Value> = (0..wrt.len()).map(|k| b.arg(f.args.len() + k)).collect();
    let tans = jvp(&mut b, &wrt_v, &dv, &outs);
    let mut outputs: Vec<(String, Value)> =
        f.outputs.iter().map(|(n, _)| n.clone()).zip(outs).collect();
    outputs.extend(f.outputs.iter().map(|(n, _)| format!("d{n}")).zip(tans));
    super::passes::run(b.finish(format!("{}_tangent", f.name), outputs))
}

/// The adjoint function of `f`: arguments are `f`'s arguments followed by one cotangent per
/// output (`bar_<name>`); outputs are the cotangents of the arguments in `wrt`.
pub fn adjoint_function(f: &Function, wrt: &[usize]) -> Function {
    let mut args = f.args.clone();
    args.extend(f.outputs.iter().map(|(n, _)| format!("bar_{n}")));
    let mut b = Builder::new(&args);
    let primal: Vec<Value> = (0..f.args.len()).map(|i| b.arg(i)).collect();
    let outs = b.inline(f, &primal);
    let seeds: Vec<Value> = (0..outs.len()).map(|k| b.arg(f.args.len() + k)).collect();
    let wrt_v: Vec<Value> = wrt.iter().map(|i| primal[*i]).collect();
    let bars = vjp(&mut b, &outs, &seeds, &wrt_v);
    let outputs = wrt
        .iter()
        .map(|i| format!("bar_{}", f.args[*i]))
        .zip(bars)
        .collect();
    super::passes::run(b.finish(format!("{}_adjoint", f.name), outputs))
}
