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
