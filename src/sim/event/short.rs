//! The first threshold crossing on a short interval (at most a step of the stepped driver), in
//! modal coordinates: h(s) = sum_j c_j m_j(s) with m_j = e^{lambda_j s}, or s e^{lambda_j s} for
//! the second copy of a repeated eigenvalue.
//!
//! Never missed: the interval is cut in halves, first half first, until each piece is either
//! cleared by the bound max(h(a), h(b)) + (b - a)^2 / 8 K (K >= |h''| on the whole interval, from
//! `weight`) or known to hold exactly one root, because h rises there (h'(a) > (b - a) K) from
//! below zero at a to at least zero at b. That root is found by Newton steps kept inside their
//! bracket and finished by bisection down to neighbouring floats, so h >= 0 at the reported time
//! (as evaluated here) and h < 0 a float before it. A piece that neither clears nor brackets a
//! root keeps being halved down to 1e-12 of the interval: then a root is reported at the piece's
//! end if h >= 0 there, and ends below zero are a touch within rounding that reports nothing.
//!
//! What it does not do: long intervals (the bound would not clear them; `ir::crossing` handles
//! any horizon), models with more than `MODES` modes.

/// Most modes handled (the stepped driver's models have at most five states plus the constant).
pub(super) const MODES: usize = 6;

/// Relative margin of the bound (as the stepped driver's).
const MARGIN: f64 = 1e-9;

/// The modes of one model over intervals no longer than the length `weight` and `size` were
/// made for.
pub(super) struct Modes<'a> {
    pub(super) lambda: &'a [f64],
    pub(super) power: &'a [u8],
    /// Per mode, max |m_j''| and max |m_j| over [0, L].
    pub(super) weight: &'a [f64],
    pub(super) size: &'a [f64],
}

impl Modes<'_> {
    /// h(s) and h'(s) for coefficients `c`.
    fn eval(&self, c: &[f64], s: f64) -> (f64, f64) {
        if s == 0.0 {
            return self.at_zero(c);
        }
        let (mut h, mut dh) = (0.0, 0.0);
        for (j, &cj) in c.iter().enumerate() {
            let l = self.lambda[j];
            if l == 0.0 && self.power[j] == 0 {
                h += cj;
                continue;
            }
            let e = (l * s).exp();
            if self.power[j] == 0 {
                h += cj * e;
                dh += cj * l * e;
            } else {
                h += cj * s * e;
                dh += cj * (1.0 + l * s) * e;
            }
        }
        (h, dh)
    }
}

impl Modes<'_> {
    /// h(0) and h'(0), without exponentials: m_j(0) is 1 (or 0 for s e^{lambda s}), m_j'(0) is
    /// lambda_j (or 1).
    fn at_zero(&self, c: &[f64]) -> (f64, f64) {
        let (mut h, mut dh) = (0.0, 0.0);
        for (j, &cj) in c.iter().enumerate() {
            if self.power[j] == 0 {
                h += cj;
                dh += cj * self.lambda[j];
            } else {
                dh += cj;
            }
        }
        (h, dh)
    }
}

/// The first s in `[0, horizon]` with h(s) >= 0, for mode coefficients `c` (see the module
/// comment). `horizon` must not exceed the length the modes' weights were made for.
pub(super) fn first_crossing(modes: &Modes, c: &[f64], horizon: f64) -> Option<f64> {
    let curve: f64 = c.iter().zip(modes.weight).map(|(c, w)| c.abs() * w).sum();
    let size: f64 = c.iter().zip(modes.size).map(|(c, w)| c.abs() * w).sum();
    let slack = MARGIN * size;
    let start = modes.eval(c, 0.0);
    if start.0 >= 0.0 {
        return Some(0.0);
    }
    let end = modes.eval(c, horizon);
    // Pieces still to look at, the next one on top. Each halving adds one piece to the stack,
    // and pieces are not halved below NARROWEST of the interval (41 levels).
    let mut todo = [(0.0, (0.0, 0.0), 0.0, (0.0, 0.0)); STACK];
    todo[0] = (0.0, start, horizon, end);
    let mut len = 1;
    while len > 0 {
        len -= 1;
        let (a, ha, b, hb): Piece = todo[len];
        let width = b - a;
        if ha.0.max(hb.0) + width * width / 8.0 * curve + slack < 0.0 {
            continue;
        }
        if hb.0 >= 0.0 && ha.1 > width * curve {
            return Some(solve(modes, c, (a, b), ha));
        }
        let mid = a + 0.5 * width;
        if mid <= a || mid >= b || width <= NARROWEST * horizon {
            // Floats apart, or nearly: h >= 0 at b is the root; else a touch within rounding.
            if hb.0 >= 0.0 {
                return Some(b);
            }
            continue;
        }
        let hm = modes.eval(c, mid);
        debug_assert!(len + 2 <= STACK, "at most 41 levels of halving");
        todo[len] = (mid, hm, b, hb);
        todo[len + 1] = (a, ha, mid, hm);
        len += 2;
    }
    None
}

/// A piece of the interval: (a, (h(a), h'(a)), b, (h(b), h'(b))).
type Piece = (f64, (f64, f64), f64, (f64, f64));

/// Room for pieces: more than the deepest halving needs.
const STACK: usize = 64;

/// Pieces narrower than this fraction of the interval are not halved: a root within one is
/// reported at its end (a touch of the threshold that rounding cannot resolve further).
const NARROWEST: f64 = 1e-12;

/// The root of h in `(lo, hi]` where h rises from below zero at `lo` (h and h' there: `at_lo`)
/// to at least zero at `hi`: the first float with h >= 0.
fn solve(modes: &Modes, c: &[f64], (mut lo, mut hi): (f64, f64), at_lo: (f64, f64)) -> f64 {
    let mut t = lo;
    for k in 0..60 {
        let (h, dh) = if k == 0 { at_lo } else { modes.eval(c, t) };
        if h >= 0.0 {
            hi = t;
        } else {
            lo = lo.max(t);
        }
        let next = t - h / dh;
        let next = if dh > 0.0 && next > lo && next < hi {
            next
        } else {
            lo + 0.5 * (hi - lo)
        };
        if hi - lo <= 4.0 * f64::EPSILON * hi.abs() || (next - t).abs() <= f64::EPSILON * t.abs() {
            break;
        }
        t = next;
    }
    // Down to neighbouring floats, keeping h(hi) >= 0.
    loop {
        let mid = lo + 0.5 * (hi - lo);
        if mid <= lo || mid >= hi {
            return hi;
        }
        if modes.eval(c, mid).0 >= 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    /// Against dense sampling: random sums of three decaying modes (and a repeated pair), never
    /// a crossing missed, none invented, h >= 0 at the reported time and h < 0 a float before.
    #[test]
    fn finds_what_dense_sampling_finds() {
        let mut rng = Rng::new(9);
        let horizon = 8e-4;
        let mut found_some = 0;
        for case in 0..20_000 {
            let repeated = case % 3 == 0;
            let lambda: Vec<f64> = if repeated {
                vec![0.0, -100.0, -200.0, -100.0]
            } else {
                vec![0.0, -50.0, -200.0, -100.0]
            };
            let power: Vec<u8> = vec![0, 0, 0, u8::from(repeated)];
            // Weights and sizes over [0, horizon] (all modes decay, so at s = 0 or bounded
            // as the driver bounds them).
            let weight: Vec<f64> = lambda
                .iter()
                .zip(&power)
                .map(|(l, p)| {
                    if *p == 0 {
                        l * l
                    } else {
                        2.0 * l.abs() + l * l * horizon
                    }
                })
                .collect();
            let size: Vec<f64> = power
                .iter()
                .map(|p| if *p == 0 { 1.0 } else { horizon })
                .collect();
            let modes = Modes {
                lambda: &lambda,
                power: &power,
                weight: &weight,
                size: &size,
            };
            let mut c: Vec<f64> = (0..4).map(|_| rng.uniform() * 0.04 - 0.02).collect();
            c[0] = -0.015;
            if repeated {
                c[3] *= 200.0;
            }
            // Make h(0) = 0 at times, or a peak just at threshold.
            if case % 7 == 0 {
                let h0: f64 = c.iter().take(3).sum();
                c[0] -= h0 + 1e-6 * rng.uniform();
            }
            let h = |s: f64| modes.eval(&c, s).0;
            let dense = (0..=4000)
                .map(|k| horizon * k as f64 / 4000.0)
                .find(|&s| h(s) >= 0.0);
            let found = first_crossing(&modes, &c, horizon);
            match (found, dense) {
                (None, Some(d)) => panic!("case {case}: missed {d} ({c:?})"),
                (Some(t), Some(d)) => assert!(t <= d, "case {case}: {t} after {d}"),
                (Some(t), None) => assert!(h(t) >= 0.0, "case {case}: invented {t}"),
                (None, None) => {}
            }
            if let Some(t) = found {
                found_some += 1;
                assert!(h(t) >= 0.0);
                if t > 0.0 {
                    let before = f64::from_bits(t.to_bits() - 1);
                    assert!(h(before) < 0.0, "case {case}: not the first float at {t}");
                }
            }
        }
        assert!(found_some > 2000, "{found_some}");
    }
}
