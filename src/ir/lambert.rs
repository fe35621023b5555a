//! The Lambert W function on the real line: `w e^w = z`, principal branch `W0` (for
//! `z >= -1/e`, `w >= -1`) and lower branch `W-1` (for `-1/e <= z < 0`, `w <= -1`).
//!
//! Used by the crossing finder for the closed-form threshold crossing of models with a repeated
//! eigenvalue (a LIF neuron with `tau_mem = tau_syn`). An initial guess (branch-point series
//! near `-1/e`, logarithmic asymptotics far from it, `ln(1 + z)` in between) is refined by
//! Halley's iteration to a few ulps. Near the branch point the function is ill-conditioned
//! (`dW/dz` is unbounded); callers that need a guaranteed answer there use something else.

/// `1/e`.
const INV_E: f64 = 0.36787944117144233;

/// The principal branch `W0(z)`, or `None` for `z < -1/e` or a non-finite `z`.
pub fn w0(z: f64) -> Option<f64> {
    if !z.is_finite() || z < -INV_E {
        return None;
    }
    if z == 0.0 {
        return Some(0.0);
    }
    let guess = if z < -0.25 {
        let p = (2.0 * (std::f64::consts::E * z + 1.0)).max(0.0).sqrt();
        -1.0 + p * (1.0 + p * (-1.0 / 3.0 + p * 11.0 / 72.0))
    } else if z < 3.0 {
        z.ln_1p() * (1.0 - z.ln_1p() / (2.0 + z.ln_1p()))
    } else {
        let (l1, l2) = (z.ln(), z.ln().ln());
        l1 - l2 + l2 / l1
    };
    Some(halley(z, guess))
}

/// The lower branch `W-1(z)`, or `None` outside `[-1/e, 0)`.
pub fn wm1(z: f64) -> Option<f64> {
    if !(-INV_E..0.0).contains(&z) {
        return None;
    }
    let guess = if z < -0.25 {
        let p = (2.0 * (std::f64::consts::E * z + 1.0)).max(0.0).sqrt();
        -1.0 - p * (1.0 + p * (1.0 / 3.0 + p * 11.0 / 72.0))
    } else {
        let l1 = (-z).ln();
        let l2 = (-l1).ln();
        l1 - l2 + l2 / l1
    };
    Some(halley(z, guess))
}

/// Halley's iteration for `w e^w - z = 0` from `w`.
fn halley(z: f64, mut w: f64) -> f64 {
    for _ in 0..40 {
        let ew = w.exp();
        let f = w * ew - z;
        let wp1 = w + 1.0;
        if wp1 == 0.0 {
            break;
        }
        let denom = ew * wp1 - (w + 2.0) * f / (2.0 * wp1);
        if denom == 0.0 || !denom.is_finite() {
            break;
        }
        let next = w - f / denom;
        if !next.is_finite() {
            break;
        }
        let done = (next - w).abs() <= 4.0 * f64::EPSILON * next.abs().max(f64::MIN_POSITIVE);
        w = next;
        if done {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from mpmath's `lambertw` (50 digits, rounded to f64).
    #[test]
    fn known_values() {
        let cases = [
            (1.0, 0.5671432904097838),
            (-0.2, -0.25917110181907377),
            (10.0, 1.7455280027406994),
            (1e-10, 9.999999999e-11),
            (-0.3678, -0.9793607149578305),
        ];
        for (z, w) in cases {
            let got = w0(z).unwrap();
            assert!(
                (got - w).abs() <= 1e-14 * w.abs().max(1e-300),
                "W0({z}) = {got}, not {w}"
            );
        }
        let lower = [
            (-0.2, -2.5426413577735265),
            (-1e-5, -14.163600815810183),
            (-0.3678, -1.0209272394094255),
        ];
        for (z, w) in lower {
            let got = wm1(z).unwrap();
            assert!(
                (got - w).abs() <= 1e-13 * w.abs(),
                "W-1({z}) = {got}, not {w}"
            );
        }
        assert_eq!(w0(-0.5), None);
        assert_eq!(wm1(0.1), None);
    }

    /// `w e^w = z` over both branches, away from the ill-conditioned branch point.
    #[test]
    fn inverts_w_exp_w() {
        for k in 1..2000 {
            let z = -INV_E + (k as f64) * 0.01;
            let w = w0(z).unwrap();
            if z > -INV_E + 1e-3 {
                assert!(
                    (w * w.exp() - z).abs() <= 1e-15 * z.abs().max(1.0),
                    "W0({z})"
                );
            }
            if z < 0.0 && z > -INV_E + 1e-3 {
                let w = wm1(z).unwrap();
                assert!(w <= -1.0);
                assert!((w * w.exp() - z).abs() <= 4e-15 * z.abs(), "W-1({z})");
            }
        }
    }
}
