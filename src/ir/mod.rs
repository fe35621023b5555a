//! The dynamics IR: small typed SSA functions over `f64`, and the per-model bundle of them.
//!
//! A [`Function`] is straight-line code: arguments, instructions that refer to earlier values
//! only, and named outputs. Booleans are `0.0`/`1.0`. There are no loops, calls or memory: that
//! keeps every function easy to verify, interpret, differentiate (`ad`) and compile (`jit`).
//! Functions are built through a [`Builder`] that folds constants and shares equal
//! instructions as it goes.
//!
//! Submodules: `lower` (HIR to IR), `ad` (tangents and adjoints on the IR), `linear`
//! (classification and exact propagators), `derive` (every derived function of a model),
//! `interp` (the reference interpreter), `rt` (numerical runtime helpers the IR calls),
//! `crossing` (next threshold crossing), `verify`, `print`, `passes`.

pub mod ad;
pub mod crossing;
pub mod derive;
pub mod hoist;
pub mod interp;
pub mod lambert;
pub mod linear;
pub mod lower;
pub mod passes;
pub mod print;
pub mod rt;
pub mod verify;

use std::collections::HashMap;

/// An SSA value: the index of the instruction that defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(pub u32);

impl Value {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The surrogate derivative used for a [`Op::Heaviside`] in reverse mode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SurrogateFn {
    /// `1 / (beta |h| + 1)^2` (SuperSpike, Zenke & Ganguli 2018).
    SuperSpike { beta: f64 },
    /// `beta * s * (1 - s)` with `s = sigmoid(beta h)`.
    Sigmoid { beta: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Exp,
    Expm1,
    Log,
    Sqrt,
    Abs,
    Tanh,
    Sin,
    Cos,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Min,
    Max,
    Lt,
    Le,
    Eq,
    Ne,
    And,
    Or,
}

/// One instruction.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Const(f64),
    /// The function's argument number `n`.
    Arg(u32),
    Unary(UnaryOp, Value),
    Binary(BinaryOp, Value, Value),
    /// `if c != 0 { a } else { b }`
    Select(Value, Value, Value),
    /// `1` if the argument is `>= 0`, else `0`; its derivative is the surrogate in reverse mode
    /// and zero in forward mode.
    Heaviside(Value, SurrogateFn),
    /// The surrogate derivative itself (appears in derived functions).
    SurrogateGrad(Value, SurrogateFn),
    /// Divided difference of `lambda -> exp(lambda t)` over the nodes: operands are `t` then the
    /// nodes `lambda_0 .. lambda_r` (`r = 0` is `exp(lambda_0 t)`). Stable for equal or nearly
    /// equal nodes, which is what makes exact propagators safe at `tau_mem = tau_syn`.
    DdExp(Vec<Value>),
    /// Entry `at` (row-major) of the matrix exponential `exp(M t)` of an `n x n` matrix:
    /// operands are `t` then the entries of `M` row by row. The propagator of linear models
    /// whose coupling is cyclic (no closed form by coupling paths).
    Expm {
        n: u32,
        at: u32,
        args: Vec<Value>,
    },
}

impl Op {
    /// The values this instruction reads.
    pub fn operands(&self) -> Vec<Value> {
        match self {
            Op::Const(_) | Op::Arg(_) => vec![],
            Op::Unary(_, a) | Op::Heaviside(a, _) | Op::SurrogateGrad(a, _) => vec![*a],
            Op::Binary(_, a, b) => vec![*a, *b],
            Op::Select(c, a, b) => vec![*c, *a, *b],
            Op::DdExp(args) | Op::Expm { args, .. } => args.clone(),
        }
    }

    /// The same instruction reading `f(v)` instead of each operand `v`.
    pub fn map_operands(&self, f: &mut impl FnMut(Value) -> Value) -> Op {
        match self {
            Op::Const(_) | Op::Arg(_) => self.clone(),
            Op::Unary(o, a) => Op::Unary(*o, f(*a)),
            Op::Heaviside(a, s) => Op::Heaviside(f(*a), *s),
            Op::SurrogateGrad(a, s) => Op::SurrogateGrad(f(*a), *s),
            Op::Binary(o, a, b) => Op::Binary(*o, f(*a), f(*b)),
            Op::Select(c, a, b) => Op::Select(f(*c), f(*a), f(*b)),
            Op::DdExp(args) => Op::DdExp(args.iter().map(|v| f(*v)).collect()),
            Op::Expm { n, at, args } => Op::Expm {
                n: *n,
                at: *at,
                args: args.iter().map(|v| f(*v)).collect(),
            },
        }
    }

    /// A hashable key for sharing equal instructions (floats by bit pattern).
    fn key(&self) -> String {
        format!("{self:?}")
    }
}

/// A straight-line function `(args) -> (outputs)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub name: String,
    /// Argument names, e.g. `x.v`, `p.tau_mem`, `w`.
    pub args: Vec<String>,
    pub insts: Vec<Op>,
    /// Named outputs.
    pub outputs: Vec<(String, Value)>,
}

impl Function {
    pub fn output(&self, name: &str) -> Option<Value> {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// Whether `v` depends (transitively) on any argument in `args`.
    pub fn depends_on(&self, v: Value, args: &[u32]) -> bool {
        let mut dep = vec![false; self.insts.len()];
        for (i, op) in self.insts.iter().enumerate().take(v.index() + 1) {
            dep[i] = match op {
                Op::Arg(n) => args.contains(n),
                other => other.operands().iter().any(|o| dep[o.index()]),
            };
        }
        dep[v.index()]
    }
}

/// Builds a [`Function`], folding constants, applying safe algebraic identities and sharing
/// equal instructions (local CSE) as instructions are added.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    pub insts: Vec<Op>,
    shared: HashMap<String, Value>,
    args: Vec<String>,
    /// When false, instructions are stored exactly as given (used by tests of the passes).
    pub raw: bool,
}

impl Builder {
    pub fn new(args: &[String]) -> Builder {
        let mut b = Builder {
            args: args.to_vec(),
            ..Builder::default()
        };
        for i in 0..args.len() {
            b.push(Op::Arg(i as u32));
        }
        b
    }

    pub fn raw(args: &[String]) -> Builder {
        let mut b = Builder {
            raw: true,
            ..Builder::new(&[])
        };
        b.args = args.to_vec();
        for i in 0..args.len() {
            b.push(Op::Arg(i as u32));
        }
        b
    }

    /// The value of argument `n` (arguments are the first instructions).
    pub fn arg(&self, n: usize) -> Value {
        Value(n as u32)
    }

    pub fn arg_count(&self) -> usize {
        self.args.len()
    }

    pub fn finish(self, name: impl Into<String>, outputs: Vec<(String, Value)>) -> Function {
        Function {
            name: name.into(),
            args: self.args,
            insts: self.insts,
            outputs,
        }
    }

    pub fn constant_of(&self, v: Value) -> Option<f64> {
        match self.insts[v.index()] {
            Op::Const(c) => Some(c),
            _ => None,
        }
    }

    pub fn push(&mut self, op: Op) -> Value {
        let op = if self.raw {
            Simplified::Op(op)
        } else {
            self.simplify(op)
        };
        let op = match op {
            Simplified::Value(v) => return v,
            Simplified::Op(op) => op,
        };
        if !self.raw {
            let key = op.key();
            if let Some(v) = self.shared.get(&key) {
                return *v;
            }
            let v = Value(self.insts.len() as u32);
            self.shared.insert(key, v);
            self.insts.push(op);
            v
        } else {
            self.insts.push(op);
            Value(self.insts.len() as u32 - 1)
        }
    }

    pub fn c(&mut self, x: f64) -> Value {
        self.push(Op::Const(x))
    }
    pub fn un(&mut self, op: UnaryOp, a: Value) -> Value {
        self.push(Op::Unary(op, a))
    }
    pub fn bin(&mut self, op: BinaryOp, a: Value, b: Value) -> Value {
        self.push(Op::Binary(op, a, b))
    }
    pub fn add(&mut self, a: Value, b: Value) -> Value {
        self.bin(BinaryOp::Add, a, b)
    }
    pub fn sub(&mut self, a: Value, b: Value) -> Value {
        self.bin(BinaryOp::Sub, a, b)
    }
    pub fn mul(&mut self, a: Value, b: Value) -> Value {
        self.bin(BinaryOp::Mul, a, b)
    }
    pub fn div(&mut self, a: Value, b: Value) -> Value {
        self.bin(BinaryOp::Div, a, b)
    }
    pub fn neg(&mut self, a: Value) -> Value {
        self.un(UnaryOp::Neg, a)
    }
    pub fn select(&mut self, c: Value, a: Value, b: Value) -> Value {
        self.push(Op::Select(c, a, b))
    }

    /// Sum of values (0 for none).
    pub fn sum(&mut self, vals: impl IntoIterator<Item = Value>) -> Value {
        let zero = self.c(0.0);
        vals.into_iter().fold(zero, |acc, v| self.add(acc, v))
    }

    /// Dot product.
    pub fn dot(&mut self, a: &[Value], b: &[Value]) -> Value {
        let terms: Vec<Value> = a.iter().zip(b).map(|(x, y)| self.mul(*x, *y)).collect();
        self.sum(terms)
    }

    /// Copies `f` into this builder with `args` for its arguments; returns its outputs.
    pub fn inline(&mut self, f: &Function, args: &[Value]) -> Vec<Value> {
        let mut map: Vec<Value> = Vec::with_capacity(f.insts.len());
        for op in &f.insts {
            let v = match op {
                Op::Arg(n) => args[*n as usize],
                other => {
                    let op = other.map_operands(&mut |v| map[v.index()]);
                    self.push(op)
                }
            };
            map.push(v);
        }
        f.outputs.iter().map(|(_, v)| map[v.index()]).collect()
    }

    // Explicit `==` guards keep the float semantics obvious (0.0 == -0.0).
    #[allow(clippy::redundant_guards)]
    fn simplify(&mut self, op: Op) -> Simplified {
        use BinaryOp as B;
        let k = |v: Value| match self.insts[v.index()] {
            Op::Const(c) => Some(c),
            _ => None,
        };
        let folded = match &op {
            Op::Unary(o, a) => k(*a).map(|a| interp::unary(*o, a)),
            Op::Binary(o, a, b) => match (k(*a), k(*b)) {
                (Some(x), Some(y)) => Some(interp::binary(*o, x, y)),
                _ => None,
            },
            Op::Select(c, a, b) => match k(*c) {
                Some(c) => return Simplified::Value(if c != 0.0 { *a } else { *b }),
                None if a == b => return Simplified::Value(*a),
                None => None,
            },
            Op::Heaviside(a, _) => k(*a).map(|h| f64::from(u8::from(h >= 0.0))),
            Op::SurrogateGrad(a, s) => k(*a).map(|h| interp::surrogate(*s, h)),
            Op::DdExp(args) => {
                let vals: Option<Vec<f64>> = args.iter().map(|v| k(*v)).collect();
                vals.map(|v| rt::dd_exp(v[0], &v[1..]))
            }
            Op::Expm { at, args, .. } => {
                let vals: Option<Vec<f64>> = args.iter().map(|v| k(*v)).collect();
                vals.map(|v| rt::expm_entry(v[0], &v[1..], *at as usize))
            }
            _ => None,
        };
        if let Some(c) = folded {
            return Simplified::Op(Op::Const(c));
        }
        if let Op::Binary(o, a, b) = op {
            let (ka, kb) = (k(a), k(b));
            match (o, ka, kb) {
                (B::Add, Some(z), _) if z == 0.0 => return Simplified::Value(b),
                (B::Add | B::Sub, _, Some(z)) if z == 0.0 => return Simplified::Value(a),
                (B::Sub, Some(z), _) if z == 0.0 => {
                    return Simplified::Op(Op::Unary(UnaryOp::Neg, b));
                }
                (B::Mul, Some(one), _) if one == 1.0 => return Simplified::Value(b),
                (B::Mul | B::Div, _, Some(one)) if one == 1.0 => return Simplified::Value(a),
                (B::Mul, Some(z), _) | (B::Mul, _, Some(z)) if z == 0.0 => {
                    return Simplified::Op(Op::Const(0.0));
                }
                (B::Div, Some(z), _) if z == 0.0 => return Simplified::Op(Op::Const(0.0)),
                (B::Mul, Some(m), _) if m == -1.0 => {
                    return Simplified::Op(Op::Unary(UnaryOp::Neg, b));
                }
                (B::Mul, _, Some(m)) if m == -1.0 => {
                    return Simplified::Op(Op::Unary(UnaryOp::Neg, a));
                }
                (B::Pow, _, Some(one)) if one == 1.0 => return Simplified::Value(a),
                (B::Sub, _, _) if a == b => return Simplified::Op(Op::Const(0.0)),
                _ => {}
            }
            // x + (-y) = x - y and x - (-y) = x + y keep expressions short.
            if let Op::Unary(UnaryOp::Neg, y) = self.insts[b.index()] {
                match o {
                    B::Add => return Simplified::Op(Op::Binary(B::Sub, a, y)),
                    B::Sub => return Simplified::Op(Op::Binary(B::Add, a, y)),
                    _ => {}
                }
            }
        }
        if let Op::Unary(UnaryOp::Neg, a) = op
            && let Op::Unary(UnaryOp::Neg, x) = self.insts[a.index()]
        {
            return Simplified::Value(x);
        }
        Simplified::Op(op)
    }
}

enum Simplified {
    Value(Value),
    Op(Op),
}
