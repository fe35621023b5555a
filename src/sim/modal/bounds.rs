//! The tests that rule a neuron out on an interval between arrivals before any crossing
//! search: [`bound`] for any model (each modal term is monotone), [`quad_bound`] the exact test
//! for eigenvalues a and 2a, and their `LANES`-wide forms. All without branches, so that loops
//! over neurons vectorise, and with a relative slack far above their rounding, so rounding
//! never hides a crossing. They only filter: what they let through, the search decides.

use super::Interval;

/// The bounds rule a neuron out only when they stay below zero by this much relative to the
/// size of their terms (far more than their rounding errors).
pub(super) const SLACK: f64 = 1e-12;

/// Whether a bound stays below zero by more than the slack (false for NaN).
pub(super) fn clearly_below(bound: f64, size: f64) -> bool {
    bound + SLACK * size < 0.0
}

/// The larger of two numbers, NaN if `a` is NaN (one instruction, unlike `f64::max`).
#[inline(always)]
pub(super) fn larger(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// An upper bound of h on an interval, plus its slack: each term C_m g_m e^{lambda_m t} is
/// monotone, so it is at most the larger of its values at the ends (`gp0`, `gp1`: g_m
/// e^{lambda_m t} there). Without branches, so loops over neurons vectorise.
#[inline(always)]
pub(super) fn bound<const N: usize>(
    h_inf: f64,
    c: &[f64; N],
    gp0: &[f64; N],
    gp1: &[f64; N],
) -> f64 {
    let (mut bound, mut size) = (h_inf, h_inf.abs());
    for m in 0..N {
        let top = larger(c[m] * gp0[m], c[m] * gp1[m]);
        bound += top;
        size += top.abs();
    }
    bound + SLACK * size
}

/// For eigenvalues a and 2a (tau_mem = 2 tau_syn): the modes of a and 2a and their g_m.
#[derive(Clone, Copy)]
pub(super) struct Quad {
    pub(super) ia: usize,
    pub(super) ib: usize,
    pub(super) ga: f64,
    pub(super) gb: f64,
}

/// What [`quad_bound`] needs of an interval: g_m e^{lambda_m t} of both modes at both ends,
/// the larger of their sizes, and z = e^{a t} at its lower and upper end.
pub(super) struct QuadInterval {
    gp0: (f64, f64),
    gp1: (f64, f64),
    size: (f64, f64),
    z: (f64, f64),
}

impl QuadInterval {
    /// From an interval's p = e^{lambda_m t} and g_m p at both ends.
    #[inline(always)]
    pub(super) fn new<const N: usize>(q: Quad, iv: &Interval<N>) -> QuadInterval {
        let (za, zb) = (iv.p0[q.ia], iv.p1[q.ia]);
        QuadInterval {
            gp0: (iv.gp0[q.ia], iv.gp0[q.ib]),
            gp1: (iv.gp1[q.ia], iv.gp1[q.ib]),
            size: (
                larger(iv.gp0[q.ia].abs(), iv.gp1[q.ia].abs()),
                larger(iv.gp0[q.ib].abs(), iv.gp1[q.ib].abs()),
            ),
            z: if za < zb { (za, zb) } else { (zb, za) },
        }
    }
}

/// The exact counterpart of [`bound`] for eigenvalues a and 2a, below zero exactly when the
/// neuron (coefficients `ca`, `cb` of the two modes) stays clearly below threshold on the
/// interval: h = h_inf + A z + B z^2 in z = e^{a t} is largest at an end of the interval or,
/// when B < 0, at the vertex z = -A / (2B) if that lies inside, where h = -disc / (4B) with
/// disc = A^2 - 4 B h_inf (so no division is needed). Rules out the intervals where the
/// quadratic has no root or only roots outside, which [`bound`] lets through to the search.
/// With the same slack as [`bound`]; NaN coefficients are never ruled out (`larger` keeps the
/// NaN of `h0`).
#[inline(always)]
pub(super) fn quad_bound(h_inf: f64, q: Quad, ca: f64, cb: f64, iv: &QuadInterval) -> f64 {
    let h0 = h_inf + (ca * iv.gp0.0 + cb * iv.gp0.1);
    let h1 = h_inf + (ca * iv.gp1.0 + cb * iv.gp1.1);
    let size = h_inf.abs() + (ca.abs() * iv.size.0 + cb.abs() * iv.size.1);
    let ends = larger(h0, h1) + SLACK * size;
    let (a, b) = (ca * q.ga, cb * q.gb);
    // -A / (2B) strictly inside (z_lo, z_hi), for B < 0 (for B >= 0 never true).
    let m2b = -2.0 * b;
    let inside = (a > iv.z.0 * m2b) & (a < iv.z.1 * m2b);
    let four_bh = 4.0 * b * h_inf;
    let disc = a * a - four_bh;
    let crest = inside & (disc + SLACK * (a * a + four_bh.abs()) >= 0.0);
    // Without short-circuits, so that loops over neurons vectorise. NaN coefficients make
    // `h0`, and with it `ends`, NaN.
    if crest { 0.0 } else { ends }
}

/// Neurons tested together on the dense path.
pub(super) const LANES: usize = 4;

/// [`bound`] for `LANES` neurons, coefficients mode by mode.
#[inline(always)]
pub(super) fn bound_lanes<const N: usize>(
    h_inf: f64,
    c: &[[f64; LANES]; N],
    gp0: &[f64; N],
    gp1: &[f64; N],
) -> [f64; LANES] {
    let (mut bound, mut size) = ([h_inf; LANES], [h_inf.abs(); LANES]);
    for m in 0..N {
        for l in 0..LANES {
            let top = larger(c[m][l] * gp0[m], c[m][l] * gp1[m]);
            bound[l] += top;
            size[l] += top.abs();
        }
    }
    std::array::from_fn(|l| bound[l] + SLACK * size[l])
}

#[cfg(test)]
mod tests {
    use super::{Quad, QuadInterval, bound, quad_bound};
    use crate::sim::modal::Interval;
    use crate::sim::rng::Rng;

    /// `quad_bound` against h sampled densely over the interval (and at the vertex): it never
    /// rules out an interval where h reaches zero, and it rules out every interval where h
    /// stays clearly below; `bound` is only ever looser.
    #[test]
    fn the_quadratic_test_is_exact_up_to_its_slack() {
        let mut rng = Rng::new(11);
        let (a, h_inf) = (-0.1, -1.0);
        let g = [2.0, -2.0];
        let q = Quad {
            ia: 0,
            ib: 1,
            ga: g[0],
            gb: g[1],
        };
        let (mut ruled_out, mut open, mut looser) = (0, 0, 0);
        for _ in 0..20_000 {
            let t0 = 20.0 * rng.uniform();
            let t1 = t0 + (20.0 - t0) * rng.uniform();
            let p = |t: f64| [(a * t).exp(), (2.0 * a * t).exp()];
            let (p0, p1) = (p(t0), p(t1));
            let iv = Interval::<2> {
                t0,
                t1,
                p0,
                gp0: [g[0] * p0[0], g[1] * p0[1]],
                p1,
                gp1: [g[0] * p1[0], g[1] * p1[1]],
                start: 0,
                end: 0,
            };
            // Coefficients that put the peak of h anywhere, sometimes above threshold.
            let c = [
                1.5 * rng.uniform() * (-a * t0).exp(),
                1.5 * rng.uniform() * (-2.0 * a * t0).exp(),
            ];
            let h = |t: f64| {
                let p = p(t);
                h_inf + g[0] * c[0] * p[0] + g[1] * c[1] * p[1]
            };
            let mut peak = h(t0).max(h(t1));
            for k in 1..2000 {
                peak = peak.max(h(t0 + (t1 - t0) * k as f64 / 2000.0));
            }
            // The vertex, if inside.
            let (qa, qb) = (g[0] * c[0], g[1] * c[1]);
            let zv = -qa / (2.0 * qb);
            if zv > p1[0] && zv < p0[0] {
                peak = peak.max(h(zv.ln() / a));
            }
            let b = quad_bound(h_inf, q, c[0], c[1], &QuadInterval::new(q, &iv));
            if peak >= 0.0 {
                assert!(
                    b >= 0.0,
                    "ruled out although h reaches {peak} on [{t0}, {t1}]"
                );
                open += 1;
            } else if peak < -1e-9 {
                assert!(
                    b < 0.0,
                    "not ruled out although h stays at {peak} on [{t0}, {t1}]"
                );
                ruled_out += 1;
                looser += usize::from(bound(h_inf, &c, &iv.gp0, &iv.gp1) >= 0.0);
            }
        }
        // Both kinds occur often, and the monotone bound lets many more through.
        assert!(
            open > 1000 && ruled_out > 1000,
            "open {open}, ruled out {ruled_out}"
        );
        assert!(looser > 100, "the monotone bound let only {looser} through");
    }
}
