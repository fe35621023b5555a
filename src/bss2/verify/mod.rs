//! The independent checker of `snnc.bss2.config/v1` files (lang/bss2.md §6, rules R0–R19).
//!
//! It shares no code with the compiler in `bss2/` on purpose: it has its own chip table
//! (`chip.rs`), its own reading of the schema (`read.rs`) and follows every route itself
//! (`replay.rs`), so that a bug in the compiler shows up as a violation here. It never panics:
//! a missing field or a wrong type is an `R0` violation at its path.
//!
//! Files: `json.rs` (typed JSON access with paths, R0), `read.rs` (JSON to typed model), `layout.rs` (R1–R3), `synapses.rs` (R4–R8),
//! `replay.rs` (R9–R13 and the recomputed resources), `params.rs` (target limits, R14–R17,
//! R19), this file (entry points, R18, rendering). It does not check anything about the source
//! program the file came from, and it does not model timing or analog behaviour.

mod chip;
mod json;
mod layout;
mod params;
mod read;
mod replay;
mod synapses;

use read::{Obj, Sink, at, obj};
use serde_json::Value;
use std::fmt;

/// The schema identifier this checker understands.
pub const SCHEMA: &str = "snnc.bss2.config/v1";

/// The required top-level fields (`inputs` is optional).
const TOP_LEVEL: [&str; 14] = [
    "schema",
    "target",
    "time",
    "populations",
    "projections",
    "synapse_drivers",
    "rows",
    "crossbar",
    "background_sources",
    "recording",
    "calibration",
    "resources",
    "provenance",
    "inputs",
];

/// One broken rule at one place in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// `"R0"` (schema) to `"R19"` (resources); see lang/bss2.md §6.
    pub rule: &'static str,
    /// JSON path, like `populations[1].neurons[3]`; empty for the whole file.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "<root>"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Sizes of what was checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections listed in `projections`.
    pub requested_connections: usize,
    /// Realised synapses listed (weight > 0).
    pub synapses: usize,
    /// Enabled synapse drivers.
    pub drivers: usize,
    /// Enabled crossbar nodes.
    pub crossbar_nodes: usize,
    /// Events put on PADI buses during the replay.
    pub bus_events: usize,
}

/// The outcome of a check: errors and warnings as data.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub violations: Vec<Violation>,
    pub warnings: Vec<Violation>,
    /// Requested (source, target, receptor) connections that the route replay (R9) reproduced
    /// with exactly the requested weight.
    pub replayed_connections: usize,
    pub stats: Stats,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// The rules that reported errors, sorted and without repeats.
    pub fn rules(&self) -> Vec<&'static str> {
        let mut r: Vec<_> = self.violations.iter().map(|v| v.rule).collect();
        r.sort_by_key(|x| (x.len(), *x));
        r.dedup();
        r
    }

    /// The one-line summary printed after the violations.
    pub fn summary(&self) -> String {
        let (e, w) = (self.violations.len(), self.warnings.len());
        let counts = format!(
            "{} of {} connections replayed, {} synapses, {} drivers, {} crossbar nodes, {e} error{}, {w} warning{}",
            self.replayed_connections,
            self.stats.requested_connections,
            self.stats.synapses,
            self.stats.drivers,
            self.stats.crossbar_nodes,
            plural(e),
            plural(w),
        );
        if self.is_ok() {
            format!("ok: {counts}")
        } else {
            format!("failed ({}): {counts}", self.rules().join(", "))
        }
    }

    /// One JSON object per line: every error, every warning, then the summary.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for (severity, list) in [("error", &self.violations), ("warning", &self.warnings)] {
            for v in list {
                let line = serde_json::json!({
                    "severity": severity, "rule": v.rule, "path": v.path, "message": v.message,
                });
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
        let summary = serde_json::json!({
            "summary": self.summary(), "ok": self.is_ok(),
            "errors": self.violations.len(), "warnings": self.warnings.len(),
            "replayed_connections": self.replayed_connections,
            "requested_connections": self.stats.requested_connections,
        });
        out.push_str(&summary.to_string());
        out.push('\n');
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `error[R9]: path: message` lines, warnings, then the summary line.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.violations {
            writeln!(f, "error[{}]: {v}", v.rule)?;
        }
        for v in &self.warnings {
            writeln!(f, "warning[{}]: {v}", v.rule)?;
        }
        writeln!(f, "{}", self.summary())
    }
}

/// Settings of the checker.
#[derive(Clone, Debug)]
pub struct Options {
    /// R16 warns when serialising input spikes one cycle apart moves one by more than this.
    pub serialisation_warn_cycles: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            serialisation_warn_cycles: 8,
        }
    }
}

/// Checks a parsed configuration against R0–R17 and R19 (R18 only for list order; use
/// [`verify_text`] for the byte-level part).
pub fn verify(config: &Value) -> Report {
    verify_with(config, &Options::default())
}

/// [`verify`] with explicit [`Options`].
pub fn verify_with(config: &Value, opts: &Options) -> Report {
    let mut s = Sink::default();
    let mut report = Report::default();
    if let Some(root) = obj(config, "", &mut s) {
        check(root, opts, &mut s, &mut report);
    }
    report.violations = Sink::capped(s.errors);
    report.warnings = Sink::capped(s.warnings);
    report
}

fn check(root: Obj, opts: &Options, s: &mut Sink, report: &mut Report) {
    if let Some(schema) = root.str("schema", s)
        && schema != SCHEMA
    {
        s.err("R0", "schema", format!("`{schema}` is not {SCHEMA}"));
    }
    for key in root.map.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            s.err("R0", key.as_str(), format!("unknown field `{key}`"));
        }
    }
    let _ = root.req("provenance", s);
    params::target(root, s);
    let m = read::read_model(root, s);
    layout::r1_ranges(&m, s);
    let owners = layout::r2_neurons(&m, s);
    layout::r3_derived(&m, s);
    synapses::r4_r5_cells(&m, &owners, s);
    synapses::r6_row_modes(&m, s);
    synapses::r7_split(&m, s);
    let (targets, mapping) = params::calibration(root, &m, s);
    synapses::r8_quantisation(&m, &params::weight_units(mapping), s);
    let replay = replay::r9_replay(&m, &owners, s);
    replay::r10_internal_buses(&m, s);
    replay::r11_labels(&m, s);
    replay::r12_capacity(&m, s);
    let recorded = params::r17_recording(root, &m, s);
    replay::r13_crossbar(&m, &recorded, s);
    params::r15_mapping(mapping, &m, &targets, s);
    params::r16_time(root, &m, opts.serialisation_warn_cycles, s);
    r18_order(root, s);
    params::r19_resources(root, &replay::resources(&m, &owners), s);
    report.replayed_connections = replay.replayed;
    report.stats = Stats {
        requested_connections: replay.requested,
        synapses: m
            .projections
            .iter()
            .flat_map(|p| &p.connections)
            .flat_map(|c| &c.synapses)
            .filter(|y| y.weight > 0)
            .count(),
        drivers: m.drivers.len(),
        crossbar_nodes: m.crossbar.len(),
        bus_events: replay.events,
    };
}

/// Why [`verify_text`] could not check a file at all.
#[derive(Debug)]
pub struct ParseError(pub serde_json::Error);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not valid JSON: {}", self.0)
    }
}

/// Parses `text` and checks it, including R18's byte-level rule: the text equals
/// [`canonical_text`] of its value.
pub fn verify_text(text: &str) -> Result<Report, ParseError> {
    let value: Value = serde_json::from_str(text).map_err(ParseError)?;
    let mut report = verify(&value);
    let canonical = canonical_text(&value);
    if canonical != text {
        let line = text
            .lines()
            .zip(canonical.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || text.lines().count().min(canonical.lines().count()) + 1,
                |i| i + 1,
            );
        report.violations.push(Violation {
            rule: "R18",
            path: String::new(),
            message: format!("the text is not in canonical form (sorted keys, 2-space indentation, final newline); first difference on line {line}"),
        });
    }
    Ok(report)
}

/// The canonical text of a configuration: keys sorted, two-space indentation as
/// `serde_json::to_string_pretty` writes it, and a final newline.
pub fn canonical_text(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, 0, &mut out);
    out.push('\n');
    out
}

fn write_canonical(v: &Value, depth: usize, out: &mut String) {
    let indent = |d: usize, out: &mut String| out.extend(std::iter::repeat_n("  ", d));
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, x) in items.iter().enumerate() {
                indent(depth + 1, out);
                write_canonical(x, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(depth, out);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                indent(depth + 1, out);
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push_str(": ");
                write_canonical(&map[*k], depth + 1, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            indent(depth, out);
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A sort key of a list element, built from its fields; `None` if a field is missing (R0
/// reported that already).
fn key_of(v: &Value, fields: &[&str]) -> Option<Vec<Value>> {
    fields.iter().map(|f| v.get(*f).cloned()).collect()
}

fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => {
            hemisphere_rank(x).cmp(&hemisphere_rank(y)).then(x.cmp(y))
        }
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| cmp_values(p, q))
            .find(|o| o.is_ne())
            .unwrap_or(x.len().cmp(&y.len())),
        _ => Ordering::Equal,
    }
}

/// `top` sorts before `bottom` (hemisphere index order); other strings compare as text.
fn hemisphere_rank(s: &str) -> u8 {
    match s {
        "top" => 0,
        "bottom" => 1,
        _ => 2,
    }
}

/// Checks that the list at `path` is sorted by `fields` (strictly when `strict`).
fn sorted(list: &Value, path: &str, fields: &[&str], strict: bool, s: &mut Sink) {
    let Some(items) = list.as_array() else { return };
    let keys: Vec<Option<Vec<Value>>> = items.iter().map(|v| key_of(v, fields)).collect();
    for i in 1..keys.len() {
        let (Some(a), Some(b)) = (&keys[i - 1], &keys[i]) else {
            continue;
        };
        let a = Value::Array(a.clone());
        let b = Value::Array(b.clone());
        let ord = cmp_values(&a, &b);
        if ord.is_gt() || (strict && ord.is_eq()) {
            let how = if ord.is_eq() {
                "repeats"
            } else {
                "comes before"
            };
            s.err(
                "R18",
                at(path, i),
                format!(
                    "list not in canonical order by ({}): {a} {how} {b}",
                    fields.join(", ")
                ),
            );
            return;
        }
    }
}

/// R18: every list is in its defined order (lang/bss2.md §2).
fn r18_order(root: Obj, s: &mut Sink) {
    let get = |k: &str| root.map.get(k).unwrap_or(&Value::Null);
    sorted(get("projections"), "projections", &["id"], true, s);
    sorted(
        get("synapse_drivers"),
        "synapse_drivers",
        &["hemisphere", "driver"],
        true,
        s,
    );
    sorted(get("rows"), "rows", &["hemisphere", "row"], true, s);
    sorted(get("crossbar"), "crossbar", &["input", "output"], true, s);
    for (pi, p) in get("populations")
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ppath = at("populations", pi);
        let neurons = p.get("neurons").unwrap_or(&Value::Null);
        sorted(neurons, &format!("{ppath}.neurons"), &["index"], true, s);
        for (ni, n) in neurons.as_array().into_iter().flatten().enumerate() {
            let npath = format!("{ppath}.neurons[{ni}]");
            if let Some(l) = n.get("labels") {
                sorted(
                    l,
                    &format!("{npath}.labels"),
                    &["hemisphere", "padi_bus"],
                    true,
                    s,
                );
            }
            if let Some(c) = n.get("compartments") {
                sorted(c, &format!("{npath}.compartments"), &["id"], true, s);
            }
        }
    }
    for (pi, p) in get("projections")
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(c) = p.get("connections") {
            sorted(
                c,
                &format!("projections[{pi}].connections"),
                &["pre", "post"],
                false,
                s,
            );
        }
    }
}
