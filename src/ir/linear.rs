//! Classification of the dynamics and exact propagators for linear ones.
//!
//! `classify` decides whether f(x, p) is affine in x with coefficients that depend only on the
//! parameters (linear time-invariant): it differentiates `rhs` symbolically and asks whether
//! any entry of the Jacobian still depends on the state. For such models it returns A(p) and
//! b(p) as IR values.
//!
//! `propagator` builds x(t) = e^{At} x0 + int_0^t e^{As} b ds in closed form when the coupling
//! graph of A (ignoring self-coupling) has no cycles, i.e. A is triangular up to a reordering of
//! the states. Then each entry of e^{At} is a sum over coupling paths of a product of couplings
//! times a divided difference of exp over the path's eigenvalues (the diagonal of A), and the
//! affine part is the same with a constant pseudo-state of eigenvalue 0. Divided differences
//! are evaluated by `rt::dd_exp`, which is exact for equal time constants
//! (tau_mem = tau_syn gives t e^{-t/tau}) and nearly equal ones, with no division by
//! tau_mem - tau_syn anywhere. Models with cyclic coupling (or too many coupling paths) get
//! `expm_propagator`, the matrix exponential of the augmented system instead.

use super::{Builder, Function, Op, Value, ad, passes};

/// How a model evolves between events.
#[derive(Clone, Debug, PartialEq)]
pub enum Dynamics {
    /// f = A x + b with A and b depending only on parameters.
    Linear(Linear),
    /// Anything else, with the reason in words.
    Nonlinear { reason: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// `coefficients(p) -> (A row-major, b)`, an IR function of the parameters only.
    pub coefficients: Function,
    pub n: usize,
    /// `structural[i][j]`: A[i][j] is not identically zero.
    pub structural: Vec<Vec<bool>>,
    /// b[i] is not identically zero.
    pub affine: Vec<bool>,
    /// A state order that makes A lower triangular, if the coupling graph is acyclic.
    pub order: Option<Vec<usize>>,
}

/// Classifies `rhs(x, p)` with `n` states.
pub fn classify(rhs: &Function, n: usize) -> Dynamics {
    let mut b = Builder::new(&rhs.args);
    let args: Vec<Value> = (0..rhs.args.len()).map(|i| b.arg(i)).collect();
    let f = b.inline(rhs, &args);
    let x: Vec<Value> = args[..n].to_vec();
    let mut a = vec![vec![Value(0); n]; n];
    for j in 0..n {
        let seeds: Vec<Value> = (0..n)
            .map(|k| b.c(if k == j { 1.0 } else { 0.0 }))
            .collect();
        let col = ad::jvp(&mut b, &x, &seeds, &f);
        for i in 0..n {
            a[i][j] = col[i];
        }
    }
    let state_args: Vec<u32> = (0..n as u32).collect();
    let probe = b.clone().finish("probe", vec![]);
    for i in 0..n {
        for j in 0..n {
            if probe.depends_on(a[i][j], &state_args) {
                return Dynamics::Nonlinear {
                    reason: format!(
                        "d/dt {} depends on {} nonlinearly",
                        strip(&rhs.args[i]),
                        strip(&rhs.args[j])
                    ),
                };
            }
        }
    }
    // b = f(0, p): substitute zeros for the state.
    let zero = b.c(0.0);
    let mut at_zero = vec![zero; n];
    at_zero.extend_from_slice(&args[n..]);
    let f0 = b.inline(rhs, &at_zero);
    let structural: Vec<Vec<bool>> = a
        .iter()
        .map(|row| row.iter().map(|v| b.constant_of(*v) != Some(0.0)).collect())
        .collect();
    let affine: Vec<bool> = f0.iter().map(|v| b.constant_of(*v) != Some(0.0)).collect();
    // Rebuild as a function of p only: the arguments stay (x is unused), then DCE.
    let mut outputs: Vec<(String, Value)> = Vec::new();
    for i in 0..n {
        for j in 0..n {
            outputs.push((format!("a{i}{j}"), a[i][j]));
        }
    }
    outputs.extend((0..n).map(|i| (format!("b{i}"), f0[i])));
    let coefficients = passes::run(b.finish("coefficients", outputs));
    let order = triangular_order(&structural);
    Dynamics::Linear(Linear {
        coefficients,
        n,
        structural,
        affine,
        order,
    })
}

fn strip(arg: &str) -> &str {
    arg.strip_prefix("x.").unwrap_or(arg)
}

/// A topological order of the coupling graph (edge j -> i when A[i][j] != 0, i != j).
fn triangular_order(s: &[Vec<bool>]) -> Option<Vec<usize>> {
    let n = s.len();
    let mut order = Vec::new();
    let mut done = vec![false; n];
    while order.len() < n {
        let next = (0..n).find(|&i| !done[i] && (0..n).all(|j| j == i || done[j] || !s[i][j]))?;
        done[next] = true;
        order.push(next);
    }
    Some(order)
}

/// All coupling paths from `from` to `to` (lists of states), for acyclic coupling.
fn paths(s: &[Vec<bool>], from: usize, to: usize) -> Vec<Vec<usize>> {
    if from == to {
        return vec![vec![to]];
    }
    let mut out = Vec::new();
    for (k, row) in s.iter().enumerate() {
        if k != from && row[from] {
            for mut p in paths(s, k, to) {
                p.insert(0, from);
                out.push(p);
            }
        }
    }
    out
}

/// The most coupling paths a closed form may sum before the fallback is used instead.
const MAX_PATHS: usize = 4096;

/// `propagate(x, p, t) -> x(t)` in closed form, or `None` if the coupling is cyclic.
pub fn propagator(lin: &Linear, state_args: &[String], param_args: &[String]) -> Option<Function> {
    lin.order.as_ref()?;
    let n = lin.n;
    let mut args: Vec<String> = state_args.to_vec();
    args.extend_from_slice(param_args);
    args.push("t".into());
    let mut b = Builder::new(&args);
    let all: Vec<Value> = (0..args.len()).map(|i| b.arg(i)).collect();
    let x0 = all[..n].to_vec();
    let t = all[args.len() - 1];
    let mut coef_args = x0.clone();
    coef_args.extend_from_slice(&all[n..args.len() - 1]);
    let coef = b.inline(&lin.coefficients, &coef_args);
    let a = |i: usize, j: usize| coef[i * n + j];
    let bvec = |i: usize| coef[n * n + i];
    let zero = b.c(0.0);
    let mut count = 0;
    let mut out = Vec::new();
    for i in 0..n {
        let mut terms = Vec::new();
        for j in 0..n {
            for path in paths(&lin.structural, j, i) {
                count += 1;
                let mut nodes = vec![t];
                nodes.extend(path.iter().map(|k| a(*k, *k)));
                let mut prod = x0[j];
                for w in path.windows(2) {
                    prod = b.mul(prod, a(w[1], w[0]));
                }
                let dd = b.push(Op::DdExp(nodes));
                terms.push(b.mul(prod, dd));
            }
        }
        // Affine part: a constant pseudo-state with eigenvalue 0 feeding state k with b[k].
        for k in 0..n {
            if !lin.affine[k] {
                continue;
            }
            for path in paths(&lin.structural, k, i) {
                count += 1;
                let mut nodes = vec![t, zero];
                nodes.extend(path.iter().map(|q| a(*q, *q)));
                let mut prod = bvec(k);
                for w in path.windows(2) {
                    prod = b.mul(prod, a(w[1], w[0]));
                }
                let dd = b.push(Op::DdExp(nodes));
                terms.push(b.mul(prod, dd));
            }
        }
        out.push(b.sum(terms));
    }
    if count > MAX_PATHS {
        return None;
    }
    let outputs = state_args.iter().map(|s| s.to_string()).zip(out).collect();
    Some(passes::run(b.finish("propagate", outputs)))
}

/// `propagate(x, p, t) -> x(t)` through the matrix exponential, for any linear model (used when
/// the coupling is cyclic or a closed form would be too long): with the augmented matrix
/// `M = [[A, b], [0, 0]]`, `x(t) = exp(M t)[..n][..n] x0 + exp(M t)[..n][n]`. `rt::expm`
/// evaluates it by scaling and squaring; the only error is that of the Taylor polynomial and
/// of rounding (about 1e-15 relative for the well-conditioned matrices of neuron models).
pub fn expm_propagator(lin: &Linear, state_args: &[String], param_args: &[String]) -> Function {
    let n = lin.n;
    let mut args: Vec<String> = state_args.to_vec();
    args.extend_from_slice(param_args);
    args.push("t".into());
    let mut b = Builder::new(&args);
    let all: Vec<Value> = (0..args.len()).map(|i| b.arg(i)).collect();
    let x0 = all[..n].to_vec();
    let t = all[args.len() - 1];
    let mut coef_args = x0.clone();
    coef_args.extend_from_slice(&all[n..args.len() - 1]);
    let coef = b.inline(&lin.coefficients, &coef_args);
    let affine = lin.affine.iter().any(|a| *a);
    let m = n + usize::from(affine);
    let zero = b.c(0.0);
    let mut margs = vec![t];
    for i in 0..m {
        for j in 0..m {
            margs.push(match (i < n, j < n) {
                (true, true) => coef[i * n + j],
                (true, false) => coef[n * n + i],
                _ => zero,
            });
        }
    }
    let mut out = Vec::new();
    for i in 0..n {
        let mut terms = Vec::new();
        for (j, x) in x0.iter().enumerate() {
            let e = b.push(Op::Expm {
                n: m as u32,
                at: (i * m + j) as u32,
                args: margs.clone(),
            });
            terms.push(b.mul(e, *x));
        }
        if affine {
            terms.push(b.push(Op::Expm {
                n: m as u32,
                at: (i * m + n) as u32,
                args: margs.clone(),
            }));
        }
        out.push(b.sum(terms));
    }
    let outputs = state_args.iter().map(|s| s.to_string()).zip(out).collect();
    passes::run(b.finish("propagate", outputs))
}

/// `eigenvalues(x, p) -> lambda_1..lambda_N`: the diagonal of A (the eigenvalues of a
/// triangular system) and 0 for constants (an affine drive, or the constant part of an affine
/// threshold function). The product of (D - lambda_k) annihilates h(x(t)) along every free
/// trajectory, which the crossing finder relies on.
pub fn eigenvalues(lin: &Linear, state_args: &[String], param_args: &[String]) -> Function {
    let n = lin.n;
    let mut args: Vec<String> = state_args.to_vec();
    args.extend_from_slice(param_args);
    let mut b = Builder::new(&args);
    let all: Vec<Value> = (0..args.len()).map(|i| b.arg(i)).collect();
    let coef = b.inline(&lin.coefficients, &all);
    let mut outputs: Vec<(String, Value)> = (0..n)
        .map(|i| (format!("lambda{i}"), coef[i * n + i]))
        .collect();
    let z = b.c(0.0);
    outputs.push((format!("lambda{n}"), z));
    passes::run(b.finish("eigenvalues", outputs))
}
