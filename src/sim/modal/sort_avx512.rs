//! Sorting 33 to 128 spikes by time in AVX-512 registers: a bitonic sorting network over
//! 64-bit keys, eight to a register, with no branch that depends on the data.
//!
//! A key is the time's bits with its lowest seven replaced by the spike's position in the list
//! (times are not negative, so their bits sort as they do). The keys are then distinct and sort
//! without a payload. Times that agree in all but those seven bits (ties, in practice) may come
//! out in the wrong order; the pass that reads the spikes back in sorted order checks every
//! neighbour with the whole key, and on the first disorder hands the list to the comparison
//! sort. So the result is always the comparison sort's.
//!
//! What it does not do: lists of more than 128 or fewer than 33 spikes (`sort` takes them), or
//! anything on processors without AVX-512.

use super::append;
use std::arch::x86_64::{
    __m512i, _mm512_loadu_si512, _mm512_mask_blend_epi64, _mm512_max_epu64, _mm512_min_epu64,
    _mm512_permutexvar_epi64, _mm512_set_epi64, _mm512_storeu_si512,
};

/// Most spikes sorted here (16 registers of eight keys).
pub(super) const MOST: usize = 128;
/// Bits of a key that hold the position.
const POSITION_BITS: u32 = 7;

/// Sorts `items` (at most [`MOST`]) by `(t.to_bits(), j)` as `sort_unstable_by_key` does,
/// through `keys` and `sorted` (kept from call to call).
///
/// # Safety
/// The processor must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn sort_by_time(items: &mut Vec<(f64, u32)>, sorted: &mut Vec<(f64, u32)>) {
    let n = items.len();
    assert!(n <= MOST);
    let mut keys = [u64::MAX; MOST];
    for (pos, (key, &(t, _))) in keys.iter_mut().zip(items.iter()).enumerate() {
        *key = (t.to_bits() & !((1 << POSITION_BITS) - 1)) | pos as u64;
    }
    if n <= MOST / 2 {
        network::<8>(&mut keys);
    } else {
        network::<16>(&mut keys);
    }
    let full = |&(t, j): &(f64, u32)| (t.to_bits(), j);
    sorted.clear();
    let in_order = append(sorted, n, |out| {
        let mut in_order = true;
        let mut last = (0, 0);
        for &key in &keys[..n] {
            let item = items[(key & ((1 << POSITION_BITS) - 1)) as usize];
            in_order &= last <= full(&item);
            last = full(&item);
            out.push(item);
        }
        in_order
    });
    std::mem::swap(items, sorted);
    if !in_order {
        items.sort_unstable_by_key(full);
    }
}

/// Sorts the first `8 R` keys (R a power of two from 4 to 16) in `R` registers: for each
/// doubling span, a compare-exchange of every key with its mirror image in the span, then
/// half-cleaners of falling distance, all in rising order (so no stage mixes directions).
#[inline]
#[target_feature(enable = "avx512f")]
fn network<const R: usize>(keys: &mut [u64; MOST]) {
    let mut v = [_mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, 0); R];
    for (r, x) in v.iter_mut().enumerate() {
        // SAFETY: register `r` reads keys 8r..8r+8, within the 128.
        *x = unsafe { _mm512_loadu_si512(keys.as_ptr().add(8 * r).cast()) };
    }
    // Spans of 2, 4 and 8 keys lie within a register.
    within(&mut v, 1, 0b1010_1010);
    within(&mut v, 3, 0b1100_1100);
    within(&mut v, 1, 0b1010_1010);
    within(&mut v, 7, 0b1111_0000);
    within(&mut v, 2, 0b1100_1100);
    within(&mut v, 1, 0b1010_1010);
    // Then spans of 2, 4, ... registers, each written out so that every register index is a
    // constant and the keys stay in registers.
    merge(&mut v, 2);
    merge(&mut v, 4);
    if R >= 8 {
        merge(&mut v, 8);
    }
    if R >= 16 {
        merge(&mut v, 16);
    }
    for (r, x) in v.iter().enumerate() {
        // SAFETY: as for the loads.
        unsafe { _mm512_storeu_si512(keys.as_mut_ptr().add(8 * r).cast(), *x) };
    }
}

/// Sorts each block of `span` registers whose halves are sorted.
#[inline(always)]
fn merge<const R: usize>(v: &mut [__m512i; R], span: usize) {
    mirror(v, span);
    let mut d = span / 2;
    while d >= 1 {
        across(v, d);
        d /= 2;
    }
    within(v, 4, 0b1111_0000);
    within(v, 2, 0b1100_1100);
    within(v, 1, 0b1010_1010);
}

/// Lane `l` of each register meets lane `l ^ m`; the lanes in `high` keep the larger key.
#[inline(always)]
fn within<const R: usize>(v: &mut [__m512i; R], m: i64, high: u8) {
    // SAFETY (all three helpers): register operations only; the caller is compiled with
    // AVX-512F.
    unsafe {
        let partner = _mm512_set_epi64(7 ^ m, 6 ^ m, 5 ^ m, 4 ^ m, 3 ^ m, 2 ^ m, 1 ^ m, m);
        for x in v.iter_mut() {
            let p = _mm512_permutexvar_epi64(partner, *x);
            let lo = _mm512_min_epu64(*x, p);
            let hi = _mm512_max_epu64(*x, p);
            *x = _mm512_mask_blend_epi64(high, lo, hi);
        }
    }
}

/// In each block of `span` registers, key `i` meets key `8 span - 1 - i`: register `r` meets
/// register `span - 1 - r` reversed; the first half keeps the smaller keys.
#[inline(always)]
fn mirror<const R: usize>(v: &mut [__m512i; R], span: usize) {
    // SAFETY: as in `within`.
    unsafe {
        let reverse = _mm512_set_epi64(0, 1, 2, 3, 4, 5, 6, 7);
        for block in (0..R).step_by(span) {
            for r in 0..span / 2 {
                let (a, b) = (block + r, block + span - 1 - r);
                let back = _mm512_permutexvar_epi64(reverse, v[b]);
                let hi = _mm512_max_epu64(v[a], back);
                v[a] = _mm512_min_epu64(v[a], back);
                v[b] = _mm512_permutexvar_epi64(reverse, hi);
            }
        }
    }
}

/// Register `r` meets register `r + d` (for `r` with bit `d` clear) and keeps the smaller key.
#[inline(always)]
fn across<const R: usize>(v: &mut [__m512i; R], d: usize) {
    for a in (0..R).filter(|a| a & d == 0) {
        let b = a + d;
        // SAFETY: as in `within`.
        unsafe {
            let lo = _mm512_min_epu64(v[a], v[b]);
            v[b] = _mm512_max_epu64(v[a], v[b]);
            v[a] = lo;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::sim::rng::Rng;

    /// The network alone (without the comparison sort to fall back on) sorts any keys, with
    /// repeats, in 8 and 16 registers.
    #[test]
    fn the_network_sorts_keys() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut rng = Rng::new(5);
        for trial in 0..200 {
            let range = if trial % 2 == 0 { 1 << 40 } else { 20 };
            let mut keys = [0u64; super::MOST];
            for key in keys.iter_mut() {
                *key = rng.below(range) as u64;
            }
            let mut expected = keys;
            expected[..64].sort_unstable();
            let mut half = keys;
            // SAFETY: checked above.
            unsafe { super::network::<8>(&mut half) };
            assert_eq!(half, expected, "8 registers, trial {trial}");
            expected = keys;
            expected.sort_unstable();
            // SAFETY: checked above.
            unsafe { super::network::<16>(&mut keys) };
            assert_eq!(keys, expected, "16 registers, trial {trial}");
        }
    }

    /// The network gives the comparison sort's order for every length it takes, with ties
    /// (whole and in the top 57 bits only), clumps, zeros and both ends of the range.
    #[test]
    fn sorts_like_a_comparison_sort() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut rng = Rng::new(11);
        let mut sorted = Vec::new();
        for n in 0..=super::MOST {
            for case in 0..4 {
                let mut items: Vec<(f64, u32)> = (0..n as u32)
                    .map(|j| {
                        let t = match (case, rng.below(4)) {
                            (0, _) => 20.0 * rng.uniform(),
                            (1, 0) => 20.0,
                            (1, 1) => 0.0,
                            (2, _) => f64::from_bits(5.0f64.to_bits() + rng.below(300) as u64),
                            _ => 20.0 * rng.uniform() * 1e-3,
                        };
                        (t, j)
                    })
                    .collect();
                rng.shuffle(&mut items);
                let mut expected = items.clone();
                expected.sort_unstable_by_key(|&(t, j)| (t.to_bits(), j));
                // SAFETY: checked above.
                unsafe { super::sort_by_time(&mut items, &mut sorted) };
                assert_eq!(items, expected, "n {n}, case {case}");
            }
        }
    }
}
