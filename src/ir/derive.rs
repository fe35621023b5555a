//! Every function a model needs for simulation and training, derived from its base functions.
//!
//! For a neuron model with state x, parameters p, flow f, jumps g_r, threshold h and reset r:
//!
//! | function | signature | what it is |
//! |---|---|---|
//! | `propagate` | (x, p, t) -> x(t) | exact flow of linear models (closed form) |
//! | `eigenvalues` | (x, p) -> lambda | diagonal of A plus 0, for the crossing finder |
//! | `lie` | (x, p) -> h, L_f h, .. L_f^N h | time derivatives of h along the flow |
//! | `step_euler`, `step_rk4`, `step_exact` | (x, p, dt) -> x' | one time-discrete step |
//! | `step_spiking_*` | (x, p, dt) -> x', s | step, Heaviside spike, reset blended by s |
//! | `step_spiking_*_adjoint` | (.., bar) -> bar_x | surrogate-gradient backward step |
//! | `<f>_tangent`, `<f>_adjoint` | | forward and reverse derivatives of rhs, jumps, h, r, propagate |
//! | `<f>_params_tangent`, `<f>_params_adjoint` | | the same with respect to the parameters |
//! | `spike_adjoint` | (x-, p, lam+, l_t) -> lam- | EventProp jump at an own spike |
//! | `input_adjoint_<r>` | (x-, p, w, lam+) -> lam-, dw, dt | EventProp jump at an input |
//! | `spike_time_tangent` | (x-, p, dx) -> dt | implicit-function-theorem spike-time sensitivity |
//!
//! The EventProp jumps follow from the implicit function theorem applied to h(x(t*)) = 0 with
//! x+ = r(x-):  lam- = R^T lam+ + grad h [(f(x+) - R f(x-)) . lam+ - l_t] / (grad h . f(x-)),
//! and at an input x+ = g(x-, w):  lam- = G^T lam+, dL/dw = lam+ . dg/dw,
//! dL/dt_in = lam+ . (G f(x-) - f(x+)). Here lam = dL/dx (the true costate) and l_t is the
//! explicit derivative of the loss by the spike time (including downstream effects).

use super::linear::{self, Dynamics};
use super::lower::{self, BaseFunctions};
use super::{Builder, Function, Op, SurrogateFn, Value, ad, passes};
use crate::sema::hir::NeuronModel;

/// The IR of one neuron model with all its derived functions.
#[derive(Clone, Debug)]
pub struct ModelIr {
    pub name: String,
    pub states: Vec<String>,
    pub params: Vec<String>,
    pub base: BaseFunctions,
    pub dynamics: Dynamics,
    /// The threshold function is affine in the state (needed by the exact crossing finder).
    pub threshold_affine: bool,
    /// Per receptor: the jump is affine in the state and the weight jointly (x+ = M x + w d + c
    /// with M, d, c depending on the parameters only). The modal fast path also needs M = I and
    /// c = 0, which it checks numerically.
    pub jumps_affine: Vec<bool>,
    /// The reset is affine in the state (x+ = R x + r with R, r depending on the parameters
    /// only), so the modal fast path can apply it in modal coordinates.
    pub reset_affine: bool,
    pub propagate: Option<Function>,
    pub eigenvalues: Option<Function>,
    pub lie: Function,
    pub step_euler: Function,
    pub step_rk4: Function,
    pub step_exact: Option<Function>,
    pub spike_adjoint: Function,
    pub input_adjoints: Vec<Function>,
    pub spike_time_tangent: Function,
    /// Tangent and adjoint versions of rhs, jumps, threshold, reset and propagate.
    pub derivatives: Vec<Function>,
    /// The time-discrete step with spike and reset, and its surrogate-gradient adjoint, for the
    /// default surrogate (SuperSpike, beta 80) and the best scheme (exact, else RK4); training
    /// builds its own with `surrogate_step`.
    pub surrogate_step: (Function, Function),
}

impl ModelIr {
    pub fn n(&self) -> usize {
        self.states.len()
    }

    /// Every function, base and derived, in a stable order (for printing and tests).
    pub fn functions(&self) -> Vec<&Function> {
        let b = &self.base;
        let mut out: Vec<&Function> = vec![&b.rhs];
        out.extend(&b.jumps);
        out.extend([&b.threshold, &b.reset, &b.init]);
        out.extend(&b.refractory);
        if let Dynamics::Linear(l) = &self.dynamics {
            out.push(&l.coefficients);
        }
        out.extend(&self.propagate);
        out.extend(&self.eigenvalues);
        out.extend([&self.lie, &self.step_euler, &self.step_rk4]);
        out.extend(&self.step_exact);
        out.push(&self.spike_adjoint);
        out.extend(&self.input_adjoints);
        out.push(&self.spike_time_tangent);
        out.extend(&self.derivatives);
        out.extend([&self.surrogate_step.0, &self.surrogate_step.1]);
        out
    }
}

/// Arguments (x.., p.., extra..) and their values in a fresh builder.
fn start(m: &ModelIr, extra: &[String]) -> (Builder, Vec<Value>, Vec<Value>, Vec<Value>) {
    let mut args: Vec<String> = m.states.iter().map(|s| format!("x.{s}")).collect();
    args.extend(m.params.iter().map(|p| format!("p.{p}")));
    args.extend_from_slice(extra);
    let b = Builder::new(&args);
    let n = m.states.len();
    let k = m.params.len();
    let x = (0..n).map(|i| b.arg(i)).collect();
    let p = (n..n + k).map(|i| b.arg(i)).collect();
    let e = (n + k..args.len()).map(|i| b.arg(i)).collect();
    (b, x, p, e)
}

fn call(b: &mut Builder, f: &Function, x: &[Value], p: &[Value], extra: &[Value]) -> Vec<Value> {
    let mut args = x.to_vec();
    args.extend_from_slice(p);
    args.extend_from_slice(extra);
    b.inline(f, &args)
}

fn named(prefix: &str, names: &[String], vals: Vec<Value>) -> Vec<(String, Value)> {
    names
        .iter()
        .map(|s| format!("{prefix}{s}"))
        .zip(vals)
        .collect()
}

/// Builds the IR of a model: lowering, classification and every derived function.
pub fn derive(model: &NeuronModel) -> ModelIr {
    let base = lower::lower_model(model);
    let states: Vec<String> = model.states.iter().map(|s| s.name.clone()).collect();
    let params: Vec<String> = model.params.iter().map(|p| p.name.clone()).collect();
    let n = states.len();
    let dynamics = linear::classify(&base.rhs, n);
    let state_args: Vec<String> = states.iter().map(|s| format!("x.{s}")).collect();
    let param_args: Vec<String> = params.iter().map(|p| format!("p.{p}")).collect();
    let (propagate, eigenvalues) = match &dynamics {
        // The eigenvalues (the diagonal of a triangular A) and so the exact crossing search
        // exist only with the closed form; the matrix exponential still gives an exact flow.
        Dynamics::Linear(l) => match linear::propagator(l, &state_args, &param_args) {
            Some(p) => (
                Some(p),
                Some(linear::eigenvalues(l, &state_args, &param_args)),
            ),
            None => (
                Some(linear::expm_propagator(l, &state_args, &param_args)),
                None,
            ),
        },
        Dynamics::Nonlinear { .. } => (None, None),
    };
    let threshold_affine = is_affine(&base.threshold, n);
    let k = params.len();
    let jumps_affine = base
        .jumps
        .iter()
        .map(|j| is_affine_in(j, &[(0..n).collect::<Vec<_>>(), vec![n + k]].concat()))
        .collect();
    let reset_affine = is_affine_in(&base.reset, &(0..n).collect::<Vec<_>>());
    let placeholder = Function {
        name: String::new(),
        args: vec![],
        insts: vec![],
        outputs: vec![],
    };
    let mut m = ModelIr {
        name: model.name.clone(),
        states,
        params,
        base,
        dynamics,
        threshold_affine,
        jumps_affine,
        reset_affine,
        propagate,
        eigenvalues,
        lie: placeholder.clone(),
        step_euler: placeholder.clone(),
        step_rk4: placeholder.clone(),
        step_exact: None,
        spike_adjoint: placeholder.clone(),
        input_adjoints: vec![],
        spike_time_tangent: placeholder.clone(),
        derivatives: vec![],
        surrogate_step: (placeholder.clone(), placeholder.clone()),
    };
    let order = m.eigenvalues.as_ref().map_or(n + 1, |e| e.outputs.len());
    m.lie = lie(&m, order);
    m.step_euler = step_euler(&m);
    m.step_rk4 = step_rk4(&m);
    m.step_exact = m.propagate.as_ref().map(|p| rename(p, "step_exact", "dt"));
    m.spike_adjoint = spike_adjoint(&m);
    m.input_adjoints = (0..m.base.jumps.len())
        .map(|r| input_adjoint(&m, r))
        .collect();
    m.spike_time_tangent = spike_time_tangent(&m);
    m.derivatives = derivatives(&m);
    let best = m.step_exact.clone().unwrap_or_else(|| m.step_rk4.clone());
    m.surrogate_step = surrogate_step(&m, &best, SurrogateFn::SuperSpike { beta: 80.0 });
    m
}

/// Whether the gradient of output 0 of `f` with respect to the first `n` arguments is constant
/// in them.
fn is_affine(f: &Function, n: usize) -> bool {
    let mut b = Builder::new(&f.args);
    let args: Vec<Value> = (0..f.args.len()).map(|i| b.arg(i)).collect();
    let out = b.inline(f, &args);
    let one = b.c(1.0);
    let grad = ad::vjp(&mut b, &out[..1], &[one], &args[..n]);
    let probe = b.finish("probe", vec![]);
    let xs: Vec<u32> = (0..n as u32).collect();
    grad.iter().all(|g| !probe.depends_on(*g, &xs))
}

/// Whether every output of `f` is affine in the arguments `wrt` jointly: no entry of the
/// Jacobian by them depends on them (structurally, in the IR).
fn is_affine_in(f: &Function, wrt: &[usize]) -> bool {
    let mut b = Builder::new(&f.args);
    let args: Vec<Value> = (0..f.args.len()).map(|i| b.arg(i)).collect();
    let out = b.inline(f, &args);
    let wrt_v: Vec<Value> = wrt.iter().map(|i| args[*i]).collect();
    let mut grads = Vec::new();
    for o in 0..out.len() {
        let one = b.c(1.0);
        grads.extend(ad::vjp(&mut b, &out[o..o + 1], &[one], &wrt_v));
    }
    let probe = b.finish("probe", vec![]);
    let ws: Vec<u32> = wrt.iter().map(|i| *i as u32).collect();
    grads.iter().all(|g| !probe.depends_on(*g, &ws))
}

fn rename(f: &Function, name: &str, last_arg: &str) -> Function {
    let mut g = f.clone();
    g.name = name.into();
    if let Some(a) = g.args.last_mut() {
        *a = last_arg.into();
    }
    g
}

/// h and its Lie derivatives L_f^k h for k = 1..=order.
fn lie(m: &ModelIr, order: usize) -> Function {
    let (mut b, x, p, _) = start(m, &[]);
    let f = call(&mut b, &m.base.rhs, &x, &p, &[]);
    let mut cur = call(&mut b, &m.base.threshold, &x, &p, &[])[0];
    let mut outs = vec![("h0".to_string(), cur)];
    for k in 1..=order {
        cur = ad::jvp(&mut b, &x, &f, &[cur])[0];
        outs.push((format!("h{k}"), cur));
    }
    passes::run(b.finish("lie", outs))
}

fn step_euler(m: &ModelIr) -> Function {
    let (mut b, x, p, e) = start(m, &["dt".into()]);
    let f = call(&mut b, &m.base.rhs, &x, &p, &[]);
    let next: Vec<Value> = x
        .iter()
        .zip(&f)
        .map(|(xi, fi)| {
            let d = b.mul(e[0], *fi);
            b.add(*xi, d)
        })
        .collect();
    passes::run(b.finish("step_euler", named("", &m.states, next)))
}

fn step_rk4(m: &ModelIr) -> Function {
    let (mut b, x, p, e) = start(m, &["dt".into()]);
    let dt = e[0];
    let half = b.c(0.5);
    let hdt = b.mul(half, dt);
    let axpy = |b: &mut Builder, x: &[Value], k: &[Value], s: Value| -> Vec<Value> {
        x.iter()
            .zip(k)
            .map(|(xi, ki)| {
                let d = b.mul(s, *ki);
                b.add(*xi, d)
            })
            .collect()
    };
    let k1 = call(&mut b, &m.base.rhs, &x, &p, &[]);
    let x2 = axpy(&mut b, &x, &k1, hdt);
    let k2 = call(&mut b, &m.base.rhs, &x2, &p, &[]);
    let x3 = axpy(&mut b, &x, &k2, hdt);
    let k3 = call(&mut b, &m.base.rhs, &x3, &p, &[]);
    let x4 = axpy(&mut b, &x, &k3, dt);
    let k4 = call(&mut b, &m.base.rhs, &x4, &p, &[]);
    let sixth = b.c(1.0 / 6.0);
    let sdt = b.mul(sixth, dt);
    let two = b.c(2.0);
    let next: Vec<Value> = (0..x.len())
        .map(|i| {
            let a = b.mul(two, k2[i]);
            let c = b.mul(two, k3[i]);
            let s1 = b.add(k1[i], a);
            let s2 = b.add(s1, c);
            let s3 = b.add(s2, k4[i]);
            let d = b.mul(sdt, s3);
            b.add(x[i], d)
        })
        .collect();
    passes::run(b.finish("step_rk4", named("", &m.states, next)))
}

/// The spiking step for `step` and its adjoint with respect to the state: arguments
/// `(x, p, dt, bar_x', bar_spike)`, outputs `bar_x`. The Heaviside's derivative is `surrogate`.
pub fn surrogate_step(
    m: &ModelIr,
    step: &Function,
    surrogate: SurrogateFn,
) -> (Function, Function) {
    let f = step_spiking(m, step, surrogate);
    let wrt: Vec<usize> = (0..m.n()).collect();
    let adj = ad::adjoint_function(&f, &wrt);
    (f, adj)
}

/// A time-discrete step followed by the spike test and a reset blended by the spike:
/// `y = step(x)`, `s = H(h(y))`, `x' = y + s (r(y) - y)`.
pub fn step_spiking(m: &ModelIr, step: &Function, surrogate: SurrogateFn) -> Function {
    let (mut b, x, p, e) = start(m, &["dt".into()]);
    let y = call(&mut b, step, &x, &p, &e);
    let h = call(&mut b, &m.base.threshold, &y, &p, &[])[0];
    let s = b.push(Op::Heaviside(h, surrogate));
    let r = call(&mut b, &m.base.reset, &y, &p, &[]);
    let next: Vec<Value> = y
        .iter()
        .zip(&r)
        .map(|(yi, ri)| {
            let d = b.sub(*ri, *yi);
            let sd = b.mul(s, d);
            b.add(*yi, sd)
        })
        .collect();
    let mut outs = named("", &m.states, next);
    outs.push(("spike".into(), s));
    passes::run(b.finish(format!("{}_spiking", step.name), outs))
}

fn spike_adjoint(m: &ModelIr) -> Function {
    let n = m.n();
    let mut extra: Vec<String> = m.states.iter().map(|s| format!("lam.{s}")).collect();
    extra.push("l_t".into());
    let (mut b, x, p, e) = start(m, &extra);
    let (lam_plus, l_t) = (&e[..n], e[n]);
    let f_minus = call(&mut b, &m.base.rhs, &x, &p, &[]);
    let xr = call(&mut b, &m.base.reset, &x, &p, &[]);
    let f_plus = call(&mut b, &m.base.rhs, &xr, &p, &[]);
    let rt_lam = ad::vjp(&mut b, &xr, lam_plus, &x);
    let h = call(&mut b, &m.base.threshold, &x, &p, &[])[0];
    let one = b.c(1.0);
    let grad_h = ad::vjp(&mut b, &[h], &[one], &x);
    // (f+ - R f-) . lam+ = f+ . lam+ - f- . (R^T lam+)
    let a1 = b.dot(&f_plus, lam_plus);
    let a2 = b.dot(&f_minus, &rt_lam);
    let jump = b.sub(a1, a2);
    let num = b.sub(jump, l_t);
    let hdot = b.dot(&grad_h, &f_minus);
    let coef = b.div(num, hdot);
    let lam_minus: Vec<Value> = rt_lam
        .iter()
        .zip(&grad_h)
        .map(|(r, g)| {
            let t = b.mul(*g, coef);
            b.add(*r, t)
        })
        .collect();
    let mut outs = named("lam.", &m.states, lam_minus);
    outs.push(("hdot".into(), hdot));
    passes::run(b.finish("spike_adjoint", outs))
}

fn input_adjoint(m: &ModelIr, r: usize) -> Function {
    let n = m.n();
    let jump = &m.base.jumps[r];
    let mut extra = vec!["w".to_string()];
    extra.extend(m.states.iter().map(|s| format!("lam.{s}")));
    let (mut b, x, p, e) = start(m, &extra);
    let (w, lam_plus) = (e[0], &e[1..=n]);
    let xp = call(&mut b, jump, &x, &p, &[w]);
    let mut wrt = x.clone();
    wrt.push(w);
    let bars = ad::vjp(&mut b, &xp, lam_plus, &wrt);
    let f_minus = call(&mut b, &m.base.rhs, &x, &p, &[]);
    let f_plus = call(&mut b, &m.base.rhs, &xp, &p, &[]);
    // G f- via a tangent of the jump along f-.
    let g_f = ad::jvp(&mut b, &x, &f_minus, &xp);
    let diff: Vec<Value> = g_f
        .iter()
        .zip(&f_plus)
        .map(|(a, c)| b.sub(*a, *c))
        .collect();
    let dt = b.dot(lam_plus, &diff);
    let mut outs = named("lam.", &m.states, bars[..n].to_vec());
    outs.push(("dw".into(), bars[n]));
    outs.push(("dt".into(), dt));
    passes::run(b.finish(
        format!("input_adjoint_{}", &jump.name["jump_".len()..]),
        outs,
    ))
}

fn spike_time_tangent(m: &ModelIr) -> Function {
    let extra: Vec<String> = m.states.iter().map(|s| format!("dx.{s}")).collect();
    let (mut b, x, p, dx) = start(m, &extra);
    let h = call(&mut b, &m.base.threshold, &x, &p, &[])[0];
    let one = b.c(1.0);
    let grad_h = ad::vjp(&mut b, &[h], &[one], &x);
    let f = call(&mut b, &m.base.rhs, &x, &p, &[]);
    let num = b.dot(&grad_h, &dx);
    let hdot = b.dot(&grad_h, &f);
    let q = b.div(num, hdot);
    let dt = b.neg(q);
    passes::run(b.finish("spike_time_tangent", vec![("dt".into(), dt)]))
}

/// Tangents and adjoints of rhs, jumps, threshold, reset and propagate with respect to the
/// state (and the weight for jumps, and the time for propagate), and separately with respect to
/// the parameters (`<f>_params_tangent`, `<f>_params_adjoint`).
fn derivatives(m: &ModelIr) -> Vec<Function> {
    let n = m.n();
    let k = m.params.len();
    let xs: Vec<usize> = (0..n).collect();
    let mut out = Vec::new();
    let mut both = |f: &Function, wrt: Vec<usize>| {
        out.push(ad::tangent_function(f, &wrt));
        out.push(ad::adjoint_function(f, &wrt));
    };
    both(&m.base.rhs, xs.clone());
    for j in &m.base.jumps {
        let mut wrt = xs.clone();
        wrt.push(n + k);
        both(j, wrt);
    }
    both(&m.base.threshold, xs.clone());
    both(&m.base.reset, xs.clone());
    if let Some(p) = &m.propagate {
        let mut wrt = xs.clone();
        wrt.push(n + k);
        both(p, wrt);
    }
    // With respect to the parameters (for parameter gradients and sensitivities; the engines
    // train weights and do not call these).
    if k > 0 {
        let ps: Vec<usize> = (n..n + k).collect();
        let mut fs: Vec<&Function> = vec![&m.base.rhs];
        fs.extend(&m.base.jumps);
        fs.extend([&m.base.threshold, &m.base.reset]);
        fs.extend(&m.propagate);
        for f in fs {
            let named = Function {
                name: format!("{}_params", f.name),
                ..f.clone()
            };
            out.push(ad::tangent_function(&named, &ps));
            out.push(ad::adjoint_function(&named, &ps));
        }
    }
    out
}
