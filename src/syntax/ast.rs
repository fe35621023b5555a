//! The untyped syntax tree of a `.snn` file.
//!
//! Every node carries its span. Names are plain strings here; `sema` resolves them to ids. The
//! tree has `Error` nodes where the parser recovered, so later phases must skip those silently
//! (the parser has already reported them).

use crate::source::{Span, Spanned};

/// An identifier with its span.
pub type Ident = Spanned<String>;

/// A whole `.snn` file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Module {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Neuron(NeuronDef),
    Population(PopulationDef),
    Input(InputDef),
    Project(ProjectDef),
    Section(SectionDef),
    /// An item the parser could not read; already reported.
    Error(Span),
}

/// `neuron Name { statements }`
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronDef {
    pub name: Ident,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// One statement in a neuron body.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `param name = default`
    Param {
        name: Ident,
        value: Expr,
    },
    /// `state name = initial`
    State {
        name: Ident,
        value: Expr,
    },
    /// `let name = expr`, a named sub-expression.
    Let {
        name: Ident,
        value: Expr,
    },
    /// `d/dt x = rhs` or `x' = rhs`
    Ode {
        state: Ident,
        rhs: Expr,
        span: Span,
    },
    /// `receptor name(w) { assignments }`
    Receptor {
        name: Ident,
        weight: Ident,
        body: Vec<Assign>,
        span: Span,
    },
    /// `spike when condition`
    SpikeWhen {
        cond: Expr,
        span: Span,
    },
    /// `on spike { assignments }`
    OnSpike {
        body: Vec<Assign>,
        span: Span,
    },
    /// `refractory duration`
    Refractory {
        value: Expr,
        span: Span,
    },
    Error(Span),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    Set,
    Add,
    Sub,
    Mul,
}

/// `x = e`, `x += e`, `x -= e` or `x *= e`.
#[derive(Clone, Debug, PartialEq)]
pub struct Assign {
    pub target: Ident,
    pub op: AssignOp,
    pub value: Expr,
    pub span: Span,
}

/// `population name = size Model { overrides }`
#[derive(Clone, Debug, PartialEq)]
pub struct PopulationDef {
    pub name: Ident,
    pub size: Expr,
    pub model: Ident,
    pub overrides: Vec<Setting>,
    pub span: Span,
}

/// `input name = kind(arguments)`
#[derive(Clone, Debug, PartialEq)]
pub struct InputDef {
    pub name: Ident,
    pub source: Expr,
    pub span: Span,
}

/// `project pre -> post connectivity clauses...`
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectDef {
    pub pre: Ident,
    pub post: Ident,
    pub connect: Expr,
    pub clauses: Vec<Setting>,
    pub span: Span,
}

/// The experiment sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    Simulation,
    Train,
    Record,
    Hardware,
}

impl SectionKind {
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Simulation => "simulation",
            SectionKind::Train => "train",
            SectionKind::Record => "record",
            SectionKind::Hardware => "hardware",
        }
    }
}

/// `simulation { key value ... }` and its siblings.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionDef {
    pub kind: Spanned<SectionKind>,
    pub entries: Vec<Setting>,
    pub span: Span,
}

/// `key value` (in sections and projection clauses) or `key = value` (in overrides).
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: Ident,
    pub value: Expr,
}

pub type Expr = Spanned<ExprKind>;

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(f64),
    /// `10 ms`: a number followed by a unit name.
    Quantity(f64, Ident),
    Bool(bool),
    Str(String),
    Name(String),
    /// `population.size`, `population.v`
    Field(Box<Expr>, Ident),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Call(Ident, Vec<Arg>),
    List(Vec<Expr>),
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Pow => "^",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            And => "&&",
            Or => "||",
        }
    }

    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
}

/// A call argument, positional or `name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}
