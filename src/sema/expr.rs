//! Type and unit checking of expressions: AST expression to typed HIR expression.
//!
//! Name lookup is delegated to a [`Scope`], so the same checker serves parameter defaults, state
//! initial values, dynamics, jumps and settings. Each expression gets a [`Ty`]: a number with a
//! dimension, a boolean, or `Err` after an error (which suppresses follow-up errors).

use super::error::SemaError;
use super::hir::{BinOp, Expr, ExprKind, Func, UnOp};
use super::units::{self, Dimension, Ratio};
use crate::diag::closest;
use crate::source::Span;
use crate::syntax::ast;

/// The type of a checked expression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ty {
    Num(Dimension),
    Bool,
    /// An error was reported inside; stay quiet about this expression.
    Err,
}

impl Ty {
    fn describe(self) -> &'static str {
        match self {
            Ty::Num(_) => "a number",
            Ty::Bool => "a boolean",
            Ty::Err => "an erroneous expression",
        }
    }
}

/// Resolves names inside an expression.
pub trait Scope {
    /// The meaning of `name` with its dimension (`None` if its definition had an error, which
    /// was reported there), or an error to report.
    fn lookup(
        &mut self,
        name: &str,
        span: Span,
    ) -> Result<(ExprKind, Option<Dimension>), Box<SemaError>>;

    /// The meaning of `base.field` (only constants know any: population sizes).
    fn field(
        &mut self,
        _base: &str,
        _field: &str,
        span: Span,
    ) -> Result<(ExprKind, Option<Dimension>), Box<SemaError>> {
        Err(Box::new(SemaError::TypeMismatch {
            expected: "a number",
            found: "a field (population sizes are allowed only in settings and sizes)",
            span,
        }))
    }
}

/// Checks one expression, pushing errors to `errs`.
pub fn check(e: &ast::Expr, scope: &mut dyn Scope, errs: &mut Vec<SemaError>) -> (Expr, Ty) {
    let span = e.span;
    let mk = |kind| Expr { kind, span };
    match &e.node {
        ast::ExprKind::Number(n) => (mk(ExprKind::Const(*n)), Ty::Num(Dimension::NONE)),
        ast::ExprKind::Quantity(n, unit) => match units::lookup(&unit.node) {
            Some(u) => (mk(ExprKind::Const(n * u.scale)), Ty::Num(u.dim)),
            None => error(
                errs,
                SemaError::UnknownName {
                    name: unit.node.clone(),
                    span: unit.span,
                    kind: "unit",
                    suggestion: None,
                },
                span,
            ),
        },
        ast::ExprKind::Bool(b) => (mk(ExprKind::Const(f64::from(u8::from(*b)))), Ty::Bool),
        ast::ExprKind::Name(name) => match scope.lookup(name, span) {
            Ok((kind, Some(dim))) => (mk(kind), Ty::Num(dim)),
            Ok((kind, None)) => (mk(kind), Ty::Err),
            Err(err) => error(errs, *err, span),
        },
        ast::ExprKind::Unary(op, inner) => {
            let (x, ty) = check(inner, scope, errs);
            let (op, ty) = match (op, ty) {
                (_, Ty::Err) => return (x, Ty::Err),
                (ast::UnaryOp::Neg, Ty::Num(d)) => (UnOp::Neg, Ty::Num(d)),
                (ast::UnaryOp::Not, Ty::Bool) => (UnOp::Not, Ty::Bool),
                (ast::UnaryOp::Neg, _) => return mismatch(errs, "a number", ty, inner.span),
                (ast::UnaryOp::Not, _) => return mismatch(errs, "a boolean", ty, inner.span),
            };
            (mk(ExprKind::Unary(op, Box::new(x))), ty)
        }
        ast::ExprKind::Binary(op, l, r) => binary(*op, l, r, span, scope, errs),
        ast::ExprKind::Call(name, args) => call(name, args, span, scope, errs),
        ast::ExprKind::Str(_) => error(
            errs,
            SemaError::TypeMismatch {
                expected: "a number",
                found: "a string",
                span,
            },
            span,
        ),
        ast::ExprKind::Field(base, field) => {
            let ast::ExprKind::Name(name) = &base.node else {
                return error(
                    errs,
                    SemaError::TypeMismatch {
                        expected: "a number",
                        found: "a field of an expression",
                        span,
                    },
                    span,
                );
            };
            match scope.field(name, &field.node, span) {
                Ok((kind, Some(dim))) => (mk(kind), Ty::Num(dim)),
                Ok((kind, None)) => (mk(kind), Ty::Err),
                Err(err) => error(errs, *err, span),
            }
        }
        ast::ExprKind::List(_) => {
            errs.push(SemaError::TypeMismatch {
                expected: "a number",
                found: "a list",
                span,
            });
            (mk(ExprKind::Const(0.0)), Ty::Err)
        }
        ast::ExprKind::Error => (mk(ExprKind::Const(0.0)), Ty::Err),
    }
}

fn error(errs: &mut Vec<SemaError>, err: SemaError, span: Span) -> (Expr, Ty) {
    errs.push(err);
    (
        Expr {
            kind: ExprKind::Const(0.0),
            span,
        },
        Ty::Err,
    )
}

fn mismatch(
    errs: &mut Vec<SemaError>,
    expected: &'static str,
    found: Ty,
    span: Span,
) -> (Expr, Ty) {
    error(
        errs,
        SemaError::TypeMismatch {
            expected,
            found: found.describe(),
            span,
        },
        span,
    )
}

fn binary(
    op: ast::BinaryOp,
    l: &ast::Expr,
    r: &ast::Expr,
    span: Span,
    scope: &mut dyn Scope,
    errs: &mut Vec<SemaError>,
) -> (Expr, Ty) {
    use ast::BinaryOp as A;
    let (le, lt) = check(l, scope, errs);
    let (re, rt) = check(r, scope, errs);
    let hop = match op {
        A::Add => BinOp::Add,
        A::Sub => BinOp::Sub,
        A::Mul => BinOp::Mul,
        A::Div => BinOp::Div,
        A::Pow => BinOp::Pow,
        A::Eq => BinOp::Eq,
        A::Ne => BinOp::Ne,
        A::Lt => BinOp::Lt,
        A::Le => BinOp::Le,
        A::Gt => BinOp::Gt,
        A::Ge => BinOp::Ge,
        A::And => BinOp::And,
        A::Or => BinOp::Or,
    };
    let out = |ty| {
        (
            Expr {
                kind: ExprKind::Binary(hop, Box::new(le.clone()), Box::new(re.clone())),
                span,
            },
            ty,
        )
    };
    if lt == Ty::Err || rt == Ty::Err {
        return out(Ty::Err);
    }
    match op {
        A::And | A::Or => {
            for (t, s) in [(lt, l.span), (rt, r.span)] {
                if t != Ty::Bool {
                    return mismatch(errs, "a boolean", t, s);
                }
            }
            out(Ty::Bool)
        }
        _ => {
            let (Ty::Num(ld), Ty::Num(rd)) = (lt, rt) else {
                let (t, s) = if lt == Ty::Bool {
                    (lt, l.span)
                } else {
                    (rt, r.span)
                };
                return mismatch(errs, "a number", t, s);
            };
            let op_span = operator_span(l.span, r.span, span);
            match op {
                A::Mul => out(Ty::Num(ld * rd)),
                A::Div => out(Ty::Num(ld / rd)),
                A::Pow => power(ld, rd, &re, r.span, errs)
                    .map_or_else(|| out(Ty::Err), |d| out(Ty::Num(d))),
                _ if ld != rd => {
                    errs.push(SemaError::DimMismatch {
                        op: op.symbol(),
                        op_span,
                        lhs: ld,
                        lhs_span: l.span,
                        rhs: rd,
                        rhs_span: r.span,
                    });
                    out(Ty::Err)
                }
                A::Add | A::Sub => out(Ty::Num(ld)),
                _ => out(Ty::Bool),
            }
        }
    }
}

/// The span between two operands (where the operator sits), or the whole span if they touch.
fn operator_span(l: Span, r: Span, whole: Span) -> Span {
    if l.end < r.start {
        Span {
            source: l.source,
            start: l.end,
            end: r.start,
        }
    } else {
        whole
    }
}

fn power(
    base: Dimension,
    exp: Dimension,
    exp_expr: &Expr,
    exp_span: Span,
    errs: &mut Vec<SemaError>,
) -> Option<Dimension> {
    if !exp.is_none() {
        errs.push(SemaError::NotDimensionless {
            what: "an exponent".into(),
            span: exp_span,
            found: exp,
        });
        return None;
    }
    if base.is_none() {
        return Some(Dimension::NONE);
    }
    let Some(value) = const_value(exp_expr) else {
        errs.push(SemaError::BadExponent {
            span: exp_span,
            reason: "not a constant".into(),
        });
        return None;
    };
    match Ratio::from_f64(value) {
        Some(r) if base.powr(r).0.iter().any(|e| e.magnitude() > 1000.0) => {
            errs.push(SemaError::BadExponent {
                span: exp_span,
                reason: "the result would have a dimension with an exponent above 1000".into(),
            });
            None
        }
        Some(r) => Some(base.powr(r)),
        None => {
            errs.push(SemaError::BadExponent {
                span: exp_span,
                reason: format!("{value} is not a simple fraction"),
            });
            None
        }
    }
}

fn call(
    name: &ast::Ident,
    args: &[ast::Arg],
    span: Span,
    scope: &mut dyn Scope,
    errs: &mut Vec<SemaError>,
) -> (Expr, Ty) {
    let Some(func) = Func::ALL
        .iter()
        .find(|(n, _)| *n == name.node)
        .map(|(_, f)| *f)
    else {
        let suggestion = closest(&name.node, Func::ALL.iter().map(|(n, _)| *n)).map(str::to_string);
        return error(
            errs,
            SemaError::UnknownFunction {
                name: name.node.clone(),
                span: name.span,
                suggestion,
            },
            span,
        );
    };
    if args.len() != func.arity() {
        return error(
            errs,
            SemaError::Arity {
                func: format!("`{}`", name.node),
                expected: func.arity(),
                found: args.len(),
                span,
                named_ok: false,
            },
            span,
        );
    }
    if let Some(named) = args.iter().find_map(|a| a.name.as_ref()) {
        let err = SemaError::UnknownSetting {
            key: named.node.clone(),
            span: named.span,
            context: format!("`{}`", name.node),
            suggestion: None,
        };
        return error(errs, err, span);
    }
    let checked: Vec<(Expr, Ty)> = args.iter().map(|a| check(&a.value, scope, errs)).collect();
    let exprs: Vec<Expr> = checked.iter().map(|(e, _)| e.clone()).collect();
    let out = |ty| {
        (
            Expr {
                kind: ExprKind::Call(func, exprs.clone()),
                span,
            },
            ty,
        )
    };
    let mut dims = Vec::new();
    for ((_, ty), arg) in checked.iter().zip(args) {
        match ty {
            Ty::Err => return out(Ty::Err),
            Ty::Bool => return mismatch(errs, "a number", *ty, arg.value.span),
            Ty::Num(d) => dims.push(*d),
        }
    }
    let ty = match func {
        Func::Abs => dims[0],
        Func::Sqrt => dims[0].powr(Ratio::new(1, 2)),
        Func::Min | Func::Max => {
            if dims[0] != dims[1] {
                errs.push(SemaError::DimMismatch {
                    op: func.name(),
                    op_span: name.span,
                    lhs: dims[0],
                    lhs_span: args[0].value.span,
                    rhs: dims[1],
                    rhs_span: args[1].value.span,
                });
                return out(Ty::Err);
            }
            dims[0]
        }
        _ => {
            if !dims[0].is_none() {
                errs.push(SemaError::NotDimensionless {
                    what: format!("`{}`", func.name()),
                    span: args[0].value.span,
                    found: dims[0],
                });
                return out(Ty::Err);
            }
            Dimension::NONE
        }
    };
    out(Ty::Num(ty))
}

/// Evaluates an expression that contains only constants.
pub fn const_value(e: &Expr) -> Option<f64> {
    eval(e, &mut |_| None)
}

/// Evaluates an expression, asking `leaf` for the value of every parameter, state, let or weight.
pub fn eval(e: &Expr, leaf: &mut dyn FnMut(&ExprKind) -> Option<f64>) -> Option<f64> {
    Some(match &e.kind {
        ExprKind::Const(v) => *v,
        ExprKind::Unary(UnOp::Neg, x) => -eval(x, leaf)?,
        ExprKind::Unary(UnOp::Not, x) => f64::from(u8::from(eval(x, leaf)? == 0.0)),
        ExprKind::Binary(op, a, b) => {
            let (a, b) = (eval(a, leaf)?, eval(b, leaf)?);
            let t = |c: bool| f64::from(u8::from(c));
            match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
                BinOp::Pow => a.powf(b),
                BinOp::Lt => t(a < b),
                BinOp::Le => t(a <= b),
                BinOp::Gt => t(a > b),
                BinOp::Ge => t(a >= b),
                BinOp::Eq => t(a == b),
                BinOp::Ne => t(a != b),
                BinOp::And => t(a != 0.0 && b != 0.0),
                BinOp::Or => t(a != 0.0 || b != 0.0),
            }
        }
        ExprKind::Call(f, args) => {
            let x = eval(&args[0], leaf)?;
            match f {
                Func::Exp => x.exp(),
                Func::Log => x.ln(),
                Func::Sqrt => x.sqrt(),
                Func::Abs => x.abs(),
                Func::Tanh => x.tanh(),
                Func::Sin => x.sin(),
                Func::Cos => x.cos(),
                Func::Min => x.min(eval(&args[1], leaf)?),
                Func::Max => x.max(eval(&args[1], leaf)?),
            }
        }
        other => leaf(other)?,
    })
}

/// Visits every leaf (`Param`, `State`, `Let`, `Weight`) of an expression.
pub fn for_each_leaf(e: &Expr, f: &mut dyn FnMut(&ExprKind)) {
    match &e.kind {
        ExprKind::Unary(_, x) => for_each_leaf(x, f),
        ExprKind::Binary(_, a, b) => {
            for_each_leaf(a, f);
            for_each_leaf(b, f);
        }
        ExprKind::Call(_, args) => args.iter().for_each(|a| for_each_leaf(a, f)),
        ExprKind::Const(_) => {}
        other => f(other),
    }
}
