//! The one-screen summary that `snnc check` prints for a valid program.
//!
//! Pure formatting of a [`Program`]; no checking happens here.

use crate::sema::hir::*;
use crate::sema::units::{Dimension, format_quantity};
use std::fmt::Write;

/// Formats a time in seconds with a readable unit.
pub fn fmt_time(t: f64) -> String {
    if t == 0.0 {
        "0 ms".into()
    } else {
        format_quantity(t, Dimension::time())
    }
}

fn init_text(init: &WeightInit, dim: Dimension) -> String {
    let q = |v: f64| format_quantity(v, dim);
    match init {
        WeightInit::Constant(w) => format!("constant({})", q(*w)),
        WeightInit::Normal { mean, std } => format!("normal({}, {})", q(*mean), q(*std)),
        WeightInit::Uniform { low, high } => format!("uniform({}, {})", q(*low), q(*high)),
    }
}

/// Number of synapses (expected number for sparse connectivity).
pub fn synapse_count(p: &Program, proj: &Projection) -> f64 {
    let n_pre = p.node_size(proj.pre) as f64;
    let n_post = p.populations[proj.post.index()].size as f64;
    let pairs = if proj.is_recurrent() && !proj.autapses {
        n_pre * (n_post - 1.0)
    } else {
        n_pre * n_post
    };
    match proj.connect {
        Connectivity::Dense => pairs,
        Connectivity::OneToOne => n_post,
        Connectivity::Sparse { p } => (pairs * p).round(),
    }
}

/// The summary text. `extra` lines (e.g. the dynamics classification) go under each model.
pub fn summary(p: &Program, model_notes: &[Vec<String>]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "neuron models");
    for (i, m) in p.neurons.iter().enumerate() {
        let states: Vec<_> = m.states.iter().map(|s| s.name.as_str()).collect();
        let receptors: Vec<_> = m.receptors.iter().map(|r| r.name.as_str()).collect();
        let _ = writeln!(
            s,
            "  {:<14} {} state{} ({}), {} parameter{}, receptor{} {}{}",
            m.name,
            states.len(),
            plural(states.len()),
            states.join(", "),
            m.params.len(),
            plural(m.params.len()),
            plural(receptors.len()),
            if receptors.is_empty() {
                "none".to_string()
            } else {
                receptors.join(", ")
            },
            m.refractory
                .as_ref()
                .map_or(String::new(), |_| ", refractory".to_string()),
        );
        for note in model_notes.get(i).into_iter().flatten() {
            let _ = writeln!(s, "  {:<14} {note}", "");
        }
    }
    let _ = writeln!(s, "populations");
    for pop in &p.populations {
        let _ = writeln!(
            s,
            "  {:<14} {:>6} x {}",
            pop.name,
            pop.size,
            p.neurons[pop.model.index()].name
        );
    }
    if !p.inputs.is_empty() {
        let _ = writeln!(s, "inputs");
    }
    for input in &p.inputs {
        let what = match &input.kind {
            InputKind::YinYang(y) => format!(
                "yinyang ({} generator): train {}, validation {}, test {}, seed {}; latency {}..{}{}{}",
                y.generator,
                y.train,
                y.validation,
                y.test,
                y.seed,
                fmt_time(y.t_early),
                fmt_time(y.t_late),
                if y.mirror { ", mirrored" } else { "" },
                y.bias.map_or(String::new(), |b| format!(
                    ", bias spike at {}",
                    fmt_time(b)
                )),
            ),
            InputKind::Poisson { rate, seed, .. } => format!(
                "poisson at {}, seed {seed}",
                format_quantity(*rate, Dimension::frequency())
            ),
            InputKind::Regular { rate, phase } => format!(
                "regular at {}, phase {}",
                format_quantity(*rate, Dimension::frequency()),
                fmt_time(*phase)
            ),
            InputKind::File { path, time_unit } if *time_unit == 1.0 => {
                format!("spike data from \"{path}\" (times in s), read by `snnc run`")
            }
            InputKind::File { path, time_unit } => format!(
                "spike data from \"{path}\" (times in units of {}), read by `snnc run`",
                fmt_time(*time_unit)
            ),
        };
        let _ = writeln!(
            s,
            "  {:<14} {:>6} channels, {}",
            input.name, input.size, what
        );
    }
    let _ = writeln!(s, "projections");
    let mut total = 0.0;
    for proj in &p.projections {
        let n = synapse_count(p, proj);
        if proj.plastic {
            total += n;
        }
        let connect = match proj.connect {
            Connectivity::Dense => "dense".to_string(),
            Connectivity::OneToOne => "one_to_one".to_string(),
            Connectivity::Sparse { p } => format!("sparse(p = {p})"),
        };
        let receptor = &p.neurons[p.populations[proj.post.index()].model.index()].receptors
            [proj.receptor.index()]
        .name;
        let arrow = format!(
            "{} -> {}",
            p.node_name(proj.pre),
            p.populations[proj.post.index()].name
        );
        let _ = writeln!(
            s,
            "  {arrow:<22} {connect:<16} {:>8} weights  init {}  receptor {receptor}{}{}",
            n,
            init_text(&proj.init, proj.weight_dim),
            if proj.delay > 0.0 {
                format!("  delay {}", fmt_time(proj.delay))
            } else {
                String::new()
            },
            if proj.plastic { "" } else { "  (fixed)" },
        );
    }
    let _ = writeln!(
        s,
        "  {:<22} {:<16} {:>8} trainable weights",
        "total", "", total
    );
    let sim = &p.simulation;
    let mode = match &sim.mode {
        Mode::Event {
            max_spikes_per_neuron,
        } => format!(
            "event-based (exact), t_max {}{}",
            fmt_time(sim.t_max),
            max_spikes_per_neuron.map_or(String::new(), |m| format!(
                ", at most {m} spike{} per neuron",
                if m == 1 { "" } else { "s" }
            ))
        ),
        Mode::Discrete { dt, scheme } => format!(
            "time-discrete, dt {}, scheme {scheme:?}, t_max {}",
            fmt_time(*dt),
            fmt_time(sim.t_max)
        ),
    };
    let _ = writeln!(s, "simulation\n  {mode}");
    if let Some(t) = &p.training {
        let gradient = match &t.gradient {
            Gradient::EventProp => "eventprop".to_string(),
            Gradient::Analytic => "analytic first-spike".to_string(),
            Gradient::Surrogate(Surrogate::SuperSpike { beta }) => {
                format!("surrogate (superspike, beta {beta})")
            }
            Gradient::Surrogate(Surrogate::Sigmoid { beta }) => {
                format!("surrogate (sigmoid, beta {beta})")
            }
        };
        let loss = match &t.loss {
            Loss::FirstSpikeCe {
                tau, alpha, beta, ..
            } => format!(
                "first_spike_ce(tau {}, alpha {alpha}, beta {beta})",
                fmt_time(*tau)
            ),
            Loss::TargetMse {
                correct,
                wrong,
                tau,
            } => format!(
                "target_mse(correct {}, wrong {}, tau {})",
                fmt_time(*correct),
                fmt_time(*wrong),
                fmt_time(*tau)
            ),
            Loss::MaxMembraneCe => "max_membrane_ce".into(),
            Loss::SpikeCountCe => "spike_count_ce".into(),
        };
        let opt = match &t.optimizer {
            Optimizer::Adam { lr, .. } => format!("adam(lr {lr})"),
            Optimizer::Sgd { lr, momentum } => format!("sgd(lr {lr}, momentum {momentum})"),
        };
        let _ = writeln!(
            s,
            "training\n  gradient {gradient}; loss {loss} on `{}`; data `{}`\n  {opt}, lr decay {} per epoch{}; {} epochs, batch {}, seed {}{}{}",
            p.populations[t.output.index()].name,
            p.inputs[t.data.index()].name,
            t.lr_decay,
            t.clip.map_or(String::new(), |c| format!(", clip {c}")),
            t.epochs,
            t.batch,
            t.seed,
            t.weight_bump
                .map_or(String::new(), |b| format!(", weight bump {b}")),
            if t.fast_path { "" } else { "; fast path off" },
        );
    }
    if !p.record.spikes.is_empty() || !p.record.traces.is_empty() {
        let mut items: Vec<String> = p
            .record
            .spikes
            .iter()
            .map(|n| format!("spikes of {}", p.node_name(*n)))
            .collect();
        items.extend(p.record.traces.iter().map(|(pop, st)| {
            let pop = &p.populations[pop.index()];
            format!(
                "{}.{}",
                pop.name,
                p.neurons[pop.model.index()].states[st.index()].name
            )
        }));
        if !p.record.traces.is_empty() && matches!(p.simulation.mode, Mode::Event { .. }) {
            items.push(format!("traces every {}", fmt_time(p.record.trace_dt())));
        }
        let _ = writeln!(s, "recording\n  {}", items.join(", "));
    }
    if let Some(h) = &p.hardware {
        let _ = writeln!(
            s,
            "hardware\n  target {}, weight scale {}, speed-up {}x",
            h.target, h.weight_scale, h.speedup
        );
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
