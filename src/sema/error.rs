//! The errors of name resolution, unit checking and static semantics, as data.
//!
//! Each variant has named fields; [`SemaError::into_diagnostic`] is the one place that turns them
//! into text. Unit mismatches label every operand and compute the missing factor.

use super::units::Dimension;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

#[derive(Clone, Debug, PartialEq)]
pub enum SemaError {
    UnknownName {
        name: String,
        span: Span,
        kind: &'static str,
        suggestion: Option<String>,
    },
    Duplicate {
        name: String,
        span: Span,
        first: Span,
    },
    WrongKind {
        name: String,
        span: Span,
        expected: &'static str,
        found: &'static str,
    },
    ParamCycle {
        name: String,
        span: Span,
        path: Vec<String>,
    },
    UnknownSetting {
        key: String,
        span: Span,
        context: String,
        suggestion: Option<String>,
    },
    UnknownFunction {
        name: String,
        span: Span,
        suggestion: Option<String>,
    },
    DoubleOde {
        state: String,
        span: Span,
        first: Span,
    },
    Missing {
        what: String,
        span: Span,
        help: String,
    },
    DimMismatch {
        op: &'static str,
        op_span: Span,
        lhs: Dimension,
        lhs_span: Span,
        rhs: Dimension,
        rhs_span: Span,
    },
    OdeDim {
        state: String,
        state_span: Span,
        state_dim: Dimension,
        found: Dimension,
        rhs_span: Span,
    },
    NotDimensionless {
        what: String,
        span: Span,
        found: Dimension,
    },
    AssignDim {
        target: String,
        target_dim: Dimension,
        target_span: Span,
        found: Dimension,
        value_span: Span,
    },
    SettingDim {
        key: String,
        span: Span,
        expected: Dimension,
        found: Dimension,
    },
    BadExponent {
        span: Span,
        reason: String,
    },
    TypeMismatch {
        expected: &'static str,
        found: &'static str,
        span: Span,
    },
    Arity {
        func: String,
        expected: usize,
        found: usize,
        span: Span,
        /// Named arguments are accepted besides the positional ones.
        named_ok: bool,
    },
    OutOfRange {
        what: String,
        value: String,
        allowed: String,
        span: Span,
    },
    GradientMode {
        gradient: String,
        span: Span,
        mode: String,
        mode_span: Option<Span>,
        needs: &'static str,
    },
    Unreachable {
        reason: String,
        span: Span,
        help: String,
    },
    SettingKind {
        key: String,
        expected: String,
        span: Span,
    },
    Network {
        message: String,
        span: Span,
        label: String,
        help: Option<String>,
    },
    HidesUnit {
        name: String,
        span: Span,
    },
    LaterLet {
        name: String,
        span: Span,
        def: Span,
    },
    UnusedParam {
        name: String,
        span: Span,
    },
}

/// "is dimensionless" or "has dimension X".
fn has_dim(d: Dimension) -> String {
    if d.is_none() {
        "is dimensionless".into()
    } else {
        format!("has dimension {d}")
    }
}

/// "multiply by a quantity of dimension X" or "divide by ..." to turn `found` into `expected`.
fn factor_help(side: &str, expected: Dimension, found: Dimension) -> Option<String> {
    if expected == found {
        return None;
    }
    let factor = expected / found;
    let inverse = found / expected;
    let named = |d: Dimension| {
        d.to_string()
            .chars()
            .next()
            .is_some_and(char::is_alphabetic)
    };
    Some(if !named(factor) && named(inverse) {
        format!("divide {side} by a quantity of dimension {inverse}")
    } else {
        format!("multiply {side} by a quantity of dimension {factor}")
    })
}

impl SemaError {
    pub fn into_diagnostic(self) -> Diagnostic {
        use SemaError::*;
        match self {
            UnknownName { name, span, kind, suggestion } => {
                let d = Diagnostic::error(Code::E0201, format!("unknown {kind} `{name}`"), span, "not defined");
                match suggestion {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d,
                }
            }
            Duplicate { name, span, first } => {
                Diagnostic::error(Code::E0202, format!("`{name}` is defined twice"), span, "defined again here")
                    .with_label(first, "first defined here")
                    .with_help("rename one of the two definitions")
            }
            WrongKind { name, span, expected, found } => Diagnostic::error(
                Code::E0203,
                format!("expected {expected}, but `{name}` is {found}"),
                span,
                format!("this is {found}"),
            ),
            ParamCycle { name, span, path } => Diagnostic::error(
                Code::E0204,
                format!("the default of parameter `{name}` depends on itself"),
                span,
                "part of a cycle",
            )
            .with_note(format!("cycle: {}", path.join(" -> "))),
            UnknownSetting { key, span, context, suggestion } => {
                let d = Diagnostic::error(Code::E0205, format!("unknown setting `{key}` in {context}"), span, "not a setting here");
                match suggestion {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d,
                }
            }
            UnknownFunction { name, span, suggestion } => {
                let d = Diagnostic::error(Code::E0206, format!("unknown function `{name}`"), span, "not a built-in function")
                    .with_note("built-in functions: exp, log, sqrt, abs, min, max, tanh, sin, cos");
                match suggestion {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d,
                }
            }
            DoubleOde { state, span, first } => {
                Diagnostic::error(Code::E0207, format!("state `{state}` has two derivatives"), span, "second derivative")
                    .with_label(first, "first derivative")
                    .with_help("combine both right-hand sides into one equation")
            }
            Missing { what, span, help } => Diagnostic::error(Code::E0208, format!("missing {what}"), span, "here").with_help(help),
            DimMismatch { op, op_span, lhs, lhs_span, rhs, rhs_span } => {
                let d = Diagnostic::error(Code::E0301, format!("mismatched dimensions in `{op}`"), op_span, "incompatible dimensions")
                    .with_label(lhs_span, format!("left-hand side: {lhs}"))
                    .with_label(rhs_span, format!("right-hand side: {rhs}"));
                match factor_help("the right-hand side", lhs, rhs) {
                    Some(h) => d.with_help(h),
                    None => d,
                }
            }
            OdeDim { state, state_span, state_dim, found, rhs_span } => {
                let expected = state_dim / Dimension::time();
                let d = Diagnostic::error(
                    Code::E0302,
                    format!("the derivative of `{state}` must have dimension {expected}"),
                    rhs_span,
                    format!("this {}", has_dim(found)),
                )
                .with_label(state_span, format!("`{state}` {}", has_dim(state_dim)))
                .with_note(format!("d/dt {state} must have the dimension of `{state}` divided by time"));
                let help = if found == state_dim {
                    Some("divide the right-hand side by a time constant, e.g. `(...) / tau`".to_string())
                } else {
                    factor_help("the right-hand side", expected, found)
                };
                match help {
                    Some(h) => d.with_help(h),
                    None => d,
                }
            }
            NotDimensionless { what, span, found } => Diagnostic::error(
                Code::E0303,
                format!("the argument of {what} must be dimensionless"),
                span,
                format!("this {}", has_dim(found)),
            )
            .with_help(factor_help("the argument", Dimension::NONE, found).unwrap_or_default()),
            AssignDim { target, target_dim, target_span, found, value_span } => {
                let d = Diagnostic::error(Code::E0304, format!("assignment changes the dimension of `{target}`"), value_span, format!("this {}", has_dim(found)))
                    .with_label(target_span, format!("`{target}` {}", has_dim(target_dim)));
                match factor_help("the value", target_dim, found) {
                    Some(h) => d.with_help(h),
                    None => d,
                }
            }
            SettingDim { key, span, expected, found } => Diagnostic::error(
                Code::E0305,
                if expected.is_none() { format!("`{key}` must be dimensionless") } else { format!("`{key}` must have dimension {expected}") },
                span,
                format!("this {}", has_dim(found)),
            )
            .with_help(match factor_help("the value", expected, found) {
                Some(h) if expected == Dimension::time() && found.is_none() => format!("give a unit, e.g. `5 ms`; or {h}"),
                Some(h) => h,
                None => String::new(),
            }),
            BadExponent { span, reason } => Diagnostic::error(Code::E0306, "invalid exponent", span, reason)
                .with_help("a quantity with a dimension can only be raised to a constant rational power such as `2` or `0.5`"),
            TypeMismatch { expected, found, span } => {
                Diagnostic::error(Code::E0307, format!("expected {expected}, found {found}"), span, format!("this is {found}"))
            }
            Arity { func, expected, found, span, named_ok } => {
                let given = if found == 1 { "1 was given".to_string() } else { format!("{found} were given") };
                let plural = if expected == 1 { "" } else { "s" };
                if named_ok && expected == 0 {
                    Diagnostic::error(Code::E0308, format!("{func} takes only named arguments"), span, "positional argument")
                        .with_help("name each argument, e.g. `rate = 20 Hz`")
                } else if named_ok {
                    Diagnostic::error(Code::E0308, format!("{func} takes {expected} positional argument{plural}, but {given}"), span, "one too many")
                        .with_help("give the other arguments by name")
                } else {
                    Diagnostic::error(Code::E0308, format!("{func} takes {expected} argument{plural}, but {given}"), span, "in this call")
                }
            }
            OutOfRange { what, value, allowed, span } => {
                Diagnostic::error(Code::E0401, format!("{what} is {value}, which is out of range"), span, format!("must be {allowed}"))
            }
            GradientMode { gradient, span, mode, mode_span, needs } => {
                let d = Diagnostic::error(
                    Code::E0402,
                    format!("gradient `{gradient}` needs the `{needs}` simulation mode, but the simulation is `{mode}`"),
                    span,
                    format!("needs `{needs}`"),
                );
                let d = match mode_span {
                    Some(s) => d.with_label(s, format!("simulation mode is `{mode}`")),
                    None => d,
                };
                let other = if needs == "event" { "`surrogate`" } else { "`eventprop` or `analytic`" };
                d.with_help(format!("use `mode {needs}` in the simulation section, or gradient {other}"))
            }
            Unreachable { reason, span, help } => Diagnostic::error(Code::E0403, "the spike condition cannot work as written", span, reason).with_help(help),
            SettingKind { key, expected, span } => {
                Diagnostic::error(Code::E0404, format!("`{key}` expects {expected}"), span, format!("expected {expected}"))
            }
            Network { message, span, label, help } => {
                let d = Diagnostic::error(Code::E0405, message, span, label);
                match help {
                    Some(h) => d.with_help(h),
                    None => d,
                }
            }
            HidesUnit { name, span } => Diagnostic::warning(Code::W0201, format!("`{name}` hides the unit of the same name"), span, "defined here")
                .with_note(format!("inside expressions, `{name}` now means this definition; after a number (`1 {name}`) it is still the unit")),
            LaterLet { name, span, def } => Diagnostic::error(
                Code::E0201,
                format!("`{name}` is used before its `let` definition"),
                span,
                "used here",
            )
            .with_label(def, "defined later, here")
            .with_help("move the `let` above this use: a `let` may only use earlier definitions"),
            UnusedParam { name, span } => Diagnostic::warning(Code::W0401, format!("parameter `{name}` is never used"), span, "unused")
                .with_help("remove it, or use it in the dynamics"),
        }
    }
}

/// `Err(Box::new(e))`: errors are boxed where they travel through `Result`s, to keep those small.
pub fn fail<T>(e: SemaError) -> Result<T, Box<SemaError>> {
    Err(Box::new(e))
}
