//! The natural logarithm of the fast path's spike times, written so that four of them can run
//! in one AVX2 register (eight in one AVX-512 register) with the same bits as the scalar code.
//!
//! A spike of a ratio-two layer lies at t = ln(z) / a. The library's `f64::ln` is a call into
//! the C library per spike, which the second pass of `first` cannot put into a vector register;
//! [`ln`] is plain IEEE arithmetic (no fused multiply-add), and [`ln4`] and [`ln8`] perform
//! exactly the same operations lane by lane, so the two agree bit for bit and the exact loop and the two-pass
//! layers keep agreeing too. Both are within about one ulp of the correctly rounded logarithm
//! (tested against `f64::ln`).
//!
//! The method: x = 2^k m with m in [sqrt(1/2), sqrt(2)), f = m - 1 and s = f / (2 + f), so that
//! 1 + f = (1 + s) / (1 - s) and ln(1 + f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R) with
//! R = sum_{i >= 1} 2 s^(2i) / (2i + 1) (|s| <= 0.1716, so ten terms reach far below an ulp);
//! then ln x = k ln2_hi + (ln(1 + f) + k ln2_lo), ln2_hi having trailing zeros so that k ln2_hi
//! is exact.
//!
//! What it does not do: zero, negative, subnormal, infinite or NaN arguments give a NaN
//! (callers pass z = e^{a t} > 0 of normal size; `f64::ln` would give -inf or +inf for some).

/// ln 2 split: the leading part with 21 trailing zero bits (so k ln2_hi is exact for every
/// exponent k), and the rest.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// 2 / (2i + 1) for i = 1..=10, the coefficients of R in s^2.
const ATANH: [f64; 10] = [
    2.0 / 3.0,
    2.0 / 5.0,
    2.0 / 7.0,
    2.0 / 9.0,
    2.0 / 11.0,
    2.0 / 13.0,
    2.0 / 15.0,
    2.0 / 17.0,
    2.0 / 19.0,
    2.0 / 21.0,
];

/// The exponent field and mantissa of x moved into [sqrt(1/2), sqrt(2)): (k, m), by bit
/// operations. 0x6a09e is the top of sqrt(2)'s mantissa: mantissas at or above it take
/// exponent k + 1.
const SPLIT: u64 = 0x0009_5f62_0000_0000;

/// Sign and exponent bits of a normal, positive argument outside which the result is NaN.
const NORMAL: (u64, u64) = (0x0010_0000_0000_0000, 0x7ff0_0000_0000_0000);

/// ln(x) for a positive, normal x; NaN otherwise.
#[inline(always)]
pub(super) fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let usable = bits >= NORMAL.0 && bits < NORMAL.1;
    // Adding SPLIT carries into the exponent exactly when the mantissa is >= sqrt(2)'s top.
    let shifted = bits.wrapping_add(SPLIT);
    let k = (shifted >> 52) as i64 - 1023;
    let m = f64::from_bits((shifted & 0x000f_ffff_ffff_ffff) + 0x3ff0_0000_0000_0000 - SPLIT);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let mut r = ATANH[9];
    for c in ATANH[..9].iter().rev() {
        r = r * z + c;
    }
    let r = r * z;
    let hfsq = 0.5 * f * f;
    let k = k as f64;
    let y = k * LN2_HI + ((f - (hfsq - s * (hfsq + r))) + k * LN2_LO);
    if usable { y } else { f64::NAN }
}

/// [`ln`] of four values at once, the same operations lane by lane (so the same bits).
///
/// # Safety
/// The processor must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn ln4(x: std::arch::x86_64::__m256d) -> std::arch::x86_64::__m256d {
    use std::arch::x86_64::*;
    let bits = _mm256_castpd_si256(x);
    // Unsigned comparisons by flipping the sign bit: bits >= lo and bits < hi.
    let flip = _mm256_set1_epi64x(i64::MIN);
    let ub = _mm256_xor_si256(bits, flip);
    let lo = _mm256_set1_epi64x((NORMAL.0 ^ (1 << 63)) as i64);
    let hi = _mm256_set1_epi64x((NORMAL.1 ^ (1 << 63)) as i64);
    let usable = _mm256_andnot_si256(_mm256_cmpgt_epi64(lo, ub), _mm256_cmpgt_epi64(hi, ub));
    let shifted = _mm256_add_epi64(bits, _mm256_set1_epi64x(SPLIT as i64));
    // k + 1023 as a double: the exponent field placed into 2^52's mantissa, minus 2^52.
    let field = _mm256_srli_epi64::<52>(shifted);
    let two52 = _mm256_set1_epi64x(0x4330_0000_0000_0000);
    let biased = _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(field, two52)),
        _mm256_set1_pd(f64::from_bits(0x4330_0000_0000_0000)),
    );
    let k = _mm256_sub_pd(biased, _mm256_set1_pd(1023.0));
    let mant = _mm256_and_si256(shifted, _mm256_set1_epi64x(0x000f_ffff_ffff_ffff));
    let m = _mm256_castsi256_pd(_mm256_add_epi64(
        mant,
        _mm256_set1_epi64x((0x3ff0_0000_0000_0000 - SPLIT) as i64),
    ));
    let one = _mm256_set1_pd(1.0);
    let f = _mm256_sub_pd(m, one);
    let s = _mm256_div_pd(f, _mm256_add_pd(_mm256_set1_pd(2.0), f));
    let z = _mm256_mul_pd(s, s);
    let mut r = _mm256_set1_pd(ATANH[9]);
    for c in ATANH[..9].iter().rev() {
        r = _mm256_add_pd(_mm256_mul_pd(r, z), _mm256_set1_pd(*c));
    }
    let r = _mm256_mul_pd(r, z);
    let hfsq = _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(0.5), f), f);
    let inner = _mm256_sub_pd(
        f,
        _mm256_sub_pd(hfsq, _mm256_mul_pd(s, _mm256_add_pd(hfsq, r))),
    );
    let y = _mm256_add_pd(
        _mm256_mul_pd(k, _mm256_set1_pd(LN2_HI)),
        _mm256_add_pd(inner, _mm256_mul_pd(k, _mm256_set1_pd(LN2_LO))),
    );
    _mm256_blendv_pd(_mm256_set1_pd(f64::NAN), y, _mm256_castsi256_pd(usable))
}

/// [`ln`] of eight numbers in one AVX-512 register: the same operations lane by lane as
/// [`ln4`] (the range test as unsigned comparisons giving a mask), so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn ln8(x: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let bits = _mm512_castpd_si512(x);
    let usable = _mm512_cmpge_epu64_mask(bits, _mm512_set1_epi64(NORMAL.0 as i64))
        & _mm512_cmplt_epu64_mask(bits, _mm512_set1_epi64(NORMAL.1 as i64));
    let shifted = _mm512_add_epi64(bits, _mm512_set1_epi64(SPLIT as i64));
    let field = _mm512_srli_epi64::<52>(shifted);
    let two52 = _mm512_set1_epi64(0x4330_0000_0000_0000);
    let biased = _mm512_sub_pd(
        _mm512_castsi512_pd(_mm512_or_si512(field, two52)),
        _mm512_set1_pd(f64::from_bits(0x4330_0000_0000_0000)),
    );
    let k = _mm512_sub_pd(biased, _mm512_set1_pd(1023.0));
    let mant = _mm512_and_si512(shifted, _mm512_set1_epi64(0x000f_ffff_ffff_ffff));
    let m = _mm512_castsi512_pd(_mm512_add_epi64(
        mant,
        _mm512_set1_epi64((0x3ff0_0000_0000_0000 - SPLIT) as i64),
    ));
    let one = _mm512_set1_pd(1.0);
    let f = _mm512_sub_pd(m, one);
    let s = _mm512_div_pd(f, _mm512_add_pd(_mm512_set1_pd(2.0), f));
    let z = _mm512_mul_pd(s, s);
    let mut r = _mm512_set1_pd(ATANH[9]);
    for c in ATANH[..9].iter().rev() {
        r = _mm512_add_pd(_mm512_mul_pd(r, z), _mm512_set1_pd(*c));
    }
    let r = _mm512_mul_pd(r, z);
    let hfsq = _mm512_mul_pd(_mm512_mul_pd(_mm512_set1_pd(0.5), f), f);
    let inner = _mm512_sub_pd(
        f,
        _mm512_sub_pd(hfsq, _mm512_mul_pd(s, _mm512_add_pd(hfsq, r))),
    );
    let y = _mm512_add_pd(
        _mm512_mul_pd(k, _mm512_set1_pd(LN2_HI)),
        _mm512_add_pd(inner, _mm512_mul_pd(k, _mm512_set1_pd(LN2_LO))),
    );
    _mm512_mask_blend_pd(usable, _mm512_set1_pd(f64::NAN), y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    /// The split of ln 2 is exact where it must be and sums to ln 2.
    #[test]
    fn ln2_is_split_exactly() {
        assert!(LN2_HI.to_bits().trailing_zeros() >= 12);
        assert!((LN2_HI + LN2_LO - std::f64::consts::LN_2).abs() <= f64::EPSILON / 4.0);
    }

    /// Within one ulp of the library's logarithm (itself within one ulp of the exact value),
    /// densely around 1 and across many binades, and at the mantissa's split.
    #[test]
    fn ln_is_within_an_ulp() {
        let mut rng = Rng::new(11);
        let mut values: Vec<f64> = (0..200_000)
            .map(|_| (60.0 * rng.uniform() - 30.0).exp())
            .collect();
        values.extend((0..100_000).map(|_| 1.0 + 1e-3 * (rng.uniform() - 0.5)));
        values.extend((0..1000).map(|k| 1.0 + k as f64 * f64::EPSILON));
        values.extend((0..1000).map(|k| 1.0 - k as f64 * f64::EPSILON / 2.0));
        let s2 = std::f64::consts::SQRT_2;
        values.extend((0..1000).map(|k| f64::from_bits(s2.to_bits() - 500 + k)));
        values.extend([f64::MIN_POSITIVE, f64::MAX, 1.0, 2.0, 0.5, 1e-300, 1e300]);
        let mut worst = 0.0f64;
        for &x in &values {
            let (ours, lib) = (ln(x), x.ln());
            let ulp = f64::from_bits(lib.abs().to_bits() + 1) - lib.abs();
            let err = (ours - lib).abs() / ulp.max(f64::MIN_POSITIVE);
            worst = worst.max(err);
            assert!(
                ours == lib || err <= 1.0,
                "ln({x:e}) = {ours:e}, library {lib:e}"
            );
        }
        assert!(worst <= 1.0, "worst error {worst} ulp");
        assert_eq!(ln(1.0).to_bits(), 0.0f64.to_bits());
    }

    /// No finite result outside its domain.
    #[test]
    fn ln_rejects_what_it_does_not_handle() {
        for x in [0.0, -0.0, -1.0, f64::INFINITY, f64::NAN, 1e-310, -1e-300] {
            assert!(ln(x).is_nan(), "ln({x:e})");
        }
    }

    /// The four-lane copy gives the same bits as the scalar one.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ln4_matches_ln_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Rng::new(5);
        for _ in 0..50_000 {
            let x: [f64; 4] = std::array::from_fn(|_| match rng.below(8) {
                0 => 1.0 + 1e-6 * (rng.uniform() - 0.5),
                1 => -rng.uniform(),
                2 => 0.0,
                _ => (40.0 * rng.uniform() - 20.0).exp(),
            });
            let mut out = [0.0; 4];
            // SAFETY: AVX2 was detected above; `x` and `out` hold four f64.
            unsafe {
                use std::arch::x86_64::{_mm256_loadu_pd, _mm256_storeu_pd};
                _mm256_storeu_pd(out.as_mut_ptr(), ln4(_mm256_loadu_pd(x.as_ptr())));
            }
            for l in 0..4 {
                let want = ln(x[l]);
                assert!(
                    out[l].to_bits() == want.to_bits() || (out[l].is_nan() && want.is_nan()),
                    "lane {l}: ln4({:e}) = {:e}, ln = {want:e}",
                    x[l],
                    out[l]
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ln8_matches_ln_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut rng = Rng::new(6);
        for _ in 0..25_000 {
            let x: [f64; 8] = std::array::from_fn(|_| match rng.below(8) {
                0 => 1.0 + 1e-6 * (rng.uniform() - 0.5),
                1 => -rng.uniform(),
                2 => 0.0,
                3 => [f64::INFINITY, f64::NAN, 1e-310, f64::MIN_POSITIVE][rng.below(4)],
                _ => (40.0 * rng.uniform() - 20.0).exp(),
            });
            let mut out = [0.0; 8];
            // SAFETY: AVX-512F checked above; the arrays hold eight f64.
            unsafe {
                use std::arch::x86_64::{_mm512_loadu_pd, _mm512_storeu_pd};
                _mm512_storeu_pd(out.as_mut_ptr(), ln8(_mm512_loadu_pd(x.as_ptr())));
            }
            for l in 0..8 {
                let want = ln(x[l]);
                assert!(
                    out[l].to_bits() == want.to_bits() || (out[l].is_nan() && want.is_nan()),
                    "lane {l}: ln8({:e}) = {:e}, ln = {want:e}",
                    x[l],
                    out[l]
                );
            }
        }
    }
}
