//! Reading the JSON tree into the checker's typed model, reporting every missing field or wrong
//! type as an `R0` (schema) violation with its path.
//!
//! An element with a broken required field is left out of the model (after its `R0`), so the
//! rules that follow see only complete elements and never need to guess. Value ranges are not
//! checked here (that is `R1`), except for enumerations whose unknown strings cannot be
//! represented (hemispheres, modes, receptors, kinds), which are `R1` too.

pub use super::json::{Obj, Sink, arr_of, at, float_of, int_of, join, obj};

/// The mode of a synapse row (reference §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Disabled,
    Excitatory,
    Inhibitory,
    ExcitatoryAndInhibitory,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        Some(match text {
            "disabled" => Mode::Disabled,
            "excitatory" => Mode::Excitatory,
            "inhibitory" => Mode::Inhibitory,
            "excitatory_and_inhibitory" => Mode::ExcitatoryAndInhibitory,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Mode::Disabled => "disabled",
            Mode::Excitatory => "excitatory",
            Mode::Inhibitory => "inhibitory",
            Mode::ExcitatoryAndInhibitory => "excitatory_and_inhibitory",
        }
    }
}

/// A string enumeration field read through `Mode::parse`; unknown strings are `R1`.
fn mode_field(o: &Obj, key: &str, allowed: &[Mode], s: &mut Sink) -> Option<Mode> {
    let text = o.str(key, s)?;
    match Mode::parse(text).filter(|m| allowed.contains(m)) {
        Some(m) => Some(m),
        None => {
            let names: Vec<_> = allowed.iter().map(|m| m.name()).collect();
            s.err(
                "R1",
                o.path_of(key),
                format!("`{text}` is not one of {}", names.join(", ")),
            );
            None
        }
    }
}

const ALL_MODES: [Mode; 4] = [
    Mode::Disabled,
    Mode::Excitatory,
    Mode::Inhibitory,
    Mode::ExcitatoryAndInhibitory,
];
const RECEPTORS: [Mode; 2] = [Mode::Excitatory, Mode::Inhibitory];

/// `"top"`/`"bottom"` for messages.
pub fn hemi_name(h: u8) -> &'static str {
    if h == 0 { "top" } else { "bottom" }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    External,
    Lif,
}

/// One label of an external neuron (its route to one PADI bus of one hemisphere).
pub struct ExtLabel {
    pub hemisphere: u8,
    pub padi_bus: i64,
    pub spl1: i64,
    pub neuron_label: i64,
    pub row_select: i64,
    pub synapse_label: i64,
    pub spike_label: i64,
    pub path: String,
}

pub struct Compartment {
    pub id: i64,
    /// `(row, column)` of each circuit.
    pub atoms: Vec<(i64, i64)>,
    pub spike_master: i64,
    /// Per circuit, the receptors it accepts.
    pub receptors: Vec<Vec<Mode>>,
    pub path: String,
}

/// The placement of one `lif` neuron.
pub struct OnChip {
    pub anchor: (i64, i64),
    pub compartments: Vec<Compartment>,
    pub event_output: i64,
    pub address_out: i64,
    pub calib: String,
}

pub struct Neuron {
    pub index: i64,
    pub record_spikes: bool,
    pub labels: Vec<ExtLabel>,
    pub on_chip: Option<OnChip>,
    pub path: String,
}

pub struct Population {
    pub id: String,
    pub kind: Kind,
    pub size: i64,
    /// `shape.compartments`: `(id, cells as (dx, drow))`; lif only.
    pub shape: Vec<(i64, Vec<(i64, i64)>)>,
    pub neurons: Vec<Neuron>,
    pub path: String,
}

pub struct Synapse {
    pub hemisphere: u8,
    pub row: i64,
    pub column: i64,
    pub weight: i64,
    pub label: i64,
    pub path: String,
}

pub struct Connection {
    pub pre: (i64, i64),
    pub post: (i64, i64),
    pub sw_weight: f64,
    pub weight: i64,
    pub synapses: Vec<Synapse>,
    pub path: String,
}

pub struct Projection {
    pub id: String,
    pub source: String,
    pub pre: String,
    pub post: String,
    pub receptor: Mode,
    pub scale: f64,
    /// The clamp bound of quantisation (`weight_clip`, default 63).
    pub weight_clip: i64,
    pub connections: Vec<Connection>,
    pub path: String,
}

pub struct Driver {
    pub hemisphere: u8,
    pub driver: i64,
    pub padi_bus: i64,
    pub index_on_bus: i64,
    pub mask: i64,
    /// Modes of rows `2d` and `2d + 1`.
    pub modes: [Mode; 2],
    pub enable_receiver: bool,
    pub path: String,
}

pub struct RowEntry {
    pub hemisphere: u8,
    pub row: i64,
    pub driver: i64,
    pub mode: Mode,
    pub path: String,
}

pub struct Node {
    pub input: i64,
    pub output: i64,
    pub mask: i64,
    pub target: i64,
    pub path: String,
}

/// The parts of a configuration that the structural and routing rules work on.
#[derive(Default)]
pub struct Model {
    pub populations: Vec<Population>,
    pub projections: Vec<Projection>,
    pub drivers: Vec<Driver>,
    pub rows: Vec<RowEntry>,
    pub crossbar: Vec<Node>,
}

impl Model {
    pub fn population(&self, id: &str) -> Option<&Population> {
        self.populations.iter().find(|p| p.id == id)
    }
}

/// Reads every element of the list `root.key` with `f`, keeping those that read completely.
fn list<T>(
    o: &Obj,
    key: &str,
    s: &mut Sink,
    mut f: impl FnMut(Obj, &mut Sink) -> Option<T>,
) -> Vec<T> {
    let Some(items) = o.arr(key, s) else {
        return Vec::new();
    };
    let path = o.path_of(key);
    let mut out = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let p = at(&path, i);
        if let Some(e) = obj(v, &p, s).and_then(|e| f(e, s)) {
            out.push(e);
        }
    }
    out
}

pub fn read_model(root: Obj, s: &mut Sink) -> Model {
    Model {
        populations: list(&root, "populations", s, read_population),
        projections: list(&root, "projections", s, read_projection),
        drivers: list(&root, "synapse_drivers", s, read_driver),
        rows: list(&root, "rows", s, |o, s| {
            Some(RowEntry {
                hemisphere: o.hemisphere("hemisphere", s)?,
                row: o.int("row", s)?,
                driver: o.int("driver", s)?,
                mode: mode_field(&o, "mode", &ALL_MODES, s)?,
                path: o.path.to_string(),
            })
        }),
        crossbar: list(&root, "crossbar", s, |o, s| {
            Some(Node {
                input: o.int("input", s)?,
                output: o.int("output", s)?,
                mask: o.int("mask", s)?,
                target: o.int("target", s)?,
                path: o.path.to_string(),
            })
        }),
    }
}

fn read_population(o: Obj, s: &mut Sink) -> Option<Population> {
    let id = o.str("id", s)?.to_string();
    let kind = match o.str("kind", s)? {
        "external" => Kind::External,
        "lif" => Kind::Lif,
        other => {
            s.err(
                "R1",
                o.path_of("kind"),
                format!("`{other}` is not a population kind of v1 (external, lif)"),
            );
            return None;
        }
    };
    let size = o.int("size", s)?;
    let mut shape = Vec::new();
    if kind == Kind::Lif {
        let sh_path = o.path_of("shape");
        let sh = obj(o.req("shape", s)?, &sh_path, s)?;
        shape = list(&sh, "compartments", s, |c, s| {
            let id = c.int("id", s)?;
            let cells_path = c.path_of("cells");
            let mut cells = Vec::new();
            for (i, cell) in c.arr("cells", s)?.iter().enumerate() {
                let p = at(&cells_path, i);
                let pair = arr_of(cell, &p, s)?;
                if pair.len() != 2 {
                    s.err("R0", &p, "expected a cell [dx, drow]");
                    return None;
                }
                cells.push((
                    int_of(&pair[0], &at(&p, 0), s)?,
                    int_of(&pair[1], &at(&p, 1), s)?,
                ));
            }
            Some((id, cells))
        });
    }
    let neurons = list(&o, "neurons", s, |n, s| read_neuron(n, kind, s));
    Some(Population {
        id,
        kind,
        size,
        shape,
        neurons,
        path: o.path.to_string(),
    })
}

fn read_neuron(n: Obj, kind: Kind, s: &mut Sink) -> Option<Neuron> {
    let index = n.int("index", s)?;
    let record_spikes = n.bool("record_spikes", s)?;
    let mut labels = Vec::new();
    let mut on_chip = None;
    match kind {
        Kind::External => {
            labels = list(&n, "labels", s, |l, s| {
                Some(ExtLabel {
                    hemisphere: l.hemisphere("hemisphere", s)?,
                    padi_bus: l.int("padi_bus", s)?,
                    spl1: l.int("spl1", s)?,
                    neuron_label: l.int("neuron_label", s)?,
                    row_select: l.int("row_select", s)?,
                    synapse_label: l.int("synapse_label", s)?,
                    spike_label: l.int("spike_label", s)?,
                    path: l.path.to_string(),
                })
            });
        }
        Kind::Lif => {
            let a_path = n.path_of("anchor");
            let a = obj(n.req("anchor", s)?, &a_path, s)?;
            let anchor = (a.int("row", s)?, a.int("column", s)?);
            let compartments = list(&n, "compartments", s, read_compartment);
            on_chip = Some(OnChip {
                anchor,
                compartments,
                event_output: n.int("event_output", s)?,
                address_out: n.int("address_out", s)?,
                calib: n.str("calib", s)?.to_string(),
            });
        }
    }
    Some(Neuron {
        index,
        record_spikes,
        labels,
        on_chip,
        path: n.path.to_string(),
    })
}

fn read_compartment(c: Obj, s: &mut Sink) -> Option<Compartment> {
    let id = c.int("id", s)?;
    let atoms = list(&c, "atomic_neurons", s, |a, s| {
        Some((a.int("row", s)?, a.int("column", s)?))
    });
    let spike_master = c.int("spike_master", s)?;
    let rec_path = c.path_of("receptors");
    let mut receptors = Vec::new();
    for (i, r) in c.arr("receptors", s)?.iter().enumerate() {
        let p = at(&rec_path, i);
        let mut set = Vec::new();
        for (j, name) in arr_of(r, &p, s)?.iter().enumerate() {
            match name
                .as_str()
                .and_then(Mode::parse)
                .filter(|m| RECEPTORS.contains(m))
            {
                Some(m) => set.push(m),
                None => s.err(
                    "R1",
                    at(&p, j),
                    format!("{name} is not a receptor (excitatory, inhibitory)"),
                ),
            }
        }
        receptors.push(set);
    }
    Some(Compartment {
        id,
        atoms,
        spike_master,
        receptors,
        path: c.path.to_string(),
    })
}

fn read_projection(o: Obj, s: &mut Sink) -> Option<Projection> {
    let weight_clip = match o.map.get("weight_clip") {
        Some(v) => int_of(v, &o.path_of("weight_clip"), s)?,
        None => super::chip::WEIGHT_MAX,
    };
    Some(Projection {
        id: o.str("id", s)?.to_string(),
        source: o.str("source", s)?.to_string(),
        pre: o.str("pre", s)?.to_string(),
        post: o.str("post", s)?.to_string(),
        receptor: mode_field(&o, "receptor", &RECEPTORS, s)?,
        scale: o.float("sw_weight_scale", s)?,
        weight_clip,
        connections: list(&o, "connections", s, |c, s| {
            Some(Connection {
                pre: c.pair("pre", s)?,
                post: c.pair("post", s)?,
                sw_weight: c.float("sw_weight", s)?,
                weight: c.int("weight", s)?,
                synapses: list(&c, "synapses", s, |y, s| {
                    Some(Synapse {
                        hemisphere: y.hemisphere("hemisphere", s)?,
                        row: y.int("row", s)?,
                        column: y.int("column", s)?,
                        weight: y.int("weight", s)?,
                        label: y.int("label", s)?,
                        path: y.path.to_string(),
                    })
                }),
                path: c.path.to_string(),
            })
        }),
        path: o.path.to_string(),
    })
}

fn read_driver(o: Obj, s: &mut Sink) -> Option<Driver> {
    let modes_path = o.path_of("row_modes");
    let modes = obj(o.req("row_modes", s)?, &modes_path, s)?;
    Some(Driver {
        hemisphere: o.hemisphere("hemisphere", s)?,
        driver: o.int("driver", s)?,
        padi_bus: o.int("padi_bus", s)?,
        index_on_bus: o.int("index_on_bus", s)?,
        mask: o.int("row_address_compare_mask", s)?,
        modes: [
            mode_field(&modes, "row_2d", &ALL_MODES, s)?,
            mode_field(&modes, "row_2d_plus_1", &ALL_MODES, s)?,
        ],
        enable_receiver: o.bool("enable_receiver", s)?,
        path: o.path.to_string(),
    })
}
