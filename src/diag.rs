//! Diagnostics as data, and their rendering.
//!
//! Every phase reports problems as [`Diagnostic`] values (a code, a message, labelled spans,
//! notes and a help line). This is the only module that knows about ariadne; it renders for humans
//! (with or without colour) and as JSON lines for editors. It never decides whether compilation
//! goes on: the driver does.

pub mod codes;

pub use codes::Code;

use crate::source::{SourceMap, Span};
use ariadne::{Color, Config, IndexType, Label as ALabel, Report, ReportKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// A labelled span inside a diagnostic. The first label of a diagnostic is its primary one.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in a program.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label {
                span,
                message: label.into(),
            }],
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span, label)
        }
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The primary span.
    pub fn span(&self) -> Span {
        self.labels[0].span
    }
}

/// Renders one diagnostic for a terminal (or, with `color == false`, for a golden file).
pub fn render(map: &SourceMap, diag: &Diagnostic, color: bool) -> String {
    render_all(map, std::slice::from_ref(diag), color).remove(0)
}

/// Renders many diagnostics, sharing one source cache (ariadne indexes each file once).
pub fn render_all(map: &SourceMap, diags: &[Diagnostic], color: bool) -> Vec<String> {
    let mut sources = ariadne::sources(map.files().map(|(_, f)| (f.name.clone(), f.text.clone())));
    diags
        .iter()
        .map(|d| render_one(map, d, color, &mut sources))
        .collect()
}

fn render_one(
    map: &SourceMap,
    diag: &Diagnostic,
    color: bool,
    sources: &mut impl ariadne::Cache<String>,
) -> String {
    let file = |span: Span| map.get(span.source).name.clone();
    let kind = match diag.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
    };
    let primary = diag.span();
    let config = Config::new()
        .with_index_type(IndexType::Byte)
        .with_color(color);
    let mut report = Report::build(kind, (file(primary), primary.range()))
        .with_config(config)
        .with_code(diag.code.as_str())
        .with_message(&diag.message);
    for (i, label) in diag.labels.iter().enumerate() {
        let colour = if i == 0 { Color::Red } else { Color::Blue };
        let mut l =
            ALabel::new((file(label.span), label.span.range())).with_message(&label.message);
        if color {
            l = l.with_color(colour);
        }
        report = report.with_label(l.with_order(i as i32));
    }
    for note in &diag.notes {
        report = report.with_note(note);
    }
    if let Some(help) = &diag.help {
        report = report.with_help(help);
    }
    let mut out = Vec::new();
    // Writing into a Vec cannot fail; an error here would be a bug in ariadne.
    let _ = report.finish().write(sources, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Renders one diagnostic as a single JSON object (one line), for editors.
pub fn render_json(map: &SourceMap, diag: &Diagnostic) -> String {
    let span_json = |span: Span| {
        let (line_start, col_start) = map.line_col(span.source, span.start);
        let (line_end, col_end) = map.line_col(span.source, span.end);
        serde_json::json!({
            "file": map.get(span.source).name,
            "byte_start": span.start, "byte_end": span.end,
            "line_start": line_start, "column_start": col_start,
            "line_end": line_end, "column_end": col_end,
        })
    };
    let labels: Vec<_> = diag
        .labels
        .iter()
        .map(|l| {
            let mut v = span_json(l.span);
            v["message"] = l.message.clone().into();
            v
        })
        .collect();
    let primary = diag.span();
    serde_json::json!({
        "code": diag.code.as_str(),
        "severity": match diag.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "message": diag.message,
        "file": map.get(primary.source).name,
        "span": span_json(primary),
        "labels": labels,
        "notes": diag.notes,
        "help": diag.help,
    })
    .to_string()
}

/// "Did you mean" support: the candidate closest to `name` by edit distance, if close enough.
/// Case differences count as half an edit, so `Lif` finds `LIF`.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Suggestions cost a comparison per candidate; a file with thousands of unknown names among
    // thousands of definitions would otherwise take quadratic time. Each compilation runs on its
    // own thread, so the budget is per compilation.
    thread_local!(static BUDGET: std::cell::Cell<usize> = const { std::cell::Cell::new(200_000) });
    let name: Vec<char> = name.chars().collect();
    let limit = (name.len() / 3).max(1);
    let mut buf = Vec::new();
    candidates
        .into_iter()
        .filter_map(|c| {
            if BUDGET.with(|b| b.replace(b.get().saturating_sub(1))) == 0 {
                return None;
            }
            buf.clear();
            buf.extend(c.chars());
            if buf == name || buf.len().abs_diff(name.len()) > limit {
                return None;
            }
            let folded = edit_distance(&name, &buf, limit, true)?;
            let exact = edit_distance(&name, &buf, limit + 1, false).unwrap_or(usize::MAX);
            // Two units per edit; a pure case change costs one. Ties go to the longer common
            // prefix (`mv` means `mV` rather than `MV`).
            let prefix = name.iter().zip(&buf).take_while(|(a, b)| a == b).count();
            Some((
                2 * folded + usize::from(exact > folded),
                usize::MAX - prefix,
                c,
            ))
        })
        .min_by_key(|(d, p, c)| (*d, *p, *c))
        .map(|(_, _, c)| c)
}

/// Levenshtein distance, or `None` as soon as it must exceed `limit`.
fn edit_distance(a: &[char], b: &[char], limit: usize, fold_case: bool) -> Option<usize> {
    let eq = |x: char, y: char| {
        if fold_case {
            x.to_lowercase().eq(y.to_lowercase())
        } else {
            x == y
        }
    };
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(!eq(*ca, *cb));
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        if cur.iter().min().is_some_and(|m| *m > limit) {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[b.len()] <= limit).then_some(prev[b.len()])
}
