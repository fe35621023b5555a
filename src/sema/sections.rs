//! Checking the experiment sections: `simulation`, `train`, `record` and `hardware`.
//!
//! Reads each section through [`Args`] into typed settings, fills documented defaults, and checks
//! the rules that span sections (the gradient method must fit the simulation mode, the loss must
//! name a population, the data must be an input).

use super::args::{Args, Choice};
use super::error::SemaError;
use super::hir::*;
use super::network::{Names, PartialProgram};
use super::units::Dimension;
use crate::source::Span;
use crate::syntax::ast;

pub fn check_simulation(
    sec: Option<&ast::SectionDef>,
    module_span: Span,
    errs: &mut Vec<SemaError>,
) -> (Option<Simulation>, Option<Span>) {
    let empty = [];
    let (entries, span) = sec.map_or((&empty[..], module_span), |s| (&s.entries[..], s.span));
    let mut a = Args::from_settings(entries, "the simulation section", span);
    let t = Dimension::time();
    let mode_span = entries
        .iter()
        .find(|s| s.key.node == "mode")
        .map(|s| s.value.span);
    let mode = a
        .choice("mode", &["event", "discrete"], errs)
        .filter(|c| c.no_args(errs));
    let t_max = a.ranged("t_max", t, Some(0.0), true, None, errs);
    let max_spikes = a.count("max_spikes", errs);
    let dt = a.ranged("dt", t, Some(0.0), true, None, errs);
    let scheme = a
        .choice("scheme", &["exact", "euler", "rk4"], errs)
        .filter(|c| c.no_args(errs));
    let tolerance = a
        .ranged(
            "tolerance",
            Dimension::NONE,
            Some(0.0),
            true,
            Some(1e-2),
            errs,
        )
        .unwrap_or(1e-10);
    let driver = a
        .choice("driver", &["auto", "queue"], errs)
        .filter(|c| c.no_args(errs));
    let discrete = mode.as_ref().is_some_and(|m| m.name == "discrete");
    let only = if discrete { "event" } else { "discrete" };
    let wrong_mode: &[(&str, bool)] = if discrete {
        &[
            ("max_spikes", max_spikes.is_some()),
            ("driver", driver.is_some()),
        ]
    } else {
        &[("dt", dt.is_some()), ("scheme", scheme.is_some())]
    };
    {
        for &(key, given) in wrong_mode {
            if given {
                let span = entries
                    .iter()
                    .find(|s| s.key.node == key)
                    .map_or(span, |s| s.key.span);
                let other = if discrete { "discrete" } else { "event" };
                errs.push(SemaError::Network {
                    message: format!("`{key}` only applies to `mode {only}`"),
                    span,
                    label: format!("has no effect in {other} mode"),
                    help: Some(format!("remove it, or use `mode {only}`")),
                });
            }
        }
    }
    let mode = if discrete {
        let scheme = match scheme.map(|c| c.name) {
            Some(s) if s == "euler" => Scheme::Euler,
            Some(s) if s == "rk4" => Scheme::Rk4,
            _ => Scheme::Exact,
        };
        if dt.is_none() && !a.has("dt") {
            errs.push(SemaError::Missing {
                what: "time step `dt`".into(),
                span,
                help: "add `dt 0.5 ms` to the simulation section".into(),
            });
        }
        Mode::Discrete {
            dt: dt.unwrap_or(f64::NAN),
            scheme,
        }
    } else {
        Mode::Event {
            max_spikes_per_neuron: max_spikes,
        }
    };
    if t_max.is_none() && !a.has("t_max") {
        let (span, help) = match sec {
            Some(s) => (
                s.kind.span,
                "add `t_max 20 ms` (for example) to this section",
            ),
            None => (
                span,
                "add `simulation { t_max 20 ms }` (for example) to the file",
            ),
        };
        errs.push(SemaError::Missing {
            what: "simulated time `t_max`".into(),
            span,
            help: help.into(),
        });
    }
    a.finish(errs);
    let sim = t_max.map(|t_max| Simulation {
        mode,
        t_max,
        tolerance,
        driver: match driver.map(|c| c.name) {
            Some(d) if d == "queue" => Driver::Queue,
            _ => Driver::Auto,
        },
        span,
    });
    (sim, mode_span)
}

pub fn check_train(
    sec: &ast::SectionDef,
    prog: &PartialProgram<'_>,
    names: &Names,
    sim: Option<&Simulation>,
    mode_span: Option<Span>,
    errs: &mut Vec<SemaError>,
) -> Option<Training> {
    let mut a = Args::from_settings(&sec.entries, "the train section", sec.span);
    let output = a
        .name("output", errs)
        .and_then(|(n, s)| names.population(&n, s, errs));
    if !a.has("output") {
        errs.push(SemaError::Missing {
            what: "output population".into(),
            span: sec.span,
            help: "add `output NAME` naming the population whose spikes are read out".into(),
        });
    }
    let data = match a.name("data", errs) {
        Some((n, s)) => match names.node(&n, s, errs)? {
            Node::Input(i) => Some(i),
            Node::Pop(_) => {
                errs.push(SemaError::WrongKind {
                    name: n,
                    span: s,
                    expected: "an input",
                    found: "a population",
                });
                None
            }
        },
        None => {
            let yy: Vec<usize> = prog
                .inputs
                .iter()
                .enumerate()
                .filter(|(_, i)| {
                    matches!(
                        i,
                        Some(Input {
                            kind: InputKind::YinYang(_),
                            ..
                        })
                    )
                })
                .map(|(k, _)| k)
                .collect();
            if yy.len() == 1 {
                Some(InputId(yy[0] as u32))
            } else {
                errs.push(SemaError::Missing {
                    what: "training data".into(),
                    span: sec.span,
                    help: "add `data NAME` naming a dataset input".into(),
                });
                None
            }
        }
    };
    let loss_span = sec
        .entries
        .iter()
        .find(|s| s.key.node == "loss")
        .map_or(sec.span, |s| s.value.span);
    let loss = a
        .choice(
            "loss",
            &[
                "first_spike_ce",
                "target_mse",
                "max_membrane_ce",
                "spike_count_ce",
            ],
            errs,
        )
        .and_then(|c| loss(&c, errs));
    if !a.has("loss") {
        errs.push(SemaError::Missing {
            what: "loss".into(),
            span: sec.span,
            help: "add e.g. `loss first_spike_ce(tau = 0.5 ms)`".into(),
        });
    }
    let grad_span = sec
        .entries
        .iter()
        .find(|s| s.key.node == "gradient")
        .map_or(sec.span, |s| s.value.span);
    let gradient = a
        .choice("gradient", &["eventprop", "analytic", "surrogate"], errs)
        .and_then(|c| gradient(&c, errs));
    let optimizer = match a.choice("optimizer", &["adam", "sgd"], errs) {
        Some(c) => optimizer(&c, errs),
        None if !a.has("optimizer") => Some((
            Optimizer::Adam {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            None,
        )),
        None => None,
    };
    let lr_decay = a.ranged(
        "lr_decay",
        Dimension::NONE,
        Some(0.0),
        true,
        Some(1.0),
        errs,
    );
    let clip = a.ranged("clip", Dimension::NONE, Some(0.0), true, None, errs);
    let epochs = a.count("epochs", errs).unwrap_or(1);
    let batch = a.count("batch", errs).unwrap_or(64);
    let seed = a.integer("seed", 0, errs).unwrap_or(0) as u64;
    let weight_bump = a.ranged("weight_bump", Dimension::NONE, Some(0.0), true, None, errs);
    let fast_path = a.boolean("fast_path", errs).unwrap_or(true);
    let rate_reg_span = sec
        .entries
        .iter()
        .find(|s| s.key.node == "rate_reg")
        .map(|s| s.value.span);
    let rate_reg = a.list("rate_reg", errs).and_then(|items| {
        let vals: Vec<f64> = items
            .iter()
            .filter_map(|e| match super::args::const_quantity(e, errs) {
                Some((v, d)) if d.is_none() && v >= 0.0 => Some(v),
                Some(_) => {
                    errs.push(SemaError::SettingKind {
                        key: "rate_reg".into(),
                        expected: "dimensionless numbers, 0 or more".into(),
                        span: e.span,
                    });
                    None
                }
                None => None,
            })
            .collect();
        if vals.len() == 2 {
            Some((vals[0], vals[1]))
        } else {
            if vals.len() == items.len() {
                errs.push(SemaError::SettingKind {
                    key: "rate_reg".into(),
                    expected: "`[strength, target spikes per neuron]`".into(),
                    span: rate_reg_span.unwrap_or(sec.span),
                });
            }
            None
        }
    });
    a.finish(errs);
    if !a_has_gradient(sec) {
        errs.push(SemaError::Missing { what: "gradient method".into(), span: sec.span, help: "add `gradient eventprop`, `gradient analytic` or `gradient surrogate(superspike, beta = 80)`".into() });
    }
    let (gradient, loss, output, data) = (gradient?, loss?, output?, data?);
    if let Some(sim) = sim {
        let (needs, ok) = match (&gradient, &sim.mode) {
            (Gradient::Surrogate(_), Mode::Discrete { .. })
            | (Gradient::EventProp | Gradient::Analytic, Mode::Event { .. }) => ("", true),
            (Gradient::Surrogate(_), _) => ("discrete", false),
            _ => ("event", false),
        };
        if !ok {
            let name = match gradient {
                Gradient::EventProp => "eventprop",
                Gradient::Analytic => "analytic",
                Gradient::Surrogate(_) => "surrogate",
            };
            let mode = if needs == "event" {
                "discrete"
            } else {
                "event"
            };
            errs.push(SemaError::GradientMode {
                gradient: name.into(),
                span: grad_span,
                mode: mode.into(),
                mode_span,
                needs,
            });
            return None;
        }
        let discrete_loss = matches!(loss, Loss::MaxMembraneCe | Loss::SpikeCountCe);
        if discrete_loss != matches!(sim.mode, Mode::Discrete { .. }) {
            errs.push(SemaError::Network {
                message: "this loss does not fit the simulation mode".into(),
                span: loss_span,
                label: if discrete_loss { "needs `mode discrete`".into() } else { "needs `mode event`".into() },
                help: Some("event mode uses `first_spike_ce` or `target_mse`; discrete mode uses `max_membrane_ce` or `spike_count_ce`".into()),
            });
        }
    }
    if !matches!(
        prog.inputs.get(data.index()),
        Some(Some(Input {
            kind: InputKind::YinYang(_) | InputKind::File { .. },
            ..
        }))
    ) {
        errs.push(SemaError::Network {
            message: "training data must be a dataset input (`yinyang` or `file`)".into(),
            span: sec.span,
            label: "in this section".into(),
            help: None,
        });
    }
    let (optimizer, decay) = optimizer?;
    Some(Training {
        output,
        data,
        loss,
        gradient,
        optimizer,
        lr_decay: lr_decay.or(decay).unwrap_or(1.0),
        clip,
        epochs,
        batch,
        seed,
        weight_bump,
        rate_reg,
        fast_path,
        span: sec.span,
    })
}

fn a_has_gradient(sec: &ast::SectionDef) -> bool {
    sec.entries.iter().any(|s| s.key.node == "gradient")
}

fn loss(c: &Choice<'_>, errs: &mut Vec<SemaError>) -> Option<Loss> {
    let t = Dimension::time();
    let mut a = Args::from_call(c.args, &[], format!("`{}(...)`", c.name), c.span, errs);
    let loss = match c.name.as_str() {
        "first_spike_ce" => Loss::FirstSpikeCe {
            tau: a
                .ranged("tau", t, Some(0.0), true, None, errs)
                .unwrap_or(5e-4),
            alpha: a
                .ranged("alpha", Dimension::NONE, Some(0.0), false, None, errs)
                .unwrap_or(0.0),
            beta: a
                .ranged("beta", Dimension::NONE, Some(0.0), true, None, errs)
                .unwrap_or(1.0),
            tau_reg: a
                .ranged("tau_reg", t, Some(0.0), true, None, errs)
                .unwrap_or(5e-3),
        },
        "target_mse" => {
            let correct = a.ranged("correct", t, Some(0.0), false, None, errs);
            let wrong = a.ranged("wrong", t, Some(0.0), false, None, errs);
            let tau = a.ranged("tau", t, Some(0.0), true, None, errs);
            for (k, v) in [("correct", correct), ("wrong", wrong), ("tau", tau)] {
                if v.is_none() && !a.has(k) {
                    errs.push(SemaError::Missing {
                        what: format!("argument `{k}`"),
                        span: c.span,
                        help: format!("add `{k} = ...`"),
                    });
                }
            }
            Loss::TargetMse {
                correct: correct?,
                wrong: wrong?,
                tau: tau?,
            }
        }
        "max_membrane_ce" => Loss::MaxMembraneCe,
        _ => Loss::SpikeCountCe,
    };
    a.finish(errs);
    Some(loss)
}

fn gradient(c: &Choice<'_>, errs: &mut Vec<SemaError>) -> Option<Gradient> {
    let mut a = Args::from_call(
        c.args,
        &["function"],
        format!("`{}(...)`", c.name),
        c.span,
        errs,
    );
    let g = match c.name.as_str() {
        "eventprop" => Gradient::EventProp,
        "analytic" => Gradient::Analytic,
        _ => {
            let f = a
                .choice("function", &["superspike", "sigmoid"], errs)
                .filter(|c| c.no_args(errs))
                .map_or("superspike".to_string(), |c| c.name);
            let beta = a
                .ranged("beta", Dimension::NONE, Some(0.0), true, None, errs)
                .unwrap_or(80.0);
            Gradient::Surrogate(if f == "sigmoid" {
                Surrogate::Sigmoid { beta }
            } else {
                Surrogate::SuperSpike { beta }
            })
        }
    };
    a.finish(errs);
    Some(g)
}

fn optimizer(c: &Choice<'_>, errs: &mut Vec<SemaError>) -> Option<(Optimizer, Option<f64>)> {
    let n = Dimension::NONE;
    let mut a = Args::from_call(c.args, &["lr"], format!("`{}(...)`", c.name), c.span, errs);
    let lr = a
        .ranged("lr", n, Some(0.0), true, None, errs)
        .unwrap_or(1e-3);
    let decay = a.ranged("decay", n, Some(0.0), true, Some(1.0), errs);
    let opt = if c.name == "adam" {
        Optimizer::Adam {
            lr,
            beta1: a
                .ranged("beta1", n, Some(0.0), false, Some(1.0), errs)
                .unwrap_or(0.9),
            beta2: a
                .ranged("beta2", n, Some(0.0), false, Some(1.0), errs)
                .unwrap_or(0.999),
            eps: a
                .ranged("eps", n, Some(0.0), true, None, errs)
                .unwrap_or(1e-8),
        }
    } else {
        Optimizer::Sgd {
            lr,
            momentum: a
                .ranged("momentum", n, Some(0.0), false, Some(1.0), errs)
                .unwrap_or(0.0),
        }
    };
    a.finish(errs);
    Some((opt, decay))
}

pub fn check_record(
    sec: Option<&ast::SectionDef>,
    simulation: Option<&Simulation>,
    prog: &PartialProgram<'_>,
    names: &Names,
    errs: &mut Vec<SemaError>,
) -> Record {
    let Some(sec) = sec else {
        return Record::default();
    };
    let mut a = Args::from_settings(&sec.entries, "the record section", sec.span);
    let mut rec = Record::default();
    for e in a.list("spikes", errs).unwrap_or_default() {
        match &e.node {
            ast::ExprKind::Name(n) => rec.spikes.extend(names.node(n, e.span, errs)),
            _ => errs.push(SemaError::SettingKind {
                key: "spikes".into(),
                expected: "population or input names".into(),
                span: e.span,
            }),
        }
    }
    for e in a.list("traces", errs).unwrap_or_default() {
        let ast::ExprKind::Field(pop, state) = &e.node else {
            errs.push(SemaError::SettingKind {
                key: "traces".into(),
                expected: "`population.state` entries".into(),
                span: e.span,
            });
            continue;
        };
        let ast::ExprKind::Name(pn) = &pop.node else {
            errs.push(SemaError::SettingKind {
                key: "traces".into(),
                expected: "`population.state` entries".into(),
                span: e.span,
            });
            continue;
        };
        let Some(p) = names.population(pn, pop.span, errs) else {
            continue;
        };
        let Some(model) = prog.populations[p.index()]
            .as_ref()
            .and_then(|p| prog.models[p.model.index()].as_ref())
        else {
            continue;
        };
        match model.state(&state.node) {
            Some(s) => rec.traces.push((p, s)),
            None => {
                let suggestion =
                    crate::diag::closest(&state.node, model.states.iter().map(|s| s.name.as_str()))
                        .map(str::to_string);
                errs.push(SemaError::UnknownName {
                    name: state.node.clone(),
                    span: state.span,
                    kind: "state variable",
                    suggestion,
                });
            }
        }
    }
    rec.dt = a.ranged("dt", Dimension::time(), Some(0.0), true, None, errs);
    let discrete = simulation.is_some_and(|s| matches!(s.mode, Mode::Discrete { .. }));
    if discrete && let Some(e) = sec.entries.iter().find(|e| e.key.node == "dt") {
        errs.push(SemaError::Network {
            message: "`dt` of the record section only applies to `mode event`".into(),
            span: e.key.span,
            label: "discrete mode records the state after every step".into(),
            help: Some("remove it; traces use the simulation's `dt`".into()),
        });
    }
    a.finish(errs);
    rec
}

pub fn check_hardware(
    sec: &ast::SectionDef,
    projections: &[Option<Projection>],
    names: &Names,
    errs: &mut Vec<SemaError>,
) -> Option<Hardware> {
    let mut a = Args::from_settings(&sec.entries, "the hardware section", sec.span);
    let target = a
        .choice("target", &["bss2"], errs)
        .filter(|c| c.no_args(errs))
        .map(|c| c.name);
    if !a.has("target") {
        errs.push(SemaError::Missing {
            what: "hardware target".into(),
            span: sec.span,
            help: "add `target bss2`".into(),
        });
    }
    // The weight scale turns model weights into hardware units: its dimension is the inverse of
    // the weights' (dimensionless for model-unit weights, `1/nA` for weights in nA).
    let weight_dim = projections
        .iter()
        .flatten()
        .map(|p| p.weight_dim)
        .next()
        .unwrap_or(Dimension::NONE);
    let scale_dim = Dimension::NONE / weight_dim;
    let weight_scale = a.ranged("weight_scale", scale_dim, Some(0.0), true, None, errs);
    if weight_scale.is_none() && !a.has("weight_scale") && !weight_dim.is_none() {
        errs.push(SemaError::Missing {
            what: "hardware weight scale".into(),
            span: sec.span,
            help: format!(
                "the weights have a unit, so say how many hardware units one is worth, e.g. `weight_scale 50 / ({})`",
                weight_dim
            ),
        });
    }
    let speedup = a
        .ranged("speedup", Dimension::NONE, Some(0.0), true, None, errs)
        .unwrap_or(1000.0);
    let weight_clip = a
        .ranged(
            "weight_clip",
            Dimension::NONE,
            Some(63.0),
            false,
            Some(63.0 * 256.0),
            errs,
        )
        .map_or(63, |v| v.round() as u32);
    let leak_lsb = a
        .ranged("leak", Dimension::NONE, Some(0.0), false, Some(255.0), errs)
        .unwrap_or(80.0);
    let threshold_lsb = a
        .ranged(
            "threshold",
            Dimension::NONE,
            Some(0.0),
            false,
            Some(255.0),
            errs,
        )
        .unwrap_or(150.0);
    let dac = a
        .ranged(
            "synapse_dac_bias",
            Dimension::NONE,
            Some(30.0),
            false,
            Some(1022.0),
            errs,
        )
        .unwrap_or(1000.0);
    let mut place = |key: &'static str, a: &mut Args<'_>| -> Vec<PopId> {
        let mut out = Vec::new();
        for e in a.list(key, errs).unwrap_or_default() {
            match &e.node {
                ast::ExprKind::Name(n) => out.extend(names.population(n, e.span, errs)),
                _ => errs.push(SemaError::SettingKind {
                    key: key.into(),
                    expected: "population names".into(),
                    span: e.span,
                }),
            }
        }
        out
    };
    let top = place("top", &mut a);
    let bottom = place("bottom", &mut a);
    let fixed_pattern = a
        .ranged(
            "fixed_pattern",
            Dimension::NONE,
            Some(0.0),
            false,
            None,
            errs,
        )
        .unwrap_or(1.0);
    let chip_seed = a.integer("chip_seed", 0, errs).unwrap_or(0) as u64;
    let jitter = a
        .ranged("jitter", Dimension::time(), Some(0.0), false, None, errs)
        .unwrap_or(16e-9);
    let latency = a
        .ranged("latency", Dimension::time(), Some(0.0), false, None, errs)
        .unwrap_or(80e-9);
    let saturation = a
        .ranged("saturation", Dimension::NONE, Some(0.0), false, None, errs)
        .unwrap_or(1000.0);
    let serialise_inputs = a.boolean("serialise_inputs", errs).unwrap_or(true);
    if leak_lsb >= threshold_lsb {
        errs.push(SemaError::OutOfRange {
            what: "`threshold`".into(),
            value: format!("{threshold_lsb}"),
            allowed: format!("above the leak target ({leak_lsb} LSB)"),
            span: sec.span,
        });
    }
    a.finish(errs);
    Some(Hardware {
        target: target?,
        weight_scale: weight_scale.unwrap_or(58.0),
        weight_clip,
        speedup,
        leak_lsb,
        threshold_lsb,
        synapse_dac_bias: dac.round() as u32,
        top,
        bottom,
        mock: MockSettings {
            fixed_pattern,
            chip_seed,
            jitter,
            latency,
            saturation,
            serialise_inputs,
        },
        span: sec.span,
    })
}
