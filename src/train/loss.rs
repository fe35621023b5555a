//! Losses on first spike times and their derivatives by each spike time.
//!
//! `first_spike_ce`: L = -log softmax(-t / tau)_label + alpha (exp(t_label / (beta tau_reg)) - 1)
//! (Göltz et al. 2021). A silent output counts as spiking at t_max and gets no gradient (it has
//! no spike to move); weight bumping deals with silent outputs instead.
//! `target_mse`: sum_k ((t_k - target_k) / tau)^2 with the correct class at `correct` and the
//! others at `wrong`.

use crate::sema::hir::Loss;

/// Loss value and dL/dt for each output neuron (0 for silent ones).
pub fn first_spike_loss(loss: &Loss, times: &[f64], label: usize, t_max: f64) -> (f64, Vec<f64>) {
    let mut grad = Vec::new();
    let value = first_spike_loss_into(loss, times, label, t_max, &mut grad);
    (value, grad)
}

/// [`first_spike_loss`] with dL/dt into `grad` (its values replaced; training keeps one buffer
/// per thread instead of allocating one per sample).
pub fn first_spike_loss_into(
    loss: &Loss,
    times: &[f64],
    label: usize,
    t_max: f64,
    grad: &mut Vec<f64>,
) -> f64 {
    // Silent outputs count as spiking at t_max.
    let at = |k: usize| {
        if times[k].is_finite() {
            times[k]
        } else {
            t_max
        }
    };
    let n = times.len();
    grad.clear();
    grad.resize(n, 0.0);
    let value = match *loss {
        Loss::FirstSpikeCe {
            tau,
            alpha,
            beta,
            tau_reg,
        } => {
            let m = (0..n).fold(f64::INFINITY, |a, k| a.min(at(k)));
            // exp(-(t_k - m) / tau) into `grad` first (one buffer a sample), then the
            // derivatives from it.
            for (k, g) in grad.iter_mut().enumerate() {
                *g = (-(at(k) - m) / tau).exp();
            }
            let z: f64 = grad.iter().sum();
            let ce = (at(label) - m) / tau + z.ln();
            for (k, g) in grad.iter_mut().enumerate() {
                // d/dt_k [t_label/tau + log sum exp(-t/tau)] = (delta - softmax_k) / tau
                let softmax = *g / z;
                *g = (f64::from(u8::from(k == label)) - softmax) / tau;
            }
            let reg = alpha * ((at(label) / (beta * tau_reg)).exp() - 1.0);
            grad[label] += alpha * (at(label) / (beta * tau_reg)).exp() / (beta * tau_reg);
            ce + reg
        }
        Loss::TargetMse {
            correct,
            wrong,
            tau,
        } => {
            let mut v = 0.0;
            for (k, g) in grad.iter_mut().enumerate() {
                let target = if k == label { correct } else { wrong };
                let d = (at(k) - target) / tau;
                v += d * d;
                *g = 2.0 * d / tau;
            }
            v
        }
        Loss::MaxMembraneCe | Loss::SpikeCountCe => {
            unreachable!("sema pairs time-discrete losses with the discrete mode")
        }
    };
    for (g, t) in grad.iter_mut().zip(times) {
        if !t.is_finite() {
            *g = 0.0;
        }
    }
    value
}

/// The predicted class: the earliest output spike (silent outputs never win; ties go to the
/// lowest index). `None` if every output is silent.
pub fn predict(times: &[f64]) -> Option<usize> {
    let (k, t) =
        times.iter().enumerate().fold(
            (0, f64::INFINITY),
            |best, (k, t)| if *t < best.1 { (k, *t) } else { best },
        );
    t.is_finite().then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_falls_when_the_correct_neuron_spikes_earlier_and_grads_match_differences() {
        let loss = Loss::FirstSpikeCe {
            tau: 5e-4,
            alpha: 0.005,
            beta: 2.0,
            tau_reg: 5e-3,
        };
        let t = [0.004, 0.0045, 0.006];
        let (l0, g) = first_spike_loss(&loss, &t, 0, 0.02);
        let (l1, _) = first_spike_loss(&loss, &[0.0039, 0.0045, 0.006], 0, 0.02);
        assert!(l1 < l0);
        for k in 0..3 {
            let h = 1e-8;
            let (mut tp, mut tm) = (t, t);
            tp[k] += h;
            tm[k] -= h;
            let fd = (first_spike_loss(&loss, &tp, 0, 0.02).0
                - first_spike_loss(&loss, &tm, 0, 0.02).0)
                / (2.0 * h);
            assert!(
                (fd - g[k]).abs() < 1e-6 * fd.abs().max(1.0),
                "{k}: {fd} vs {}",
                g[k]
            );
        }
    }
}
