//! Lexing and parsing: `.snn` text to an untyped, spanned AST.
//!
//! `parse` never fails: it returns whatever tree it could build plus diagnostics. This phase knows
//! nothing about ids, dimensions or code generation.

pub mod ast;
pub mod error;
pub mod overrides;
pub mod parser;
pub mod print;
pub mod token;

use crate::diag::{Code, Diagnostic};
use crate::source::{SourceId, Span};
use chumsky::Parser;
use chumsky::input::Input;
use token::Token;

impl chumsky::span::Span for Span {
    type Context = SourceId;
    type Offset = usize;

    fn new(context: SourceId, range: std::ops::Range<usize>) -> Self {
        Span::new(context, range)
    }
    fn context(&self) -> SourceId {
        self.source
    }
    fn start(&self) -> usize {
        self.start as usize
    }
    fn end(&self) -> usize {
        self.end as usize
    }
}

/// Deeper nesting than this is rejected before parsing, so the recursive parser cannot exhaust
/// the stack on hostile input.
pub const MAX_NESTING: usize = 64;

/// Parses one file. The module is `None` only if nothing at all could be recovered.
pub fn parse(source: SourceId, text: &str) -> (Option<ast::Module>, Vec<Diagnostic>) {
    let (tokens, mut diags) = token::lex(source, text);
    if let Some(span) = too_deep(&tokens) {
        diags.push(
            Diagnostic::error(
                Code::E0101,
                format!("brackets nested more than {MAX_NESTING} deep"),
                span,
                "too deep",
            )
            .with_help("split the expression with `let` definitions"),
        );
        return (None, diags);
    }
    let eoi = Span::new(source, text.len()..text.len());
    let (module, errors) = parser::module()
        .parse(tokens.as_slice().split_token_span(eoi))
        .into_output_errors();
    for err in &errors {
        let at = tokens.partition_point(|(_, s)| s.end <= err.span().start);
        // A misspelt unit after a number is read as the start of the next statement, so the
        // parser trips one or two tokens later; look back for the number and the bad unit.
        let misspelt_unit = (at.saturating_sub(1)..=at).rev().find_map(|i| {
            match (tokens.get(i.wrapping_sub(1)), tokens.get(i)) {
                (Some((Token::Number(_), _)), Some((Token::Ident(name), span))) => {
                    error::unknown_unit(name, *span)
                }
                _ => None,
            }
        });
        match misspelt_unit {
            Some(d) => diags.push(d),
            None => diags.extend(error::convert(err)),
        }
    }
    (module, diags)
}

/// The span of the first opening bracket beyond [`MAX_NESTING`], if any.
fn too_deep(tokens: &[(Token<'_>, Span)]) -> Option<Span> {
    let mut depth = 0usize;
    for (tok, span) in tokens {
        match tok {
            Token::LParen | Token::LBrace | Token::LBracket => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(*span);
                }
            }
            Token::RParen | Token::RBrace | Token::RBracket => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}
