//! Optimisers: Adam and SGD with momentum, exponential learning-rate decay per epoch, and
//! optional element-wise gradient clipping.

use crate::sema::hir::Optimizer;

#[derive(Clone, Debug)]
pub struct OptimState {
    pub m: Vec<Vec<f64>>,
    pub v: Vec<Vec<f64>>,
    pub step: u64,
}

impl OptimState {
    pub fn new(shapes: &[usize]) -> OptimState {
        OptimState {
            m: shapes.iter().map(|n| vec![0.0; *n]).collect(),
            v: shapes.iter().map(|n| vec![0.0; *n]).collect(),
            step: 0,
        }
    }
}

/// Applies one update to `params` (one vector per projection) with gradients `grads`.
pub fn update(
    opt: &Optimizer,
    state: &mut OptimState,
    params: &mut [Vec<f64>],
    grads: &[Vec<f64>],
    lr_scale: f64,
    clip: Option<f64>,
    mask: &[Vec<bool>],
) {
    state.step += 1;
    let t = state.step as i32;
    // The same operations per weight as written out, with the bias corrections taken once.
    let corrections = match *opt {
        Optimizer::Adam { beta1, beta2, .. } => (1.0 - beta1.powi(t), 1.0 - beta2.powi(t)),
        Optimizer::Sgd { .. } => (1.0, 1.0),
    };
    for (k, (w, g)) in params.iter_mut().zip(grads).enumerate() {
        for i in 0..w.len() {
            if !mask[k][i] {
                continue;
            }
            let gi = match clip {
                Some(c) => g[i].clamp(-c, c),
                None => g[i],
            };
            match *opt {
                Optimizer::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                } => {
                    let m = &mut state.m[k][i];
                    let v = &mut state.v[k][i];
                    *m = beta1 * *m + (1.0 - beta1) * gi;
                    *v = beta2 * *v + (1.0 - beta2) * gi * gi;
                    let mh = *m / corrections.0;
                    let vh = *v / corrections.1;
                    w[i] -= lr * lr_scale * mh / (vh.sqrt() + eps);
                }
                Optimizer::Sgd { lr, momentum } => {
                    let m = &mut state.m[k][i];
                    *m = momentum * *m + gi;
                    w[i] -= lr * lr_scale * *m;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADAM: Optimizer = Optimizer::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    /// Kingma & Ba's Adam by hand for two steps: the first step moves each weight by lr against
    /// its gradient's sign (m_hat = g, v_hat = g^2), the second by lr m_hat / sqrt(v_hat) with
    /// both bias corrections taken at t = 2.
    #[test]
    fn adam_follows_the_bias_corrected_moments_step_by_step() {
        let mut state = OptimState::new(&[2]);
        let mut w = vec![vec![1.0, -2.0]];
        let mask = vec![vec![true, true]];
        update(
            &ADAM,
            &mut state,
            &mut w,
            &[vec![0.5, -4.0]],
            1.0,
            None,
            &mask,
        );
        assert!((w[0][0] - 0.99).abs() < 1e-9, "{}", w[0][0]);
        assert!((w[0][1] - -1.99).abs() < 1e-9, "{}", w[0][1]);
        let w1 = w[0].clone();
        update(
            &ADAM,
            &mut state,
            &mut w,
            &[vec![0.25, 0.0]],
            1.0,
            None,
            &mask,
        );
        // m = 0.9 * 0.05 + 0.1 * 0.25 = 0.07, v = 0.999 * 0.00025 + 0.001 * 0.0625 = 0.00031225;
        // m_hat = 0.07 / 0.19, v_hat = 0.00031225 / 0.001999.
        let step = 0.01 * (0.07 / 0.19) / ((0.000_312_25_f64 / 0.001_999).sqrt() + 1e-8);
        assert!(
            (w[0][0] - (w1[0] - step)).abs() < 1e-15,
            "{} vs {}",
            w[0][0],
            w1[0] - step
        );
        // m = 0.9 * -0.4, v = 0.999 * 0.016: the moments alone keep moving the weight.
        let step = 0.01 * (-0.36 / 0.19) / ((0.015_984_f64 / 0.001_999).sqrt() + 1e-8);
        assert!((w[0][1] - (w1[1] - step)).abs() < 1e-15, "{}", w[0][1]);
    }

    #[test]
    fn masked_weights_stay_and_clipping_and_momentum_apply() {
        let sgd = Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.5,
        };
        let mut state = OptimState::new(&[2]);
        let mut w = vec![vec![1.0, 1.0]];
        let mask = vec![vec![true, false]];
        update(
            &sgd,
            &mut state,
            &mut w,
            &[vec![3.0, 3.0]],
            0.5,
            Some(2.0),
            &mask,
        );
        // Clipped to 2, lr scaled to 0.05: 1 - 0.05 * 2.
        assert!(
            (w[0][0] - 0.9).abs() < 1e-15 && w[0][1] == 1.0,
            "{:?}",
            w[0]
        );
        update(
            &sgd,
            &mut state,
            &mut w,
            &[vec![0.0, 3.0]],
            0.5,
            Some(2.0),
            &mask,
        );
        // The momentum 0.5 * 2 = 1 moves it on without a gradient.
        assert!((w[0][0] - 0.85).abs() < 1e-15, "{}", w[0][0]);
        assert_eq!(w[0][1], 1.0);
    }
}
