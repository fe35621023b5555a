//! Reading `key value` settings and call arguments with checked kinds and dimensions.
//!
//! Sections (`simulation { ... }`), projection clauses and calls such as `adam(lr = 5e-3)` all go
//! through [`Args`]: each getter marks its key as used and checks kind, dimension and range;
//! `finish` reports every key nobody asked for, with a "did you mean".

use super::error::{SemaError, fail};
use super::expr::{self, Scope, Ty};
use super::hir::ExprKind;
use super::units::{self, Dimension};
use crate::diag::closest;
use crate::source::Span;
use crate::syntax::ast;

/// Constant expressions in settings see only unit names.
struct ConstScope;

thread_local! {
    /// Sizes of the populations and inputs declared so far, visible to constant expressions as
    /// `name.size` while [`with_sizes`] runs.
    static SIZES: std::cell::RefCell<std::collections::HashMap<String, usize>> = std::cell::RefCell::default();
}

/// Makes `name.size` available to constant expressions checked inside `f`.
pub fn with_sizes<R>(sizes: &std::collections::HashMap<String, usize>, f: impl FnOnce() -> R) -> R {
    let old = SIZES.with(|s| s.replace(sizes.clone()));
    let r = f();
    SIZES.with(|s| s.replace(old));
    r
}

impl Scope for ConstScope {
    fn lookup(
        &mut self,
        name: &str,
        span: Span,
    ) -> Result<(ExprKind, Option<Dimension>), Box<SemaError>> {
        match units::lookup(name) {
            Some(u) => Ok((ExprKind::Const(u.scale), Some(u.dim))),
            None => fail(SemaError::TypeMismatch {
                expected: "a constant",
                found: "a name",
                span,
            }),
        }
    }

    fn field(
        &mut self,
        base: &str,
        field: &str,
        span: Span,
    ) -> Result<(ExprKind, Option<Dimension>), Box<SemaError>> {
        let size = SIZES.with(|s| s.borrow().get(base).copied());
        match (size, field) {
            (Some(n), "size") => Ok((ExprKind::Const(n as f64), Some(Dimension::NONE))),
            (Some(_), other) => fail(SemaError::UnknownSetting {
                key: other.to_string(),
                span,
                context: format!("`{base}` (a population or input has only `size` here)"),
                suggestion: Some("size".into()),
            }),
            (None, _) => {
                let suggestion = SIZES.with(|s| {
                    closest(base, s.borrow().keys().map(String::as_str)).map(str::to_string)
                });
                fail(SemaError::UnknownName {
                    name: base.to_string(),
                    span,
                    kind: "population or input (declared above)",
                    suggestion,
                })
            }
        }
    }
}

/// Evaluates a constant expression to (SI value, dimension).
pub fn const_quantity(e: &ast::Expr, errs: &mut Vec<SemaError>) -> Option<(f64, Dimension)> {
    let (h, ty) = expr::check(e, &mut ConstScope, errs);
    let Ty::Num(d) = ty else {
        if ty == Ty::Bool {
            errs.push(SemaError::TypeMismatch {
                expected: "a number",
                found: "a boolean",
                span: e.span,
            });
        }
        return None;
    };
    let v = expr::const_value(&h)?;
    if !v.is_finite() {
        errs.push(SemaError::OutOfRange {
            what: "this value".into(),
            value: format!("{v}"),
            allowed: "a finite number".into(),
            span: e.span,
        });
        return None;
    }
    Some((v, d))
}

pub struct Args<'a> {
    context: String,
    entries: Vec<(Option<&'a ast::Ident>, &'a ast::Expr)>,
    /// Some positional arguments could not be matched (already reported).
    pub bad_positional: bool,
    /// For call arguments: the name a positional entry takes.
    positional: Vec<Option<&'static str>>,
    used: Vec<bool>,
    known: Vec<&'static str>,
    pub span: Span,
}

impl<'a> Args<'a> {
    pub fn from_settings(
        entries: &'a [ast::Setting],
        context: impl Into<String>,
        span: Span,
    ) -> Args<'a> {
        let entries: Vec<_> = entries.iter().map(|s| (Some(&s.key), &s.value)).collect();
        Args {
            context: context.into(),
            used: vec![false; entries.len()],
            positional: Vec::new(),
            bad_positional: false,
            entries,
            known: Vec::new(),
            span,
        }
    }

    /// Call arguments; positional ones take the names in `positional`, in order.
    pub fn from_call(
        args: &'a [ast::Arg],
        positional: &[&'static str],
        context: impl Into<String>,
        span: Span,
        errs: &mut Vec<SemaError>,
    ) -> Args<'a> {
        let mut out = Args {
            context: context.into(),
            entries: Vec::new(),
            positional: Vec::new(),
            bad_positional: false,
            used: Vec::new(),
            known: Vec::new(),
            span,
        };
        let mut pos = positional.iter();
        let mut reported = false;
        for a in args {
            match &a.name {
                Some(n) => out.entries.push((Some(n), &a.value)),
                None => match pos.next() {
                    Some(_) => out.entries.push((None, &a.value)),
                    None if !reported => {
                        reported = true;
                        out.bad_positional = true;
                        errs.push(SemaError::Arity {
                            func: out.context.clone(),
                            expected: positional.len(),
                            found: args.iter().filter(|a| a.name.is_none()).count(),
                            span: a.value.span,
                            named_ok: true,
                        });
                    }
                    None => {}
                },
            }
        }
        // Give positional arguments their names by order.
        let mut names = positional.iter();
        let keys: Vec<Option<&'static str>> = out
            .entries
            .iter()
            .map(|(k, _)| {
                if k.is_none() {
                    names.next().copied()
                } else {
                    None
                }
            })
            .collect();
        out.positional = keys;
        out.used = vec![false; out.entries.len()];
        out
    }

    fn find(&mut self, key: &'static str, errs: &mut Vec<SemaError>) -> Option<&'a ast::Expr> {
        self.known.push(key);
        let mut found: Option<(usize, Span)> = None;
        for (i, (k, v)) in self.entries.iter().enumerate() {
            let matches = match k {
                Some(k) => k.node == key,
                None => self.positional.get(i).copied().flatten() == Some(key),
            };
            if !matches {
                continue;
            }
            let span = k.map_or(v.span, |k| k.span);
            if let Some((_, first)) = found {
                errs.push(SemaError::Duplicate {
                    name: key.to_string(),
                    span,
                    first,
                });
            } else {
                found = Some((i, span));
            }
            self.used[i] = true;
        }
        found.map(|(i, _)| self.entries[i].1)
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().enumerate().any(|(i, (k, _))| match k {
            Some(k) => k.node == key,
            None => self.positional.get(i).copied().flatten() == Some(key),
        })
    }

    /// A quantity of dimension `dim`, in SI.
    pub fn quantity(
        &mut self,
        key: &'static str,
        dim: Dimension,
        errs: &mut Vec<SemaError>,
    ) -> Option<f64> {
        let e = self.find(key, errs)?;
        let (v, d) = const_quantity(e, errs)?;
        if d != dim {
            errs.push(SemaError::SettingDim {
                key: key.into(),
                span: e.span,
                expected: dim,
                found: d,
            });
            return None;
        }
        Some(v)
    }

    /// A quantity that must lie in `lo..=hi` (either bound optional; `lo` exclusive if `open`).
    pub fn ranged(
        &mut self,
        key: &'static str,
        dim: Dimension,
        lo: Option<f64>,
        open: bool,
        hi: Option<f64>,
        errs: &mut Vec<SemaError>,
    ) -> Option<f64> {
        let span = self.find(key, &mut Vec::new()).map(|e| e.span);
        self.known.pop();
        let v = self.quantity(key, dim, errs)?;
        let below = lo.is_some_and(|lo| if open { v <= lo } else { v < lo });
        let above = hi.is_some_and(|hi| v > hi);
        if below || above {
            let allowed = match (lo, hi) {
                (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
                (Some(lo), None) if open => format!("greater than {lo}"),
                (Some(lo), None) => format!("at least {lo}"),
                (None, Some(hi)) => format!("at most {hi}"),
                (None, None) => unreachable!("a range has a bound"),
            };
            errs.push(SemaError::OutOfRange {
                what: format!("`{key}`"),
                value: format_si(v, dim),
                allowed,
                span: span.unwrap_or(self.span),
            });
            return None;
        }
        Some(v)
    }

    /// A positive integer.
    pub fn count(&mut self, key: &'static str, errs: &mut Vec<SemaError>) -> Option<usize> {
        self.integer(key, 1, errs)
    }

    /// An integer at least `min`.
    pub fn integer(
        &mut self,
        key: &'static str,
        min: i64,
        errs: &mut Vec<SemaError>,
    ) -> Option<usize> {
        let e = self.find(key, errs)?;
        let (v, d) = const_quantity(e, errs)?;
        if !d.is_none() {
            errs.push(SemaError::SettingDim {
                key: key.into(),
                span: e.span,
                expected: Dimension::NONE,
                found: d,
            });
            return None;
        }
        if v.fract() != 0.0 || v < min as f64 || v > 1e12 {
            let allowed = if min == 0 {
                "a whole number, 0 or more".into()
            } else {
                format!("a whole number, at least {min}")
            };
            errs.push(SemaError::OutOfRange {
                what: format!("`{key}`"),
                value: format!("{v}"),
                allowed,
                span: e.span,
            });
            return None;
        }
        Some(v as usize)
    }

    pub fn boolean(&mut self, key: &'static str, errs: &mut Vec<SemaError>) -> Option<bool> {
        let e = self.find(key, errs)?;
        match e.node {
            ast::ExprKind::Bool(b) => Some(b),
            _ => {
                errs.push(SemaError::SettingKind {
                    key: key.into(),
                    expected: "`true` or `false`".into(),
                    span: e.span,
                });
                None
            }
        }
    }

    pub fn string(&mut self, key: &'static str, errs: &mut Vec<SemaError>) -> Option<String> {
        self.string_spanned(key, errs).map(|(s, _)| s)
    }

    /// [`Args::string`] with the span of the string.
    pub fn string_spanned(
        &mut self,
        key: &'static str,
        errs: &mut Vec<SemaError>,
    ) -> Option<(String, Span)> {
        let e = self.find(key, errs)?;
        match &e.node {
            ast::ExprKind::Str(s) => Some((s.clone(), e.span)),
            _ => {
                errs.push(SemaError::SettingKind {
                    key: key.into(),
                    expected: "a string in quotes".into(),
                    span: e.span,
                });
                None
            }
        }
    }

    /// A bare name (a population, an input, a state...), returned with its span.
    pub fn name(&mut self, key: &'static str, errs: &mut Vec<SemaError>) -> Option<(String, Span)> {
        let e = self.find(key, errs)?;
        match &e.node {
            ast::ExprKind::Name(n) => Some((n.clone(), e.span)),
            _ => {
                errs.push(SemaError::SettingKind {
                    key: key.into(),
                    expected: "a name".into(),
                    span: e.span,
                });
                None
            }
        }
    }

    /// A list of expressions (`[a, b]`); a single expression counts as a list of one.
    pub fn list(
        &mut self,
        key: &'static str,
        errs: &mut Vec<SemaError>,
    ) -> Option<Vec<&'a ast::Expr>> {
        let e = self.find(key, errs)?;
        Some(match &e.node {
            ast::ExprKind::List(items) => items.iter().collect(),
            _ => vec![e],
        })
    }

    /// One of `options`, written as a name or a call; returns the option and its arguments.
    pub fn choice(
        &mut self,
        key: &'static str,
        options: &[&'static str],
        errs: &mut Vec<SemaError>,
    ) -> Option<Choice<'a>> {
        let e = self.find(key, errs)?;
        choice_of(key, e, options, errs)
    }

    /// Reports every key that no getter asked for.
    pub fn finish(self, errs: &mut Vec<SemaError>) {
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            match k {
                Some(k) => {
                    let suggestion =
                        closest(&k.node, self.known.iter().copied()).map(str::to_string);
                    errs.push(SemaError::UnknownSetting {
                        key: k.node.clone(),
                        span: k.span,
                        context: self.context.clone(),
                        suggestion,
                    });
                }
                None => errs.push(SemaError::Arity {
                    func: self.context.clone(),
                    expected: self.positional.iter().flatten().count(),
                    found: self.entries.len(),
                    span: v.span,
                    named_ok: true,
                }),
            }
        }
    }
}

/// A chosen option, such as `adam(lr = 5e-3)` or `dense`.
pub struct Choice<'a> {
    pub name: String,
    pub span: Span,
    pub args: &'a [ast::Arg],
}

impl Choice<'_> {
    /// Reports arguments given to an option that takes none; true if there were none.
    pub fn no_args(&self, errs: &mut Vec<SemaError>) -> bool {
        if self.args.is_empty() {
            return true;
        }
        errs.push(SemaError::Arity {
            func: format!("`{}`", self.name),
            expected: 0,
            found: self.args.len(),
            span: self.args[0].value.span,
            named_ok: false,
        });
        false
    }
}

pub fn choice_of<'a>(
    key: &str,
    e: &'a ast::Expr,
    options: &[&'static str],
    errs: &mut Vec<SemaError>,
) -> Option<Choice<'a>> {
    let (name, span, args): (&str, Span, &'a [ast::Arg]) = match &e.node {
        ast::ExprKind::Name(n) => (n, e.span, &[]),
        ast::ExprKind::Call(n, args) => (&n.node, n.span, args),
        _ => {
            errs.push(SemaError::SettingKind {
                key: key.into(),
                expected: format!("one of {}", options.join(", ")),
                span: e.span,
            });
            return None;
        }
    };
    if !options.contains(&name) {
        let suggestion = closest(name, options.iter().copied()).map(str::to_string);
        errs.push(SemaError::UnknownSetting {
            key: name.to_string(),
            span,
            context: format!("`{key}` (one of {})", options.join(", ")),
            suggestion,
        });
        return None;
    }
    Some(Choice {
        name: name.to_string(),
        span,
        args,
    })
}

/// A value in SI with its unit for messages.
pub fn format_si(v: f64, dim: Dimension) -> String {
    if dim.is_none() {
        format!("{v}")
    } else if dim == Dimension::time() {
        format!("{v} s")
    } else {
        format!("{v} (SI, {dim})")
    }
}
