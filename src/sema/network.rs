//! Checking populations, inputs and projections.
//!
//! Resolves model and node names, applies parameter overrides (with unit checks), reads input
//! generators and projection clauses through [`Args`], and checks sizes and probabilities. It does
//! not instantiate weights; that happens when a network is built for a run.

use super::args::{Args, choice_of, const_quantity};
use super::error::SemaError;
use super::hir::*;
use super::neuron::check_time_constants;
use super::units::Dimension;
use crate::diag::closest;
use crate::source::Span;
use crate::syntax::ast;
use std::collections::HashMap;

/// Names of models and nodes, shared by the network and section checkers.
#[derive(Default)]
pub struct Names {
    pub models: HashMap<String, (NeuronId, Span)>,
    pub nodes: HashMap<String, (Node, Span)>,
}

impl Names {
    pub fn node(&self, name: &str, span: Span, errs: &mut Vec<SemaError>) -> Option<Node> {
        match self.nodes.get(name) {
            Some((n, _)) => Some(*n),
            None => {
                let kind = if self.models.contains_key(name) {
                    "population or input (this is a neuron model)"
                } else {
                    "population or input"
                };
                let suggestion =
                    closest(name, self.nodes.keys().map(String::as_str)).map(str::to_string);
                errs.push(SemaError::UnknownName {
                    name: name.into(),
                    span,
                    kind,
                    suggestion,
                });
                None
            }
        }
    }

    pub fn population(&self, name: &str, span: Span, errs: &mut Vec<SemaError>) -> Option<PopId> {
        match self.node(name, span, errs)? {
            Node::Pop(p) => Some(p),
            Node::Input(_) => {
                errs.push(SemaError::WrongKind {
                    name: name.into(),
                    span,
                    expected: "a population",
                    found: "an input",
                });
                None
            }
        }
    }
}

pub fn check_population(
    def: &ast::PopulationDef,
    models: &[Option<NeuronModel>],
    names: &Names,
    errs: &mut Vec<SemaError>,
) -> Option<Population> {
    let size = check_size(&def.size, errs);
    let model = match names.models.get(&def.model.node) {
        Some((id, _)) => *id,
        None => {
            let (kind, suggestion) = if names.nodes.contains_key(&def.model.node) {
                errs.push(SemaError::WrongKind {
                    name: def.model.node.clone(),
                    span: def.model.span,
                    expected: "a neuron model",
                    found: "a population or input",
                });
                return None;
            } else {
                (
                    "neuron model",
                    closest(&def.model.node, names.models.keys().map(String::as_str))
                        .map(str::to_string),
                )
            };
            errs.push(SemaError::UnknownName {
                name: def.model.node.clone(),
                span: def.model.span,
                kind,
                suggestion,
            });
            return None;
        }
    };
    let m = models[model.index()].as_ref()?;
    let mut params: Vec<Param> = m.params.clone();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    let mut overridden = Vec::new();
    for o in &def.overrides {
        if let Some(first) = seen.insert(&o.key.node, o.key.span) {
            errs.push(SemaError::Duplicate {
                name: o.key.node.clone(),
                span: o.key.span,
                first,
            });
            continue;
        }
        let Some(p) = m.param(&o.key.node) else {
            if m.state(&o.key.node).is_some() {
                errs.push(SemaError::WrongKind {
                    name: o.key.node.clone(),
                    span: o.key.span,
                    expected: "a parameter (only parameters can be overridden)",
                    found: "a state variable",
                });
                continue;
            }
            let suggestion =
                closest(&o.key.node, m.params.iter().map(|p| p.name.as_str())).map(str::to_string);
            errs.push(SemaError::UnknownName {
                name: o.key.node.clone(),
                span: o.key.span,
                kind: "parameter",
                suggestion,
            });
            continue;
        };
        let Some((v, d)) = const_quantity(&o.value, errs) else {
            continue;
        };
        let param = &mut params[p.index()];
        if d != param.dim {
            errs.push(SemaError::AssignDim {
                target: param.name.clone(),
                target_dim: param.dim,
                target_span: o.key.span,
                found: d,
                value_span: o.value.span,
            });
            continue;
        }
        param.default = v;
        param.span = o.value.span;
        overridden.push(param.clone());
    }
    // Defaults were checked with the model; check only what this population changes.
    check_time_constants(&overridden, errs);
    Some(Population {
        name: def.name.node.clone(),
        size: size?,
        model,
        params: params.iter().map(|p| p.default).collect(),
        span: def.span,
    })
}

fn check_size(e: &ast::Expr, errs: &mut Vec<SemaError>) -> Option<usize> {
    let (v, d) = const_quantity(e, errs)?;
    if !d.is_none() {
        errs.push(SemaError::SettingDim {
            key: "size".into(),
            span: e.span,
            expected: Dimension::NONE,
            found: d,
        });
        return None;
    }
    if v < 1.0 || v.fract() != 0.0 || v > 1e9 {
        errs.push(SemaError::OutOfRange {
            what: "the population size".into(),
            value: format!("{v}"),
            allowed: "a whole number, at least 1".into(),
            span: e.span,
        });
        return None;
    }
    Some(v as usize)
}

const INPUT_KINDS: [&str; 4] = ["yinyang", "poisson", "regular", "file"];

pub fn check_input(def: &ast::InputDef, errs: &mut Vec<SemaError>) -> Option<Input> {
    let c = choice_of("input", &def.source, &INPUT_KINDS, errs)?;
    let ctx = format!("`{}(...)`", c.name);
    let mut a = Args::from_call(c.args, &[], ctx, def.source.span, errs);
    let t = Dimension::time();
    let (size, kind) = match c.name.as_str() {
        "yinyang" => {
            let train = a.count("train", errs).unwrap_or(5000);
            let validation = a.integer("validation", 0, errs).unwrap_or(1000);
            let test = a.count("test", errs).unwrap_or(1000);
            let seed = a.integer("seed", 0, errs).unwrap_or(0) as u64;
            let t_early = a
                .ranged("t_early", t, Some(0.0), false, None, errs)
                .unwrap_or(0.0);
            let t_late = a
                .ranged("t_late", t, Some(0.0), true, None, errs)
                .unwrap_or(0.01);
            // `bias = false` switches the bias spike off; otherwise it is a time (default 0).
            let bias_off = c.args.iter().any(|arg| {
                arg.name.as_ref().is_some_and(|n| n.node == "bias")
                    && arg.value.node == crate::syntax::ast::ExprKind::Bool(false)
            });
            let bias = if bias_off {
                a.boolean("bias", errs);
                None
            } else if a.has("bias") {
                a.ranged("bias", t, Some(0.0), false, None, errs)
            } else {
                Some(0.0)
            };
            let mirror = a.boolean("mirror", errs).unwrap_or(true);
            let generator = a
                .choice("generator", &["kriener", "jaxsnn"], errs)
                .filter(|c| c.no_args(errs))
                .map_or("kriener".to_string(), |c| c.name);
            if t_late <= t_early {
                errs.push(SemaError::OutOfRange {
                    what: "`t_late`".into(),
                    value: format!("{t_late} s"),
                    allowed: format!("later than t_early ({t_early} s)"),
                    span: def.source.span,
                });
            }
            let size = if mirror { 4 } else { 2 } + usize::from(bias.is_some());
            (
                size,
                InputKind::YinYang(YinYang {
                    train,
                    validation,
                    test,
                    seed,
                    t_early,
                    t_late,
                    bias,
                    mirror,
                    generator,
                }),
            )
        }
        "poisson" => {
            let size = a.count("size", errs);
            let rate = a.ranged("rate", Dimension::frequency(), Some(0.0), false, None, errs);
            let seed = a.integer("seed", 0, errs).unwrap_or(0) as u64;
            let start = a
                .ranged("start", t, Some(0.0), false, None, errs)
                .unwrap_or(0.0);
            let stop = a.ranged("stop", t, Some(0.0), false, None, errs);
            if let Some(stop) = stop
                && stop <= start
            {
                errs.push(SemaError::OutOfRange {
                    what: "`stop`".into(),
                    value: format!("{stop} s"),
                    allowed: format!("later than start ({start} s)"),
                    span: a.span,
                });
            }
            require(&a, "size", size.is_some(), errs);
            require(&a, "rate", rate.is_some(), errs);
            (
                size?,
                InputKind::Poisson {
                    rate: rate?,
                    seed,
                    start,
                    stop,
                },
            )
        }
        "regular" => {
            let size = a.count("size", errs);
            let rate = a.ranged("rate", Dimension::frequency(), Some(0.0), true, None, errs);
            let phase = a
                .ranged("phase", t, Some(0.0), false, None, errs)
                .unwrap_or(0.0);
            require(&a, "size", size.is_some(), errs);
            require(&a, "rate", rate.is_some(), errs);
            (size?, InputKind::Regular { rate: rate?, phase })
        }
        _ => {
            let path = a
                .string_spanned("path", errs)
                .and_then(|(path, span)| check_data_extension(&path, span, errs).then_some(path));
            let size = a.count("size", errs);
            let time_unit = a
                .ranged("time_unit", t, Some(0.0), true, None, errs)
                .unwrap_or(1.0);
            require(&a, "path", path.is_some(), errs);
            require(&a, "size", size.is_some(), errs);
            (
                size?,
                InputKind::File {
                    path: path?,
                    time_unit,
                },
            )
        }
    };
    a.finish(errs);
    Some(Input {
        name: def.name.node.clone(),
        size,
        kind,
        span: def.span,
    })
}

/// The kinds of spike data file `snnc run` reads, told by the extension (reference §6.4).
const DATA_EXTENSIONS: [&str; 3] = ["npz", "npy", "csv"];

fn check_data_extension(path: &str, span: Span, errs: &mut Vec<SemaError>) -> bool {
    let ext = std::path::Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase());
    let ok = ext.as_deref().is_some_and(|e| DATA_EXTENSIONS.contains(&e));
    if !ok {
        errs.push(SemaError::SettingKind {
            key: "path".into(),
            expected: "a `.npz`, `.npy` or `.csv` file".into(),
            span,
        });
    }
    ok
}

/// Reports a missing required argument (only if it was not given at all).
fn require(a: &Args<'_>, key: &str, ok: bool, errs: &mut Vec<SemaError>) {
    if !ok && !a.has(key) && !a.bad_positional {
        errs.push(SemaError::Missing {
            what: format!("argument `{key}`"),
            span: a.span,
            help: format!("add `{key} = ...`"),
        });
    }
}

const CONNECT: [&str; 4] = ["dense", "one_to_one", "sparse", "all_to_all"];

pub fn check_projection(
    def: &ast::ProjectDef,
    prog: &PartialProgram<'_>,
    names: &Names,
    errs: &mut Vec<SemaError>,
) -> Option<Projection> {
    let pre = names.node(&def.pre.node, def.pre.span, errs);
    let post = names.population(&def.post.node, def.post.span, errs);
    let connect = match choice_of("connectivity", &def.connect, &CONNECT, errs) {
        Some(c) if c.name == "sparse" => {
            let mut a = Args::from_call(c.args, &["p"], "`sparse(...)`", c.span, errs);
            let p = a.ranged("p", Dimension::NONE, Some(0.0), false, Some(1.0), errs);
            require(&a, "p", p.is_some(), errs);
            a.finish(errs);
            Some(Connectivity::Sparse { p: p? })
        }
        Some(c) if c.name == "one_to_one" => c.no_args(errs).then_some(Connectivity::OneToOne),
        Some(c) => c.no_args(errs).then_some(Connectivity::Dense),
        None => None,
    };
    let mut a = Args::from_settings(&def.clauses, "a projection", def.span);
    let (pre, post) = (pre?, post?);
    let post_pop = prog.populations.get(post.index())?.as_ref()?;
    let model = prog.models.get(post_pop.model.index())?.as_ref()?;
    let receptor = match a.name("receptor", errs) {
        Some((name, span)) => match model.receptor(&name) {
            Some(r) => Some(r),
            None => {
                let suggestion = closest(&name, model.receptors.iter().map(|r| r.name.as_str()))
                    .map(str::to_string);
                errs.push(SemaError::UnknownName {
                    name,
                    span,
                    kind: "receptor",
                    suggestion,
                });
                None
            }
        },
        None if model.receptors.len() == 1 => Some(ReceptorId(0)),
        None if model.receptors.is_empty() => {
            errs.push(SemaError::Network {
                message: format!(
                    "neuron model `{}` has no receptor, so nothing can project onto it",
                    model.name
                ),
                span: def.post.span,
                label: "the target population".into(),
                help: Some("add a receptor to the model, e.g. `receptor syn(w) { i += w }`".into()),
            });
            None
        }
        None => {
            let names: Vec<_> = model
                .receptors
                .iter()
                .map(|r| format!("`{}`", r.name))
                .collect();
            errs.push(SemaError::Missing {
                what: "receptor".into(),
                span: def.span,
                help: format!(
                    "the model has several receptors; add `receptor NAME` with one of {}",
                    names.join(", ")
                ),
            });
            None
        }
    };
    let weight_dim = receptor.map_or(Dimension::NONE, |r| model.receptors[r.index()].weight_dim);
    let init = a
        .choice("init", &["normal", "uniform", "constant"], errs)
        .and_then(|c| {
            let (pos, ctx): (&[&'static str], _) = match c.name.as_str() {
                "normal" => (&["mean", "std"], "`normal(...)`"),
                "uniform" => (&["low", "high"], "`uniform(...)`"),
                _ => (&["value"], "`constant(...)`"),
            };
            let mut ia = Args::from_call(c.args, pos, ctx, c.span, errs);
            let vals: Vec<Option<f64>> = pos
                .iter()
                .map(|k| ia.quantity(k, weight_dim, errs))
                .collect();
            for (k, v) in pos.iter().zip(&vals) {
                require(&ia, k, v.is_some(), errs);
            }
            ia.finish(errs);
            let vals: Option<Vec<f64>> = vals.into_iter().collect();
            let v = vals?;
            match c.name.as_str() {
                "normal" if v[1] < 0.0 => {
                    errs.push(SemaError::OutOfRange {
                        what: "the standard deviation".into(),
                        value: format!("{}", v[1]),
                        allowed: "0 or more".into(),
                        span: c.span,
                    });
                    None
                }
                "normal" => Some(WeightInit::Normal {
                    mean: v[0],
                    std: v[1],
                }),
                "uniform" if v[1] < v[0] => {
                    errs.push(SemaError::OutOfRange {
                        what: "the upper bound".into(),
                        value: format!("{}", v[1]),
                        allowed: format!("at least the lower bound {}", v[0]),
                        span: c.span,
                    });
                    None
                }
                "uniform" => Some(WeightInit::Uniform {
                    low: v[0],
                    high: v[1],
                }),
                _ => Some(WeightInit::Constant(v[0])),
            }
        });
    if !a.has("init") {
        errs.push(SemaError::Missing {
            what: "weight initialisation".into(),
            span: def.span,
            help: "add `init normal(MEAN, STD)`, `init uniform(LOW, HIGH)` or `init constant(W)`"
                .into(),
        });
    }
    let delay = a
        .ranged("delay", Dimension::time(), Some(0.0), false, None, errs)
        .unwrap_or(0.0);
    let autapses = a.boolean("autapses", errs).unwrap_or(false);
    let plastic = a.boolean("plastic", errs).unwrap_or(true);
    a.finish(errs);
    let connect = connect?;
    if connect == Connectivity::OneToOne {
        let (n_pre, n_post) = (prog.node_size(pre)?, post_pop.size);
        if n_pre != n_post {
            errs.push(SemaError::Network {
                message: format!("`one_to_one` needs equal sizes, but `{}` has {n_pre} neurons and `{}` has {n_post}", def.pre.node, def.post.node),
                span: def.connect.span,
                label: "sizes differ".into(),
                help: Some("use `dense` or `sparse(p)`, or make the populations the same size".into()),
            });
        }
    }
    Some(Projection {
        pre,
        post,
        connect,
        autapses,
        receptor: receptor?,
        init: init?,
        weight_dim,
        delay,
        plastic,
        span: def.span,
    })
}

/// What is known about the network while projections and sections are checked.
pub struct PartialProgram<'a> {
    pub models: &'a [Option<NeuronModel>],
    pub populations: &'a [Option<Population>],
    pub inputs: &'a [Option<Input>],
}

impl PartialProgram<'_> {
    pub fn node_size(&self, node: Node) -> Option<usize> {
        match node {
            Node::Pop(p) => self.populations[p.index()].as_ref().map(|p| p.size),
            Node::Input(i) => self.inputs[i.index()].as_ref().map(|i| i.size),
        }
    }
}
