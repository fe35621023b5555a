//! The first pass of `first` in AVX-512 instructions, eight neurons to a register.
//!
//! On processors with AVX-512 the first pass runs the layer's whole groups of eight neurons
//! here and the rest (fewer than eight) through `first_avx2`. Half the instructions per
//! neuron and interval, and 32 registers, so the loop keeps its sums in registers. Each
//! instruction is the IEEE operation `first_avx2::first_pass` performs, in the same order
//! (comparisons give bit masks instead of all-ones lanes; `_mm512_max_pd` keeps its second
//! operand when either is NaN, as `_mm256_max_pd` does), so each neuron's record is the same
//! bits (`Plan::portable` runs the portable code; `tests/modal.rs` compares them).
//!
//! What it does not do: the second pass (its groups of four stay in `first_avx2`), partial
//! groups, or anything for processors without AVX-512.

use super::bounds::{Quad, SLACK, larger};
use super::first::Opened;
use super::{Interval, MAX_STATES};
use std::arch::x86_64::{
    __m512d, _CMP_EQ_OQ, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LT_OQ, _CMP_NLT_UQ, _mm512_abs_pd,
    _mm512_add_pd, _mm512_cmp_pd_mask, _mm512_loadu_pd, _mm512_mask_blend_pd, _mm512_max_pd,
    _mm512_mul_pd, _mm512_set1_pd, _mm512_setzero_pd, _mm512_storeu_pd, _mm512_sub_pd,
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
/// dense ratio-two layer, into `opened`; returns the first neuron it left for the caller.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) fn first_pass<const N: usize>(
    h_inf: f64,
    q: Quad,
    ivs: &[Interval<N>],
    arr: &[(&[f64], [f64; N])],
    c0: [f64; N],
    (kmin, kmax): (f64, f64),
    size: usize,
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
        for (i, iv) in ivs.iter().enumerate() {
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
                    & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, _mm512_mul_pd(_mm512_set1_pd(zhi), m2b));
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
            for (row, dq) in &arr[iv.start..iv.end] {
                let w = &row[j0..j0 + WIDE];
                // SAFETY: `w` holds eight f64.
                let w = unsafe { _mm512_loadu_pd(w.as_ptr()) };
                for m in 0..N {
                    cl[m] = _mm512_add_pd(cl[m], _mm512_mul_pd(w, _mm512_set1_pd(dq[m])));
                }
                let (up, down) = (_mm512_mul_pd(w, kmaxv), _mm512_mul_pd(w, kminv));
                kick = _mm512_add_pd(kick, _mm512_max_pd(up, down));
                kick_size = _mm512_add_pd(kick_size, _mm512_mul_pd(_mm512_abs_pd(w), kabsv));
            }
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
