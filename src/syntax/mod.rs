//! Lexing and parsing: `.snn` text to an untyped, spanned AST.
//!
//! `parse` never fails: it returns whatever tree it could build plus diagnostics. This phase knows
//! nothing about ids, dimensions or code generation.

pub mod ast;
pub mod error;
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
        let prev = tokens
            .iter()
            .rev()
            .find(|(_, s)| s.end <= err.span().start)
            .map(|(t, _)| t);
        diags.extend(error::convert(err, prev));
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
