//! Quantisation: model weights to signed 6-bit hardware weights, split by the chip input they
//! drive.
//!
//! `w_hw = round_half_away_from_zero(clamp(scale * w, -63, 63))`, with the sign taken from the
//! chip input the weight drives (a negative weight on a receptor whose current excites uses the
//! inhibitory input). Each program projection becomes at most two hardware projections, one per
//! input; a connection whose quantised weight is zero is dropped. Weights above 63 do not occur
//! unless the hardware section raises `weight_clip`; the router splits any requested weight over
//! `ceil(w / 63)` synapses.

use super::chip::WEIGHT_MAX;
use super::model::{HwModel, Input};
use crate::sema::hir::{Node, Program};
use crate::sim::network::{Network, projection_name};

/// One hardware projection: the connections of one program projection that use one input.
#[derive(Clone, Debug, PartialEq)]
pub struct HwProjection {
    /// Index of the program projection.
    pub source: usize,
    pub name: String,
    pub input: Input,
    pub pre: Node,
    pub post: usize,
    pub connections: Vec<HwConnection>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HwConnection {
    pub pre: usize,
    pub post: usize,
    /// The model weight.
    pub sw: f64,
    /// The requested hardware weight (magnitude).
    pub weight: u32,
}

/// Clipping statistics of one program projection.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClipStats {
    pub total: usize,
    pub clipped: usize,
    pub zero: usize,
    /// Largest |scale * w|.
    pub largest: f64,
}

/// The rounding rule: half away from zero (as hxtorch's synapse module does), after clamping to
/// the chip's 6-bit range.
pub fn quantise(scale: f64, w: f64) -> i64 {
    quantise_clipped(scale, w, WEIGHT_MAX)
}

/// [`quantise`] with another clamp bound (weights above 63 become several synapses).
pub fn quantise_clipped(scale: f64, w: f64, clip: u32) -> i64 {
    let lim = clip as f64;
    (scale * w).clamp(-lim, lim).round() as i64
}

/// Quantises every projection; `models[pop]` is the recognised model of each population.
pub fn run(
    p: &Program,
    net: &Network,
    models: &[HwModel],
    scale: f64,
    clip: u32,
) -> (Vec<HwProjection>, Vec<ClipStats>) {
    let mut out = Vec::new();
    let mut stats = Vec::new();
    for (k, syn) in net.projections.iter().enumerate() {
        let model = &models[syn.post];
        let name = projection_name(p, k)
            .trim_start_matches("weights:")
            .to_string();
        let mut st = ClipStats::default();
        let mut by_input: [Vec<HwConnection>; 2] = [Vec::new(), Vec::new()];
        for i in 0..syn.n_pre {
            for (&j, &w) in syn.targets[i].iter().zip(syn.row(i)) {
                let j = j as usize;
                let (input, _) = model.route(syn.receptor, w);
                // The hardware weight scales the model weight; the receptor's gain only picks
                // the input (its magnitude is the per-input gain of the calibration).
                let scaled = w.abs() * scale;
                st.total += 1;
                st.largest = st.largest.max(scaled);
                if scaled > clip as f64 {
                    st.clipped += 1;
                }
                let q = quantise_clipped(scale, w.abs(), clip);
                if q == 0 {
                    st.zero += 1;
                    continue;
                }
                by_input[input.index()].push(HwConnection {
                    pre: i,
                    post: j,
                    sw: w,
                    weight: q as u32,
                });
            }
        }
        for input in [Input::Excitatory, Input::Inhibitory] {
            let conns = std::mem::take(&mut by_input[input.index()]);
            if !conns.is_empty() {
                out.push(HwProjection {
                    source: k,
                    name: name.clone(),
                    input,
                    pre: syn.pre,
                    post: syn.post,
                    connections: conns,
                });
            }
        }
        stats.push(st);
    }
    (out, stats)
}

#[cfg(test)]
mod tests {
    use super::quantise;

    #[test]
    fn rounds_half_away_from_zero_and_clips() {
        assert_eq!(quantise(1.0, 0.5), 1);
        assert_eq!(quantise(1.0, -0.5), -1);
        assert_eq!(quantise(1.0, 2.5), 3);
        assert_eq!(quantise(58.0, 1.2), 63);
        assert_eq!(quantise(58.0, -2.0), -63);
        assert_eq!(quantise(58.0, 0.0), 0);
    }
}
