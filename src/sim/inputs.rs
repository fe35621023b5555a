//! Spike trains of generator inputs (`poisson`, `regular`) for a simulation window.
//!
//! Dataset inputs (`yinyang`, `file`) are encoded per sample by the training code.

use super::rng::Rng;
use crate::sema::hir::{InputKind, Program};

/// Spike trains (time, channel) of every input for one run of length `t_max`; datasets give
/// none here.
pub fn generate(p: &Program, seed: u64, t_max: f64) -> Vec<Vec<(f64, u32)>> {
    p.inputs
        .iter()
        .map(|input| {
            let mut spikes = Vec::new();
            match &input.kind {
                InputKind::Poisson {
                    rate,
                    seed: s,
                    start,
                    stop,
                } => {
                    let stop = stop.unwrap_or(t_max).min(t_max);
                    for ch in 0..input.size {
                        let mut rng =
                            Rng::stream(seed ^ s, &format!("poisson:{}:{ch}", input.name));
                        let mut t = *start;
                        loop {
                            t += rng.exponential(*rate);
                            if t > stop || *rate == 0.0 {
                                break;
                            }
                            spikes.push((t, ch as u32));
                        }
                    }
                }
                InputKind::Regular { rate, phase } => {
                    for ch in 0..input.size {
                        let mut t = *phase;
                        while t <= t_max {
                            spikes.push((t, ch as u32));
                            t += 1.0 / rate;
                        }
                    }
                }
                InputKind::YinYang(_) | InputKind::File { .. } => {}
            }
            spikes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            spikes
        })
        .collect()
}
