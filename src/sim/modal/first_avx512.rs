//! The two passes of `first` in AVX-512 instructions, eight neurons to a register.
//!
//! On processors with AVX-512 the first pass runs the layer's whole groups of eight neurons
//! here and the rest (fewer than eight) through `first_avx2`. Half the instructions per
//! neuron and interval, and 32 registers, so the loop keeps its sums in registers. Each
//! instruction is the IEEE operation `first_avx2::first_pass` performs, in the same order
//! (comparisons give bit masks instead of all-ones lanes; `_mm512_max_pd` keeps its second
//! operand when either is NaN, as `_mm256_max_pd` does), so each neuron's record is the same
//! bits (`Plan::portable` runs the portable code; `tests/modal.rs` compares them).
//!
//! The second pass runs eight spikes to a register here too ([`first_spikes`]): half the
//! groups, so half the square roots, divisions and logarithms, of the four-lane pass, with the
//! roots ordered by signs as there.
//!
//! What it does not do: partial groups of the first pass (`first_avx2` takes them), or
//! anything for processors without AVX-512.

use super::bounds::{Quad, SLACK, larger};
use super::first::{CERTIFICATE_SLACK, Model, Opened};
use super::log::ln8;
use super::{Fired, Interval, Layer, MAX_STATES};
use std::arch::x86_64::{
    __m512d, _CMP_EQ_OQ, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ, _CMP_NGT_UQ, _CMP_NLT_UQ,
    _mm512_abs_pd, _mm512_add_pd, _mm512_and_si512, _mm512_castpd_si512, _mm512_castsi512_pd,
    _mm512_cmp_pd_mask, _mm512_cmplt_epi64_mask, _mm512_div_pd, _mm512_loadu_pd,
    _mm512_mask_blend_pd, _mm512_max_pd, _mm512_mul_pd, _mm512_or_si512, _mm512_set1_epi64,
    _mm512_set1_pd, _mm512_setzero_pd, _mm512_setzero_si512, _mm512_sqrt_pd, _mm512_storeu_pd,
    _mm512_sub_pd, _mm512_xor_si512,
};

/// Neurons per register.
pub(super) const WIDE: usize = 8;

/// The eight lanes of a register.
#[inline(always)]
fn lanes(x: __m512d) -> [f64; WIDE] {
    let mut out = [0.0; WIDE];
    // SAFETY: `out` holds eight f64.
    unsafe { _mm512_storeu_pd(out.as_mut_ptr(), x) };
    out
}

/// The first pass (as `first_avx2::first_pass`) over neurons `0..WIDE * (size / WIDE)` of a
/// dense ratio-two layer, into `opened`, testing intervals from `tested` on (see
/// `Plan::run_first_spikes`); returns the first neuron it left for the caller.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) fn first_pass<const N: usize>(
    h_inf: f64,
    q: Quad,
    ivs: &[Interval<N>],
    arr: &[(&[f64], [f64; N])],
    c0: [f64; N],
    (kmin, kmax): (f64, f64),
    (size, tested): (usize, usize),
    opened: &mut Vec<Opened>,
) -> usize {
    let kabs = kmin.abs().max(kmax.abs());
    let zero = _mm512_setzero_pd();
    let (hv, habs, slack) = (
        _mm512_set1_pd(h_inf),
        _mm512_set1_pd(h_inf.abs()),
        _mm512_set1_pd(SLACK),
    );
    let (ga, gb) = (_mm512_set1_pd(q.ga), _mm512_set1_pd(q.gb));
    let (kmaxv, kminv, kabsv) = (
        _mm512_set1_pd(kmax),
        _mm512_set1_pd(kmin),
        _mm512_set1_pd(kabs),
    );
    let (m2, four) = (_mm512_set1_pd(-2.0), _mm512_set1_pd(4.0));
    let none = _mm512_set1_pd(f64::INFINITY);
    // `clearly_below(b, 0.0)` compares b + SLACK * 0.0 with zero.
    let no_slack = _mm512_set1_pd(SLACK * 0.0);
    let whole = size / WIDE * WIDE;
    for j0 in (0..whole).step_by(WIDE) {
        let mut cl: [__m512d; N] = std::array::from_fn(|m| _mm512_set1_pd(c0[m]));
        let mut first = none;
        let mut snap = cl;
        let (mut kick, mut kick_size) = (zero, zero);
        let weights = |row: &[f64]| {
            let w = &row[j0..j0 + WIDE];
            // SAFETY: `w` holds eight f64.
            unsafe { _mm512_loadu_pd(w.as_ptr()) }
        };
        // The arrivals from which only the kicks are left (every lane has opened).
        let mut rest = arr.len();
        for (i, iv) in ivs.iter().enumerate() {
            // (Each lane's test gives `at_rest` on the first interval.)
            if i >= tested {
                // As `QuadInterval::new`.
                let (za, zb) = (iv.p0[q.ia], iv.p1[q.ia]);
                let (zlo, zhi) = if za < zb { (za, zb) } else { (zb, za) };
                let s0 = larger(iv.gp0[q.ia].abs(), iv.gp1[q.ia].abs());
                let s1 = larger(iv.gp0[q.ib].abs(), iv.gp1[q.ib].abs());
                let (ca, cb) = (cl[q.ia], cl[q.ib]);
                // As `quad_bound`.
                let h0 = _mm512_add_pd(
                    hv,
                    _mm512_add_pd(
                        _mm512_mul_pd(ca, _mm512_set1_pd(iv.gp0[q.ia])),
                        _mm512_mul_pd(cb, _mm512_set1_pd(iv.gp0[q.ib])),
                    ),
                );
                let h1 = _mm512_add_pd(
                    hv,
                    _mm512_add_pd(
                        _mm512_mul_pd(ca, _mm512_set1_pd(iv.gp1[q.ia])),
                        _mm512_mul_pd(cb, _mm512_set1_pd(iv.gp1[q.ib])),
                    ),
                );
                let sz = _mm512_add_pd(
                    habs,
                    _mm512_add_pd(
                        _mm512_mul_pd(_mm512_abs_pd(ca), _mm512_set1_pd(s0)),
                        _mm512_mul_pd(_mm512_abs_pd(cb), _mm512_set1_pd(s1)),
                    ),
                );
                let ends = _mm512_add_pd(_mm512_max_pd(h1, h0), _mm512_mul_pd(slack, sz));
                let (a, b) = (_mm512_mul_pd(ca, ga), _mm512_mul_pd(cb, gb));
                let m2b = _mm512_mul_pd(m2, b);
                let inside =
                    _mm512_cmp_pd_mask::<_CMP_GT_OQ>(a, _mm512_mul_pd(_mm512_set1_pd(zlo), m2b))
                        & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(
                            a,
                            _mm512_mul_pd(_mm512_set1_pd(zhi), m2b),
                        );
                let four_bh = _mm512_mul_pd(_mm512_mul_pd(four, b), hv);
                let aa = _mm512_mul_pd(a, a);
                let disc = _mm512_sub_pd(aa, four_bh);
                let crest = inside
                    & _mm512_cmp_pd_mask::<_CMP_GE_OQ>(
                        _mm512_add_pd(
                            disc,
                            _mm512_mul_pd(slack, _mm512_add_pd(aa, _mm512_abs_pd(four_bh))),
                        ),
                        zero,
                    );
                let bound = _mm512_mask_blend_pd(crest, ends, zero);
                // Not clearly below zero (NaN included), and no interval opened before.
                let open = _mm512_cmp_pd_mask::<_CMP_NLT_UQ>(_mm512_add_pd(bound, no_slack), zero);
                let newly = open & _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(first, none);
                first = _mm512_mask_blend_pd(newly, first, _mm512_set1_pd(i as f64));
                for m in 0..N {
                    snap[m] = _mm512_mask_blend_pd(newly, snap[m], cl[m]);
                }
                if _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(first, none) == 0 {
                    rest = iv.start;
                    break;
                }
            }
            for (row, dq) in &arr[iv.start..iv.end] {
                let w = weights(row);
                for m in 0..N {
                    cl[m] = _mm512_add_pd(cl[m], _mm512_mul_pd(w, _mm512_set1_pd(dq[m])));
                }
                let (up, down) = (_mm512_mul_pd(w, kmaxv), _mm512_mul_pd(w, kminv));
                kick = _mm512_add_pd(kick, _mm512_max_pd(up, down));
                kick_size = _mm512_add_pd(kick_size, _mm512_mul_pd(_mm512_abs_pd(w), kabsv));
            }
        }
        // Every lane has opened: the kicks of the remaining arrivals, in the same order.
        for (row, _) in &arr[rest..] {
            let w = weights(row);
            let (up, down) = (_mm512_mul_pd(w, kmaxv), _mm512_mul_pd(w, kminv));
            kick = _mm512_add_pd(kick, _mm512_max_pd(up, down));
            kick_size = _mm512_add_pd(kick_size, _mm512_mul_pd(_mm512_abs_pd(w), kabsv));
        }
        let (first, kick, kick_size) = (lanes(first), lanes(kick), lanes(kick_size));
        let snap: [[f64; WIDE]; N] = std::array::from_fn(|m| lanes(snap[m]));
        for l in 0..WIDE {
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
    whole
}

/// A register from a value per lane.
#[inline(always)]
fn by_lane(f: impl Fn(usize) -> f64) -> __m512d {
    let x: [f64; WIDE] = std::array::from_fn(f);
    // SAFETY: `x` holds eight f64.
    unsafe { _mm512_loadu_pd(x.as_ptr()) }
}

/// x with its sign bit flipped (`-x`, as `_mm256_xor_pd(x, -0.0)`).
#[inline(always)]
fn negate(x: __m512d) -> __m512d {
    // SAFETY: register operations only; the caller is compiled with AVX-512F.
    unsafe {
        _mm512_castsi512_pd(_mm512_xor_si512(
            _mm512_castpd_si512(x),
            _mm512_set1_epi64(i64::MIN),
        ))
    }
}

/// `signum` of each lane: its sign on 1 (as `first_avx2`).
#[inline(always)]
fn signum(x: __m512d) -> __m512d {
    // SAFETY: register operations only; the caller is compiled with AVX-512F.
    unsafe {
        _mm512_castsi512_pd(_mm512_or_si512(
            _mm512_and_si512(_mm512_castpd_si512(x), _mm512_set1_epi64(i64::MIN)),
            _mm512_castpd_si512(_mm512_set1_pd(1.0)),
        ))
    }
}

/// `first_avx2::first_spikes` for eight neurons in one AVX-512 register: the same operations
/// lane by lane (`log::ln8` for the logarithm), so the same bits. False where the exact loop
/// could go another way for any of them.
#[target_feature(enable = "avx512f")]
pub(super) fn first_spikes<const N: usize>(
    model: &Model<N>,
    layer: &mut Layer,
    ivs: &[Interval<N>],
    o: [&Opened; WIDE],
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
    let iv: [&Interval<N>; WIDE] = std::array::from_fn(|l| &ivs[o[l].interval as usize]);
    let (t0, t1) = (by_lane(|l| iv[l].t0), by_lane(|l| iv[l].t1));
    let (za, zb, z1) = (
        by_lane(|l| iv[l].p0[ia]),
        by_lane(|l| iv[l].p0[ib]),
        by_lane(|l| iv[l].p1[ia]),
    );
    let c: [__m512d; N] = std::array::from_fn(|m| by_lane(|l| o[l].c[m]));
    let (zero, hv) = (_mm512_setzero_pd(), _mm512_set1_pd(hi));
    let ca = _mm512_mul_pd(_mm512_set1_pd(g[ia]), c[ia]);
    let cb = _mm512_mul_pd(_mm512_set1_pd(g[ib]), c[ib]);
    // As `Plan::search_ratio_two` and `ordered_roots`.
    let (caza, cbzb) = (_mm512_mul_pd(ca, za), _mm512_mul_pd(cb, zb));
    let h0 = _mm512_add_pd(hv, _mm512_add_pd(caza, cbzb));
    let horizon = _mm512_sub_pd(t1, t0);
    let scale = _mm512_add_pd(
        _mm512_add_pd(_mm512_set1_pd(hi.abs()), _mm512_abs_pd(caza)),
        _mm512_abs_pd(cbzb),
    );
    let c1c1 = _mm512_mul_pd(ca, ca);
    let four_c2c0 = _mm512_mul_pd(_mm512_mul_pd(_mm512_set1_pd(4.0), cb), hv);
    let disc = _mm512_sub_pd(c1c1, four_c2c0);
    let q = _mm512_mul_pd(
        _mm512_set1_pd(-0.5),
        _mm512_add_pd(ca, _mm512_mul_pd(signum(ca), _mm512_sqrt_pd(disc))),
    );
    // The roots e1 = q / cb and e2 = hv / q in time order, as `ordered_roots` orders them,
    // with one division where every lane takes the earlier root (`first_avx2::first_spikes`
    // says why their order follows from signs).
    let differ = _mm512_cmplt_epi64_mask(
        _mm512_xor_si512(_mm512_castpd_si512(cb), _mm512_castpd_si512(q)),
        _mm512_setzero_si512(),
    );
    let (n1, d1, n2, d2) = if a < 0.0 {
        (q, cb, hv, q)
    } else {
        (hv, q, q, cb)
    };
    let first = _mm512_div_pd(
        _mm512_mask_blend_pd(differ, n1, n2),
        _mm512_mask_blend_pd(differ, d1, d2),
    );
    let within = |z: __m512d| {
        if a < 0.0 {
            _mm512_cmp_pd_mask::<_CMP_LE_OQ>(z, za) & _mm512_cmp_pd_mask::<_CMP_GE_OQ>(z, z1)
        } else {
            _mm512_cmp_pd_mask::<_CMP_GE_OQ>(z, za) & _mm512_cmp_pd_mask::<_CMP_LE_OQ>(z, z1)
        }
    };
    let take_first = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(first, zero) & within(first);
    let (z, take_second) = if take_first == 0xff {
        (first, 0)
    } else {
        let second = _mm512_div_pd(
            _mm512_mask_blend_pd(differ, n2, n1),
            _mm512_mask_blend_pd(differ, d2, d1),
        );
        let take_second = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(second, zero) & within(second);
        (_mm512_mask_blend_pd(take_first, second, first), take_second)
    };
    let doubts = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(h0, zero)
        | _mm512_cmp_pd_mask::<_CMP_NGT_UQ>(horizon, zero)
        | _mm512_cmp_pd_mask::<_CMP_LE_OQ>(
            _mm512_abs_pd(cbzb),
            _mm512_mul_pd(_mm512_set1_pd(1e-12), scale),
        )
        | _mm512_cmp_pd_mask::<_CMP_LE_OQ>(
            _mm512_abs_pd(disc),
            _mm512_mul_pd(
                _mm512_set1_pd(1e-9),
                _mm512_add_pd(c1c1, _mm512_abs_pd(four_c2c0)),
            ),
        )
        | _mm512_cmp_pd_mask::<_CMP_LT_OQ>(disc, zero)
        | !(take_first | take_second);
    // The root's check.
    let (pa, pb) = (z, _mm512_mul_pd(z, z));
    let slope = _mm512_add_pd(
        _mm512_mul_pd(_mm512_mul_pd(_mm512_set1_pd(a), ca), pa),
        _mm512_mul_pd(_mm512_mul_pd(_mm512_set1_pd(lb), cb), pb),
    );
    let h = _mm512_add_pd(
        hv,
        _mm512_add_pd(_mm512_mul_pd(ca, pa), _mm512_mul_pd(cb, pb)),
    );
    let below = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(h, zero);
    let newton = _mm512_mask_blend_pd(below, zero, _mm512_div_pd(negate(h), slope));
    let fine = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(slope, zero)
        & _mm512_cmp_pd_mask::<_CMP_LE_OQ>(newton, _mm512_mul_pd(_mm512_set1_pd(1e-9), horizon));
    let unchecked = below & !fine;
    if doubts | unchecked != 0 {
        return false;
    }
    // The reset and the certificates (as `Plan::fire` and `first`).
    let ps: [__m512d; N] = std::array::from_fn(|m| match m {
        _ if m == ia => pa,
        _ if m == ib => pb,
        _ => zero,
    });
    let iz = _mm512_div_pd(_mm512_set1_pd(1.0), z);
    let q: [__m512d; N] = std::array::from_fn(|m| if m == ib { _mm512_mul_pd(iz, iz) } else { iz });
    let e: [__m512d; N] = std::array::from_fn(|m| _mm512_mul_pd(c[m], ps[m]));
    let mut bound = _mm512_add_pd(hv, by_lane(|l| o[l].kick));
    let mut size = _mm512_add_pd(_mm512_set1_pd(hi.abs()), by_lane(|l| o[l].kick_size));
    for m in 0..N {
        let mut um = _mm512_set1_pd(shift[m]);
        for k in 0..N {
            um = _mm512_add_pd(um, _mm512_mul_pd(_mm512_set1_pd(mm[m][k]), e[k]));
        }
        let cm = _mm512_mul_pd(um, q[m]);
        let gm = _mm512_set1_pd(g[m]);
        let now = _mm512_mul_pd(gm, _mm512_mul_pd(cm, ps[m]));
        let later = _mm512_mul_pd(gm, _mm512_mul_pd(cm, _mm512_set1_pd(end[m])));
        let top = _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(later, now), now, later);
        bound = _mm512_add_pd(bound, top);
        size = _mm512_add_pd(size, _mm512_abs_pd(top));
    }
    let margin = _mm512_add_pd(
        bound,
        _mm512_mul_pd(_mm512_set1_pd(CERTIFICATE_SLACK), size),
    );
    let certified = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(margin, zero) == 0xff;
    // `f64::max(x, t0)`: t0 where x is NaN, as `_mm512_max_pd` returns its second operand then.
    let t = _mm512_max_pd(
        _mm512_add_pd(_mm512_mul_pd(ln8(z), _mm512_set1_pd(1.0 / a)), newton),
        t0,
    );
    // Each spike inside its interval: before its end, or at it in the last interval.
    let before = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(t, t1);
    if before != 0xff {
        let closing = (0..WIDE).fold(0u8, |mask, l| {
            mask | u8::from(o[l].interval as usize == last) << l
        });
        if before | (closing & _mm512_cmp_pd_mask::<_CMP_LE_OQ>(t, t1)) != 0xff {
            return false;
        }
    }
    let (t, slope) = (lanes(t), lanes(slope));
    let (ps, q): ([[f64; WIDE]; N], [[f64; WIDE]; N]) = (
        std::array::from_fn(|m| lanes(ps[m])),
        std::array::from_fn(|m| lanes(q[m])),
    );
    for l in 0..WIDE {
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
