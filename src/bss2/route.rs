//! Routing: events from every source to every synapse, through crossbar, PADI buses, synapse
//! drivers (row-select masks, row modes) and synapse labels.
//!
//! The steps mirror grenade's greedy router:
//! 1. every connection becomes `max(1, ceil(w / 63))` synapses (63s, then the remainder), each
//!    assigned to the least-loaded circuit of the target logical neuron;
//! 2. on-chip sources are grouped by neuron event output (`column / 32`, both rows): a group
//!    reaches PADI bus `event_output % 4` and has the row-select address `4 e + k` (`k = 0` for
//!    the left half, 3 for the right, so the two groups of a bus differ in three bits). Every
//!    spike master of the event output is a member and gets a label, sources or not, because
//!    all of them put events on the bus;
//! 3. external sources are packed, per hemisphere, into groups of at most 64 that fit on a bus,
//!    each placed on the bus with the most free drivers, with an address far (in Hamming
//!    distance) from those already on the bus;
//! 4. a group needs, per chip input, as many rows as the largest number of its synapses any one
//!    circuit receives; drivers are assigned by bipartite matching, where driver `d` may serve
//!    group `g` when the mask "bits where `d` and `r_g` agree" separates `r_g` from every other
//!    address on the bus. That mask is the driver's `row_address_compare_mask`;
//! 5. synapses go into the group's rows in order (excitatory rows first), one per row and
//!    column, with the source's label.
//!
//! Failures are reported with the projection that needs the resource and the reason.

use super::chip::*;
use super::model::Input;
use super::place::Placed;
use super::quantise::HwProjection;
use crate::sema::hir::Node;
use std::collections::BTreeMap;

/// A source of events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Neuron `idx` of program input `input` (an external population).
    External { input: usize, idx: usize },
    /// Neuron `idx` of population `pop` (on chip).
    Internal { pop: usize, idx: usize },
}

/// Row modes as the configuration names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowMode {
    Disabled,
    Input(Input),
}

impl RowMode {
    pub fn name(self) -> &'static str {
        match self {
            RowMode::Disabled => "disabled",
            RowMode::Input(i) => i.name(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacedSynapse {
    pub hemisphere: usize,
    pub row: usize,
    pub column: usize,
    pub weight: u32,
    pub label: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExternalLabel {
    pub hemisphere: usize,
    pub bus: usize,
    pub row_select: u32,
    pub label: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    pub hemisphere: usize,
    pub driver: usize,
    pub mask: u32,
    pub modes: [RowMode; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CrossbarNode {
    pub input: u32,
    pub output: u32,
    pub mask: u32,
    pub target: u32,
}

/// The routed network.
#[derive(Clone, Debug, Default)]
pub struct Routed {
    /// `synapses[proj][conn]`: the realised synapses of each connection, in split order.
    pub synapses: Vec<Vec<Vec<PlacedSynapse>>>,
    pub external: BTreeMap<(usize, usize), Vec<ExternalLabel>>,
    /// `(event_output, address_out)` of every on-chip neuron, keyed by (population, index).
    pub internal: BTreeMap<(usize, usize), (u32, u32)>,
    pub drivers: Vec<DriverConfig>,
    pub crossbar: Vec<CrossbarNode>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RouteError {
    /// Index into the hardware projections.
    pub projection: usize,
    pub reason: String,
    pub help: String,
}

/// The split of a requested weight: 63s, then the remainder.
pub fn split(w: u32) -> Vec<u32> {
    let n = w.div_ceil(WEIGHT_MAX).max(1);
    (0..n)
        .map(|k| (w - k * WEIGHT_MAX).min(WEIGHT_MAX))
        .collect()
}

/// One synapse before placement in a row.
struct Pending {
    proj: usize,
    conn: usize,
    source: Source,
    input: Input,
    hemisphere: usize,
    column: usize,
    weight: u32,
}

/// A row-select group on one bus of one hemisphere.
#[derive(Clone, Debug)]
struct Group {
    hemisphere: usize,
    bus: usize,
    address: u32,
    members: Vec<Source>,
    /// Rows needed per input.
    rows: [usize; 2],
    drivers: Vec<usize>,
    /// A projection that uses the group, for error messages.
    blame: usize,
}

impl Group {
    fn n_drivers(&self) -> usize {
        (self.rows[0] + self.rows[1]).div_ceil(2)
    }
}

fn half_offset(e: usize) -> u32 {
    if e < 4 { 0 } else { 3 }
}

/// Routes the quantised projections onto the placed populations. `recorded[pop]` asks for the
/// population's spikes at the FPGA.
pub fn run(
    projections: &[HwProjection],
    placed: &[Placed],
    recorded: &[bool],
) -> Result<Routed, RouteError> {
    // 1. Split and assign synapses to circuits.
    let mut load = [[0usize; COLUMNS]; HEMISPHERES];
    let mut pending = Vec::new();
    for (pi, proj) in projections.iter().enumerate() {
        let pl = &placed[proj.post];
        for (ci, c) in proj.connections.iter().enumerate() {
            let source = match proj.pre {
                Node::Input(i) => Source::External {
                    input: i.index(),
                    idx: c.pre,
                },
                Node::Pop(q) => Source::Internal {
                    pop: q.index(),
                    idx: c.pre,
                },
            };
            for w in split(c.weight) {
                let (h, col) = pl
                    .circuits(c.post)
                    .min_by_key(|&(h, col)| load[h][col])
                    .expect("a neuron has a circuit");
                load[h][col] += 1;
                pending.push(Pending {
                    proj: pi,
                    conn: ci,
                    source,
                    input: proj.input,
                    hemisphere: h,
                    column: col,
                    weight: w,
                });
            }
        }
    }
    // 2. On-chip groups, one per event output.
    let mut internal = BTreeMap::new();
    let mut by_output: BTreeMap<usize, Vec<(usize, usize, usize, usize)>> = BTreeMap::new();
    for (pop, pl) in placed.iter().enumerate() {
        for (idx, &(r, c)) in pl.anchors.iter().enumerate() {
            by_output
                .entry(c / COLUMNS_PER_EVENT_OUTPUT)
                .or_default()
                .push((r, c, pop, idx));
        }
    }
    let mut label_of: BTreeMap<Source, u32> = BTreeMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: BTreeMap<(Source, usize), usize> = BTreeMap::new();
    for (&e, members) in &mut by_output {
        members.sort();
        let address = 4 * e as u32 + half_offset(e);
        for (label, &(_, _, pop, idx)) in members.iter().enumerate() {
            label_of.insert(Source::Internal { pop, idx }, label as u32);
            internal.insert((pop, idx), (e as u32, (half_offset(e) << 6) | label as u32));
        }
        for h in 0..HEMISPHERES {
            let srcs: Vec<Source> = members
                .iter()
                .map(|&(_, _, pop, idx)| Source::Internal { pop, idx })
                .collect();
            let used: Vec<&Pending> = pending
                .iter()
                .filter(|p| p.hemisphere == h && srcs.contains(&p.source))
                .collect();
            if used.is_empty() {
                continue;
            }
            let gi = groups.len();
            for s in &srcs {
                group_of.insert((*s, h), gi);
            }
            groups.push(Group {
                hemisphere: h,
                bus: e % BUSES,
                address,
                rows: rows_needed(&used),
                members: srcs,
                drivers: Vec::new(),
                blame: used[0].proj,
            });
        }
    }
    let mut committed = [[0usize; BUSES]; HEMISPHERES];
    for g in &groups {
        committed[g.hemisphere][g.bus] += g.n_drivers();
    }
    for g in &groups {
        if committed[g.hemisphere][g.bus] > DRIVERS_PER_BUS {
            return Err(RouteError {
                projection: g.blame,
                reason: format!(
                    "the on-chip sources on PADI bus {} of the {} hemisphere need {} synapse rows, a bus has {ROWS_PER_BUS}",
                    g.bus,
                    hemisphere_name(g.hemisphere),
                    committed[g.hemisphere][g.bus] * 2
                ),
                help: "a bus carries the spikes of two neuron event outputs (columns 32e..32e+31 and 128 columns further) and gives each circuit 64 synapse rows; make the source population smaller or sparser, or use weights of one sign".into(),
            });
        }
    }
    // 3. External groups, per hemisphere.
    let mut external_sources: Vec<Source> = pending
        .iter()
        .filter(|p| matches!(p.source, Source::External { .. }))
        .map(|p| p.source)
        .collect();
    external_sources.sort();
    external_sources.dedup();
    for h in 0..HEMISPHERES {
        let mut open: Option<Group> = None;
        for &s in &external_sources {
            let mine: Vec<&Pending> = pending
                .iter()
                .filter(|p| p.hemisphere == h && p.source == s)
                .collect();
            if mine.is_empty() {
                continue;
            }
            if let Some(g) = &mut open {
                let mut members = g.members.clone();
                members.push(s);
                let used: Vec<&Pending> = pending
                    .iter()
                    .filter(|p| p.hemisphere == h && members.contains(&p.source))
                    .collect();
                let rows = rows_needed(&used);
                let drivers = (rows[0] + rows[1]).div_ceil(2);
                if members.len() <= LABELS && committed[h][g.bus] + drivers <= DRIVERS_PER_BUS {
                    g.members = members;
                    g.rows = rows;
                    continue;
                }
                let g = open.take().expect("open group");
                committed[h][g.bus] += g.n_drivers();
                groups.push(g);
            }
            let rows = rows_needed(&mine);
            let drivers = (rows[0] + rows[1]).div_ceil(2);
            let bus = (0..BUSES)
                .min_by_key(|&b| (committed[h][b], b))
                .expect("buses");
            if committed[h][bus] + drivers > DRIVERS_PER_BUS {
                return Err(RouteError {
                    projection: mine[0].proj,
                    reason: format!(
                        "an input neuron needs {} synapse rows in the {} hemisphere, and no PADI bus has that many free (the fullest has {} of {ROWS_PER_BUS} rows in use)",
                        rows[0] + rows[1],
                        hemisphere_name(h),
                        committed[h][bus] * 2
                    ),
                    help: "the chip has 4 buses of 64 rows per hemisphere; reduce the fan-in of the targets or place target populations in both hemispheres (`top [...]`, `bottom [...]` in the hardware section)".into(),
                });
            }
            open = Some(Group {
                hemisphere: h,
                bus,
                address: 0,
                members: vec![s],
                rows,
                drivers: Vec::new(),
                blame: mine[0].proj,
            });
        }
        if let Some(g) = open.take() {
            committed[h][g.bus] += g.n_drivers();
            groups.push(g);
        }
    }
    // Labels of external sources, per group; addresses chosen on each bus.
    let mut external: BTreeMap<(usize, usize), Vec<ExternalLabel>> = BTreeMap::new();
    for gi in 0..groups.len() {
        if !matches!(groups[gi].members[0], Source::External { .. }) {
            continue;
        }
        let (h, bus) = (groups[gi].hemisphere, groups[gi].bus);
        let taken: Vec<u32> = groups
            .iter()
            .enumerate()
            .filter(|(k, g)| *k < gi && g.hemisphere == h && g.bus == bus)
            .map(|(_, g)| g.address)
            .chain(
                groups
                    .iter()
                    .filter(|g| {
                        g.hemisphere == h
                            && g.bus == bus
                            && matches!(g.members[0], Source::Internal { .. })
                    })
                    .map(|g| g.address),
            )
            .collect();
        let address = (0..32u32)
            .rev()
            .filter(|r| !taken.contains(r))
            .max_by_key(|r| {
                taken
                    .iter()
                    .map(|t| (t ^ r).count_ones())
                    .min()
                    .unwrap_or(5)
            })
            .expect("fewer than 32 groups on a bus");
        groups[gi].address = address;
        for (label, s) in groups[gi].members.clone().into_iter().enumerate() {
            group_of.insert((s, h), gi);
            if let Source::External { input, idx } = s {
                external
                    .entry((input, idx))
                    .or_default()
                    .push(ExternalLabel {
                        hemisphere: h,
                        bus,
                        row_select: address,
                        label: label as u32,
                    });
            }
        }
    }
    // 4. Drivers by matching, per bus.
    for h in 0..HEMISPHERES {
        for bus in 0..BUSES {
            let on_bus: Vec<usize> = (0..groups.len())
                .filter(|&g| groups[g].hemisphere == h && groups[g].bus == bus)
                .collect();
            if on_bus.is_empty() {
                continue;
            }
            let eligible = |g: usize, d: usize| {
                let r = groups[g].address;
                on_bus.iter().all(|&o| {
                    o == g || {
                        let diff = groups[o].address ^ r;
                        diff & !(d as u32 ^ r) & 31 != 0
                    }
                })
            };
            let mut slots: Vec<usize> = Vec::new();
            let mut order = on_bus.clone();
            order.sort_by_key(|&g| ((0..DRIVERS_PER_BUS).filter(|&d| eligible(g, d)).count(), g));
            for &g in &order {
                slots.extend(std::iter::repeat_n(g, groups[g].n_drivers()));
            }
            let mut owner: Vec<Option<usize>> = vec![None; DRIVERS_PER_BUS];
            for s in 0..slots.len() {
                let mut seen = vec![false; DRIVERS_PER_BUS];
                if !augment(s, &slots, &eligible, &mut owner, &mut seen) {
                    let g = &groups[slots[s]];
                    return Err(RouteError {
                        projection: g.blame,
                        reason: format!(
                            "the synapse drivers of PADI bus {bus} in the {} hemisphere cannot be shared among its {} row-select groups ({} drivers needed)",
                            hemisphere_name(h),
                            on_bus.len(),
                            slots.len()
                        ),
                        help: "fewer sources or targets per bus; place the target population in the other hemisphere".into(),
                    });
                }
            }
            for (idx, o) in owner.iter().enumerate() {
                if let Some(s) = o {
                    groups[slots[*s]].drivers.push(idx * BUSES + bus);
                }
            }
        }
    }
    // 5. Rows and synapses.
    let mut drivers = Vec::new();
    let mut group_rows: Vec<[Vec<usize>; 2]> = Vec::new();
    for g in &mut groups {
        g.drivers.sort();
        let rows: Vec<usize> = g.drivers.iter().flat_map(|&d| [2 * d, 2 * d + 1]).collect();
        let exc = rows[..g.rows[0]].to_vec();
        let inh = rows[g.rows[0]..g.rows[0] + g.rows[1]].to_vec();
        for &d in &g.drivers {
            let mode = |row: usize| {
                if exc.contains(&row) {
                    RowMode::Input(Input::Excitatory)
                } else if inh.contains(&row) {
                    RowMode::Input(Input::Inhibitory)
                } else {
                    RowMode::Disabled
                }
            };
            drivers.push(DriverConfig {
                hemisphere: g.hemisphere,
                driver: d,
                mask: !((d as u32 / BUSES as u32) ^ g.address) & 31,
                modes: [mode(2 * d), mode(2 * d + 1)],
            });
        }
        group_rows.push([exc, inh]);
    }
    drivers.sort_by_key(|d| (d.hemisphere, d.driver));
    let mut synapses: Vec<Vec<Vec<PlacedSynapse>>> = projections
        .iter()
        .map(|p| vec![Vec::new(); p.connections.len()])
        .collect();
    let mut next_row: BTreeMap<(usize, usize, usize, usize), usize> = BTreeMap::new();
    for p in &pending {
        let g = group_of[&(p.source, p.hemisphere)];
        let slot = next_row
            .entry((g, p.input.index(), p.hemisphere, p.column))
            .or_insert(0);
        let row = group_rows[g][p.input.index()][*slot];
        *slot += 1;
        let label = match p.source {
            Source::Internal { .. } => label_of[&p.source],
            Source::External { input, idx } => {
                external[&(input, idx)]
                    .iter()
                    .find(|l| l.hemisphere == p.hemisphere)
                    .expect("labelled")
                    .label
            }
        };
        synapses[p.proj][p.conn].push(PlacedSynapse {
            hemisphere: p.hemisphere,
            row,
            column: p.column,
            weight: p.weight,
            label,
        });
    }
    // Crossbar.
    let mut crossbar = Vec::new();
    for g in &groups {
        match g.members[0] {
            Source::Internal { pop, idx } => {
                let e = internal[&(pop, idx)].0;
                crossbar.push(CrossbarNode {
                    input: e,
                    output: e % 4 + 4 * g.hemisphere as u32,
                    mask: 0,
                    target: 0,
                });
            }
            Source::External { .. } => crossbar.push(CrossbarNode {
                input: 8 + g.bus as u32,
                output: g.bus as u32 + 4 * g.hemisphere as u32,
                mask: 1 << 13,
                target: (g.hemisphere as u32) << 13,
            }),
        }
    }
    for (&(pop, _), &(e, _)) in &internal {
        if recorded[pop] {
            crossbar.push(CrossbarNode {
                input: e,
                output: 8 + e % 4,
                mask: 0,
                target: 0,
            });
        }
    }
    crossbar.sort();
    crossbar.dedup();
    Ok(Routed {
        synapses,
        external,
        internal,
        drivers,
        crossbar,
    })
}

/// Rows per input a set of synapses needs: the most any one circuit receives.
fn rows_needed(synapses: &[&Pending]) -> [usize; 2] {
    let mut count: BTreeMap<(usize, usize, usize), usize> = BTreeMap::new();
    for p in synapses {
        *count
            .entry((p.input.index(), p.hemisphere, p.column))
            .or_default() += 1;
    }
    let mut rows = [0, 0];
    for ((input, _, _), n) in count {
        rows[input] = rows[input].max(n);
    }
    rows
}

/// Kuhn's augmenting path for slot `s`.
fn augment(
    s: usize,
    slots: &[usize],
    eligible: &impl Fn(usize, usize) -> bool,
    owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for d in 0..owner.len() {
        if seen[d] || !eligible(slots[s], d) {
            continue;
        }
        seen[d] = true;
        if owner[d].is_none_or(|o| augment(o, slots, eligible, owner, seen)) {
            owner[d] = Some(s);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_into_63s_then_the_remainder() {
        assert_eq!(split(130), vec![63, 63, 4]);
        assert_eq!(split(63), vec![63]);
        assert_eq!(split(40), vec![40]);
        assert_eq!(split(126), vec![63, 63]);
    }
}
