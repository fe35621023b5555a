//! Prints an AST back as canonical `.snn` source (used by round-trip tests and `snnc fmt`).
//!
//! Comments are not kept; expressions are printed with the minimal parentheses that preserve
//! their tree under the precedence table of `parser::expr`.

use super::ast::*;
use std::fmt::Write;

pub fn module(m: &Module) -> String {
    let mut out = String::new();
    for (i, item) in m.items.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        self::item(&mut out, item);
    }
    out
}

fn item(out: &mut String, item: &Item) {
    match item {
        Item::Neuron(n) => {
            let _ = writeln!(out, "neuron {} {{", n.name.node);
            for s in &n.body {
                stmt(out, s);
            }
            out.push_str("}\n");
        }
        Item::Population(p) => {
            let _ = write!(
                out,
                "population {} = {} {}",
                p.name.node,
                expr(&p.size),
                p.model.node
            );
            if !p.overrides.is_empty() {
                let o: Vec<String> = p
                    .overrides
                    .iter()
                    .map(|s| format!("{} = {}", s.key.node, expr(&s.value)))
                    .collect();
                let _ = write!(out, " {{ {} }}", o.join(" "));
            }
            out.push('\n');
        }
        Item::Input(i) => {
            let _ = writeln!(out, "input {} = {}", i.name.node, expr(&i.source));
        }
        Item::Project(p) => {
            let _ = write!(
                out,
                "project {} -> {} {}",
                p.pre.node,
                p.post.node,
                expr(&p.connect)
            );
            for c in &p.clauses {
                let _ = write!(out, " {} {}", c.key.node, expr(&c.value));
            }
            out.push('\n');
        }
        Item::Section(s) => {
            let _ = writeln!(out, "{} {{", s.kind.node.name());
            for e in &s.entries {
                let _ = writeln!(out, "    {} {}", e.key.node, expr(&e.value));
            }
            out.push_str("}\n");
        }
        Item::Error(_) => out.push_str("// <error>\n"),
    }
}

fn assigns(body: &[Assign]) -> String {
    let parts: Vec<String> = body
        .iter()
        .map(|a| {
            let op = match a.op {
                AssignOp::Set => "=",
                AssignOp::Add => "+=",
                AssignOp::Sub => "-=",
                AssignOp::Mul => "*=",
            };
            format!("{} {op} {}", a.target.node, expr(&a.value))
        })
        .collect();
    format!("{{ {} }}", parts.join(" "))
}

fn stmt(out: &mut String, s: &Stmt) {
    let line = match s {
        Stmt::Param { name, value } => format!("param {} = {}", name.node, expr(value)),
        Stmt::State { name, value } => format!("state {} = {}", name.node, expr(value)),
        Stmt::Let { name, value } => format!("let {} = {}", name.node, expr(value)),
        Stmt::Ode { state, rhs, .. } => format!("d/dt {} = {}", state.node, expr(rhs)),
        Stmt::Receptor {
            name, weight, body, ..
        } => format!("receptor {}({}) {}", name.node, weight.node, assigns(body)),
        Stmt::SpikeWhen { cond, .. } => format!("spike when {}", expr(cond)),
        Stmt::OnSpike { body, .. } => format!("on spike {}", assigns(body)),
        Stmt::Refractory { value, .. } => format!("refractory {}", expr(value)),
        Stmt::Error(_) => "// <error>".to_string(),
    };
    let _ = writeln!(out, "    {line}");
}

/// Binding power of an operator (higher binds tighter), matching the parser's table.
fn power(op: BinaryOp) -> u8 {
    use BinaryOp::*;
    match op {
        Or => 2,
        And => 3,
        Eq | Ne | Lt | Le | Gt | Ge => 4,
        Add | Sub => 5,
        Mul | Div => 6,
        Pow => 8,
    }
}

pub fn expr(e: &Expr) -> String {
    expr_in(e, 0)
}

/// Prints `e` where the context requires binding power above `min`.
fn expr_in(e: &Expr, min: u8) -> String {
    let (text, own) = match &e.node {
        ExprKind::Number(n) => (number(*n), 10),
        ExprKind::Quantity(n, u) => (format!("{} {}", number(*n), u.node), 10),
        ExprKind::Bool(b) => (b.to_string(), 10),
        ExprKind::Str(s) => (format!("\"{s}\""), 10),
        ExprKind::Name(n) => (n.clone(), 10),
        ExprKind::Field(x, f) => (format!("{}.{}", expr_in(x, 9), f.node), 10),
        ExprKind::Call(f, args) => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{} = {}", n.node, expr(&a.value)),
                    None => expr(&a.value),
                })
                .collect();
            (format!("{}({})", f.node, args.join(", ")), 10)
        }
        ExprKind::List(items) => (
            format!(
                "[{}]",
                items.iter().map(expr).collect::<Vec<_>>().join(", ")
            ),
            10,
        ),
        ExprKind::Unary(op, x) => {
            let sym = if *op == UnaryOp::Neg { "-" } else { "!" };
            (format!("{sym}{}", expr_in(x, 6)), 7)
        }
        ExprKind::Binary(op, l, r) => {
            let p = power(*op);
            // Left-associative operators need a tighter right side; `^` is right-associative.
            let (lmin, rmin) = match op {
                BinaryOp::Pow => (p, p - 1),
                _ if op.is_comparison() => (p, p),
                _ => (p - 1, p),
            };
            (
                format!("{} {} {}", expr_in(l, lmin), op.symbol(), expr_in(r, rmin)),
                p,
            )
        }
        ExprKind::Error => ("<error>".into(), 10),
    };
    if own > min { text } else { format!("({text})") }
}

fn number(n: f64) -> String {
    // Rust prints the shortest decimal that reads back as the same f64.
    format!("{n}")
}
