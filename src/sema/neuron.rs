//! Checking one `neuron` definition into a [`NeuronModel`].
//!
//! Resolves the names of a neuron body (parameters, states, lets, the receptor weight, units),
//! checks dimensions of every equation, infers each receptor's weight dimension, and checks that
//! the threshold can be crossed. It does not look at populations or the experiment.

use super::error::{SemaError, fail};
use super::expr::{self, Scope, Ty};
use super::hir::*;
use super::units::{self, Dimension};
use crate::diag::closest;
use crate::source::Span;
use crate::syntax::ast::{self, Stmt};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Def {
    Param(usize),
    State(usize),
    Let(usize),
    Receptor(usize),
}

impl Def {
    fn kind(self) -> &'static str {
        match self {
            Def::Param(_) => "a parameter",
            Def::State(_) => "a state variable",
            Def::Let(_) => "a `let` definition",
            Def::Receptor(_) => "a receptor",
        }
    }
}

/// Parameter defaults are checked lazily so that they may refer to each other in any order.
#[derive(Clone, Debug)]
enum ParamSlot {
    Todo,
    InProgress,
    /// `dim` is `None` if the default had an error.
    Done {
        dim: Option<Dimension>,
        value: Option<f64>,
    },
}

struct Ctx<'a> {
    defs: HashMap<String, (Def, Span)>,
    param_asts: Vec<(&'a ast::Ident, &'a ast::Expr)>,
    params: Vec<ParamSlot>,
    state_dims: Vec<Option<Dimension>>,
    let_dims: Vec<Option<Dimension>>,
    errs: Vec<SemaError>,
    /// The chain of parameters being evaluated, for cycle reports.
    stack: Vec<String>,
    /// Parameters referred to by other parameters' defaults (so they are not unused).
    used_in_defaults: Vec<bool>,
}

/// Which names an expression may see.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    /// Parameter defaults: parameters only.
    Params,
    /// State initial values: parameters only, but a state is named as such in errors.
    Init,
    /// Everything in the neuron; `weight` is the receptor's weight name and dimension.
    Dynamics,
}

struct NeuronScope<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    level: Level,
    weight: Option<(&'c str, Dimension)>,
    /// How many lets are visible (lets see only earlier lets).
    lets_visible: usize,
}

impl Scope for NeuronScope<'_, '_> {
    fn lookup(
        &mut self,
        name: &str,
        span: Span,
    ) -> Result<(ExprKind, Option<Dimension>), Box<SemaError>> {
        if let Some((w, dim)) = self.weight
            && w == name
        {
            return Ok((ExprKind::Weight, Some(dim)));
        }
        let found = self.ctx.defs.get(name).copied();
        match found {
            Some((Def::Param(i), _)) => {
                if self.level == Level::Params {
                    self.ctx.used_in_defaults[i] = true;
                }
                let dim = param_dim(self.ctx, i)?;
                Ok((ExprKind::Param(ParamId(i as u32)), dim))
            }
            Some((Def::State(i), _)) if self.level == Level::Dynamics => {
                Ok((ExprKind::State(StateId(i as u32)), self.ctx.state_dims[i]))
            }
            Some((Def::Let(i), _)) if self.level == Level::Dynamics && i < self.lets_visible => {
                Ok((ExprKind::Let(LetId(i as u32)), self.ctx.let_dims[i]))
            }
            Some((Def::Let(_), def_span)) if self.level == Level::Dynamics => {
                fail(SemaError::LaterLet {
                    name: name.to_string(),
                    span,
                    def: def_span,
                })
            }
            Some((def, _)) if !matches!(def, Def::Let(_)) || self.level != Level::Dynamics => {
                let expected = if self.level == Level::Dynamics {
                    "a value"
                } else {
                    "a parameter (defaults and initial values may only use parameters)"
                };
                fail(SemaError::WrongKind {
                    name: name.to_string(),
                    span,
                    expected,
                    found: def.kind(),
                })
            }
            _ => {
                if let Some(unit) = units::lookup(name) {
                    return Ok((ExprKind::Const(unit.scale), Some(unit.dim)));
                }
                let candidates = self.ctx.defs.keys().map(String::as_str);
                let suggestion = closest(name, candidates).map(str::to_string);
                fail(SemaError::UnknownName {
                    name: name.to_string(),
                    span,
                    kind: "name",
                    suggestion,
                })
            }
        }
    }
}

/// Dimension of parameter `i`, checking its default first if needed.
fn param_dim(ctx: &mut Ctx<'_>, i: usize) -> Result<Option<Dimension>, Box<SemaError>> {
    match ctx.params[i].clone() {
        ParamSlot::Done { dim, .. } => Ok(dim),
        ParamSlot::InProgress => {
            let (name, _) = ctx.param_asts[i];
            let mut path = ctx.stack.clone();
            path.push(name.node.clone());
            fail(SemaError::ParamCycle {
                name: name.node.clone(),
                span: name.span,
                path,
            })
        }
        ParamSlot::Todo => {
            let (name, value) = ctx.param_asts[i];
            ctx.params[i] = ParamSlot::InProgress;
            ctx.stack.push(name.node.clone());
            let mut errs = Vec::new();
            let (e, ty) = expr::check(
                value,
                &mut NeuronScope {
                    ctx,
                    level: Level::Params,
                    weight: None,
                    lets_visible: 0,
                },
                &mut errs,
            );
            ctx.stack.pop();
            ctx.errs.append(&mut errs);
            let dim = match ty {
                Ty::Num(d) => Some(d),
                Ty::Bool => {
                    ctx.errs.push(SemaError::TypeMismatch {
                        expected: "a number",
                        found: "a boolean",
                        span: value.span,
                    });
                    None
                }
                Ty::Err => None,
            };
            let params = &ctx.params;
            let v = expr::eval(&e, &mut |leaf| match leaf {
                ExprKind::Param(p) => match &params[p.index()] {
                    ParamSlot::Done { value, .. } => *value,
                    _ => None,
                },
                _ => None,
            });
            let value = v.filter(|_| dim.is_some());
            if let Some(v) = value
                && !v.is_finite()
            {
                ctx.errs.push(SemaError::OutOfRange {
                    what: format!("the default of `{}`", name.node),
                    value: format!("{v}"),
                    allowed: "finite".into(),
                    span: value_span(value_ast(ctx, i)),
                });
            }
            ctx.params[i] = ParamSlot::Done { dim, value };
            Ok(dim)
        }
    }
}

/// Checks a neuron definition. Returns `None` if errors make the model unusable.
pub fn check_neuron(def: &ast::NeuronDef, errs: &mut Vec<SemaError>) -> Option<NeuronModel> {
    let mut ctx = Ctx {
        defs: HashMap::new(),
        param_asts: Vec::new(),
        params: Vec::new(),
        state_dims: Vec::new(),
        let_dims: Vec::new(),
        errs: Vec::new(),
        stack: Vec::new(),
        used_in_defaults: Vec::new(),
    };
    let mut state_asts = Vec::new();
    let mut let_asts = Vec::new();
    let mut receptor_asts = Vec::new();
    for stmt in &def.body {
        let (name, d) = match stmt {
            Stmt::Param { name, value } => {
                ctx.param_asts.push((name, value));
                ctx.params.push(ParamSlot::Todo);
                ctx.used_in_defaults.push(false);
                (name, Def::Param(ctx.param_asts.len() - 1))
            }
            Stmt::State { name, value } => {
                state_asts.push((name, value));
                ctx.state_dims.push(None);
                (name, Def::State(state_asts.len() - 1))
            }
            Stmt::Let { name, value } => {
                let_asts.push((name, value));
                ctx.let_dims.push(None);
                (name, Def::Let(let_asts.len() - 1))
            }
            Stmt::Receptor {
                name,
                weight,
                body,
                span,
            } => {
                receptor_asts.push((name, weight, body, *span));
                (name, Def::Receptor(receptor_asts.len() - 1))
            }
            _ => continue,
        };
        if let Some((_, first)) = ctx.defs.get(&name.node) {
            ctx.errs.push(SemaError::Duplicate {
                name: name.node.clone(),
                span: name.span,
                first: *first,
            });
            continue;
        }
        if units::lookup(&name.node).is_some() {
            ctx.errs.push(SemaError::HidesUnit {
                name: name.node.clone(),
                span: name.span,
            });
        }
        ctx.defs.insert(name.node.clone(), (d, name.span));
    }

    for i in 0..ctx.params.len() {
        if let Err(e) = param_dim(&mut ctx, i) {
            ctx.errs.push(*e);
        }
    }
    let params: Vec<Param> = ctx
        .param_asts
        .iter()
        .zip(&ctx.params)
        .map(|((name, _), slot)| {
            let (dim, value) = match slot {
                ParamSlot::Done { dim, value } => (dim.unwrap_or(Dimension::NONE), *value),
                _ => (Dimension::NONE, None),
            };
            Param {
                name: name.node.clone(),
                dim,
                default: value.unwrap_or(f64::NAN),
                span: name.span,
            }
        })
        .collect();
    check_time_constants(&params, errs);

    let mut states = Vec::new();
    for (i, (name, value)) in state_asts.iter().enumerate() {
        let (init, ty) = check_in(&mut ctx, value, Level::Init, None, 0);
        let known = num_dim(ty, value.span, &mut ctx.errs);
        ctx.state_dims[i] = known;
        let dim = known.unwrap_or(Dimension::NONE);
        states.push(State {
            name: name.node.clone(),
            dim,
            init,
            span: name.span,
        });
    }
    let mut lets = Vec::new();
    for (i, (name, value)) in let_asts.iter().enumerate() {
        let (e, ty) = check_in(&mut ctx, value, Level::Dynamics, None, i);
        let known = num_dim(ty, value.span, &mut ctx.errs);
        ctx.let_dims[i] = known;
        let dim = known.unwrap_or(Dimension::NONE);
        lets.push(Let {
            name: name.node.clone(),
            dim,
            value: e,
            span: name.span,
        });
    }
    let nlets = lets.len();

    let mut odes: Vec<Option<(Expr, Span)>> = vec![None; states.len()];
    let mut threshold = None;
    let mut reset = Vec::new();
    let mut refractory: Option<(Expr, Span)> = None;
    let mut saw_spike_when = false;
    for stmt in &def.body {
        match stmt {
            Stmt::Ode { state, rhs, span } => {
                let Some(i) = target_state(&mut ctx, state) else {
                    continue;
                };
                let (e, ty) = check_in(&mut ctx, rhs, Level::Dynamics, None, nlets);
                if ty == Ty::Bool {
                    ctx.errs.push(SemaError::TypeMismatch {
                        expected: "a number",
                        found: "a boolean",
                        span: rhs.span,
                    });
                }
                if let (Ty::Num(found), Some(sd)) = (ty, ctx.state_dims[i])
                    && found != sd / Dimension::time()
                {
                    ctx.errs.push(SemaError::OdeDim {
                        state: state.node.clone(),
                        state_span: state.span,
                        state_dim: sd,
                        found,
                        rhs_span: rhs.span,
                    });
                }
                if let Some((_, first)) = &odes[i] {
                    ctx.errs.push(SemaError::DoubleOde {
                        state: state.node.clone(),
                        span: *span,
                        first: *first,
                    });
                } else {
                    odes[i] = Some((e, *span));
                }
            }
            Stmt::SpikeWhen { cond, span } => {
                if saw_spike_when {
                    ctx.errs.push(SemaError::Network {
                        message: "a neuron has one spike condition".into(),
                        span: *span,
                        label: "second spike condition".into(),
                        help: Some("combine the conditions into one comparison".into()),
                    });
                    continue;
                }
                saw_spike_when = true;
                threshold = check_threshold(&mut ctx, cond, nlets);
            }
            Stmt::OnSpike { body, .. } => {
                reset.extend(
                    body.iter()
                        .filter_map(|a| check_assign(&mut ctx, a, None, nlets)),
                );
            }
            Stmt::Refractory { value, span } => {
                if let Some((_, first)) = &refractory {
                    ctx.errs.push(SemaError::Duplicate {
                        name: "refractory".into(),
                        span: *span,
                        first: *first,
                    });
                    continue;
                }
                let (e, ty) = check_in(&mut ctx, value, Level::Dynamics, None, nlets);
                if ty == Ty::Bool {
                    ctx.errs.push(SemaError::TypeMismatch {
                        expected: "a duration",
                        found: "a boolean",
                        span: value.span,
                    });
                }
                if let Ty::Num(d) = ty
                    && d != Dimension::time()
                {
                    ctx.errs.push(SemaError::SettingDim {
                        key: "refractory".into(),
                        span: value.span,
                        expected: Dimension::time(),
                        found: d,
                    });
                }
                let mut deps_on_state = false;
                expr::for_each_leaf(&e, &mut |l| {
                    deps_on_state |= !matches!(l, ExprKind::Param(_))
                });
                if deps_on_state {
                    ctx.errs.push(SemaError::WrongKind {
                        name: "refractory".into(),
                        span: value.span,
                        expected: "an expression of parameters",
                        found: "an expression of the state",
                    });
                }
                refractory = Some((e, *span));
            }
            _ => {}
        }
    }

    let mut receptors = Vec::new();
    for (name, weight, body, span) in receptor_asts {
        let weight_dim = infer_weight_dim(&mut ctx, weight, body, nlets);
        let body = body
            .iter()
            .filter_map(|a| check_assign(&mut ctx, a, Some((&weight.node, weight_dim)), nlets))
            .collect();
        receptors.push(Receptor {
            name: name.node.clone(),
            weight_dim,
            body,
            span,
        });
    }

    let threshold = match threshold {
        Some(t) => Some(t),
        None if saw_spike_when => None,
        None => {
            ctx.errs.push(SemaError::Missing {
                what: format!("spike condition in neuron `{}`", def.name.node),
                span: def.name.span,
                help: "add a line such as `spike when v >= v_th`".into(),
            });
            None
        }
    };
    let has_threshold = threshold.is_some();
    let model = NeuronModel {
        name: def.name.node.clone(),
        params,
        states,
        lets,
        odes: odes.into_iter().map(|o| o.map(|(e, _)| e)).collect(),
        receptors,
        threshold: threshold.unwrap_or(Expr {
            kind: ExprKind::Const(-1.0),
            span: def.name.span,
        }),
        reset,
        refractory: refractory.map(|(e, _)| e),
        span: def.span,
        name_span: def.name.span,
    };
    let is_error = |e: &SemaError| {
        !matches!(
            e,
            SemaError::HidesUnit { .. } | SemaError::UnusedParam { .. }
        )
    };
    if has_threshold && !ctx.errs.iter().any(is_error) {
        check_reachable(&model, &mut ctx.errs);
    }
    let had_errors = ctx.errs.iter().any(is_error);
    // Unused-parameter warnings would only repeat the errors that hid the uses.
    if !had_errors {
        warn_unused(&model, &ctx.used_in_defaults, &mut ctx.errs);
    }
    errs.append(&mut ctx.errs);
    (!had_errors).then_some(model)
}

fn check_in(
    ctx: &mut Ctx<'_>,
    e: &ast::Expr,
    level: Level,
    weight: Option<(&str, Dimension)>,
    lets_visible: usize,
) -> (Expr, Ty) {
    let mut errs = Vec::new();
    let out = expr::check(
        e,
        &mut NeuronScope {
            ctx,
            level,
            weight,
            lets_visible,
        },
        &mut errs,
    );
    ctx.errs.append(&mut errs);
    out
}

fn num_dim(ty: Ty, span: Span, errs: &mut Vec<SemaError>) -> Option<Dimension> {
    match ty {
        Ty::Num(d) => Some(d),
        Ty::Bool => {
            errs.push(SemaError::TypeMismatch {
                expected: "a number",
                found: "a boolean",
                span,
            });
            None
        }
        Ty::Err => None,
    }
}

fn value_ast<'a>(ctx: &Ctx<'a>, i: usize) -> &'a ast::Expr {
    ctx.param_asts[i].1
}

fn value_span(e: &ast::Expr) -> Span {
    e.span
}

/// Time constants (parameters named `tau...` with dimension time) must be positive.
pub fn check_time_constants(params: &[Param], errs: &mut Vec<SemaError>) {
    for p in params {
        if p.name.starts_with("tau") && p.dim == Dimension::time() && p.default <= 0.0 {
            errs.push(SemaError::OutOfRange {
                what: format!("time constant `{}`", p.name),
                value: format!("{} s", p.default),
                allowed: "positive".into(),
                span: p.span,
            });
        }
    }
}

fn target_state(ctx: &mut Ctx<'_>, name: &ast::Ident) -> Option<usize> {
    match ctx.defs.get(&name.node).copied() {
        Some((Def::State(i), _)) => Some(i),
        Some((def, _)) => {
            ctx.errs.push(SemaError::WrongKind {
                name: name.node.clone(),
                span: name.span,
                expected: "a state variable",
                found: def.kind(),
            });
            None
        }
        None => {
            let states = ctx
                .defs
                .iter()
                .filter(|(_, (d, _))| matches!(d, Def::State(_)))
                .map(|(n, _)| n.as_str());
            let suggestion = closest(&name.node, states).map(str::to_string);
            ctx.errs.push(SemaError::UnknownName {
                name: name.node.clone(),
                span: name.span,
                kind: "state variable",
                suggestion,
            });
            None
        }
    }
}

fn check_assign(
    ctx: &mut Ctx<'_>,
    a: &ast::Assign,
    weight: Option<(&str, Dimension)>,
    nlets: usize,
) -> Option<Assign> {
    let i = target_state(ctx, &a.target)?;
    let (value, ty) = check_in(ctx, &a.value, Level::Dynamics, weight, nlets);
    let sd = ctx.state_dims[i].unwrap_or(Dimension::NONE);
    let expected = if a.op == ast::AssignOp::Mul {
        Dimension::NONE
    } else {
        sd
    };
    match ty {
        Ty::Num(found) if found != expected => {
            ctx.errs.push(SemaError::AssignDim {
                target: a.target.node.clone(),
                target_dim: expected,
                target_span: a.target.span,
                found,
                value_span: a.value.span,
            });
            return None;
        }
        Ty::Bool => {
            ctx.errs.push(SemaError::TypeMismatch {
                expected: "a number",
                found: "a boolean",
                span: a.value.span,
            });
            return None;
        }
        Ty::Err => return None,
        Ty::Num(_) => {}
    }
    let op = match a.op {
        ast::AssignOp::Set => AssignOp::Set,
        ast::AssignOp::Add => AssignOp::Add,
        ast::AssignOp::Sub => AssignOp::Sub,
        ast::AssignOp::Mul => AssignOp::Mul,
    };
    Some(Assign {
        state: StateId(i as u32),
        op,
        value,
        span: a.span,
    })
}

/// The weight's dimension is whatever makes the receptor's assignments consistent: check each
/// value once with a dimensionless weight and once with weight dimension `time`, and solve.
fn infer_weight_dim(
    ctx: &mut Ctx<'_>,
    weight: &ast::Ident,
    body: &[ast::Assign],
    nlets: usize,
) -> Dimension {
    for a in body {
        let Some(i) = ctx.defs.get(&a.target.node).and_then(|(d, _)| {
            if let Def::State(i) = d {
                Some(*i)
            } else {
                None
            }
        }) else {
            continue;
        };
        let probe = |ctx: &mut Ctx<'_>, wd: Dimension| {
            let mut errs = Vec::new();
            let (_, ty) = expr::check(
                &a.value,
                &mut NeuronScope {
                    ctx,
                    level: Level::Dynamics,
                    weight: Some((&weight.node, wd)),
                    lets_visible: nlets,
                },
                &mut errs,
            );
            ty
        };
        let (Ty::Num(d0), Ty::Num(d1)) =
            (probe(ctx, Dimension::NONE), probe(ctx, Dimension::time()))
        else {
            continue;
        };
        if d0 == d1 {
            continue;
        }
        let target = if a.op == ast::AssignOp::Mul {
            Dimension::NONE
        } else {
            ctx.state_dims[i].unwrap_or(Dimension::NONE)
        };
        // d1 / d0 = time^k, so weight^k = target / d0.
        let ratio = d1 / d0;
        let k = ratio.0[2];
        if k.num != 0 {
            return (target / d0).powr(super::units::Ratio::new(k.den, k.num));
        }
    }
    Dimension::NONE
}

/// `a >= b` or `a > b` gives h = a - b; `a <= b` or `a < b` gives h = b - a.
fn check_threshold(ctx: &mut Ctx<'_>, cond: &ast::Expr, nlets: usize) -> Option<Expr> {
    let ast::ExprKind::Binary(op, _, _) = &cond.node else {
        ctx.errs.push(SemaError::TypeMismatch {
            expected: "a comparison such as `v >= v_th`",
            found: "another expression",
            span: cond.span,
        });
        return None;
    };
    let flip = match op {
        ast::BinaryOp::Ge | ast::BinaryOp::Gt => false,
        ast::BinaryOp::Le | ast::BinaryOp::Lt => true,
        _ => {
            ctx.errs.push(SemaError::TypeMismatch {
                expected: "a comparison `>=`, `>`, `<=` or `<`",
                found: "another expression",
                span: cond.span,
            });
            return None;
        }
    };
    let (e, ty) = check_in(ctx, cond, Level::Dynamics, None, nlets);
    if ty == Ty::Err {
        return None;
    }
    let ExprKind::Binary(_, a, b) = e.kind else {
        return None;
    };
    let (a, b) = if flip { (b, a) } else { (a, b) };
    Some(Expr {
        kind: ExprKind::Binary(BinOp::Sub, a, b),
        span: cond.span,
    })
}

/// Expands `Let` leaves so dependency questions see through them.
fn leaves_through_lets(model: &NeuronModel, e: &Expr, f: &mut dyn FnMut(&ExprKind)) {
    expr::for_each_leaf(e, &mut |leaf| match leaf {
        ExprKind::Let(l) => leaves_through_lets(model, &model.lets[l.index()].value, f),
        other => f(other),
    });
}

/// The threshold must depend on the state, and the reset must bring the neuron below it.
fn check_reachable(model: &NeuronModel, errs: &mut Vec<SemaError>) {
    let mut states = Vec::new();
    leaves_through_lets(model, &model.threshold, &mut |l| {
        if let ExprKind::State(s) = l {
            states.push(*s);
        }
    });
    if states.is_empty() {
        errs.push(SemaError::Unreachable {
            reason: "this condition does not depend on any state variable".into(),
            span: model.threshold.span,
            help: "compare a state variable with the threshold, e.g. `spike when v >= v_th`".into(),
        });
        return;
    }
    // After the reset, with default parameters and initial values elsewhere, h must be negative.
    let params: Vec<f64> = model.params.iter().map(|p| p.default).collect();
    let mut x: Vec<Option<f64>> = model
        .states
        .iter()
        .map(|s| {
            expr::eval(&s.init, &mut |l| {
                if let ExprKind::Param(p) = l {
                    Some(params[p.index()])
                } else {
                    None
                }
            })
        })
        .collect();
    let mut reset_any = false;
    for a in &model.reset {
        if a.op == AssignOp::Set && states.contains(&a.state) {
            reset_any = true;
            let v = expr::eval(&a.value, &mut |l| {
                if let ExprKind::Param(p) = l {
                    Some(params[p.index()])
                } else {
                    None
                }
            });
            x[a.state.index()] = v;
        }
    }
    if !reset_any {
        return;
    }
    let h = expr::eval(&model.threshold, &mut |l| match l {
        ExprKind::Param(p) => Some(params[p.index()]),
        ExprKind::State(s) => x[s.index()],
        _ => None,
    });
    if let Some(h) = h
        && h >= 0.0
    {
        let span = model
            .reset
            .iter()
            .find(|a| states.contains(&a.state))
            .map_or(model.threshold.span, |a| a.span);
        errs.push(SemaError::Unreachable {
            reason: "the reset leaves the neuron at or above its threshold".into(),
            span,
            help: "reset to a value below the threshold, or the neuron would spike again at once"
                .into(),
        });
    }
}

fn warn_unused(model: &NeuronModel, used_in_defaults: &[bool], errs: &mut Vec<SemaError>) {
    let mut used = used_in_defaults.to_vec();
    let mut mark = |e: &Expr| {
        expr::for_each_leaf(e, &mut |l| {
            if let ExprKind::Param(p) = l {
                used[p.index()] = true;
            }
        })
    };
    model.states.iter().for_each(|s| mark(&s.init));
    model.lets.iter().for_each(|l| mark(&l.value));
    model.odes.iter().flatten().for_each(&mut mark);
    model
        .receptors
        .iter()
        .flat_map(|r| &r.body)
        .for_each(|a| mark(&a.value));
    model.reset.iter().for_each(|a| mark(&a.value));
    mark(&model.threshold);
    if let Some(r) = &model.refractory {
        mark(r);
    }
    for (p, used) in model.params.iter().zip(used) {
        if !used {
            errs.push(SemaError::UnusedParam {
                name: p.name.clone(),
                span: p.span,
            });
        }
    }
}
