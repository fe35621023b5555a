//! Routing rules R9–R13: the route replay and the label, capacity and crossbar rules around it.
//!
//! R9 follows every source's spike through the configuration the way the chip would (crossbar
//! node filters, PADI bus, driver compare masks, row modes, synapse labels) and compares what
//! arrives with what `projections` requests. It uses only the hardware-determined quantities
//! (the spike master's column, `spike_label`, `driver % 4`), never the redundant fields that R3
//! checks, so a wrong mirror field cannot hide a wrong route. It does not model timing.

use super::chip;
use super::layout::Owners;
use super::read::{Kind, Mode, Model, Node, Sink, hemi_name};
use super::synapses::split_count;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A spike source: (population position, neuron index).
type Src = (usize, i64);
/// A synaptic target: (population position, neuron index, compartment id), or `None` for a
/// circuit that belongs to no neuron.
type Tgt = Option<(usize, i64, i64)>;

/// A listed synapse: (column, label, weight, path).
type Cell<'a> = (i64, i64, i64, &'a str);
/// A replay difference: (key, requested weight, realised weight, path of an example).
type Diff<'a> = (&'a (Src, Tgt, Mode), i64, i64, &'a str);
/// Synapses per circuit `(hemisphere, column)` and per `(hemisphere, column, bus)`.
type Degrees = (BTreeMap<(u8, i64), i64>, BTreeMap<(u8, i64, i64), i64>);

/// One event as it appears on a PADI bus.
struct Event {
    src: Src,
    hemisphere: u8,
    bus: i64,
    row_select: i64,
    label: i64,
}

/// What the replay found, for the report.
pub struct Replay {
    pub replayed: usize,
    pub requested: usize,
    pub events: usize,
}

fn passes(n: &Node, label: i64) -> bool {
    label & n.mask == n.target
}

/// The event output of an on-chip neuron, from the column of its spike master.
fn event_output(m: &Model, src: Src) -> Option<i64> {
    let n = m.populations[src.0]
        .neurons
        .iter()
        .find(|n| n.index == src.1)?;
    let comp = n.on_chip.as_ref()?.compartments.first()?;
    let &(_, col) = comp.atoms.get(usize::try_from(comp.spike_master).ok()?)?;
    (0..chip::COLUMNS)
        .contains(&col)
        .then_some(col / chip::COLUMNS_PER_EVENT_OUTPUT)
}

/// Every event every source puts on a PADI bus, following the crossbar.
fn events(m: &Model) -> Vec<Event> {
    let mut out = Vec::new();
    let mut emit = |src: Src, input: i64, label: i64| {
        for n in m
            .crossbar
            .iter()
            .filter(|n| n.input == input && (0..8).contains(&n.output))
        {
            if passes(n, label) {
                out.push(Event {
                    src,
                    hemisphere: (n.output / 4) as u8,
                    bus: n.output % 4,
                    row_select: (label >> 6) & chip::ROW_SELECT_MAX,
                    label: label & chip::LABEL_MAX,
                });
            }
        }
    };
    for (pi, p) in m.populations.iter().enumerate() {
        for n in &p.neurons {
            let src = (pi, n.index);
            match &n.on_chip {
                Some(c) => {
                    if let Some(e) = event_output(m, src) {
                        emit(src, e, e << 8 | (c.address_out & chip::ADDRESS_OUT_MAX));
                    }
                }
                None => {
                    for l in &n.labels {
                        let spl1 = (l.spike_label >> 14) & chip::SPL1_MAX;
                        emit(
                            src,
                            chip::CROSSBAR_SPL1_INPUT + spl1,
                            l.spike_label & chip::NEURON_LABEL_MAX,
                        );
                    }
                }
            }
        }
    }
    out
}

fn src_name(m: &Model, s: Src) -> String {
    format!("{}[{}]", m.populations[s.0].id, s.1)
}

fn tgt_name(m: &Model, t: Tgt) -> String {
    match t {
        Some((p, n, c)) => format!("{}[{}].{c}", m.populations[p].id, n),
        None => "a circuit of no neuron".to_string(),
    }
}

/// The drivers that pass `(row_select)` on `(hemisphere, bus)`: `(driver, modes)`.
fn passing_drivers<'m>(m: &'m Model, e: &Event) -> impl Iterator<Item = &'m super::read::Driver> {
    let (h, bus, rs) = (e.hemisphere, e.bus, e.row_select);
    m.drivers.iter().filter(move |d| {
        d.hemisphere == h
            && d.enable_receiver
            && d.driver % chip::BUSES == bus
            && (rs & d.mask) == ((d.driver / chip::BUSES) & d.mask)
    })
}

/// R9: route replay. Returns the counts for the report.
pub fn r9_replay(m: &Model, owners: &Owners, s: &mut Sink) -> Replay {
    let mut cells: HashMap<(u8, i64), Vec<Cell>> = HashMap::new();
    for pr in &m.projections {
        for c in &pr.connections {
            for y in c.synapses.iter().filter(|y| y.weight > 0) {
                cells
                    .entry((y.hemisphere, y.row))
                    .or_default()
                    .push((y.column, y.label, y.weight, &y.path));
            }
        }
    }
    let evs = events(m);
    let mut realised: BTreeMap<(Src, Tgt, Mode), (i64, &str)> = BTreeMap::new();
    for e in &evs {
        for d in passing_drivers(m, e) {
            for (k, &mode) in d.modes.iter().enumerate() {
                if mode == Mode::Disabled {
                    continue;
                }
                let row = 2 * d.driver + k as i64;
                for &(col, label, w, path) in cells.get(&(e.hemisphere, row)).into_iter().flatten()
                {
                    if label == e.label {
                        let tgt = owners.get(&(i64::from(e.hemisphere), col)).copied();
                        let entry = realised.entry((e.src, tgt, mode)).or_insert((0, path));
                        entry.0 += w;
                    }
                }
            }
        }
    }
    let mut requested: BTreeMap<(Src, Tgt, Mode), (i64, &str)> = BTreeMap::new();
    let mut n_requested = 0;
    for pr in &m.projections {
        let (Some(pre), Some(post)) = (
            m.populations.iter().position(|p| p.id == pr.pre),
            m.populations.iter().position(|p| p.id == pr.post),
        ) else {
            continue;
        };
        for c in &pr.connections {
            n_requested += 1;
            let key = (
                (pre, c.pre.0),
                Some((post, c.post.0, c.post.1)),
                pr.receptor,
            );
            requested.entry(key).or_insert((0, &c.path)).0 += c.weight;
        }
    }
    let mut missing = Vec::new();
    let mut spurious = Vec::new();
    let mut replayed = 0;
    for (key, &(want, path)) in &requested {
        let got = realised.get(key).map_or(0, |r| r.0);
        if got == want {
            replayed += 1;
        } else if got < want {
            missing.push((key, want, got, path));
        }
    }
    for (key, &(got, path)) in &realised {
        let want = requested.get(key).map_or(0, |r| r.0);
        if got > want {
            spurious.push((key, want, got, path));
        }
    }
    let describe = |list: &[Diff]| {
        let shown: Vec<String> = list
            .iter()
            .take(4)
            .map(|((src, tgt, mode), want, got, _)| {
                format!(
                    "{} -> {} {} (requested {want}, realised {got})",
                    src_name(m, *src),
                    tgt_name(m, *tgt),
                    mode.name()
                )
            })
            .collect();
        let more = list.len().saturating_sub(4);
        let tail = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        format!("{}{tail}", shown.join("; "))
    };
    if let Some(first) = missing.first() {
        s.err(
            "R9",
            first.3,
            format!(
                "{} requested connection(s) not realised by the routes: {}",
                missing.len(),
                describe(&missing)
            ),
        );
    }
    if let Some(first) = spurious.first() {
        s.err(
            "R9",
            first.3,
            format!(
                "{} spurious connection(s) realised by the routes: {}",
                spurious.len(),
                describe(&spurious)
            ),
        );
    }
    Replay {
        replayed,
        requested: n_requested,
        events: evs.len(),
    }
}

/// R10: on-chip event outputs drive only their own bus `e % 4`.
pub fn r10_internal_buses(m: &Model, s: &mut Sink) {
    for n in &m.crossbar {
        if (0..8).contains(&n.input) && (0..8).contains(&n.output) && n.output % 4 != n.input % 4 {
            s.err("R10", &n.path, format!("event output {} can only reach PADI bus {} of a hemisphere, not crossbar output {}", n.input, n.input % 4, n.output));
        }
    }
}

/// R11: sources that share a bus and a row-select address, or reach one driver, have distinct
/// labels; at most 64 sources per row-select group.
pub fn r11_labels(m: &Model, s: &mut Sink) {
    let evs = events(m);
    let mut by_address: BTreeMap<(u8, i64, i64, i64), BTreeSet<Src>> = BTreeMap::new();
    let mut by_group: BTreeMap<(u8, i64, i64), BTreeSet<Src>> = BTreeMap::new();
    let mut by_driver: BTreeMap<(u8, i64, i64), BTreeMap<Src, i64>> = BTreeMap::new();
    for e in &evs {
        by_address
            .entry((e.hemisphere, e.bus, e.row_select, e.label))
            .or_default()
            .insert(e.src);
        by_group
            .entry((e.hemisphere, e.bus, e.row_select))
            .or_default()
            .insert(e.src);
        for d in passing_drivers(m, e) {
            by_driver
                .entry((e.hemisphere, d.driver, e.label))
                .or_default()
                .insert(e.src, e.row_select);
        }
    }
    for ((h, bus, rs, label), srcs) in &by_address {
        if srcs.len() > 1 {
            let names: Vec<_> = srcs.iter().take(4).map(|&x| src_name(m, x)).collect();
            s.err(
                "R11",
                "populations",
                format!(
                    "{} sources share row_select {rs} and label {label} on {} bus {bus}: {}",
                    srcs.len(),
                    hemi_name(*h),
                    names.join(", ")
                ),
            );
        }
    }
    for ((h, bus, rs), srcs) in &by_group {
        if srcs.len() > 64 {
            s.err(
                "R11",
                "populations",
                format!(
                    "{} sources use row_select {rs} on {} bus {bus}; a group holds at most 64",
                    srcs.len(),
                    hemi_name(*h)
                ),
            );
        }
    }
    for ((h, driver, label), srcs) in &by_driver {
        let selects: BTreeSet<i64> = srcs.values().copied().collect();
        if srcs.len() > 1 && selects.len() > 1 {
            let names: Vec<_> = srcs.keys().take(4).map(|&x| src_name(m, x)).collect();
            s.err("R11", "synapse_drivers", format!("sources {} from different row-select groups reach {} driver {driver} with the same label {label}", names.join(", "), hemi_name(*h)));
        }
    }
}

/// Realised synapses per circuit and per (circuit, bus).
fn in_degrees(m: &Model) -> Degrees {
    let mut per_atom = BTreeMap::new();
    let mut per_bus = BTreeMap::new();
    for pr in &m.projections {
        for c in &pr.connections {
            for y in c.synapses.iter().filter(|y| y.weight > 0) {
                *per_atom.entry((y.hemisphere, y.column)).or_insert(0) += 1;
                *per_bus
                    .entry((y.hemisphere, y.column, (y.row / 2) % chip::BUSES))
                    .or_insert(0) += 1;
            }
        }
    }
    (per_atom, per_bus)
}

/// R12: capacity (in the words of grenade's routing constraints).
pub fn r12_capacity(m: &Model, s: &mut Sink) {
    let (per_atom, per_bus) = in_degrees(m);
    for (&(h, col), &n) in &per_atom {
        if n > chip::ROWS_PER_SYNRAM {
            s.err("R12", "projections", format!("unroutable: in-degree {n} of circuit ({}, column {col}) is larger than the number of synapse rows ({})", hemi_name(h), chip::ROWS_PER_SYNRAM));
        }
    }
    for (&(h, col, bus), &n) in &per_bus {
        if n > chip::IN_DEGREE_PER_BUS {
            s.err("R12", "projections", format!("unroutable: in-degree {n} of circuit ({}, column {col}) from PADI bus {bus} is larger than {}", hemi_name(h), chip::IN_DEGREE_PER_BUS));
        }
    }
    let mut need: BTreeMap<(&str, i64, i64), (i64, &str)> = BTreeMap::new();
    for pr in &m.projections {
        for c in &pr.connections {
            if c.weight >= 0 {
                need.entry((pr.post.as_str(), c.post.0, c.post.1))
                    .or_insert((0, &c.path))
                    .0 += split_count(c.weight);
            }
        }
    }
    for ((post, n, comp), (count, path)) in need {
        let circuits = m
            .population(post)
            .and_then(|p| p.neurons.iter().find(|x| x.index == n))
            .and_then(|x| x.on_chip.as_ref())
            .and_then(|oc| oc.compartments.iter().find(|k| k.id == comp))
            .map_or(1, |k| k.atoms.len().max(1) as i64);
        if count > circuits * chip::ROWS_PER_SYNRAM {
            s.err("R12", path, format!("unroutable: {post}[{n}].{comp} needs {count} synapses, its {circuits} circuit(s) have {}", circuits * chip::ROWS_PER_SYNRAM));
        }
    }
    let mut drivers: BTreeMap<(u8, i64), i64> = BTreeMap::new();
    for d in &m.drivers {
        *drivers
            .entry((d.hemisphere, d.driver % chip::BUSES))
            .or_insert(0) += 1;
    }
    for ((h, bus), n) in drivers {
        if n > chip::DRIVERS_PER_BUS {
            s.err(
                "R12",
                "synapse_drivers",
                format!(
                    "unroutable: {n} drivers ({} rows) on {} PADI bus {bus}, it has {} ({} rows)",
                    2 * n,
                    hemi_name(h),
                    chip::DRIVERS_PER_BUS,
                    chip::ROWS_PER_BUS
                ),
            );
        }
    }
}

/// R13: the crossbar holds exactly the nodes of the v1 wiring convention that the routes need.
pub fn r13_crossbar(m: &Model, recorded: &BTreeSet<String>, s: &mut Sink) {
    let mut seen = BTreeSet::new();
    for n in &m.crossbar {
        if !seen.insert((n.input, n.output)) {
            s.err(
                "R13",
                &n.path,
                format!("node ({}, {}) is listed twice", n.input, n.output),
            );
        }
        if n.target & !n.mask != 0 {
            s.err(
                "R13",
                &n.path,
                format!(
                    "target {} has bits outside mask {}: the node never forwards",
                    n.target, n.mask
                ),
            );
        }
        let (i, o) = (n.input, n.output);
        let ok = match i {
            0..=7 if o < 8 => n.mask == 0 && n.target == 0,
            0..=7 => o == chip::CROSSBAR_L2_OUTPUT + i % 4 && n.mask == 0 && n.target == 0,
            8..=11 => (o == i - 8 || o == i - 8 + 4) && n.mask == 8192 && n.target == (o / 4) << 13,
            _ => false,
        };
        if !ok
            && (0..chip::CROSSBAR_INPUTS).contains(&i)
            && (0..chip::CROSSBAR_OUTPUTS).contains(&o)
        {
            s.err("R13", &n.path, format!("node (input {i}, output {o}, mask {}, target {}) is not part of the v1 wiring (lang/bss2.md §2.1)", n.mask, n.target));
        }
    }
    let node = |input: i64, output: i64| {
        m.crossbar
            .iter()
            .find(|n| n.input == input && n.output == output)
    };
    let mut needed_internal = BTreeSet::new();
    let mut needed_external = BTreeSet::new();
    for pr in &m.projections {
        let Some(pre) = m.populations.iter().position(|p| p.id == pr.pre) else {
            continue;
        };
        for c in &pr.connections {
            for y in c.synapses.iter().filter(|y| y.weight > 0) {
                let bus = (y.row / 2) % chip::BUSES;
                match m.populations[pre].kind {
                    Kind::Lif => {
                        needed_internal.insert(((pre, c.pre.0), y.hemisphere, c.path.clone()));
                    }
                    Kind::External => {
                        needed_external.insert(((pre, c.pre.0), y.hemisphere, bus, c.path.clone()));
                    }
                }
            }
        }
    }
    let mut reported = BTreeSet::new();
    for (src, h, path) in needed_internal {
        let Some(e) = event_output(m, src) else {
            continue;
        };
        let out = e % 4 + 4 * i64::from(h);
        if node(e, out).is_none() && reported.insert((e, out)) {
            s.err(
                "R13",
                path,
                format!(
                    "no crossbar node (input {e}, output {out}) for {} to reach the {} hemisphere",
                    src_name(m, src),
                    hemi_name(h)
                ),
            );
        }
    }
    for (src, h, bus, path) in needed_external {
        let n = m.populations[src.0]
            .neurons
            .iter()
            .find(|n| n.index == src.1);
        let label = n.and_then(|n| {
            n.labels
                .iter()
                .find(|l| l.hemisphere == h && l.padi_bus == bus)
        });
        let Some(l) = label else {
            s.err(
                "R13",
                path,
                format!(
                    "{} has no label for {} bus {bus}, where its synapses are",
                    src_name(m, src),
                    hemi_name(h)
                ),
            );
            continue;
        };
        let input = chip::CROSSBAR_SPL1_INPUT + ((l.spike_label >> 14) & 3);
        let out = bus + 4 * i64::from(h);
        if !node(input, out).is_some_and(|n| passes(n, l.spike_label & chip::NEURON_LABEL_MAX))
            && reported.insert((input, out))
        {
            s.err("R13", &l.path, format!("no crossbar node (input {input}, output {out}) forwards {}'s label to {} bus {bus}", src_name(m, src), hemi_name(h)));
        }
    }
    for (pi, p) in m.populations.iter().enumerate() {
        if p.kind != Kind::Lif || !recorded.contains(&p.id) {
            continue;
        }
        for n in &p.neurons {
            let Some(e) = event_output(m, (pi, n.index)) else {
                continue;
            };
            let out = chip::CROSSBAR_L2_OUTPUT + e % 4;
            if node(e, out).is_none() && reported.insert((e, out)) {
                s.err(
                    "R13",
                    "crossbar",
                    format!(
                        "recorded population `{}` needs node (input {e}, output {out}) to L2",
                        p.id
                    ),
                );
            }
        }
    }
}

/// Recomputed `resources` (compared by R19 in `params.rs`).
pub fn resources(m: &Model, owners: &Owners) -> serde_json::Value {
    let (per_atom, per_bus) = in_degrees(m);
    let mut drivers = [0i64; 2];
    let mut rows_per_bus = [[0i64; 4]; 2];
    for d in &m.drivers {
        let h = usize::from(d.hemisphere);
        drivers[h] += 1;
        rows_per_bus[h][(d.driver.rem_euclid(chip::BUSES)) as usize] += 2;
    }
    let synapses: i64 = per_atom.values().sum();
    let mut clipped = 0;
    for pr in &m.projections {
        for c in &pr.connections {
            if (pr.scale * c.sw_weight).abs() > pr.weight_clip as f64 {
                clipped += 1;
            }
        }
    }
    serde_json::json!({
        "atomic_neurons_used": owners.len(),
        "synapses_used": synapses,
        "rows_used": { "top": 2 * drivers[0], "bottom": 2 * drivers[1] },
        "drivers_used": { "top": drivers[0], "bottom": drivers[1] },
        "rows_per_padi_bus": rows_per_bus,
        "max_in_degree": per_atom.values().max().copied().unwrap_or(0),
        "max_in_degree_per_bus": per_bus.values().max().copied().unwrap_or(0),
        "clipped_weights": clipped,
    })
}
