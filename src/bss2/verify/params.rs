//! Whole-file rules that do not concern routing: the target and its limits (R1), calibration
//! (R14), the model-to-hardware mapping (R15), time and inputs (R16), recording (R17) and the
//! `resources` summary (R19).
//!
//! These read the JSON tree directly through `read::Obj`, since each is a small flat section.

use super::chip::{self, CalibRange};
use super::read::{Kind, Model, Obj, Sink, arr_of, at, float_of, int_of, join, obj};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// `target`: chip, revision, clock, and `limits` against the checker's own table (R1).
pub fn target(root: Obj, s: &mut Sink) {
    let Some(v) = root.req("target", s) else {
        return;
    };
    let path = join(root.path, "target");
    let Some(t) = obj(v, &path, s) else { return };
    if let Some(chip_name) = t.str("chip", s)
        && chip_name != "HICANN-X"
    {
        s.err(
            "R1",
            t.path_of("chip"),
            format!("chip `{chip_name}` is not HICANN-X"),
        );
    }
    if let Some(rev) = t.int("revision", s)
        && rev != 3
    {
        s.err(
            "R1",
            t.path_of("revision"),
            format!("revision {rev} is not 3"),
        );
    }
    if let Some(hz) = t.int("fpga_clock_hz", s)
        && hz != chip::FPGA_CLOCK_HZ
    {
        s.err(
            "R1",
            t.path_of("fpga_clock_hz"),
            format!("{hz} Hz is not the FPGA clock ({} Hz)", chip::FPGA_CLOCK_HZ),
        );
    }
    if let Some(speedup) = t.float("speedup", s)
        && speedup <= 0.0
    {
        s.err(
            "R1",
            t.path_of("speedup"),
            format!("speedup {speedup} is not positive"),
        );
    }
    let lpath = t.path_of("limits");
    let Some(l) = t.req("limits", s).and_then(|v| obj(v, &lpath, s)) else {
        return;
    };
    for (key, want) in chip::LIMITS {
        if let Some(got) = l.int(key, s)
            && got != want
        {
            s.err(
                "R1",
                l.path_of(key),
                format!("{key} {got} differs from the chip's {want}"),
            );
        }
    }
    for key in l.map.keys() {
        if !chip::LIMITS.iter().any(|(k, _)| k == key) {
            s.err("R0", l.path_of(key), format!("unknown limit `{key}`"));
        }
    }
}

fn check_range(s: &mut Sink, path: &str, r: &CalibRange, x: f64) {
    if x < r.hard.0 || x > r.hard.1 {
        s.err(
            "R14",
            path,
            format!(
                "{} {x} {} is outside the calibratable range {}..={}",
                r.key, r.unit, r.hard.0, r.hard.1
            ),
        );
    } else if x < r.feasible.0 || x > r.feasible.1 {
        s.warn("R14", path, format!("{} {x} {} is outside calix's feasible range {}..={}; the calibration will be imperfect", r.key, r.unit, r.feasible.0, r.feasible.1));
    }
}

/// The integer CADC LSB targets of one population, for R15.
pub struct Targets {
    pub leak: f64,
    pub reset: f64,
    pub threshold: f64,
}

/// R14 on `calibration` (every target in range, every lif population and every neuron's
/// `calib` key has a target), and the mapping read for R8 and R15.
pub fn calibration<'a>(
    root: Obj<'a>,
    m: &Model,
    s: &mut Sink,
) -> (HashMap<String, Targets>, Option<Obj<'a>>) {
    let mut targets = HashMap::new();
    let Some(v) = root.map.get("calibration") else {
        s.err("R0", root.path, "missing field `calibration`");
        return (targets, None);
    };
    let Some(c) = obj(v, "calibration", s) else {
        return (targets, None);
    };
    if let Some(tool) = c.str("tool", s)
        && tool != "calix-compatible"
    {
        s.err(
            "R14",
            c.path_of("tool"),
            format!("tool `{tool}` is not calix-compatible"),
        );
    }
    if let Some(cadc) = c.req("cadc", s).and_then(|v| obj(v, "calibration.cadc", s)) {
        for (key, want) in [
            ("dynamic_range", chip::CADC_DYNAMIC_RANGE),
            ("read_range", chip::CADC_READ_RANGE),
        ] {
            if let Some(got) = cadc.pair(key, s)
                && [got.0, got.1] != want
            {
                s.err(
                    "R14",
                    cadc.path_of(key),
                    format!(
                        "{key} [{}, {}] is not the CADC calibration's {want:?}",
                        got.0, got.1
                    ),
                );
            }
        }
    }
    if let Some(g) = c
        .req("global", s)
        .and_then(|v| obj(v, "calibration.global", s))
        && let Some(bias) = g.float("synapse_dac_bias", s)
    {
        check_range(
            s,
            &g.path_of("synapse_dac_bias"),
            &chip::SYNAPSE_DAC_BIAS,
            bias,
        );
    }
    if let Some(t) = c
        .req("targets", s)
        .and_then(|v| obj(v, "calibration.targets", s))
    {
        for (name, v) in t.map {
            let path = t.path_of(name);
            let Some(o) = obj(v, &path, s) else { continue };
            for r in &chip::CALIB_RANGES {
                let key_path = o.path_of(r.key);
                if r.key == "tau_syn_s" {
                    let Some(list) = o.arr(r.key, s) else {
                        continue;
                    };
                    if list.len() != 2 {
                        s.err("R0", &key_path, "expected [excitatory, inhibitory]");
                    }
                    for (i, x) in list.iter().enumerate() {
                        if let Some(x) = float_of(x, &at(&key_path, i), s) {
                            check_range(s, &at(&key_path, i), r, x);
                        }
                    }
                } else if matches!(
                    r.key,
                    "leak" | "reset" | "threshold" | "membrane_capacitance" | "i_synin_gm"
                ) {
                    if let Some(x) = o.int(r.key, s) {
                        check_range(s, &key_path, r, x as f64);
                    }
                } else if let Some(x) = o.float(r.key, s) {
                    check_range(s, &key_path, r, x);
                }
            }
            if let (Some(leak), Some(reset), Some(threshold)) = (
                o.map.get("leak").and_then(Value::as_i64),
                o.map.get("reset").and_then(Value::as_i64),
                o.map.get("threshold").and_then(Value::as_i64),
            ) {
                let t = Targets {
                    leak: leak as f64,
                    reset: reset as f64,
                    threshold: threshold as f64,
                };
                targets.insert(name.clone(), t);
            }
        }
        for p in m.populations.iter().filter(|p| p.kind == Kind::Lif) {
            if !t.map.contains_key(&p.id) {
                s.err(
                    "R14",
                    "calibration.targets",
                    format!("no calibration target for lif population `{}`", p.id),
                );
            }
            for n in &p.neurons {
                if let Some(oc) = &n.on_chip
                    && !t.map.contains_key(&oc.calib)
                {
                    s.err(
                        "R14",
                        &n.path,
                        format!("calib `{}` is not a key of calibration.targets", oc.calib),
                    );
                }
            }
        }
    }
    let mapping = c.map.get("mapping").and_then(|v| match v {
        Value::Object(map) => Some(Obj {
            map,
            path: "calibration.mapping",
        }),
        _ => None,
    });
    (targets, mapping)
}

/// Per mapping entry and chip input (0 excitatory, 1 inhibitory): `(lsb_per_model_unit *
/// input_gain, weight_lsb_per_hw_weight)`, for R8.
pub fn weight_units(mapping: Option<Obj>) -> HashMap<String, [(f64, f64); 2]> {
    let mut out = HashMap::new();
    let pair = |v: Option<&Value>| -> Option<[f64; 2]> {
        match v?.as_array()?.as_slice() {
            [a, b] => Some([a.as_f64()?, b.as_f64()?]),
            _ => None,
        }
    };
    for (name, v) in mapping.map(|m| m.map.iter()).into_iter().flatten() {
        let (Some(lsb), Some(g), Some(w)) = (
            v.get("lsb_per_model_unit").and_then(Value::as_f64),
            pair(v.get("input_gain")),
            pair(v.get("weight_lsb_per_hw_weight")),
        ) else {
            continue;
        };
        out.insert(name.clone(), [(lsb * g[0], w[0]), (lsb * g[1], w[1])]);
    }
    out
}

/// R15: the mapping is recorded for every lif population, consistent with the targets, and
/// threshold lies above leak and reset (unless leak-over-threshold).
pub fn r15_mapping(
    mapping: Option<Obj>,
    m: &Model,
    targets: &HashMap<String, Targets>,
    s: &mut Sink,
) {
    let Some(map) = mapping else {
        if m.populations.iter().any(|p| p.kind == Kind::Lif) {
            s.err(
                "R15",
                "calibration",
                "missing the model-to-hardware `mapping`",
            );
        }
        return;
    };
    for p in m.populations.iter().filter(|p| p.kind == Kind::Lif) {
        let path = map.path_of(&p.id);
        let Some(o) = map.map.get(&p.id).and_then(|v| obj(v, &path, s)) else {
            s.err(
                "R15",
                map.path,
                format!("no mapping for lif population `{}`", p.id),
            );
            continue;
        };
        let _ = o.str("model", s);
        let fields = ["v_leak", "v_threshold", "v_reset", "lsb_per_model_unit"];
        let vals: Vec<Option<f64>> = fields.iter().map(|k| o.float(k, s)).collect();
        for key in ["input_gain", "weight_lsb_per_hw_weight"] {
            let ok = o.map.get(key).and_then(Value::as_array).is_some_and(|a| {
                a.len() == 2
                    && a.iter()
                        .all(|x| x.as_f64().is_some_and(|x| x.is_finite() && x > 0.0))
            });
            if !ok {
                s.err(
                    "R0",
                    o.path_of(key),
                    "expected a list of two positive numbers [excitatory, inhibitory]",
                );
            }
        }
        let Some(lot) = o.bool("leak_over_threshold", s) else {
            continue;
        };
        let Some(t) = targets.get(&p.id) else {
            continue;
        };
        if !lot {
            if t.threshold <= t.leak {
                s.err(
                    "R15",
                    &path,
                    format!("threshold {} is not above leak {}", t.threshold, t.leak),
                );
            }
            if t.threshold <= t.reset {
                s.err(
                    "R15",
                    &path,
                    format!("threshold {} is not above reset {}", t.threshold, t.reset),
                );
            }
        }
        let [Some(v_leak), Some(v_thr), Some(v_reset), Some(lsb), _] = vals[..] else {
            continue;
        };
        let want = (t.threshold - t.leak) / (v_thr - v_leak);
        if !want.is_finite() || (lsb - want).abs() > 1e-3 * want.abs().max(1e-12) {
            s.err(
                "R15",
                o.path_of("lsb_per_model_unit"),
                format!("{lsb} should be (threshold - leak) / (v_threshold - v_leak) = {want:.6}"),
            );
        } else if (t.reset - (t.leak + (v_reset - v_leak) * lsb)).abs() > 0.5 + 1e-6 {
            s.err("R15", &path, format!("reset {} is not leak + (v_reset - v_leak) * lsb_per_model_unit = {:.3}, rounded", t.reset, t.leak + (v_reset - v_leak) * lsb));
        }
    }
}

/// R16: integer times within the timer; optional `inputs` sorted, inside the run and still
/// inside it after grenade-like serialisation (events at least one cycle apart).
pub fn r16_time(root: Obj, m: &Model, warn_shift: i64, s: &mut Sink) {
    let Some(t) = root.req("time", s).and_then(|v| obj(v, "time", s)) else {
        return;
    };
    let runtime = t.int("runtime_cycles", s);
    if let Some(r) = runtime
        && !(1..=chip::TIMER_MAX).contains(&r)
    {
        s.err(
            "R16",
            "time.runtime_cycles",
            format!(
                "runtime {r} cycles is outside 1..={} (32-bit timer)",
                chip::TIMER_MAX
            ),
        );
    }
    if let Some(w) = t.int("inter_batch_entry_wait_cycles", s)
        && !(0..=chip::TIMER_MAX).contains(&w)
    {
        s.err(
            "R16",
            "time.inter_batch_entry_wait_cycles",
            format!("{w} cycles is outside 0..={}", chip::TIMER_MAX),
        );
    }
    let batch = t.int("batch_size", s);
    if let Some(b) = batch
        && b < 1
    {
        s.err(
            "R16",
            "time.batch_size",
            format!("batch_size {b} is not positive"),
        );
    }
    let _ = t.float("bio_ms_per_hw_us", s);
    let Some(inputs) = root.map.get("inputs") else {
        return;
    };
    let Some(inputs) = obj(inputs, "inputs", s) else {
        return;
    };
    let runtime = runtime.unwrap_or(chip::TIMER_MAX);
    for (pop, v) in inputs.map {
        let path = inputs.path_of(pop);
        match m.population(pop) {
            Some(p) if p.kind == Kind::External => {}
            _ => {
                s.err(
                    "R16",
                    &path,
                    format!("`{pop}` is not an external population"),
                );
                continue;
            }
        }
        let Some(entries) = arr_of(v, &path, s) else {
            continue;
        };
        if let Some(b) = batch
            && entries.len() as i64 > b
        {
            s.err(
                "R16",
                &path,
                format!("{} batch entries, batch_size is {b}", entries.len()),
            );
        }
        let size = m.population(pop).map_or(0, |p| p.size);
        for (bi, entry) in entries.iter().enumerate() {
            let bpath = at(&path, bi);
            let Some(neurons) = arr_of(entry, &bpath, s) else {
                continue;
            };
            if neurons.len() as i64 != size {
                s.err(
                    "R16",
                    &bpath,
                    format!(
                        "{} spike trains for {size} neurons of `{pop}`",
                        neurons.len()
                    ),
                );
            }
            let mut all = Vec::new();
            for (ni, times) in neurons.iter().enumerate() {
                let npath = at(&bpath, ni);
                let Some(times) = arr_of(times, &npath, s) else {
                    continue;
                };
                let mut last = -1;
                for (k, x) in times.iter().enumerate() {
                    let Some(x) = int_of(x, &at(&npath, k), s) else {
                        continue;
                    };
                    if x < 0 || x >= runtime {
                        s.err(
                            "R16",
                            at(&npath, k),
                            format!("spike time {x} is outside 0..{runtime}"),
                        );
                    } else if x < last {
                        s.err(
                            "R16",
                            at(&npath, k),
                            format!("spike time {x} comes after {last}: times must be sorted"),
                        );
                    }
                    last = last.max(x);
                    all.push(x);
                }
            }
            serialise(&mut all, runtime, warn_shift, &bpath, s);
        }
    }
}

/// Spreads simultaneous events one cycle apart (order kept), as grenade's playback does.
fn serialise(times: &mut [i64], runtime: i64, warn_shift: i64, path: &str, s: &mut Sink) {
    times.sort_unstable();
    let mut next = i64::MIN;
    let mut worst = 0;
    for &t in times.iter() {
        let at_ = t.max(next);
        worst = worst.max(at_ - t);
        next = at_.saturating_add(1);
        if at_ >= runtime && t < runtime {
            s.err("R16", path, format!("serialised one cycle apart, the spike at {t} is pushed to {at_}, past the runtime {runtime}"));
            return;
        }
    }
    if worst > warn_shift {
        s.warn(
            "R16",
            path,
            format!("serialisation moves a spike by {worst} cycles (more than {warn_shift})"),
        );
    }
}

/// R17: recording limits and background sources; `record_spikes` agrees with
/// `recording.spikes`. Returns the recorded population ids (for R13).
pub fn r17_recording(root: Obj, m: &Model, s: &mut Sink) -> BTreeSet<String> {
    let mut recorded = BTreeSet::new();
    if let Some(b) = root.arr("background_sources", s)
        && !b.is_empty()
    {
        let over = if b.len() as i64 > chip::BACKGROUND_SOURCES {
            " (the chip has 8)"
        } else {
            ""
        };
        s.err(
            "R17",
            "background_sources",
            format!("{} background sources{over}; v1 has none", b.len()),
        );
    }
    let Some(r) = root
        .req("recording", s)
        .and_then(|v| obj(v, "recording", s))
    else {
        return recorded;
    };
    if let Some(list) = r.arr("spikes", s) {
        for (i, v) in list.iter().enumerate() {
            match v.as_str() {
                Some(id) if m.population(id).is_some() => {
                    recorded.insert(id.to_string());
                }
                _ => s.err(
                    "R17",
                    at("recording.spikes", i),
                    format!("{v} is not a population"),
                ),
            }
        }
    }
    for p in m.populations.iter().filter(|p| p.kind == Kind::Lif) {
        for n in &p.neurons {
            if n.record_spikes != recorded.contains(&p.id) {
                s.err(
                    "R17",
                    &n.path,
                    format!(
                        "record_spikes is {} but recording.spikes {} `{}`",
                        n.record_spikes,
                        if recorded.contains(&p.id) {
                            "lists"
                        } else {
                            "does not list"
                        },
                        p.id
                    ),
                );
            }
        }
    }
    let lif = |id: Option<&str>| {
        id.and_then(|id| m.population(id))
            .filter(|p| p.kind == Kind::Lif)
    };
    if let Some(list) = r.arr("cadc", s) {
        for (i, v) in list.iter().enumerate() {
            let path = at("recording.cadc", i);
            let Some(o) = obj(v, &path, s) else { continue };
            if lif(o.str("population", s)).is_none() {
                s.err("R17", &path, "population is not a lif population");
            }
            if let Some(period) = o.int("period_cycles", s)
                && period < chip::CADC_PERIOD_MIN_CYCLES
            {
                s.err(
                    "R17",
                    o.path_of("period_cycles"),
                    format!(
                        "CADC period {period} cycles is below {} (about 1.7 µs)",
                        chip::CADC_PERIOD_MIN_CYCLES
                    ),
                );
            }
        }
    }
    let madc: Vec<&Value> = match r.req("madc", s) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().collect(),
        Some(v) => vec![v],
    };
    if madc.len() > 1 {
        s.err(
            "R17",
            "recording.madc",
            format!("{} MADC-recorded neurons; at most one", madc.len()),
        );
    }
    for v in madc {
        let Some(o) = obj(v, "recording.madc", s) else {
            continue;
        };
        let p = lif(o.str("population", s));
        let neuron = o.int("neuron", s);
        let _ = o.str("source", s);
        match (p, neuron) {
            (None, _) => s.err(
                "R17",
                "recording.madc",
                "population is not a lif population",
            ),
            (Some(p), Some(n)) if !(0..p.size).contains(&n) => s.err(
                "R17",
                "recording.madc.neuron",
                format!("neuron {n} is not in `{}`", p.id),
            ),
            _ => {}
        }
    }
    recorded
}

/// R19: `resources` equals the summary recomputed from the configuration.
pub fn r19_resources(root: Obj, recomputed: &Value, s: &mut Sink) {
    let Some(v) = root.req("resources", s) else {
        return;
    };
    let Some(r) = obj(v, "resources", s) else {
        return;
    };
    let Value::Object(want) = recomputed else {
        return;
    };
    for (key, w) in want {
        match r.map.get(key) {
            None => s.err(
                "R19",
                "resources",
                format!("missing `{key}` (recomputed: {w})"),
            ),
            Some(got) if got != w => s.err(
                "R19",
                r.path_of(key),
                format!("{got} differs from the recomputed {w}"),
            ),
            _ => {}
        }
    }
    if let Some(z) = r.map.get("zero_weights")
        && z.as_u64().is_none()
    {
        s.err(
            "R0",
            "resources.zero_weights",
            "expected a non-negative integer",
        );
    }
}
