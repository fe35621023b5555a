//! Synapse rules R4–R8: one synapse per cell, synapses in their target's column, row modes,
//! the grenade weight split and quantisation provenance.
//!
//! They check each realised synapse against its own connection; whether events actually reach
//! it is `replay.rs` (R9).

use super::chip;
use super::layout::Owners;
use super::read::{Mode, Model, Sink, hemi_name};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// `(pre, post)` of a connection, each `(neuron, compartment)`.
type PrePost = ((i64, i64), (i64, i64));

/// R4 (one synapse with weight > 0 per cell) and R5 (a synapse sits in a column of its target
/// compartment, on a circuit that accepts the receptor).
pub fn r4_r5_cells(m: &Model, owners: &Owners, s: &mut Sink) {
    let mut cells: HashMap<(u8, i64, i64), &str> = HashMap::new();
    for pr in &m.projections {
        let post = m.populations.iter().position(|p| p.id == pr.post);
        for c in &pr.connections {
            for y in &c.synapses {
                if y.weight > 0 {
                    let key = (y.hemisphere, y.row, y.column);
                    if let Some(first) = cells.get(&key) {
                        s.err(
                            "R4",
                            &y.path,
                            format!(
                                "cell ({}, row {}, column {}) already holds the synapse at {first}",
                                hemi_name(y.hemisphere),
                                y.row,
                                y.column
                            ),
                        );
                    } else {
                        cells.insert(key, &y.path);
                    }
                }
                let Some(post) = post else { continue };
                let atom = (i64::from(y.hemisphere), y.column);
                match owners.get(&atom) {
                    Some(&(pi, ni, ci)) if (pi, ni, ci) == (post, c.post.0, c.post.1) => {
                        let accepts = m.populations[pi]
                            .neurons
                            .iter()
                            .find(|n| n.index == ni)
                            .and_then(|n| n.on_chip.as_ref())
                            .and_then(|oc| oc.compartments.iter().find(|k| k.id == ci))
                            .and_then(|k| {
                                k.atoms
                                    .iter()
                                    .position(|&a| a == atom)
                                    .and_then(|i| k.receptors.get(i))
                            })
                            .is_some_and(|r| r.contains(&pr.receptor));
                        if !accepts {
                            s.err(
                                "R5",
                                &y.path,
                                format!(
                                    "circuit ({}, column {}) does not accept {} input",
                                    hemi_name(y.hemisphere),
                                    y.column,
                                    pr.receptor.name()
                                ),
                            );
                        }
                    }
                    _ => s.err(
                        "R5",
                        &y.path,
                        format!(
                            "({}, column {}) is not a circuit of the target {}[{}] compartment {}",
                            hemi_name(y.hemisphere),
                            y.column,
                            pr.post,
                            c.post.0,
                            c.post.1
                        ),
                    ),
                }
            }
        }
    }
}

/// The mode of every row of an enabled driver, from `synapse_drivers` (the `rows` list is only
/// a mirror, checked by R3).
pub fn row_modes(m: &Model) -> HashMap<(u8, i64), Mode> {
    let mut modes = HashMap::new();
    for d in &m.drivers {
        modes.insert((d.hemisphere, 2 * d.driver), d.modes[0]);
        modes.insert((d.hemisphere, 2 * d.driver + 1), d.modes[1]);
    }
    modes
}

/// R6: weights sit only in rows whose mode is the projection's receptor.
pub fn r6_row_modes(m: &Model, s: &mut Sink) {
    let modes = row_modes(m);
    for d in &m.drivers {
        if d.modes.contains(&Mode::ExcitatoryAndInhibitory) {
            s.err(
                "R6",
                &d.path,
                "row mode excitatory_and_inhibitory is not part of snnc v1",
            );
        }
    }
    for pr in &m.projections {
        for c in &pr.connections {
            for y in c.synapses.iter().filter(|y| y.weight > 0) {
                match modes.get(&(y.hemisphere, y.row)) {
                    None => s.err(
                        "R6",
                        &y.path,
                        format!(
                            "row ({}, {}) belongs to no enabled driver",
                            hemi_name(y.hemisphere),
                            y.row
                        ),
                    ),
                    Some(Mode::Disabled) => s.err(
                        "R6",
                        &y.path,
                        format!(
                            "row ({}, {}) is disabled but holds weight {}",
                            hemi_name(y.hemisphere),
                            y.row,
                            y.weight
                        ),
                    ),
                    Some(&mode) if mode != pr.receptor => s.err(
                        "R6",
                        &y.path,
                        format!(
                            "row ({}, {}) is {}, the projection is {}",
                            hemi_name(y.hemisphere),
                            y.row,
                            mode.name(),
                            pr.receptor.name()
                        ),
                    ),
                    _ => {}
                }
            }
        }
    }
}

/// The number of synapses of the grenade split of `w >= 0`: `max(1, ceil(w / 63))`.
pub fn split_count(w: i64) -> i64 {
    ((w + chip::WEIGHT_MAX - 1) / chip::WEIGHT_MAX).max(1)
}

/// The grenade weight split: `split_count(w)` synapses, 63s first, then the remainder.
fn split(w: i64) -> Vec<i64> {
    (0..split_count(w))
        .map(|i| (w - i * chip::WEIGHT_MAX).clamp(0, chip::WEIGHT_MAX))
        .collect()
}

/// A list of weights for a message, shortened after eight entries.
fn short(list: &[i64]) -> String {
    let shown: Vec<String> = list.iter().take(8).map(i64::to_string).collect();
    let more = if list.len() > 8 {
        format!(", ... ({} in all)", list.len())
    } else {
        String::new()
    };
    format!("[{}{more}]", shown.join(", "))
}

/// R7: every connection is realised by the grenade split of its requested weight.
pub fn r7_split(m: &Model, s: &mut Sink) {
    for pr in &m.projections {
        for c in &pr.connections {
            if c.weight < 0 {
                continue; // R1
            }
            let got: Vec<i64> = c.synapses.iter().map(|y| y.weight).collect();
            let n = split_count(c.weight);
            // Only build the expected split when it is as long as the list in the file, so a
            // huge requested weight cannot make the checker allocate without bound.
            let want = (n == got.len() as i64).then(|| split(c.weight));
            if want.as_ref() != Some(&got) {
                let sum: i64 = got.iter().sum();
                let r = c.weight - (n - 1) * chip::WEIGHT_MAX;
                s.err(
                    "R7",
                    &c.path,
                    format!(
                        "weight {} must be realised by {n} synapse(s), 63s then {r}, found {} (sum {sum})",
                        c.weight,
                        short(&got)
                    ),
                );
            }
        }
    }
}

/// Round half away from zero.
pub fn round_half_away(x: f64) -> f64 {
    x.signum() * (x.abs() + 0.5).floor()
}

/// R8: every weight is the quantised model weight for the projection's sign; excitatory and
/// inhibitory projections of one source have disjoint support; the recorded weight unit matches
/// the scale.
pub fn r8_quantisation(m: &Model, mapping: &HashMap<String, [(f64, f64); 2]>, s: &mut Sink) {
    let mut support: BTreeMap<(&str, Mode), BTreeSet<PrePost>> = BTreeMap::new();
    for pr in &m.projections {
        if pr.scale <= 0.0 {
            s.err(
                "R8",
                &pr.path,
                format!("sw_weight_scale {} is not positive", pr.scale),
            );
            continue;
        }
        let clip = pr.weight_clip.max(chip::WEIGHT_MAX) as f64; // below 63 is R1
        for c in &pr.connections {
            let q = round_half_away((pr.scale * c.sw_weight).clamp(-clip, clip));
            let signed = if pr.receptor == Mode::Inhibitory {
                -q
            } else {
                q
            };
            if c.weight == 0 {
                s.err(
                    "R8",
                    &c.path,
                    "a connection of quantised weight 0 must be dropped",
                );
            } else if signed != c.weight as f64 {
                s.err("R8", &c.path, format!("weight {} is not the quantised {} weight of sw_weight {} at scale {}: expected {}", c.weight, pr.receptor.name(), c.sw_weight, pr.scale, signed.max(0.0)));
            }
            support
                .entry((pr.source.as_str(), pr.receptor))
                .or_default()
                .insert((c.pre, c.post));
        }
        if let Some(units) = mapping.get(&pr.post) {
            let k = usize::from(pr.receptor != Mode::Excitatory);
            let (lsb, per_weight) = units[k];
            let want = lsb / pr.scale;
            if (per_weight - want).abs() > 1e-3 * want.abs().max(1e-12) {
                s.err("R8", &pr.path, format!("calibration.mapping.{}.weight_lsb_per_hw_weight[{k}] {per_weight} should be lsb_per_model_unit * input_gain[{k}] / sw_weight_scale = {want:.6}", pr.post));
            }
        }
    }
    for ((source, mode), exc) in &support {
        if *mode != Mode::Excitatory {
            continue;
        }
        if let Some(inh) = support.get(&(source, Mode::Inhibitory))
            && let Some(both) = exc.intersection(inh).next()
        {
            s.err(
                "R8",
                "projections",
                format!(
                    "`{source}` has both an excitatory and an inhibitory connection {:?} -> {:?}",
                    both.0, both.1
                ),
            );
        }
    }
}
