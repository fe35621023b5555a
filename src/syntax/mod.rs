//! Lexing and parsing: `.snn` text to an untyped, spanned AST.
//!
//! `parse` never fails: it returns whatever tree it could build plus diagnostics. This phase knows
//! nothing about ids, dimensions or code generation.

pub mod ast;
pub mod error;
pub mod parser;
pub mod token;

use crate::diag::Diagnostic;
use crate::source::{SourceId, Span};
use chumsky::Parser;
use chumsky::input::Input;

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

/// Parses one file. The module is `None` only if nothing at all could be recovered.
pub fn parse(source: SourceId, text: &str) -> (Option<ast::Module>, Vec<Diagnostic>) {
    let (tokens, mut diags) = token::lex(source, text);
    let eoi = Span::new(source, text.len()..text.len());
    let (module, errors) = parser::module().parse(tokens.as_slice().split_token_span(eoi)).into_output_errors();
    for err in &errors {
        let prev = tokens.iter().rev().find(|(_, s)| s.end <= err.span().start).map(|(t, _)| t);
        diags.extend(error::convert(err, prev));
    }
    (module, diags)
}
