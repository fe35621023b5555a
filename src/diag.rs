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
    let sources = ariadne::sources(map.files().map(|(_, f)| (f.name.clone(), f.text.clone())));
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
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
