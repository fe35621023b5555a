//! `--set key=value` on the command line: parsed like source text and applied to the AST
//! before checking, so an override is checked (names, units, ranges) exactly like the file.
//!
//! Keys: `simulation.t_max`, `train.epochs`, `train.optimizer`, ... (a section and one of its
//! settings; the section is created if missing), or `POPULATION.PARAM` (a parameter override
//! of that population).

use super::ast::{self, Item, SectionKind, Setting};
use super::parser::{expr, key_path};
use super::token::lex;
use crate::diag::{Code, Diagnostic};
use crate::source::{SourceId, Span, Spanned};
use chumsky::Parser;
use chumsky::input::Input;

/// Parses `a.b = value` from an override's own source.
pub fn parse(
    source: SourceId,
    text: &str,
) -> Result<(Vec<ast::Ident>, ast::Expr), Vec<Diagnostic>> {
    let (tokens, mut diags) = lex(source, text);
    if !diags.is_empty() {
        return Err(diags);
    }
    let eoi = Span::new(source, text.len()..text.len());
    let parser = key_path()
        .then_ignore(chumsky::primitive::just(super::token::Token::Eq))
        .then(expr());
    match parser
        .then_ignore(chumsky::primitive::end())
        .parse(tokens.as_slice().split_token_span(eoi))
        .into_result()
    {
        Ok(v) => Ok(v),
        Err(errs) => {
            diags.extend(errs.iter().filter_map(super::error::convert));
            if diags.is_empty() {
                diags.push(Diagnostic::error(
                    Code::E0101,
                    "cannot read this override",
                    eoi,
                    "expected `section.key=value`",
                ));
            }
            Err(diags)
        }
    }
}

/// Applies one override to the module.
pub fn apply(
    module: &mut ast::Module,
    path: &[ast::Ident],
    value: ast::Expr,
) -> Result<(), Diagnostic> {
    let [head, key] = path else {
        let span = path.first().map_or(value.span, |p| p.span);
        return Err(Diagnostic::error(
            Code::E0205,
            "an override is `section.key=value` or `population.parameter=value`",
            span,
            "expected two names",
        )
        .with_help("e.g. `--set train.epochs=10` or `--set hidden.tau_mem=12ms`"));
    };
    let kind = match head.node.as_str() {
        "simulation" => Some(SectionKind::Simulation),
        "train" => Some(SectionKind::Train),
        "record" => Some(SectionKind::Record),
        "hardware" => Some(SectionKind::Hardware),
        _ => None,
    };
    let setting = Setting {
        key: key.clone(),
        value,
    };
    if let Some(kind) = kind {
        let section = module.items.iter_mut().find_map(|i| match i {
            Item::Section(s) if s.kind.node == kind => Some(s),
            _ => None,
        });
        match section {
            Some(s) => {
                s.entries.retain(|e| e.key.node != key.node);
                s.entries.push(setting);
            }
            None => module.items.push(Item::Section(ast::SectionDef {
                kind: Spanned::new(kind, head.span),
                entries: vec![setting],
                span: head.span,
            })),
        }
        return Ok(());
    }
    let pop = module.items.iter_mut().find_map(|i| match i {
        Item::Population(p) if p.name.node == head.node => Some(p),
        _ => None,
    });
    match pop {
        Some(p) => {
            p.overrides.retain(|o| o.key.node != key.node);
            p.overrides.push(setting);
            Ok(())
        }
        None => Err(Diagnostic::error(
            Code::E0205,
            format!("`{}` is neither a section nor a population", head.node),
            head.span,
            "unknown",
        )
        .with_help("use simulation, train, record, hardware or the name of a population")),
    }
}
