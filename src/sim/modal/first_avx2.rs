//! The two passes of `first` in explicit AVX2 instructions, four neurons to a register.
//!
//! The compiler's vectoriser turns the portable loops over lanes into vector code in some builds
//! and not in others (small changes elsewhere in the layer code decide it), and the pass runs
//! on every interval of every group of neurons. Written out here it is vector code in every
//! build. Each instruction is the IEEE operation the portable code performs, in the same order
//! (`bounds::quad_bound` for the test; `larger(a, b)` is `max(b, a)`, which like it keeps `a`
//! when either is NaN), so the results are the same bits (`Plan::portable` runs the portable
//! code; `tests/modal.rs` compares them).
//!
//! The first pass also tries the cheaper term-wise bound before the exact test, as the portable
//! pass does (see `first`), and loads the weights of a partial group (the 3-neuron output
//! layer) with one masked load, whose missing lanes read as zero.
//!
//! The second pass's groups of four spikes ([`first_spikes`]) are written out the same way,
//! with one difference: it orders the quadratic's two roots by signs instead of comparing
//! them, and divides out the later root only where some lane takes it (the same roots, bit
//! for bit, in the same order; see the comment there and `first`'s test).
//!
//! What it does not do: anything for processors without AVX2.

use super::bounds::{LANES, Quad, SLACK, larger};
use super::first::{CERTIFICATE_SLACK, Model, Opened};
use super::log::ln4;
use super::{Fired, Interval, Layer, MAX_STATES};
use std::arch::x86_64::{
    __m256d, _CMP_EQ_OQ, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ, _CMP_NGT_UQ, _CMP_NLT_UQ,
    _mm256_add_pd, _mm256_and_pd, _mm256_andnot_pd, _mm256_blendv_pd, _mm256_cmp_pd, _mm256_div_pd,
    _mm256_loadu_pd, _mm256_maskload_pd, _mm256_max_pd, _mm256_movemask_pd, _mm256_mul_pd,
    _mm256_or_pd, _mm256_set_epi64x, _mm256_set1_pd, _mm256_setzero_pd, _mm256_sqrt_pd,
    _mm256_storeu_pd, _mm256_sub_pd, _mm256_xor_pd,
};

/// |x| lane by lane (the sign bit cleared, as `f64::abs`).
#[inline(always)]
fn abs(x: __m256d) -> __m256d {
    // SAFETY: register operations only; the caller is compiled with AVX2.
    unsafe { _mm256_andnot_pd(_mm256_set1_pd(-0.0), x) }
}

/// A register from a value per lane (a function, not a closure through `dyn`, so that it
/// inlines).
#[inline(always)]
fn by_lane(f: impl Fn(usize) -> f64) -> __m256d {
    load(&std::array::from_fn(f))
}

/// The four lanes of a register.
#[inline(always)]
fn lanes(x: __m256d) -> [f64; LANES] {
    let mut out = [0.0; LANES];
    // SAFETY: `out` holds four f64.
    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), x) };
    out
}

/// A register from four lanes.
#[inline(always)]
fn load(x: &[f64; LANES]) -> __m256d {
    // SAFETY: `x` holds four f64.
    unsafe { _mm256_loadu_pd(x.as_ptr()) }
}

/// The first pass over neurons `from..size` of a dense ratio-two layer (see `first`; `from` a
/// multiple of `LANES`): per neuron its first interval that the exact test lets through, its
/// coefficients there and its kicks, into `opened`. `h_inf`, `q`, `c0`, `(kmin, kmax)` and
/// `tested` (the first interval to test) as in `Plan::first_pass`.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(super) fn first_pass<const N: usize>(
    h_inf: f64,
    q: Quad,
    ivs: &[Interval<N>],
    arr: &[(&[f64], [f64; N])],
    c0: [f64; N],
    (kmin, kmax): (f64, f64),
    (from, size, tested): (usize, usize, usize),
    opened: &mut Vec<Opened>,
) {
    let kabs = kmin.abs().max(kmax.abs());
    let zero = _mm256_setzero_pd();
    let (hv, habs, slack) = (
        _mm256_set1_pd(h_inf),
        _mm256_set1_pd(h_inf.abs()),
        _mm256_set1_pd(SLACK),
    );
    let (ga, gb) = (_mm256_set1_pd(q.ga), _mm256_set1_pd(q.gb));
    let (kmaxv, kminv, kabsv) = (
        _mm256_set1_pd(kmax),
        _mm256_set1_pd(kmin),
        _mm256_set1_pd(kabs),
    );
    let none = _mm256_set1_pd(f64::INFINITY);
    // `clearly_below(b, 0.0)` compares b + SLACK * 0.0 with zero.
    let no_slack = _mm256_set1_pd(SLACK * 0.0);
    for j0 in (from..size).step_by(LANES) {
        let live = LANES.min(size - j0);
        let mut cl: [__m256d; N] = std::array::from_fn(|m| _mm256_set1_pd(c0[m]));
        let mut first = none;
        let mut snap = cl;
        let (mut kick, mut kick_size) = (zero, zero);
        // The lanes past the layer's end read as zero (a masked load reads only the others).
        let mask = _mm256_set_epi64x(
            -i64::from(live > 3),
            -i64::from(live > 2),
            -i64::from(live > 1),
            -1,
        );
        let weights = |row: &[f64]| {
            let w = &row[j0..j0 + live];
            // SAFETY: the mask selects the `live` lanes `w` holds.
            unsafe { _mm256_maskload_pd(w.as_ptr(), mask) }
        };
        // The arrivals from which only the kicks are left (every live lane has opened).
        let mut rest = arr.len();
        for (i, iv) in ivs.iter().enumerate() {
            // (Each lane's exact test gives `at_rest` on the first interval.)
            if i >= tested {
                // First the cheaper bound of `bounds::bound` (each term at the larger of its values
                // at the ends): where it rules out every lane still waiting, none crosses zero
                // here, and the exact test could only let the interval through without a root in it
                // (the second pass would then give up), so the test is skipped.
                let waiting = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_EQ_OQ>(first, none));
                let (mut sum, mut size) = (hv, habs);
                for m in 0..N {
                    let top = _mm256_max_pd(
                        _mm256_mul_pd(cl[m], _mm256_set1_pd(iv.gp1[m])),
                        _mm256_mul_pd(cl[m], _mm256_set1_pd(iv.gp0[m])),
                    );
                    sum = _mm256_add_pd(sum, top);
                    size = _mm256_add_pd(size, abs(top));
                }
                let ruled_out = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(
                    _mm256_add_pd(sum, _mm256_mul_pd(slack, size)),
                    zero,
                ));
                if waiting & !ruled_out & ((1 << live) - 1) != 0 {
                    // As `QuadInterval::new`.
                    let (za, zb) = (iv.p0[q.ia], iv.p1[q.ia]);
                    let (zlo, zhi) = if za < zb { (za, zb) } else { (zb, za) };
                    let s0 = larger(iv.gp0[q.ia].abs(), iv.gp1[q.ia].abs());
                    let s1 = larger(iv.gp0[q.ib].abs(), iv.gp1[q.ib].abs());
                    let (ca, cb) = (cl[q.ia], cl[q.ib]);
                    // As `quad_bound`.
                    let h0 = _mm256_add_pd(
                        hv,
                        _mm256_add_pd(
                            _mm256_mul_pd(ca, _mm256_set1_pd(iv.gp0[q.ia])),
                            _mm256_mul_pd(cb, _mm256_set1_pd(iv.gp0[q.ib])),
                        ),
                    );
                    let h1 = _mm256_add_pd(
                        hv,
                        _mm256_add_pd(
                            _mm256_mul_pd(ca, _mm256_set1_pd(iv.gp1[q.ia])),
                            _mm256_mul_pd(cb, _mm256_set1_pd(iv.gp1[q.ib])),
                        ),
                    );
                    let sz = _mm256_add_pd(
                        habs,
                        _mm256_add_pd(
                            _mm256_mul_pd(abs(ca), _mm256_set1_pd(s0)),
                            _mm256_mul_pd(abs(cb), _mm256_set1_pd(s1)),
                        ),
                    );
                    let ends = _mm256_add_pd(_mm256_max_pd(h1, h0), _mm256_mul_pd(slack, sz));
                    let (a, b) = (_mm256_mul_pd(ca, ga), _mm256_mul_pd(cb, gb));
                    let m2b = _mm256_mul_pd(_mm256_set1_pd(-2.0), b);
                    let inside = _mm256_and_pd(
                        _mm256_cmp_pd::<_CMP_GT_OQ>(a, _mm256_mul_pd(_mm256_set1_pd(zlo), m2b)),
                        _mm256_cmp_pd::<_CMP_LT_OQ>(a, _mm256_mul_pd(_mm256_set1_pd(zhi), m2b)),
                    );
                    let four_bh = _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(4.0), b), hv);
                    let aa = _mm256_mul_pd(a, a);
                    let disc = _mm256_sub_pd(aa, four_bh);
                    let crest = _mm256_and_pd(
                        inside,
                        _mm256_cmp_pd::<_CMP_GE_OQ>(
                            _mm256_add_pd(
                                disc,
                                _mm256_mul_pd(slack, _mm256_add_pd(aa, abs(four_bh))),
                            ),
                            zero,
                        ),
                    );
                    let bound = _mm256_blendv_pd(ends, zero, crest);
                    // Not clearly below zero (NaN included), and no interval opened before.
                    let open = _mm256_cmp_pd::<_CMP_NLT_UQ>(_mm256_add_pd(bound, no_slack), zero);
                    let newly = _mm256_and_pd(open, _mm256_cmp_pd::<_CMP_EQ_OQ>(first, none));
                    first = _mm256_blendv_pd(first, _mm256_set1_pd(i as f64), newly);
                    for m in 0..N {
                        snap[m] = _mm256_blendv_pd(snap[m], cl[m], newly);
                    }
                    let waiting = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_EQ_OQ>(first, none));
                    if waiting & ((1 << live) - 1) == 0 {
                        rest = iv.start;
                        break;
                    }
                }
            }
            for (row, dq) in &arr[iv.start..iv.end] {
                let w = weights(row);
                for m in 0..N {
                    cl[m] = _mm256_add_pd(cl[m], _mm256_mul_pd(w, _mm256_set1_pd(dq[m])));
                }
                let (up, down) = (_mm256_mul_pd(w, kmaxv), _mm256_mul_pd(w, kminv));
                kick = _mm256_add_pd(kick, _mm256_max_pd(up, down));
                kick_size = _mm256_add_pd(kick_size, _mm256_mul_pd(abs(w), kabsv));
            }
        }
        // Every live lane has opened: the kicks of the remaining arrivals, in the same order.
        for (row, _) in &arr[rest..] {
            let w = weights(row);
            let (up, down) = (_mm256_mul_pd(w, kmaxv), _mm256_mul_pd(w, kminv));
            kick = _mm256_add_pd(kick, _mm256_max_pd(up, down));
            kick_size = _mm256_add_pd(kick_size, _mm256_mul_pd(abs(w), kabsv));
        }
        let (first, kick, kick_size) = (lanes(first), lanes(kick), lanes(kick_size));
        let snap: [[f64; LANES]; N] = std::array::from_fn(|m| lanes(snap[m]));
        for l in 0..live {
            if first[l] != f64::INFINITY {
                let c: [f64; MAX_STATES] =
                    std::array::from_fn(|m| if m < N { snap[m][l] } else { 0.0 });
                opened.push(Opened::new(
                    (j0 + l) as u32,
                    first[l] as u32,
                    c,
                    kick[l],
                    kick_size[l],
                ));
            }
        }
    }
}

/// `Plan::first_spikes` in AVX2 instructions, the four neurons of a group in one register: the
/// same operations lane by lane as the portable code (`ordered_roots`' stable form, the checks
/// of `Plan::search_ratio_two`, the reset and certificate of `first`, and `log::ln4` for the
/// logarithm), so the same bits. False where the exact loop could go another way for any of
/// them.
#[target_feature(enable = "avx2")]
pub(super) fn first_spikes<const N: usize>(
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
    let (t0, t1) = (by_lane(|l| iv[l].t0), by_lane(|l| iv[l].t1));
    let (za, zb, z1) = (
        by_lane(|l| iv[l].p0[ia]),
        by_lane(|l| iv[l].p0[ib]),
        by_lane(|l| iv[l].p1[ia]),
    );
    let c: [__m256d; N] = std::array::from_fn(|m| by_lane(|l| o[l].c[m]));
    let (zero, hv) = (_mm256_setzero_pd(), _mm256_set1_pd(hi));
    let ca = _mm256_mul_pd(_mm256_set1_pd(g[ia]), c[ia]);
    let cb = _mm256_mul_pd(_mm256_set1_pd(g[ib]), c[ib]);
    // As `Plan::search_ratio_two` and `ordered_roots`.
    let (caza, cbzb) = (_mm256_mul_pd(ca, za), _mm256_mul_pd(cb, zb));
    let h0 = _mm256_add_pd(hv, _mm256_add_pd(caza, cbzb));
    let horizon = _mm256_sub_pd(t1, t0);
    let scale = _mm256_add_pd(
        _mm256_add_pd(_mm256_set1_pd(hi.abs()), abs(caza)),
        abs(cbzb),
    );
    let c1c1 = _mm256_mul_pd(ca, ca);
    let four_c2c0 = _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(4.0), cb), hv);
    let disc = _mm256_sub_pd(c1c1, four_c2c0);
    // `signum` of a number: its sign on 1.
    let sign = _mm256_or_pd(_mm256_and_pd(ca, _mm256_set1_pd(-0.0)), _mm256_set1_pd(1.0));
    let q = _mm256_mul_pd(
        _mm256_set1_pd(-0.5),
        _mm256_add_pd(ca, _mm256_mul_pd(sign, _mm256_sqrt_pd(disc))),
    );
    // The roots e1 = q / cb and e2 = hv / q in time order, as `ordered_roots` orders them
    // (e1 > e2 exactly where a < 0), with one division where every lane takes the earlier
    // root. e1 - e2 = (q^2 - cb hv) / (cb q), and q^2 - cb hv = (disc + |ca| sqrt(disc)) / 2
    // is positive, so e1 > e2 exactly where cb and q have the same sign. Wherever no doubt
    // below sends the group to the exact loop (disc above 1e-9 of its terms), the roots differ
    // by more than 6e-5 of their size, far above the quotients' rounding, so the comparison of
    // the quotients in `ordered_roots` says the same. `differ` has its sign bit where the signs
    // of cb and q differ.
    let differ = _mm256_xor_pd(cb, q);
    let (n1, d1, n2, d2) = if a < 0.0 {
        (q, cb, hv, q)
    } else {
        (hv, q, q, cb)
    };
    let first = _mm256_div_pd(
        _mm256_blendv_pd(n1, n2, differ),
        _mm256_blendv_pd(d1, d2, differ),
    );
    let within = |z: __m256d| {
        if a < 0.0 {
            _mm256_and_pd(
                _mm256_cmp_pd::<_CMP_LE_OQ>(z, za),
                _mm256_cmp_pd::<_CMP_GE_OQ>(z, z1),
            )
        } else {
            _mm256_and_pd(
                _mm256_cmp_pd::<_CMP_GE_OQ>(z, za),
                _mm256_cmp_pd::<_CMP_LE_OQ>(z, z1),
            )
        }
    };
    let take_first = _mm256_and_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(first, zero), within(first));
    let (z, take_second) = if _mm256_movemask_pd(take_first) == 0b1111 {
        (first, zero)
    } else {
        let second = _mm256_div_pd(
            _mm256_blendv_pd(n2, n1, differ),
            _mm256_blendv_pd(d2, d1, differ),
        );
        let take_second = _mm256_and_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(second, zero), within(second));
        (_mm256_blendv_pd(second, first, take_first), take_second)
    };
    let doubts = [
        _mm256_cmp_pd::<_CMP_GE_OQ>(h0, zero),
        _mm256_cmp_pd::<_CMP_NGT_UQ>(horizon, zero),
        _mm256_cmp_pd::<_CMP_LE_OQ>(abs(cbzb), _mm256_mul_pd(_mm256_set1_pd(1e-12), scale)),
        _mm256_cmp_pd::<_CMP_LE_OQ>(
            abs(disc),
            _mm256_mul_pd(_mm256_set1_pd(1e-9), _mm256_add_pd(c1c1, abs(four_c2c0))),
        ),
        _mm256_cmp_pd::<_CMP_LT_OQ>(disc, zero),
        _mm256_cmp_pd::<_CMP_EQ_OQ>(_mm256_or_pd(take_first, take_second), zero),
    ];
    // The root's check.
    let (pa, pb) = (z, _mm256_mul_pd(z, z));
    let slope = _mm256_add_pd(
        _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(a), ca), pa),
        _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(lb), cb), pb),
    );
    let h = _mm256_add_pd(
        hv,
        _mm256_add_pd(_mm256_mul_pd(ca, pa), _mm256_mul_pd(cb, pb)),
    );
    let below = _mm256_cmp_pd::<_CMP_LT_OQ>(h, zero);
    let newton = _mm256_blendv_pd(
        zero,
        _mm256_div_pd(_mm256_xor_pd(h, _mm256_set1_pd(-0.0)), slope),
        below,
    );
    let fine = _mm256_and_pd(
        _mm256_cmp_pd::<_CMP_GT_OQ>(slope, zero),
        _mm256_cmp_pd::<_CMP_LE_OQ>(newton, _mm256_mul_pd(_mm256_set1_pd(1e-9), horizon)),
    );
    let unchecked = _mm256_andnot_pd(fine, below);
    let doubt = doubts.iter().fold(unchecked, |d, x| _mm256_or_pd(d, *x));
    if _mm256_movemask_pd(doubt) != 0 {
        return false;
    }
    // The reset and the certificates (as `Plan::fire` and `first`).
    let ps: [__m256d; N] = std::array::from_fn(|m| match m {
        _ if m == ia => pa,
        _ if m == ib => pb,
        _ => zero,
    });
    let iz = _mm256_div_pd(_mm256_set1_pd(1.0), z);
    let q: [__m256d; N] = std::array::from_fn(|m| if m == ib { _mm256_mul_pd(iz, iz) } else { iz });
    let e: [__m256d; N] = std::array::from_fn(|m| _mm256_mul_pd(c[m], ps[m]));
    let mut bound = _mm256_add_pd(hv, by_lane(|l| o[l].kick));
    let mut size = _mm256_add_pd(_mm256_set1_pd(hi.abs()), by_lane(|l| o[l].kick_size));
    for m in 0..N {
        let mut um = _mm256_set1_pd(shift[m]);
        for k in 0..N {
            um = _mm256_add_pd(um, _mm256_mul_pd(_mm256_set1_pd(mm[m][k]), e[k]));
        }
        let cm = _mm256_mul_pd(um, q[m]);
        let gm = _mm256_set1_pd(g[m]);
        let now = _mm256_mul_pd(gm, _mm256_mul_pd(cm, ps[m]));
        let later = _mm256_mul_pd(gm, _mm256_mul_pd(cm, _mm256_set1_pd(end[m])));
        let top = _mm256_blendv_pd(now, later, _mm256_cmp_pd::<_CMP_GT_OQ>(later, now));
        bound = _mm256_add_pd(bound, top);
        size = _mm256_add_pd(size, abs(top));
    }
    let margin = _mm256_add_pd(
        bound,
        _mm256_mul_pd(_mm256_set1_pd(CERTIFICATE_SLACK), size),
    );
    let certified = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(margin, zero)) == 0b1111;
    // `f64::max(x, t0)`: t0 where x is NaN, as `_mm256_max_pd` returns its second operand then.
    let t = _mm256_max_pd(
        _mm256_add_pd(_mm256_mul_pd(ln4(z), _mm256_set1_pd(1.0 / a)), newton),
        t0,
    );
    let (t, t1, slope) = (lanes(t), lanes(t1), lanes(slope));
    for l in 0..LANES {
        let closing = o[l].interval as usize == last;
        if !(t[l] < t1[l] || (closing && t[l] <= t1[l])) {
            return false;
        }
    }
    let (ps, q): ([[f64; LANES]; N], [[f64; LANES]; N]) = (
        std::array::from_fn(|m| lanes(ps[m])),
        std::array::from_fn(|m| lanes(q[m])),
    );
    for l in 0..LANES {
        let j = o[l].j as usize;
        layer.fired[j] = Some(Fired {
            t: t[l],
            id: 0,
            applied: iv[l].start as u32,
            slope: slope[l],
        });
        for m in 0..N {
            layer.p_fired[j * N + m] = ps[m][l];
            layer.q_fired[j * N + m] = q[m][l];
        }
    }
    certified
}
