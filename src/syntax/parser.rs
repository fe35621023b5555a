//! chumsky parsers, one function per nonterminal.
//!
//! The operator table lives in [`expr`]. Statements need no separators: an expression ends where
//! no operator follows, and a number is followed by a unit only when the identifier names a known
//! unit (the one question the parser asks the unit registry). Recovery works at item level (skip to
//! the next item keyword) and inside braces (skip the rest of a broken block).

use super::ast::*;
use super::token::Token;
use crate::sema::units;
use crate::source::{Span, Spanned};
use chumsky::input::ValueInput;
use chumsky::pratt::*;
use chumsky::prelude::*;

pub type ParseError<'t, 's> = Rich<'t, Token<'s>, Span>;
type Extra<'t, 's> = extra::Err<ParseError<'t, 's>>;

fn ident<'t, 's: 't, I>() -> impl Parser<'t, I, Ident, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    select! { Token::Ident(x) => x.to_string() }
        .map_with(|x, e| Spanned::new(x, e.span()))
        .labelled("name")
}

/// A key of a named argument or a section entry: a name, or a keyword used as a name
/// (`yinyang(train = 5000)`, `record { spikes [out] }`).
fn key<'t, 's: 't, I>() -> impl Parser<'t, I, Ident, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let keyword = select! {
        Token::Train => "train",
        Token::Input => "input",
        Token::Record => "record",
        Token::State => "state",
        Token::Spike => "spike",
        Token::Refractory => "refractory",
        Token::Param => "param",
        Token::Population => "population",
        Token::Hardware => "hardware",
        Token::Simulation => "simulation",
        Token::Receptor => "receptor",
    }
    .map_with(|x, e| Spanned::new(x.to_string(), e.span()));
    ident().or(keyword)
}

/// `a.b.c`: the key of a command-line override.
pub fn key_path<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Ident>, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    key()
        .separated_by(just(Token::Dot))
        .at_least(1)
        .collect::<Vec<_>>()
}

/// A projection clause key: a name or `receptor` (item keywords end the clause list).
fn clause_key<'t, 's: 't, I>() -> impl Parser<'t, I, Ident, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    ident()
        .or(just(Token::Receptor).map_with(|_, e| Spanned::new("receptor".to_string(), e.span())))
}

/// Expressions, with the whole precedence table in one place (tightest last):
/// `||` < `&&` < comparisons (non-associative) < `+ -` < `* /` < unary `- !` < `^` (right) <
/// calls and fields.
pub fn expr<'t, 's: 't, I>() -> impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    recursive(|expr| {
        let unit = select! { Token::Ident(x) if units::lookup(x).is_some() => x.to_string() }
            .map_with(|x, e| Spanned::new(x, e.span()));
        let number = select! { Token::Number(n) => n }
            .then(unit.or_not())
            .map(|(n, u)| match u {
                Some(u) => ExprKind::Quantity(n, u),
                None => ExprKind::Number(n),
            });
        let arg = key()
            .then_ignore(just(Token::Eq))
            .or_not()
            .then(expr.clone())
            .map(|(name, value)| Arg { name, value });
        let args = arg
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LParen), just(Token::RParen));
        let call_or_name = ident().then(args.or_not()).map(|(name, args)| match args {
            Some(args) => ExprKind::Call(name, args),
            None => ExprKind::Name(name.node),
        });
        let list = expr
            .clone()
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LBracket), just(Token::RBracket))
            .map(ExprKind::List);
        let parens = expr
            .clone()
            .delimited_by(just(Token::LParen), just(Token::RParen))
            .map(|e: Expr| e.node);
        let atom = choice((
            number,
            just(Token::True).to(ExprKind::Bool(true)),
            just(Token::False).to(ExprKind::Bool(false)),
            select! { Token::Str(s) => ExprKind::Str(s.to_string()) },
            call_or_name,
            list,
            parens,
        ))
        .map_with(|k, e| Spanned::new(k, e.span()))
        .recover_with(via_parser(nested_delimiters(
            Token::LParen,
            Token::RParen,
            [
                (Token::LBracket, Token::RBracket),
                (Token::LBrace, Token::RBrace),
            ],
            |span| Spanned::new(ExprKind::Error, span),
        )))
        .boxed();

        let bin = |op: BinaryOp| {
            move |l: Expr,
                  _,
                  r: Expr,
                  e: &mut chumsky::input::MapExtra<'t, '_, I, Extra<'t, 's>>| {
                Spanned::new(ExprKind::Binary(op, Box::new(l), Box::new(r)), e.span())
            }
        };
        atom.pratt((
            postfix(9, just(Token::Dot).ignore_then(ident()), |l: Expr, f, e| {
                Spanned::new(ExprKind::Field(Box::new(l), f), e.span())
            }),
            infix(right(8), just(Token::Caret), bin(BinaryOp::Pow)),
            prefix(7, just(Token::Minus), |_, r: Expr, e| {
                Spanned::new(ExprKind::Unary(UnaryOp::Neg, Box::new(r)), e.span())
            }),
            prefix(7, just(Token::Bang), |_, r: Expr, e| {
                Spanned::new(ExprKind::Unary(UnaryOp::Not, Box::new(r)), e.span())
            }),
            infix(left(6), just(Token::Star), bin(BinaryOp::Mul)),
            infix(left(6), just(Token::Slash), bin(BinaryOp::Div)),
            infix(left(5), just(Token::Plus), bin(BinaryOp::Add)),
            infix(left(5), just(Token::Minus), bin(BinaryOp::Sub)),
            infix(none(4), just(Token::EqEq), bin(BinaryOp::Eq)),
            infix(none(4), just(Token::NotEq), bin(BinaryOp::Ne)),
            infix(none(4), just(Token::Lt), bin(BinaryOp::Lt)),
            infix(none(4), just(Token::Le), bin(BinaryOp::Le)),
            infix(none(4), just(Token::Gt), bin(BinaryOp::Gt)),
            infix(none(4), just(Token::Ge), bin(BinaryOp::Ge)),
            infix(left(3), just(Token::AndAnd), bin(BinaryOp::And)),
            infix(left(2), just(Token::OrOr), bin(BinaryOp::Or)),
        ))
        .labelled("expression")
        .boxed()
    })
}

fn assign<'t, 's: 't, I>() -> impl Parser<'t, I, Assign, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let op = select! {
        Token::Eq => AssignOp::Set,
        Token::PlusEq => AssignOp::Add,
        Token::MinusEq => AssignOp::Sub,
        Token::StarEq => AssignOp::Mul,
    }
    .labelled("assignment operator");
    ident()
        .then(op)
        .then(expr())
        .map_with(|((target, op), value), e| Assign {
            target,
            op,
            value,
            span: e.span(),
        })
        .labelled("assignment")
}

fn block<'t, 's: 't, I, T: 't>(
    inner: impl Parser<'t, I, T, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Vec<T>, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    inner
        .repeated()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LBrace), just(Token::RBrace))
        .recover_with(via_parser(nested_delimiters(
            Token::LBrace,
            Token::RBrace,
            [
                (Token::LParen, Token::RParen),
                (Token::LBracket, Token::RBracket),
            ],
            |_| Vec::new(),
        )))
}

fn stmt<'t, 's: 't, I>() -> impl Parser<'t, I, Stmt, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let binding = || ident().then_ignore(just(Token::Eq)).then(expr());
    let param = just(Token::Param)
        .ignore_then(binding())
        .map(|(name, value)| Stmt::Param { name, value });
    let state = just(Token::State)
        .ignore_then(binding())
        .map(|(name, value)| Stmt::State { name, value });
    let let_ = just(Token::Let)
        .ignore_then(binding())
        .map(|(name, value)| Stmt::Let { name, value });
    let ode_ddt = just(Token::Ddt).ignore_then(binding());
    let ode_prime = ident()
        .then_ignore(just(Token::Prime))
        .then_ignore(just(Token::Eq))
        .then(expr());
    let ode = ode_ddt.or(ode_prime).map_with(|(state, rhs), e| Stmt::Ode {
        state,
        rhs,
        span: e.span(),
    });
    let receptor = just(Token::Receptor)
        .ignore_then(ident())
        .then(ident().delimited_by(just(Token::LParen), just(Token::RParen)))
        .then(block(assign()))
        .map_with(|((name, weight), body), e| Stmt::Receptor {
            name,
            weight,
            body,
            span: e.span(),
        });
    let spike_when = just(Token::Spike)
        .ignore_then(just(Token::When))
        .ignore_then(expr())
        .map_with(|cond, e| Stmt::SpikeWhen {
            cond,
            span: e.span(),
        });
    let on_spike = just(Token::On)
        .ignore_then(just(Token::Spike))
        .ignore_then(block(assign()))
        .map_with(|body, e| Stmt::OnSpike {
            body,
            span: e.span(),
        });
    let refractory = just(Token::Refractory)
        .ignore_then(expr())
        .map_with(|value, e| Stmt::Refractory {
            value,
            span: e.span(),
        });
    choice((
        param, state, let_, ode, receptor, spike_when, on_spike, refractory,
    ))
    .labelled("neuron statement")
    .boxed()
}

fn stmt_start<'t, 's: 't, I>() -> impl Parser<'t, I, (), Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    one_of([
        Token::Param,
        Token::State,
        Token::Let,
        Token::Ddt,
        Token::Receptor,
        Token::Spike,
        Token::On,
        Token::Refractory,
        Token::RBrace,
    ])
    .ignored()
}

fn setting<'t, 's: 't, I>(with_eq: bool) -> impl Parser<'t, I, Setting, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let eq = just(Token::Eq).ignored();
    let sep = if with_eq {
        eq.boxed()
    } else {
        eq.or_not().ignored().boxed()
    };
    let name = if with_eq {
        ident().boxed()
    } else {
        key().boxed()
    };
    name.then_ignore(sep)
        .then(expr())
        .map(|(key, value)| Setting { key, value })
}

fn item<'t, 's: 't, I>() -> impl Parser<'t, I, Item, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let stmt_recovering = stmt().recover_with(skip_then_retry_until(
        any().ignored(),
        stmt_start().rewind(),
    ));
    let neuron = just(Token::Neuron)
        .ignore_then(ident())
        .then(block(stmt_recovering))
        .map_with(|(name, body), e| {
            Item::Neuron(NeuronDef {
                name,
                body,
                span: e.span(),
            })
        });
    // `population p = 10 F` with a model named like a unit (`F`, `S`): `10 F` parses as a
    // quantity and leaves no model name, so the quantity is read again as count and model.
    let count_and_model = expr()
        .then(ident())
        .or(expr().try_map(|e: Expr, span| match e.node {
            ExprKind::Quantity(n, model) => {
                let count_span = Span {
                    end: model.span.start.saturating_sub(1).max(e.span.start + 1),
                    ..e.span
                };
                Ok((Spanned::new(ExprKind::Number(n), count_span), model))
            }
            _ => Err(Rich::custom(span, "expected a model name")),
        }));
    let population = just(Token::Population)
        .ignore_then(ident())
        .then_ignore(just(Token::Eq))
        .then(count_and_model)
        .map(|(name, (size, model))| ((name, size), model))
        .then(block(setting(true)).or_not())
        .map_with(|(((name, size), model), overrides), e| {
            Item::Population(PopulationDef {
                name,
                size,
                model,
                overrides: overrides.unwrap_or_default(),
                span: e.span(),
            })
        });
    let input = just(Token::Input)
        .ignore_then(ident())
        .then_ignore(just(Token::Eq))
        .then(expr())
        .map_with(|(name, source), e| {
            Item::Input(InputDef {
                name,
                source,
                span: e.span(),
            })
        });
    let project = just(Token::Project)
        .ignore_then(ident())
        .then_ignore(just(Token::Arrow))
        .then(ident())
        .then(expr())
        .then(
            clause_key()
                .then(expr())
                .map(|(key, value)| Setting { key, value })
                .repeated()
                .collect::<Vec<_>>(),
        )
        .map_with(|(((pre, post), connect), clauses), e| {
            Item::Project(ProjectDef {
                pre,
                post,
                connect,
                clauses,
                span: e.span(),
            })
        });
    let kind = select! {
        Token::Simulation => SectionKind::Simulation,
        Token::Train => SectionKind::Train,
        Token::Record => SectionKind::Record,
        Token::Hardware => SectionKind::Hardware,
    }
    .map_with(|k, e| Spanned::new(k, e.span()));
    let section = kind
        .then(block(setting(false)))
        .map_with(|(kind, entries), e| {
            Item::Section(SectionDef {
                kind,
                entries,
                span: e.span(),
            })
        });
    choice((neuron, population, input, project, section))
        .labelled("item")
        .boxed()
}

fn item_start<'t, 's: 't, I>() -> impl Parser<'t, I, (), Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    one_of([
        Token::Neuron,
        Token::Population,
        Token::Input,
        Token::Project,
        Token::Simulation,
        Token::Train,
        Token::Record,
        Token::Hardware,
    ])
    .ignored()
}

/// A whole file: items until the end of input, recovering at item keywords.
pub fn module<'t, 's: 't, I>() -> impl Parser<'t, I, Module, Extra<'t, 's>>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    // A broken item is skipped up to the next item keyword and becomes `Item::Error`, so the
    // items after it are still parsed and their errors reported too.
    let skip_item = any()
        .then(any().and_is(item_start().not()).repeated())
        .map_with(|_, e| Item::Error(e.span()));
    item()
        .recover_with(via_parser(skip_item))
        .repeated()
        .collect::<Vec<_>>()
        .then_ignore(end())
        .map(|items| Module { items })
}
