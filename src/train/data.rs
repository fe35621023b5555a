//! Datasets and their spike encoding.
//!
//! The Yin-Yang dataset (Kriener, Göltz and Petrovici 2022): points in the unit square inside the
//! big circle (r_big = 0.5), classes yin (0), yang (1) and dot (2) with r_small = 0.1, mirrored
//! features (x, y, 1-x, 1-y). The `kriener` generator draws a class uniformly and then
//! rejection-samples a point of that class, as the reference implementation does; `jaxsnn` takes
//! class-balanced points from a fixed pool as jaxsnn does. Each split has its own random stream.
//! Latency encoding maps a feature value v in [0, 1] to a spike at t_early + v (t_late - t_early);
//! the bias channel spikes at its fixed time.

use crate::sema::hir::YinYang;
use crate::sim::rng::Rng;

/// One labelled sample: its input spikes (time in seconds, channel; sorted by time, then
/// channel) and its class.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub spikes: Vec<(f64, u32)>,
    pub label: usize,
}

/// The three splits of a dataset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    pub train: Vec<Sample>,
    pub validation: Vec<Sample>,
    pub test: Vec<Sample>,
    /// The points the samples encode, when the generator knows them (Yin-Yang; not files).
    pub points: Option<Points>,
}

/// The (x, y) point of every sample of each split, in sample order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Points {
    pub train: Vec<(f64, f64)>,
    pub validation: Vec<(f64, f64)>,
    pub test: Vec<(f64, f64)>,
}

impl Dataset {
    /// The Yin-Yang dataset of an input, every split encoded, with its points.
    pub fn yinyang(cfg: &YinYang) -> Dataset {
        let (train, train_points) = yinyang_points(cfg, "train", cfg.train);
        let (validation, validation_points) = yinyang_points(cfg, "validation", cfg.validation);
        let (test, test_points) = yinyang_points(cfg, "test", cfg.test);
        Dataset {
            train,
            validation,
            test,
            points: Some(Points {
                train: train_points,
                validation: validation_points,
                test: test_points,
            }),
        }
    }
}

const R_BIG: f64 = 0.5;
const R_SMALL: f64 = 0.1;

/// The Yin-Yang class of a point, or `None` outside the big circle.
pub fn yinyang_class(x: f64, y: f64) -> Option<usize> {
    if ((x - R_BIG).powi(2) + (y - R_BIG).powi(2)).sqrt() > R_BIG {
        return None;
    }
    let d_right = ((x - 1.5 * R_BIG).powi(2) + (y - R_BIG).powi(2)).sqrt();
    let d_left = ((x - 0.5 * R_BIG).powi(2) + (y - R_BIG).powi(2)).sqrt();
    let yin = d_right <= R_SMALL
        || (d_left > R_SMALL && d_left <= 0.5 * R_BIG)
        || (y > R_BIG && d_right > 0.5 * R_BIG);
    let dot = d_right < R_SMALL || d_left < R_SMALL;
    Some(if dot {
        2
    } else if yin {
        0
    } else {
        1
    })
}

fn features(x: f64, y: f64, mirror: bool) -> Vec<f64> {
    if mirror {
        vec![x, y, 1.0 - x, 1.0 - y]
    } else {
        vec![x, y]
    }
}

/// `n` samples of split `split` ("train", "validation", "test"), latency-encoded.
pub fn yinyang(cfg: &YinYang, split: &str, n: usize) -> Vec<Sample> {
    yinyang_points(cfg, split, n).0
}

/// [`yinyang`] with the (x, y) point each sample encodes.
pub fn yinyang_points(cfg: &YinYang, split: &str, n: usize) -> (Vec<Sample>, Vec<(f64, f64)>) {
    let mut rng = Rng::stream(cfg.seed, &format!("yinyang:{}:{split}", cfg.generator));
    let sample = |x: f64, y: f64, label: usize| {
        let s = Sample {
            spikes: encode(cfg, &features(x, y, cfg.mirror)),
            label,
        };
        (s, (x, y))
    };
    let pairs: Vec<(Sample, (f64, f64))> = if cfg.generator == "jaxsnn" {
        let pool: Vec<(f64, f64, usize)> = (0..10 * n + 100)
            .filter_map(|_| {
                let (x, y) = (rng.uniform(), rng.uniform());
                yinyang_class(x, y).map(|c| (x, y, c))
            })
            .collect();
        let per = [n / 3, n / 3, n - 2 * (n / 3)];
        let mut out = Vec::new();
        for (class, count) in per.iter().enumerate() {
            out.extend(
                pool.iter()
                    .filter(|p| p.2 == class)
                    .take(*count)
                    .map(|p| sample(p.0, p.1, class)),
            );
        }
        // The shuffle draws depend on the length only, so pairs shuffle like samples.
        rng.shuffle(&mut out);
        out
    } else {
        (0..n)
            .map(|_| {
                let goal = rng.below(3);
                loop {
                    let (x, y) = (rng.uniform(), rng.uniform());
                    if yinyang_class(x, y) == Some(goal) {
                        return sample(x, y, goal);
                    }
                }
            })
            .collect()
    };
    pairs.into_iter().unzip()
}

/// Latency encoding of one point's features: (time, channel) sorted by time then channel.
pub fn encode(cfg: &YinYang, features: &[f64]) -> Vec<(f64, u32)> {
    let mut spikes: Vec<(f64, u32)> = features
        .iter()
        .enumerate()
        .map(|(c, v)| (cfg.t_early + v * (cfg.t_late - cfg.t_early), c as u32))
        .collect();
    if let Some(b) = cfg.bias {
        spikes.push((b, features.len() as u32));
    }
    spikes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    spikes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_geometry() {
        assert_eq!(yinyang_class(0.75, 0.5), Some(2)); // right dot
        assert_eq!(yinyang_class(0.25, 0.5), Some(2)); // left dot
        assert_eq!(yinyang_class(0.5, 0.95), Some(0)); // top: yin
        assert_eq!(yinyang_class(0.5, 0.05), Some(1)); // bottom: yang
        assert_eq!(yinyang_class(0.02, 0.02), None);
    }
}
