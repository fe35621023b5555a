//! Structural rules R1–R3: value ranges, placement of neurons (and who owns each circuit), and
//! derived fields.
//!
//! These rules look at each element on its own or at elements sharing a circuit; synapses are
//! `synapses.rs` (R4–R8) and routes `replay.rs` (R9–R13).

use super::chip;
use super::read::{Kind, Model, Sink, hemi_name};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Who owns each neuron circuit: `(row, column) -> (population position, neuron index,
/// compartment id)`, built by R2 and used by R5 and the replay.
pub type Owners = HashMap<(i64, i64), (usize, i64, i64)>;

fn range(s: &mut Sink, path: &str, what: &str, v: i64, lo: i64, hi: i64) {
    if v < lo || v > hi {
        s.err("R1", path, format!("{what} {v} is outside {lo}..={hi}"));
    }
}

/// R1: coordinate and value ranges, and references to populations and neurons.
pub fn r1_ranges(m: &Model, s: &mut Sink) {
    let mut ids = BTreeSet::new();
    for p in &m.populations {
        if !ids.insert(p.id.as_str()) {
            s.err(
                "R1",
                &p.path,
                format!("population id `{}` is used twice", p.id),
            );
        }
        range(s, &p.path, "size", p.size, 0, i64::from(u32::MAX));
        if p.kind == Kind::Lif {
            range(
                s,
                &p.path,
                "size of a lif population",
                p.size,
                0,
                chip::ATOMIC_NEURONS,
            );
        }
        if p.neurons.len() as i64 != p.size {
            s.err(
                "R1",
                &p.path,
                format!("{} neurons listed, size is {}", p.neurons.len(), p.size),
            );
        }
        let mut seen = BTreeSet::new();
        for n in &p.neurons {
            range(s, &n.path, "neuron index", n.index, 0, p.size - 1);
            if !seen.insert(n.index) {
                s.err(
                    "R1",
                    &n.path,
                    format!("neuron index {} listed twice", n.index),
                );
            }
            for l in &n.labels {
                range(s, &l.path, "padi_bus", l.padi_bus, 0, chip::BUSES - 1);
                range(s, &l.path, "spl1", l.spl1, 0, chip::SPL1_MAX);
                range(
                    s,
                    &l.path,
                    "neuron_label",
                    l.neuron_label,
                    0,
                    chip::NEURON_LABEL_MAX,
                );
                range(
                    s,
                    &l.path,
                    "row_select",
                    l.row_select,
                    0,
                    chip::ROW_SELECT_MAX,
                );
                range(
                    s,
                    &l.path,
                    "synapse_label",
                    l.synapse_label,
                    0,
                    chip::LABEL_MAX,
                );
                range(
                    s,
                    &l.path,
                    "spike_label",
                    l.spike_label,
                    0,
                    chip::SPIKE_LABEL_MAX,
                );
            }
            if let Some(c) = &n.on_chip {
                let (r, col) = c.anchor;
                range(s, &n.path, "anchor row", r, 0, 1);
                range(s, &n.path, "anchor column", col, 0, chip::COLUMNS - 1);
                range(s, &n.path, "event_output", c.event_output, 0, 7);
                range(
                    s,
                    &n.path,
                    "address_out",
                    c.address_out,
                    0,
                    chip::ADDRESS_OUT_MAX,
                );
                for comp in &c.compartments {
                    for &(r, col) in &comp.atoms {
                        range(s, &comp.path, "atomic neuron row", r, 0, 1);
                        range(
                            s,
                            &comp.path,
                            "atomic neuron column",
                            col,
                            0,
                            chip::COLUMNS - 1,
                        );
                    }
                }
            }
        }
    }
    for pr in &m.projections {
        if pr.weight_clip < chip::WEIGHT_MAX {
            s.err(
                "R1",
                &pr.path,
                format!(
                    "weight_clip {} is below {}",
                    pr.weight_clip,
                    chip::WEIGHT_MAX
                ),
            );
        }
        let pre = m.population(&pr.pre);
        let post = m.population(&pr.post);
        if pre.is_none() {
            s.err(
                "R1",
                &pr.path,
                format!("pre `{}` is not a population", pr.pre),
            );
        }
        match post {
            None => s.err(
                "R1",
                &pr.path,
                format!("post `{}` is not a population", pr.post),
            ),
            Some(p) if p.kind != Kind::Lif => s.err(
                "R1",
                &pr.path,
                format!("post `{}` is not a lif population", pr.post),
            ),
            _ => {}
        }
        for c in &pr.connections {
            if let Some(p) = pre
                && (c.pre.0 < 0 || c.pre.0 >= p.size || c.pre.1 != 0)
            {
                s.err(
                    "R1",
                    &c.path,
                    format!("pre {:?} is not a neuron of `{}`", c.pre, p.id),
                );
            }
            if let Some(p) = post
                && (c.post.0 < 0
                    || c.post.0 >= p.size
                    || !p.shape.iter().any(|sc| sc.0 == c.post.1))
            {
                s.err(
                    "R1",
                    &c.path,
                    format!("post {:?} is not a compartment of `{}`", c.post, p.id),
                );
            }
            if c.weight < 0 {
                s.err("R1", &c.path, format!("weight {} is negative", c.weight));
            }
            for y in &c.synapses {
                range(
                    s,
                    &y.path,
                    "synapse row",
                    y.row,
                    0,
                    chip::ROWS_PER_SYNRAM - 1,
                );
                range(s, &y.path, "synapse column", y.column, 0, chip::COLUMNS - 1);
                range(s, &y.path, "synapse weight", y.weight, 0, chip::WEIGHT_MAX);
                range(s, &y.path, "synapse label", y.label, 0, chip::LABEL_MAX);
            }
        }
    }
    for d in &m.drivers {
        range(
            s,
            &d.path,
            "driver",
            d.driver,
            0,
            chip::DRIVERS_PER_HEMISPHERE - 1,
        );
        range(s, &d.path, "padi_bus", d.padi_bus, 0, chip::BUSES - 1);
        range(
            s,
            &d.path,
            "index_on_bus",
            d.index_on_bus,
            0,
            chip::DRIVERS_PER_BUS - 1,
        );
        range(
            s,
            &d.path,
            "row_address_compare_mask",
            d.mask,
            0,
            chip::ROW_SELECT_MAX,
        );
    }
    for r in &m.rows {
        range(s, &r.path, "row", r.row, 0, chip::ROWS_PER_SYNRAM - 1);
        range(
            s,
            &r.path,
            "driver",
            r.driver,
            0,
            chip::DRIVERS_PER_HEMISPHERE - 1,
        );
    }
    for n in &m.crossbar {
        range(
            s,
            &n.path,
            "crossbar input",
            n.input,
            0,
            chip::CROSSBAR_INPUTS - 1,
        );
        range(
            s,
            &n.path,
            "crossbar output",
            n.output,
            0,
            chip::CROSSBAR_OUTPUTS - 1,
        );
        range(
            s,
            &n.path,
            "crossbar mask",
            n.mask,
            0,
            chip::CROSSBAR_MASK_MAX,
        );
        range(
            s,
            &n.path,
            "crossbar target",
            n.target,
            0,
            chip::CROSSBAR_MASK_MAX,
        );
    }
}

/// R2: every circuit used once, at most 512, compartments connected, spike master inside.
pub fn r2_neurons(m: &Model, s: &mut Sink) -> Owners {
    let mut owners = Owners::new();
    for (pi, p) in m.populations.iter().enumerate() {
        for n in &p.neurons {
            let Some(c) = &n.on_chip else { continue };
            for comp in &c.compartments {
                if comp.atoms.is_empty() {
                    s.err("R2", &comp.path, "compartment has no atomic neurons");
                }
                if comp.spike_master < 0 || comp.spike_master >= comp.atoms.len() as i64 {
                    s.err(
                        "R2",
                        &comp.path,
                        format!(
                            "spike_master {} is not one of its {} atomic neurons",
                            comp.spike_master,
                            comp.atoms.len()
                        ),
                    );
                }
                if comp.receptors.len() != comp.atoms.len() {
                    s.err(
                        "R2",
                        &comp.path,
                        format!(
                            "{} receptor sets for {} atomic neurons",
                            comp.receptors.len(),
                            comp.atoms.len()
                        ),
                    );
                }
                if !connected(&comp.atoms) {
                    s.err("R2", &comp.path, format!("atomic neurons {:?} are not connected (neighbours in a row, or the two circuits of a column)", comp.atoms));
                }
                for &a in &comp.atoms {
                    let me = (pi, n.index, comp.id);
                    if let Some(&(qi, qn, qc)) = owners.get(&a) {
                        s.err("R2", &comp.path, format!("atomic neuron (row {}, column {}) is already used by {}[{qn}] compartment {qc}", a.0, a.1, m.populations[qi].id));
                    } else {
                        owners.insert(a, me);
                    }
                }
            }
        }
    }
    if owners.len() as i64 > chip::ATOMIC_NEURONS {
        s.err(
            "R2",
            "populations",
            format!(
                "{} atomic neurons used, the chip has {}",
                owners.len(),
                chip::ATOMIC_NEURONS
            ),
        );
    }
    owners
}

fn connected(atoms: &[(i64, i64)]) -> bool {
    let set: BTreeSet<_> = atoms.iter().copied().collect();
    let Some(&first) = set.iter().next() else {
        return true;
    };
    let mut seen = BTreeSet::from([first]);
    let mut stack = vec![first];
    while let Some((r, c)) = stack.pop() {
        for next in [(r, c - 1), (r, c + 1), (1 - r, c)] {
            if set.contains(&next) && seen.insert(next) {
                stack.push(next);
            }
        }
    }
    seen.len() == set.len()
}

/// R3: derived fields agree with the fields they are derived from.
pub fn r3_derived(m: &Model, s: &mut Sink) {
    for p in &m.populations {
        for n in &p.neurons {
            for l in &n.labels {
                if l.spl1 != l.padi_bus {
                    s.err(
                        "R3",
                        &l.path,
                        format!("spl1 {} differs from padi_bus {}", l.spl1, l.padi_bus),
                    );
                }
                let nl = i64::from(l.hemisphere) << 13 | l.row_select << 6 | l.synapse_label;
                if l.neuron_label != nl {
                    s.err("R3", &l.path, format!("neuron_label {} should be {nl} (hemisphere << 13 | row_select << 6 | synapse_label)", l.neuron_label));
                }
                if l.spike_label != l.spl1 << 14 | l.neuron_label {
                    s.err(
                        "R3",
                        &l.path,
                        format!(
                            "spike_label {} should be {} (spl1 << 14 | neuron_label)",
                            l.spike_label,
                            l.spl1 << 14 | l.neuron_label
                        ),
                    );
                }
            }
            let Some(c) = &n.on_chip else { continue };
            if let Some(comp) = c.compartments.first()
                && let Some(&(_, col)) = usize::try_from(comp.spike_master)
                    .ok()
                    .and_then(|i| comp.atoms.get(i))
                && c.event_output != col / chip::COLUMNS_PER_EVENT_OUTPUT
            {
                s.err(
                    "R3",
                    &n.path,
                    format!(
                        "event_output {} should be {} (spike master column {col} / 32)",
                        c.event_output,
                        col / chip::COLUMNS_PER_EVENT_OUTPUT
                    ),
                );
            }
            let ids: Vec<i64> = c.compartments.iter().map(|x| x.id).collect();
            let shape_ids: Vec<i64> = p.shape.iter().map(|x| x.0).collect();
            if ids != shape_ids {
                s.err(
                    "R3",
                    &n.path,
                    format!("compartment ids {ids:?} differ from the shape's {shape_ids:?}"),
                );
            }
            for (comp, (_, cells)) in c.compartments.iter().zip(&p.shape) {
                let want: Vec<(i64, i64)> = cells
                    .iter()
                    .map(|&(dx, dr)| (c.anchor.0 + dr, c.anchor.1 + dx))
                    .collect();
                if comp.atoms != want {
                    s.err(
                        "R3",
                        &comp.path,
                        format!(
                            "atomic neurons {:?} are not the shape placed at the anchor, {want:?}",
                            comp.atoms
                        ),
                    );
                }
            }
        }
    }
    for pr in &m.projections {
        let want = format!("{}/{}", pr.source, pr.receptor.name());
        if pr.id != want {
            s.err("R3", &pr.path, format!("id `{}` should be `{want}`", pr.id));
        }
    }
    let mut expected_rows = BTreeMap::new();
    for d in &m.drivers {
        if d.padi_bus != d.driver % chip::BUSES {
            s.err(
                "R3",
                &d.path,
                format!(
                    "padi_bus {} should be {} (driver % 4)",
                    d.padi_bus,
                    d.driver % chip::BUSES
                ),
            );
        }
        if d.index_on_bus != d.driver / chip::BUSES {
            s.err(
                "R3",
                &d.path,
                format!(
                    "index_on_bus {} should be {} (driver / 4)",
                    d.index_on_bus,
                    d.driver / chip::BUSES
                ),
            );
        }
        for (k, mode) in d.modes.iter().enumerate() {
            expected_rows.insert((d.hemisphere, 2 * d.driver + k as i64), (d.driver, *mode));
        }
    }
    let mut listed = BTreeSet::new();
    for r in &m.rows {
        listed.insert((r.hemisphere, r.row));
        match expected_rows.get(&(r.hemisphere, r.row)) {
            None => s.err(
                "R3",
                &r.path,
                format!(
                    "row ({}, {}) does not belong to an enabled driver",
                    hemi_name(r.hemisphere),
                    r.row
                ),
            ),
            Some(&(d, mode)) => {
                if r.driver != d {
                    s.err(
                        "R3",
                        &r.path,
                        format!("driver {} should be {d} (row / 2)", r.driver),
                    );
                }
                if r.mode != mode {
                    s.err(
                        "R3",
                        &r.path,
                        format!(
                            "mode {} differs from the driver's row_modes ({})",
                            r.mode.name(),
                            mode.name()
                        ),
                    );
                }
            }
        }
    }
    for (&(h, row), &(d, _)) in &expected_rows {
        if !listed.contains(&(h, row)) {
            s.err(
                "R3",
                "rows",
                format!(
                    "row ({}, {row}) of enabled driver {d} is not listed",
                    hemi_name(h)
                ),
            );
        }
    }
}
