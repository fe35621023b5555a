//! Dense layers of ratio-two neurons (tau_mem = 2 tau_syn) whose reset leaves them below
//! threshold for the rest of the run, in two passes: the common case of first-spike networks.
//!
//! The exact loop of `Plan::run_layer` tests every neuron on every interval and searches at
//! once where the test lets one through, so the loop branches on data (a coin toss per group
//! of neurons) and carries each spike's square root, divisions and logarithm in its chain.
//! Here the first pass only notes, without branches, each neuron's first interval that the
//! exact test (`bounds::quad_bound`) lets through and its coefficients there (before its first
//! spike a neuron's coefficients do not depend on any reset; `first_avx2` writes this pass out
//! in vector instructions); the second pass finds those spikes four at a time, so that their
//! chains of square root, divisions and logarithm overlap, and resets each neuron with a
//! certificate that it stays below
//! threshold until t_max: its free course after the reset stays below
//! h_inf + sum_m max(term at the spike, term at t_max) (each term is monotone), and each
//! arrival of weight w adds at most max(w kappa_max, w kappa_min), where [kappa_min,
//! kappa_max] holds the response of a unit weight over [0, t_max] (`kernel_range`).
//!
//! The arithmetic for each neuron is that of the exact loop (the same coefficient sums, the
//! same test, the root and checks of `Plan::search_ratio_two`, the reset of `Plan::fire`), so
//! the results are the same bits. Whatever the exact loop would do differently (a root in
//! doubt, a test that lets an interval through without a root in it, a reset without
//! certificate, which could lead to a second spike) makes [`Plan::run_first_spikes`] give up,
//! and the caller runs the layer through the exact loop instead.
//!
//! The first pass stops testing a group of neurons once each of them has opened an interval
//! (the remaining arrivals then only add to the certificate's kicks, in the same order), and
//! the four-lane copies (this portable one and `first_avx2`) try the cheaper term-wise
//! `bounds::bound` on each interval first: where it rules out every waiting neuron, none
//! crosses there, and the exact test could only let the interval through without a root in it
//! (after which the second pass would give up). So skipping the test changes no spike; it
//! saves most of the output layer's tests, whose neurons stay far below threshold for most of
//! the run. (With eight neurons driven by the same inputs per register, `first_avx512` rarely
//! rules out all of them, and the extra bound cost more than it saved there.)
//!
//! Up to a layer's first arrival all its neurons are at rest with the same coefficients, so
//! the exact test gives all of them one answer on the first interval: where that rules the
//! interval out (as at any rest below threshold), the first pass does not test it for each
//! group. (Yin-Yang's hidden layer has six intervals, the first ending at the bias spike.)
//!
//! What it does not do: other models, resets that are not affine, layers with sparse
//! projections or several receptors.

use super::bounds::{LANES, Quad, QuadInterval, bound, clearly_below, quad_bound};
use super::log::ln;
use super::modes::Modes;
use super::{Fired, Interval, Layer, MAX_STATES, Plan};

/// Relative margin of the kernel's range (far above the rounding of its terms).
const KERNEL_MARGIN: f64 = 1e-9;

/// Relative slack of the certificate that a reset neuron stays below threshold. Far above the
/// rounding of its sums, and far above the most by which h may fall short of zero at a root the
/// exact loop accepts: a Newton step of 1e-9 of an interval times h', at most
/// 1e-9 t_max sum_m |lambda_m T_m| with |lambda| t_max <= 300 (`MAX_EXPONENT`) and terms T_m
/// within a small factor of the certificate's size (a unit weight's response peaks at a quarter
/// of its terms for these modes). So a certified neuron is one the exact loop never finds
/// crossing again. The Yin-Yang resets are certified with h below -0.77 of that size (the
/// largest ratio over a 50-epoch run).
pub(super) const CERTIFICATE_SLACK: f64 = 1e-4;

/// A neuron's first interval that the exact test let through, found by the first pass.
#[derive(Clone, Copy, Debug)]
pub(super) struct Opened {
    pub(super) j: u32,
    pub(super) interval: u32,
    /// Its coefficients there (the first `N`).
    pub(super) c: [f64; MAX_STATES],
    /// Sum over the layer's arrivals of max(w kappa_max, w kappa_min), and of |w| max|kappa|.
    pub(super) kick: f64,
    pub(super) kick_size: f64,
}

impl Opened {
    pub(super) fn new(
        j: u32,
        interval: u32,
        c: [f64; MAX_STATES],
        kick: f64,
        kick_size: f64,
    ) -> Opened {
        Opened {
            j,
            interval,
            c,
            kick,
            kick_size,
        }
    }
}

/// What the second pass needs of the model, in fixed-size arrays: the modes of eigenvalues a
/// (`ia`) and 2a (`ib`), 2a (`lb`), h_inf, g, the affine reset (`mm`, `shift`, as
/// `Modes::reset`) and e^{lambda_m t_max} (`end`).
pub(super) struct Model<const N: usize> {
    pub(super) ia: usize,
    pub(super) ib: usize,
    pub(super) a: f64,
    pub(super) lb: f64,
    pub(super) h_inf: f64,
    pub(super) g: [f64; N],
    pub(super) mm: [[f64; N]; N],
    pub(super) shift: [f64; N],
    pub(super) end: [f64; N],
}

/// The smallest and largest response kappa(u) = sum_m g_m d_m e^{lambda_m u} of a unit weight
/// (receptor jump `d` in modal coordinates) over u in [0, t_max], for modes of eigenvalues a
/// and 2a ([`quadratic_range`]).
pub(super) fn kernel_range(md: &Modes, d: &[f64], t_max: f64) -> Option<(f64, f64)> {
    let (ia, ib, a) = md.ratio_two?;
    quadratic_range(md.g[ia] * d[ia], md.g[ib] * d[ib], a, t_max)
}

/// The range of ka z + kb z^2 over z = e^{a u}, u in [0, t_max]: its values at the ends and at
/// the vertex when that lies inside, widened by a relative margin far above their rounding.
fn quadratic_range(ka: f64, kb: f64, a: f64, t_max: f64) -> Option<(f64, f64)> {
    let z_end = (a * t_max).exp();
    let (lo, hi) = if z_end < 1.0 {
        (z_end, 1.0)
    } else {
        (1.0, z_end)
    };
    let kappa = |z: f64| ka * z + kb * z * z;
    let vertex = -ka / (2.0 * kb);
    let inside = kb != 0.0 && vertex > lo && vertex < hi;
    let values = [
        kappa(lo),
        kappa(hi),
        if inside { kappa(vertex) } else { kappa(lo) },
    ];
    let margin = KERNEL_MARGIN * (ka.abs() * hi + kb.abs() * hi * hi);
    let max = values.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let min = values.iter().fold(f64::INFINITY, |m, &v| m.min(v));
    (max.is_finite() && min.is_finite() && margin.is_finite())
        .then_some((min - margin, max + margin))
}

impl Plan<'_> {
    /// Runs a dense ratio-two layer in two passes (see the module comment): `ivs` its intervals,
    /// `arr` per arrival the weights by target and d_m e^{-lambda_m s}, `c0` the coefficients at
    /// rest, `kappa` = (kappa_min, kappa_max) of its receptor. False if the layer must run
    /// through the exact loop instead (then `layer.fired` holds partial results to clear).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn run_first_spikes<const N: usize>(
        &self,
        pop: usize,
        layer: &mut Layer,
        ivs: &[Interval<N>],
        arr: &[(&[f64], [f64; N])],
        (q, c0, kappa): (Quad, [f64; N], (f64, f64)),
        opened: &mut Vec<Opened>,
    ) -> bool {
        // Up to the first arrival every neuron is at rest, so the exact test of the first
        // interval gives each the answer it gives `c0`; where that rules the interval out, the
        // first passes test from the second one on.
        let at_rest = quad_bound(
            self.modes[pop].h_inf,
            q,
            c0[q.ia],
            c0[q.ib],
            &QuadInterval::new(q, &ivs[0]),
        );
        let tested = usize::from(clearly_below(at_rest, 0.0));
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            let (h_inf, size) = (self.modes[pop].h_inf, layer.fired.len());
            opened.clear();
            // Whole groups of eight with AVX-512, the rest four at a time.
            let from = if self.avx512 {
                // SAFETY: `avx512` is set only where the processor reports AVX-512F.
                unsafe {
                    super::first_avx512::first_pass::<N>(
                        h_inf,
                        q,
                        ivs,
                        arr,
                        c0,
                        kappa,
                        (size, tested),
                        opened,
                    )
                }
            } else {
                0
            };
            // SAFETY: `avx2` is set only where the processor reports AVX2 (`Plan::new`).
            unsafe {
                super::first_avx2::first_pass::<N>(
                    h_inf,
                    q,
                    ivs,
                    arr,
                    c0,
                    kappa,
                    (from, size, tested),
                    opened,
                )
            };
            // SAFETY: as above.
            return unsafe {
                Self::open_spikes_avx2::<N>(&self.modes[pop], layer, ivs, opened, self.avx512)
            };
        }
        self.first_pass::<N>(pop, ivs, arr, (q, c0, kappa), tested, opened);
        Self::open_spikes::<N>(
            &self.modes[pop],
            layer,
            ivs,
            opened,
            Self::first_spikes::<N>,
        )
    }

    /// The first pass (see the module comment) into `opened`, testing the intervals from
    /// `tested` on (the first one is left out where the exact test rules it out at rest), in
    /// portable code (on x86-64 processors with AVX2, `first_avx2` does the same in vector
    /// instructions).
    #[inline(never)]
    fn first_pass<const N: usize>(
        &self,
        pop: usize,
        ivs: &[Interval<N>],
        arr: &[(&[f64], [f64; N])],
        (q, c0, kappa): (Quad, [f64; N], (f64, f64)),
        tested: usize,
        opened: &mut Vec<Opened>,
    ) {
        let md = &self.modes[pop];
        let size = self.program.populations[pop].size;
        let (kmin, kmax) = kappa;
        let kabs = kmin.abs().max(kmax.abs());
        opened.clear();
        for j0 in (0..size).step_by(LANES) {
            let lanes = LANES.min(size - j0);
            let mut cl: [[f64; LANES]; N] = std::array::from_fn(|m| [c0[m]; LANES]);
            // The first interval each lane opens (infinite: none yet), its coefficients there.
            let mut first = [f64::INFINITY; LANES];
            let mut snap = cl;
            let (mut kick, mut kick_size) = ([0.0; LANES], [0.0; LANES]);
            let weights = |row: &[f64]| -> [f64; LANES] {
                match row.get(j0..j0 + LANES) {
                    Some(w) => std::array::from_fn(|l| w[l]),
                    None => std::array::from_fn(|l| if l < lanes { row[j0 + l] } else { 0.0 }),
                }
            };
            let kicks =
                |w: &[f64; LANES], kick: &mut [f64; LANES], kick_size: &mut [f64; LANES]| {
                    for l in 0..LANES {
                        let (up, down) = (w[l] * kmax, w[l] * kmin);
                        kick[l] += if up > down { up } else { down };
                    }
                    for l in 0..LANES {
                        kick_size[l] += w[l].abs() * kabs;
                    }
                };
            // The arrivals from which only the kicks are left (every live lane has opened).
            let mut rest = arr.len();
            for (i, iv) in ivs.iter().enumerate() {
                if i >= tested {
                    // First the cheaper `bound` (each term at the larger of its values at the
                    // ends): where it rules out every live lane still waiting, none crosses zero
                    // here, and the exact test could only let the interval through without a root
                    // in it (the second pass would then give up), so the test is skipped.
                    let cheap_rules_out = (0..lanes).all(|l| {
                        let c: [f64; N] = std::array::from_fn(|m| cl[m][l]);
                        first[l] != f64::INFINITY
                            || clearly_below(bound(md.h_inf, &c, &iv.gp0, &iv.gp1), 0.0)
                    });
                    let qi = QuadInterval::new(q, iv);
                    let (ca, cb) = (cl[q.ia], cl[q.ib]);
                    let mut newly = [false; LANES];
                    for l in 0..LANES {
                        let b = quad_bound(md.h_inf, q, ca[l], cb[l], &qi);
                        newly[l] =
                            !cheap_rules_out & !clearly_below(b, 0.0) & (first[l] == f64::INFINITY);
                    }
                    for l in 0..LANES {
                        first[l] = if newly[l] { i as f64 } else { first[l] };
                    }
                    for m in 0..N {
                        for l in 0..LANES {
                            snap[m][l] = if newly[l] { cl[m][l] } else { snap[m][l] };
                        }
                    }
                    if first[..lanes].iter().all(|&f| f != f64::INFINITY) {
                        rest = iv.start;
                        break;
                    }
                }
                for (row, dq) in &arr[iv.start..iv.end] {
                    let w = weights(row);
                    for m in 0..N {
                        for l in 0..LANES {
                            cl[m][l] += w[l] * dq[m];
                        }
                    }
                    kicks(&w, &mut kick, &mut kick_size);
                }
            }
            // Every live lane has opened: the kicks of the remaining arrivals, in the same order.
            for (row, _) in &arr[rest..] {
                kicks(&weights(row), &mut kick, &mut kick_size);
            }
            for l in 0..lanes {
                if first[l] != f64::INFINITY {
                    opened.push(Opened {
                        j: (j0 + l) as u32,
                        interval: first[l] as u32,
                        c: std::array::from_fn(|m| if m < N { snap[m][l] } else { 0.0 }),
                        kick: kick[l],
                        kick_size: kick_size[l],
                    });
                }
            }
        }
    }

    /// [`Plan::open_spikes`] compiled for AVX2 (the same operations, so the same bits), kept
    /// out of the layer code; with AVX-512 (`wide`) eight spikes at a time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    fn open_spikes_avx2<const N: usize>(
        md: &Modes,
        layer: &mut Layer,
        ivs: &[Interval<N>],
        opened: &[Opened],
        wide: bool,
    ) -> bool {
        if wide {
            let Some(model) = Self::model::<N>(md, ivs) else {
                return false;
            };
            // SAFETY: `wide` is set only where the processor reports AVX-512F.
            return unsafe { Self::open_spikes_avx512(&model, layer, ivs, opened) };
        }
        let spikes = |m: &Model<N>, l: &mut Layer, i: &[Interval<N>], o: [&Opened; LANES]| {
            super::first_avx2::first_spikes::<N>(m, l, i, o)
        };
        Self::open_spikes::<N>(md, layer, ivs, opened, spikes)
    }

    /// The second pass eight spikes at a time (`first_avx512::first_spikes`; a last, partial
    /// group repeats its first neuron, as in [`Plan::open_spikes`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn open_spikes_avx512<const N: usize>(
        model: &Model<N>,
        layer: &mut Layer,
        ivs: &[Interval<N>],
        opened: &[Opened],
    ) -> bool {
        use super::first_avx512::{WIDE, first_spikes};
        for group in opened.chunks(WIDE) {
            let pick: [&Opened; WIDE] = std::array::from_fn(|l| group.get(l).unwrap_or(&group[0]));
            if !first_spikes(model, layer, ivs, pick) {
                return false;
            }
        }
        true
    }

    /// What the second pass needs of the model; `None` for a model without modes of ratio two
    /// or without an affine reset.
    #[inline(always)]
    fn model<const N: usize>(md: &Modes, ivs: &[Interval<N>]) -> Option<Model<N>> {
        let (Some((ia, ib, a)), Some((mm, shift))) = (md.ratio_two, &md.reset) else {
            return None;
        };
        Some(Model {
            ia,
            ib,
            a,
            lb: md.lambda[ib],
            h_inf: md.h_inf,
            g: std::array::from_fn(|m| md.g[m]),
            mm: std::array::from_fn(|m| std::array::from_fn(|k| mm[m * N + k])),
            shift: std::array::from_fn(|m| shift[m]),
            end: ivs[ivs.len() - 1].p1,
        })
    }

    /// The second pass over the neurons the first found (`opened`), `LANES` at a time (a last,
    /// partial group repeats its first neuron, whose records are then written twice with the
    /// same values), so that their chains of square root, divisions and logarithm overlap.
    /// False where the exact loop could go another way.
    #[inline(always)]
    fn open_spikes<const N: usize>(
        md: &Modes,
        layer: &mut Layer,
        ivs: &[Interval<N>],
        opened: &[Opened],
        spikes: impl Fn(&Model<N>, &mut Layer, &[Interval<N>], [&Opened; LANES]) -> bool,
    ) -> bool {
        let Some(model) = Self::model::<N>(md, ivs) else {
            return false;
        };
        for group in opened.chunks(LANES) {
            let pick: [&Opened; LANES] = std::array::from_fn(|l| group.get(l).unwrap_or(&group[0]));
            if !spikes(&model, layer, ivs, pick) {
                return false;
            }
        }
        true
    }

    /// The spikes of `LANES` neurons on the intervals the first pass found, each as
    /// `Plan::search_ratio_two` and `Plan::fire` find and reset it (the same operations, lane by
    /// lane), and the certificates that the reset neurons stay below threshold until t_max
    /// (`end`: e^{lambda_m t_max}). False where the exact loop could go another way for any of
    /// them.
    #[inline(always)]
    fn first_spikes<const N: usize>(
        model: &Model<N>,
        layer: &mut Layer,
        ivs: &[Interval<N>],
        o: [&Opened; LANES],
    ) -> bool {
        let Model {
            ia,
            ib,
            a,
            lb,
            h_inf: hi,
            ref g,
            ref mm,
            ref shift,
            ref end,
        } = *model;
        let last = ivs.len() - 1;
        let iv: [&Interval<N>; LANES] = std::array::from_fn(|l| &ivs[o[l].interval as usize]);
        let t0: [f64; LANES] = std::array::from_fn(|l| iv[l].t0);
        let t1: [f64; LANES] = std::array::from_fn(|l| iv[l].t1);
        let za: [f64; LANES] = std::array::from_fn(|l| iv[l].p0[ia]);
        let zb: [f64; LANES] = std::array::from_fn(|l| iv[l].p0[ib]);
        let z1: [f64; LANES] = std::array::from_fn(|l| iv[l].p1[ia]);
        let ca: [f64; LANES] = std::array::from_fn(|l| g[ia] * o[l].c[ia]);
        let cb: [f64; LANES] = std::array::from_fn(|l| g[ib] * o[l].c[ib]);
        let mut ok = [true; LANES];
        let mut z = [0.0; LANES];
        let mut horizon = [0.0; LANES];
        // As `Plan::search_ratio_two` and `ordered_roots`.
        for l in 0..LANES {
            let h0 = hi + (ca[l] * za[l] + cb[l] * zb[l]);
            horizon[l] = t1[l] - t0[l];
            let scale = hi.abs() + (ca[l] * za[l]).abs() + (cb[l] * zb[l]).abs();
            let (c0, c1, c2) = (hi, ca[l], cb[l]);
            let disc = c1 * c1 - 4.0 * c2 * c0;
            let q = -0.5 * (c1 + c1.signum() * disc.sqrt());
            let (e1, e2) = (q / c2, c0 / q);
            let (first, second) = if (e1 > e2) == (a < 0.0) {
                (e1, e2)
            } else {
                (e2, e1)
            };
            let within = |z: f64| {
                if a < 0.0 {
                    (z <= za[l]) & (z >= z1[l])
                } else {
                    (z >= za[l]) & (z <= z1[l])
                }
            };
            let take_first = (first > 0.0) & within(first);
            let take_second = (second > 0.0) & within(second);
            z[l] = if take_first { first } else { second };
            // What sends `search_ratio_two` elsewhere: above threshold at the start, an empty
            // interval, a negligible e^{2at} term, a double root, no real root, none inside.
            let doubt = (h0 >= 0.0)
                | (horizon[l].is_nan() | (horizon[l] <= 0.0))
                | ((cb[l] * zb[l]).abs() <= 1e-12 * scale)
                | (disc.abs() <= 1e-9 * (c1 * c1 + (4.0 * c2 * c0).abs()))
                | (disc < 0.0)
                | !(take_first | take_second);
            ok[l] = !doubt;
        }
        let mut slope = [0.0; LANES];
        let mut newton = [0.0; LANES];
        for l in 0..LANES {
            let (pa, pb) = (z[l], z[l] * z[l]);
            slope[l] = a * ca[l] * pa + lb * cb[l] * pb;
            let h = hi + (ca[l] * pa + cb[l] * pb);
            newton[l] = if h < 0.0 { -h / slope[l] } else { 0.0 };
            ok[l] &= !((h < 0.0) & !((slope[l] > 0.0) & (newton[l] <= 1e-9 * horizon[l])));
        }
        if ok != [true; LANES] {
            return false;
        }
        // The reset (as `Plan::fire`, `Modes::inverse` and `Modes::reset_affine`) and the
        // certificates, lane by lane, before the logarithms (so their chains overlap).
        let mut ps = [[0.0; N]; LANES];
        let mut q = [[0.0; N]; LANES];
        let mut bound = [0.0; LANES];
        let mut size = [0.0; LANES];
        for l in 0..LANES {
            ps[l][ia] = z[l];
            ps[l][ib] = z[l] * z[l];
            let iz = 1.0 / z[l];
            q[l] = std::array::from_fn(|m| if m == ib { iz * iz } else { iz });
            let e: [f64; N] = std::array::from_fn(|m| o[l].c[m] * ps[l][m]);
            (bound[l], size[l]) = (hi + o[l].kick, hi.abs() + o[l].kick_size);
            for m in 0..N {
                let mut um = shift[m];
                for k in 0..N {
                    um += mm[m][k] * e[k];
                }
                let cm = um * q[l][m];
                let (now, later) = (g[m] * (cm * ps[l][m]), g[m] * (cm * end[m]));
                let top = if later > now { later } else { now };
                bound[l] += top;
                size[l] += top.abs();
            }
        }
        let certified = (0..LANES).all(|l| bound[l] + CERTIFICATE_SLACK * size[l] < 0.0);
        let t: [f64; LANES] =
            std::array::from_fn(|l| (ln(z[l]) * (1.0 / a) + newton[l]).max(t0[l]));
        for l in 0..LANES {
            let closing = o[l].interval as usize == last;
            if !(t[l] < t1[l] || (closing && t[l] <= t1[l])) {
                return false;
            }
        }
        for l in 0..LANES {
            let j = o[l].j as usize;
            layer.fired[j] = Some(Fired {
                t: t[l],
                id: 0,
                applied: iv[l].start as u32,
                slope: slope[l],
            });
            layer.p_fired[j * N..(j + 1) * N].copy_from_slice(&ps[l]);
            layer.q_fired[j * N..(j + 1) * N].copy_from_slice(&q[l]);
        }
        certified
    }
}

#[cfg(test)]
mod tests {
    use super::quadratic_range;
    use crate::ir::crossing::ordered_roots;
    use crate::sim::rng::Rng;

    /// The vector second passes (`first_avx2`, `first_avx512`) order the two roots of
    /// c0 + c1 z + c2 z^2 by the signs of c2 and q instead of comparing the quotients, and
    /// divide once for each: the same roots, bit for bit, in the same order as `ordered_roots`
    /// gives wherever it has no doubt, down to discriminants just above its doubt.
    #[test]
    fn the_roots_order_by_signs() {
        let by_signs = |c0: f64, c1: f64, c2: f64, a: f64| {
            let disc = c1 * c1 - 4.0 * c2 * c0;
            let q = -0.5 * (c1 + c1.signum() * disc.sqrt());
            let (n1, d1, n2, d2) = if a < 0.0 {
                (q, c2, c0, q)
            } else {
                (c0, q, q, c2)
            };
            if (c2.to_bits() ^ q.to_bits()) >> 63 == 1 {
                (n2 / d2, n1 / d1)
            } else {
                (n1 / d1, n2 / d2)
            }
        };
        let mut rng = Rng::new(17);
        let mut checked = 0;
        for _ in 0..200_000 {
            let sign = |rng: &mut Rng| if rng.below(2) == 0 { -1.0 } else { 1.0 };
            let c1 = sign(&mut rng) * 10f64.powf(6.0 * rng.uniform() - 3.0);
            let c2 = sign(&mut rng) * 10f64.powf(6.0 * rng.uniform() - 3.0);
            // disc = c1^2 eps, eps from 1e-10 to 2 (and below zero).
            let eps = sign(&mut rng) * 10f64.powf(-10.0 + 10.3 * rng.uniform());
            let c0 = c1 * c1 * (1.0 - eps) / (4.0 * c2);
            for a in [-1.0, 1.0] {
                if let Some(Some((first, second))) = ordered_roots([c0, c1, c2], a) {
                    let (f, s) = by_signs(c0, c1, c2, a);
                    assert_eq!(
                        (f.to_bits(), s.to_bits()),
                        (first.to_bits(), second.to_bits())
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100_000, "{checked}");
    }

    /// The kernel's range holds every value sampled densely over [0, t_max], and is tight: its
    /// ends are within 1e-6 (relative) of the sampled extremes.
    #[test]
    fn the_kernel_range_holds_the_kernel() {
        let mut rng = Rng::new(3);
        for _ in 0..2000 {
            let (ka, kb) = (4.0 * rng.uniform() - 2.0, 4.0 * rng.uniform() - 2.0);
            let a = if rng.below(4) == 0 {
                50.0
            } else {
                -(10.0 + 300.0 * rng.uniform())
            };
            let t_max = 0.005 + 0.05 * rng.uniform();
            let (min, max) = quadratic_range(ka, kb, a, t_max).expect("finite");
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for k in 0..=20_000 {
                let z = (a * t_max * k as f64 / 20_000.0).exp();
                let v = ka * z + kb * z * z;
                assert!(v >= min && v <= max, "{v} outside [{min}, {max}]");
                (lo, hi) = (lo.min(v), hi.max(v));
            }
            let scale = ka.abs() + kb.abs() + (ka.abs() + kb.abs()) * (a * t_max).exp().powi(2);
            assert!(lo - min <= 1e-6 * scale && max - hi <= 1e-6 * scale);
        }
    }
}
