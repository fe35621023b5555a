//! Lowering a checked neuron model (HIR) to its base IR functions.
//!
//! Every function takes the state `x` (one argument per state variable) and the parameters `p`
//! as runtime arguments, so changing a parameter never needs a recompile:
//!
//! - `rhs(x, p) -> dx`: the ODE right-hand side f (states without an equation get 0);
//! - `jump_<receptor>(x, p, w) -> x'`: what a spike of weight `w` does (g_r);
//! - `threshold(x, p) -> h`: the neuron spikes when h crosses 0 upwards;
//! - `reset(x, p) -> x'`: the reset map r;
//! - `init(p) -> x0` and `refractory(p) -> t_ref`.
//!
//! Assignments in a block see the values assigned before them (`v = v_reset; w += v` uses the
//! new `v`), as a reader of the block expects.

use super::{BinaryOp, Builder, Function, UnaryOp, Value, passes};
use crate::sema::hir::{self, AssignOp, BinOp, ExprKind, Func, NeuronModel, UnOp};

/// The base functions of one neuron model.
#[derive(Clone, Debug)]
pub struct BaseFunctions {
    pub rhs: Function,
    pub jumps: Vec<Function>,
    pub threshold: Function,
    pub reset: Function,
    pub init: Function,
    pub refractory: Option<Function>,
}

/// Argument names `x.<state>..., p.<param>...`.
pub fn state_param_args(m: &NeuronModel) -> Vec<String> {
    m.states
        .iter()
        .map(|s| format!("x.{}", s.name))
        .chain(m.params.iter().map(|p| format!("p.{}", p.name)))
        .collect()
}

/// Values of the names an expression may refer to.
struct Env {
    x: Vec<Value>,
    p: Vec<Value>,
    w: Option<Value>,
    lets: Vec<Option<Value>>,
}

fn lower_expr(b: &mut Builder, m: &NeuronModel, env: &mut Env, e: &hir::Expr) -> Value {
    match &e.kind {
        ExprKind::Const(c) => b.c(*c),
        ExprKind::Param(p) => env.p[p.index()],
        ExprKind::State(s) => env.x[s.index()],
        ExprKind::Weight => env.w.expect("sema allows the weight only inside receptors"),
        ExprKind::Let(l) => match env.lets[l.index()] {
            Some(v) => v,
            None => {
                let v = lower_expr(b, m, env, &m.lets[l.index()].value);
                env.lets[l.index()] = Some(v);
                v
            }
        },
        ExprKind::Unary(op, a) => {
            let a = lower_expr(b, m, env, a);
            b.un(
                if *op == UnOp::Neg {
                    UnaryOp::Neg
                } else {
                    UnaryOp::Not
                },
                a,
            )
        }
        ExprKind::Binary(op, a, c) => {
            let (a, c) = (lower_expr(b, m, env, a), lower_expr(b, m, env, c));
            match op {
                BinOp::Add => b.add(a, c),
                BinOp::Sub => b.sub(a, c),
                BinOp::Mul => b.mul(a, c),
                BinOp::Div => b.div(a, c),
                BinOp::Pow => b.bin(BinaryOp::Pow, a, c),
                BinOp::Lt => b.bin(BinaryOp::Lt, a, c),
                BinOp::Le => b.bin(BinaryOp::Le, a, c),
                BinOp::Gt => b.bin(BinaryOp::Lt, c, a),
                BinOp::Ge => b.bin(BinaryOp::Le, c, a),
                BinOp::Eq => b.bin(BinaryOp::Eq, a, c),
                BinOp::Ne => b.bin(BinaryOp::Ne, a, c),
                BinOp::And => b.bin(BinaryOp::And, a, c),
                BinOp::Or => b.bin(BinaryOp::Or, a, c),
            }
        }
        ExprKind::Call(f, args) => {
            let vals: Vec<Value> = args.iter().map(|a| lower_expr(b, m, env, a)).collect();
            match f {
                Func::Exp => b.un(UnaryOp::Exp, vals[0]),
                Func::Log => b.un(UnaryOp::Log, vals[0]),
                Func::Sqrt => b.un(UnaryOp::Sqrt, vals[0]),
                Func::Abs => b.un(UnaryOp::Abs, vals[0]),
                Func::Tanh => b.un(UnaryOp::Tanh, vals[0]),
                Func::Sin => b.un(UnaryOp::Sin, vals[0]),
                Func::Cos => b.un(UnaryOp::Cos, vals[0]),
                Func::Min => b.bin(BinaryOp::Min, vals[0], vals[1]),
                Func::Max => b.bin(BinaryOp::Max, vals[0], vals[1]),
            }
        }
    }
}

fn start(m: &NeuronModel, extra: &[&str]) -> (Builder, Env) {
    let mut args = state_param_args(m);
    args.extend(extra.iter().map(|s| s.to_string()));
    let b = Builder::new(&args);
    let (n, k) = (m.states.len(), m.params.len());
    let env = Env {
        x: (0..n).map(|i| b.arg(i)).collect(),
        p: (n..n + k).map(|i| b.arg(i)).collect(),
        w: (!extra.is_empty()).then(|| b.arg(n + k)),
        lets: vec![None; m.lets.len()],
    };
    (b, env)
}

/// Applies assignments in order; each sees the values assigned before it.
fn apply_block(
    b: &mut Builder,
    m: &NeuronModel,
    env: &mut Env,
    body: &[hir::Assign],
) -> Vec<Value> {
    for a in body {
        env.lets.iter_mut().for_each(|l| *l = None);
        let v = lower_expr(b, m, env, &a.value);
        let old = env.x[a.state.index()];
        env.x[a.state.index()] = match a.op {
            AssignOp::Set => v,
            AssignOp::Add => b.add(old, v),
            AssignOp::Sub => b.sub(old, v),
            AssignOp::Mul => b.mul(old, v),
        };
    }
    env.x.clone()
}

fn state_outputs(m: &NeuronModel, vals: Vec<Value>, prefix: &str) -> Vec<(String, Value)> {
    m.states
        .iter()
        .map(|s| format!("{prefix}{}", s.name))
        .zip(vals)
        .collect()
}

pub fn lower_model(m: &NeuronModel) -> BaseFunctions {
    let (mut b, mut env) = start(m, &[]);
    let dx: Vec<Value> = m
        .odes
        .iter()
        .map(|ode| match ode {
            Some(e) => lower_expr(&mut b, m, &mut env, e),
            None => b.c(0.0),
        })
        .collect();
    let rhs = passes::run(b.finish("rhs", state_outputs(m, dx, "d")));

    let jumps = m
        .receptors
        .iter()
        .map(|r| {
            let (mut b, mut env) = start(m, &["w"]);
            let x = apply_block(&mut b, m, &mut env, &r.body);
            passes::run(b.finish(format!("jump_{}", r.name), state_outputs(m, x, "")))
        })
        .collect();

    let (mut b, mut env) = start(m, &[]);
    let h = lower_expr(&mut b, m, &mut env, &m.threshold);
    let threshold = passes::run(b.finish("threshold", vec![("h".into(), h)]));

    let (mut b, mut env) = start(m, &[]);
    let x = apply_block(&mut b, m, &mut env, &m.reset);
    let reset = passes::run(b.finish("reset", state_outputs(m, x, "")));

    let pargs: Vec<String> = m.params.iter().map(|p| format!("p.{}", p.name)).collect();
    let mut b = Builder::new(&pargs);
    let mut env = Env {
        x: vec![],
        p: (0..pargs.len()).map(|i| b.arg(i)).collect(),
        w: None,
        lets: vec![None; m.lets.len()],
    };
    let x0: Vec<Value> = m
        .states
        .iter()
        .map(|s| lower_expr(&mut b, m, &mut env, &s.init))
        .collect();
    let init = passes::run(b.finish("init", state_outputs(m, x0, "")));

    let refractory = m.refractory.as_ref().map(|e| {
        let mut b = Builder::new(&pargs);
        let mut env = Env {
            x: vec![],
            p: (0..pargs.len()).map(|i| b.arg(i)).collect(),
            w: None,
            lets: vec![None; m.lets.len()],
        };
        let t = lower_expr(&mut b, m, &mut env, e);
        passes::run(b.finish("refractory", vec![("t_ref".into(), t)]))
    });
    BaseFunctions {
        rhs,
        jumps,
        threshold,
        reset,
        init,
        refractory,
    }
}
