//! The tokens of `.snn` source, produced by logos.
//!
//! The lexer validates what it can (number literals must be finite, characters must belong to the
//! language); a bad token becomes [`Token::Error`] plus a diagnostic, so parsing can go on. It knows
//! nothing about units: `ms` is an identifier here.

use crate::diag::{Code, Diagnostic};
use crate::source::{SourceId, Span};
use logos::Logos;
use std::fmt;

/// Why a piece of source is not a token.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LexError {
    #[default]
    InvalidChar,
    BadNumber,
    UnterminatedString,
}

#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(error = LexError)]
#[logos(skip r"[ \t\r\n\f\u{feff}]+")]
#[logos(skip(r"//[^\n\r]*", allow_greedy = true))]
pub enum Token<'src> {
    #[token("neuron")]
    Neuron,
    #[token("population")]
    Population,
    #[token("input")]
    Input,
    #[token("project")]
    Project,
    #[token("simulation")]
    Simulation,
    #[token("train")]
    Train,
    #[token("record")]
    Record,
    #[token("hardware")]
    Hardware,
    #[token("param")]
    Param,
    #[token("state")]
    State,
    #[token("let")]
    Let,
    #[token("receptor")]
    Receptor,
    #[token("spike")]
    Spike,
    #[token("when")]
    When,
    #[token("on")]
    On,
    #[token("refractory")]
    Refractory,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("d/dt")]
    Ddt,

    #[regex(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?", number)]
    #[regex(r"\.[0-9]+([eE][+-]?[0-9]+)?", number)]
    Number(f64),
    #[regex(r#""[^"\n]*""#, |lex| { let s = lex.slice(); &s[1..s.len() - 1] })]
    #[regex(r#""[^"\n]*"#, |_| Err(LexError::UnterminatedString))]
    Str(&'src str),
    #[regex(r"[\p{L}_][\p{L}\p{N}_]*")]
    Ident(&'src str),

    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("^")]
    Caret,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token(":")]
    Colon,
    #[token("'")]
    Prime,
    #[token("=")]
    Eq,
    #[token("+=")]
    PlusEq,
    #[token("-=")]
    MinusEq,
    #[token("*=")]
    StarEq,
    #[token("->")]
    Arrow,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("!")]
    Bang,

    /// A piece of source that is not a token; already reported by [`lex`].
    Error,
}

fn number<'s>(lex: &mut logos::Lexer<'s, Token<'s>>) -> Result<f64, LexError> {
    match lex.slice().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(LexError::BadNumber),
    }
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Token::*;
        let s = match self {
            Neuron => "neuron",
            Population => "population",
            Input => "input",
            Project => "project",
            Simulation => "simulation",
            Train => "train",
            Record => "record",
            Hardware => "hardware",
            Param => "param",
            State => "state",
            Let => "let",
            Receptor => "receptor",
            Spike => "spike",
            When => "when",
            On => "on",
            Refractory => "refractory",
            True => "true",
            False => "false",
            Ddt => "d/dt",
            Number(n) => return write!(f, "number {n}"),
            Str(s) => return write!(f, "string \"{s}\""),
            Ident(s) => return write!(f, "`{s}`"),
            Plus => "+",
            Minus => "-",
            Star => "*",
            Slash => "/",
            Caret => "^",
            LParen => "(",
            RParen => ")",
            LBrace => "{",
            RBrace => "}",
            LBracket => "[",
            RBracket => "]",
            Comma => ",",
            Dot => ".",
            Colon => ":",
            Prime => "'",
            Eq => "=",
            PlusEq => "+=",
            MinusEq => "-=",
            StarEq => "*=",
            Arrow => "->",
            EqEq => "==",
            NotEq => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            AndAnd => "&&",
            OrOr => "||",
            Bang => "!",
            Error => "invalid token",
        };
        write!(f, "'{s}'")
    }
}

/// Splits `text` into tokens with spans; bad tokens become [`Token::Error`] and a diagnostic.
pub fn lex(source: SourceId, text: &str) -> (Vec<(Token<'_>, Span)>, Vec<Diagnostic>) {
    let mut tokens = Vec::new();
    let mut diags = Vec::new();
    for (result, range) in Token::lexer(text).spanned() {
        let span = Span::new(source, range.clone());
        match result {
            Ok(tok) => tokens.push((tok, span)),
            Err(err) => {
                diags.push(lex_error(err, &text[range], span));
                tokens.push((Token::Error, span));
            }
        }
    }
    (tokens, diags)
}

fn lex_error(err: LexError, slice: &str, span: Span) -> Diagnostic {
    match err {
        LexError::BadNumber => Diagnostic::error(
            Code::E0103,
            format!("the number `{slice}` is not a finite 64-bit float"),
            span,
            "this literal",
        )
        .with_help("numbers must be below about 1.8e308; use a unit prefix to keep them small"),
        LexError::UnterminatedString => Diagnostic::error(
            Code::E0102,
            "unterminated string",
            span,
            "this string has no closing `\"`",
        )
        .with_help("strings end on the same line with `\"`"),
        LexError::InvalidChar => Diagnostic::error(
            Code::E0102,
            format!("unexpected character `{}`", slice.escape_debug()),
            span,
            "not part of the language",
        ),
    }
}
