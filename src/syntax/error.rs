//! Turns chumsky's `Rich` parse errors into snnc diagnostics.
//!
//! Errors whose offending token is a lexer error are dropped (the lexer reported them already). An
//! identifier right after a number that is close to a unit name gets an "unknown unit" diagnostic
//! instead of a bare "unexpected token".

use super::parser::ParseError;
use super::token::Token;
use crate::diag::{Code, Diagnostic, closest};
use crate::sema::units;
use crate::source::Span;
use chumsky::error::{RichPattern, RichReason};

/// Converts one parse error; `None` if it only repeats a lexer error.
/// "Unknown unit" for an identifier right after a number that is close to a unit name.
pub fn unknown_unit(name: &str, span: Span) -> Option<Diagnostic> {
    if units::lookup(name).is_some() {
        return None;
    }
    let unit = closest(name, units::names())?;
    Some(
        Diagnostic::error(
            Code::E0104,
            format!("unknown unit `{name}`"),
            span,
            "not a unit",
        )
        .with_help(format!("did you mean `{unit}`?")),
    )
}

pub fn convert(err: &ParseError<'_, '_>) -> Option<Diagnostic> {
    let span: Span = *err.span();
    let found = err.found();
    if matches!(found, Some(Token::Error)) {
        return None;
    }
    let found_text = match found {
        Some(tok) => tok.to_string(),
        None => "end of input".to_string(),
    };
    let message = match err.reason() {
        RichReason::Custom(msg) => msg.to_string(),
        RichReason::ExpectedFound { .. } => format!("unexpected {found_text}"),
    };
    let expected = expected_list(err.expected());
    let label = if expected.is_empty() {
        "unexpected here".to_string()
    } else {
        format!("expected {expected}")
    };
    let mut diag = Diagnostic::error(Code::E0101, message, span, label);
    for (context, ctx_span) in err.contexts() {
        diag = diag.with_label(*ctx_span, format!("while parsing this {context}"));
    }
    Some(diag)
}

fn expected_list<'a>(expected: impl Iterator<Item = &'a RichPattern<'a, Token<'a>>>) -> String {
    let mut items: Vec<String> = expected
        .map(|p| match p {
            RichPattern::Token(t) => t.to_string(),
            RichPattern::Label(l) => with_article(l),
            RichPattern::EndOfInput => "end of input".to_string(),
            other => other.to_string(),
        })
        .collect();
    // Tokens that could start an expression are one thing to the reader: an expression.
    const STARTS: [&str; 8] = [
        "'!'",
        "'('",
        "'-'",
        "'['",
        "'false'",
        "'true'",
        "a name",
        "something else",
    ];
    if items.iter().any(|i| i == "a name") && items.iter().any(|i| i == "'('") {
        items.retain(|i| !STARTS.contains(&i.as_str()));
        items.push("an expression".to_string());
    }
    items.retain(|i| i != "something else");
    // Operators that could continue an expression are summarised, or the list drowns the rest.
    const OPERATORS: [&str; 15] = [
        "'!='", "'&&'", "'*'", "'+'", "'-'", "'.'", "'/'", "'<'", "'<='", "'=='", "'>'", "'>='",
        "'^'", "'||'", "'('",
    ];
    if items
        .iter()
        .filter(|i| OPERATORS.contains(&i.as_str()))
        .count()
        > 4
    {
        items.retain(|i| !OPERATORS.contains(&i.as_str()));
        items.push("an operator".to_string());
    }
    items.sort();
    items.dedup();
    match items.len() {
        0 => String::new(),
        1 => items.remove(0),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// "expression" -> "an expression", "name" -> "a name".
fn with_article(label: &str) -> String {
    let vowel = label.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {label}", if vowel { "an" } else { "a" })
}
