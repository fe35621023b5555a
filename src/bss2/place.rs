//! Placement: every neuron of every population onto neuron circuits.
//!
//! A neuron whose fan-in exceeds one circuit's 256 synapse rows becomes a logical neuron of `k`
//! adjacent circuits in one row, sharing a membrane (`k = ceil(fan-in / 256)`, the same for the
//! whole population). Placement is first-fit in halco's enum order (the top row left to right,
//! then the bottom row), as hxtorch and PyNN do; a population pinned to a hemisphere by the
//! hardware section only uses that row. Routing is not considered here.

use super::chip::{COLUMNS, HEMISPHERES, ROWS};

/// Where one population went.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// Circuits per neuron.
    pub k: usize,
    /// Per neuron, its anchor `(row, column)`; the circuits are `column .. column + k`.
    pub anchors: Vec<(usize, usize)>,
}

impl Placed {
    /// The atomic neurons of neuron `i`.
    pub fn circuits(&self, i: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let (r, c) = self.anchors[i];
        (c..c + self.k).map(move |c| (r, c))
    }
}

/// Why a population could not be placed.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaceError {
    pub population: usize,
    pub reason: String,
    pub help: String,
}

/// One population to place: size, largest fan-in in synapses, allowed rows.
pub struct Request {
    pub size: usize,
    pub fan_in: usize,
    pub rows: Vec<usize>,
}

/// Places the populations in order.
pub fn run(requests: &[Request]) -> Result<Vec<Placed>, PlaceError> {
    let mut used = [[false; COLUMNS]; HEMISPHERES];
    let mut out = Vec::new();
    for (pi, req) in requests.iter().enumerate() {
        let k = req.fan_in.div_ceil(ROWS).max(1);
        let free_total: usize = req
            .rows
            .iter()
            .map(|&r| used[r].iter().filter(|u| !**u).count())
            .sum();
        if k > COLUMNS {
            return Err(PlaceError {
                population: pi,
                reason: format!(
                    "a fan-in of {} synapses needs logical neurons of {k} circuits, more than a row has",
                    req.fan_in
                ),
                help: "reduce the fan-in (fewer or sparser inputs)".into(),
            });
        }
        let mut anchors = Vec::with_capacity(req.size);
        for i in 0..req.size {
            let spot = req.rows.iter().find_map(|&r| {
                (0..=COLUMNS - k)
                    .find(|&c| used[r][c..c + k].iter().all(|u| !*u))
                    .map(|c| (r, c))
            });
            let Some((r, c)) = spot else {
                let fit = free_total / k;
                let needed = req.size * k;
                let what = if k > 1 {
                    format!(
                        "{} neurons of {k} circuits each (fan-in {}) need {needed} circuits",
                        req.size, req.fan_in
                    )
                } else {
                    format!("{} neurons need {needed} circuits", req.size)
                };
                return Err(PlaceError {
                    population: pi,
                    reason: format!(
                        "{what}; {free_total} are free after the populations before it, so only {i} could be placed"
                    ),
                    help: if k > 1 {
                        format!(
                            "at most {fit} neurons with this fan-in fit; reduce the population or its fan-in (the chip has 512 circuits, partitioning over several runs is not supported)"
                        )
                    } else {
                        format!("at most {fit} more neurons fit; the chip has 512 circuits")
                    },
                });
            };
            used[r][c..c + k].iter_mut().for_each(|u| *u = true);
            anchors.push((r, c));
        }
        out.push(Placed { k, anchors });
    }
    Ok(out)
}
