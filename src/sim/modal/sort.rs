//! Sorting a layer's spikes by time (then neuron), in linear time for spread-out times.

/// Buffers of [`sort_by_time`], kept from call to call.
#[derive(Default)]
pub(super) struct Scratch {
    sorted: Vec<(f64, u32)>,
    counts: Vec<u32>,
    buckets: Vec<u32>,
}

/// Buckets per item: fewer collisions, so fewer moves (and mispredicted branches) in the
/// insertion pass.
const SPREAD: usize = 4;

/// Sorts spikes `(t, j)` with `0 <= t <= t_max` by time, then index: into buckets
/// floor((t - lo) 4n / (hi - lo)) over the range [lo, hi] the times span (the buckets grow with
/// t), then one insertion pass over the bucketed list, whose elements are out of order only
/// within a bucket. Linear time for spread-out times, where a comparison sort spent 8 % of a
/// training run.
/// With `avx512` (only where the processor has AVX-512F), lists of 33 to 128 spikes go to the
/// sorting network of `sort_avx512` instead, which gives the same order.
pub(super) fn sort_by_time(
    items: &mut Vec<(f64, u32)>,
    t_max: f64,
    scratch: &mut Scratch,
    avx512: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if avx512 && (33..=super::sort_avx512::MOST).contains(&items.len()) {
        // SAFETY: the caller passes `avx512` only where the processor has AVX-512F.
        return unsafe { super::sort_avx512::sort_by_time(items, &mut scratch.sorted) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx512;
    let key = |&(t, j): &(f64, u32)| (t.to_bits(), j);
    let n = items.len();
    let Scratch {
        sorted,
        counts,
        buckets,
    } = scratch;
    let (mut lo, mut hi) = (t_max, 0.0);
    let mut in_range = true;
    for &(t, _) in items.iter() {
        in_range &= (0.0..=t_max).contains(&t);
        lo = if t < lo { t } else { lo };
        hi = if t > hi { t } else { hi };
    }
    // A zero span puts everything in bucket 0 (`scale` is then infinite times zero: NaN,
    // which `as` turns into 0).
    let slots = SPREAD * n;
    let scale = slots as f64 / (hi - lo);
    let top = slots.saturating_sub(1) as u32;
    buckets.clear();
    buckets.extend(
        items
            .iter()
            .map(|&(t, _)| (((t - lo) * scale) as u32).min(top)),
    );
    if n < 32 || !in_range {
        items.sort_unstable_by_key(key);
        return;
    }
    counts.clear();
    counts.resize(slots + 1, 0);
    for &b in buckets.iter() {
        counts[b as usize + 1] += 1;
    }
    prefix_sums(counts);
    sorted.clear();
    sorted.resize(n, (0.0, 0));
    for (&item, &b) in items.iter().zip(buckets.iter()) {
        let slot = &mut counts[b as usize];
        sorted[*slot as usize] = item;
        *slot += 1;
    }
    for i in 1..n {
        let item = sorted[i];
        let mut k = i;
        while k > 0 && key(&sorted[k - 1]) > key(&item) {
            sorted[k] = sorted[k - 1];
            k -= 1;
        }
        sorted[k] = item;
    }
    std::mem::swap(items, sorted);
}

/// Each count replaced by the sum of it and those before it. Four at a time in SSE2 registers
/// on x86-64 (part of the architecture, so always there): a chain of one addition per four
/// counts instead of one per count.
fn prefix_sums(counts: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86-64.
    let (counts, mut sum) = unsafe { prefix_sums_sse2(counts) };
    #[cfg(not(target_arch = "x86_64"))]
    let mut sum = 0;
    for c in counts.iter_mut() {
        sum += *c;
        *c = sum;
    }
}

/// [`prefix_sums`] of the whole fours of `counts`; returns the rest and the sum so far.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn prefix_sums_sse2(counts: &mut [u32]) -> (&mut [u32], u32) {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_set1_epi32,
        _mm_shuffle_epi32, _mm_slli_si128, _mm_storeu_si128,
    };
    let (fours, rest) = counts.as_chunks_mut::<4>();
    let mut carry = _mm_set1_epi32(0);
    for four in fours {
        let p = four.as_mut_ptr().cast::<__m128i>();
        // SAFETY: `p` points to four u32 (an unaligned load and store).
        let mut x = unsafe { _mm_loadu_si128(p) };
        x = _mm_add_epi32(x, _mm_slli_si128::<4>(x));
        x = _mm_add_epi32(x, _mm_slli_si128::<8>(x));
        x = _mm_add_epi32(x, carry);
        // SAFETY: as above.
        unsafe { _mm_storeu_si128(p, x) };
        carry = _mm_shuffle_epi32::<0xff>(x);
    }
    (rest, _mm_cvtsi128_si32(carry) as u32)
}

#[cfg(test)]
mod tests {
    use super::{Scratch, sort_by_time};
    use crate::sim::rng::Rng;

    /// The vector prefix sums give the running sums, for every length's tail.
    #[test]
    fn prefix_sums_are_running_sums() {
        let mut rng = Rng::new(3);
        for n in 0..40 {
            let counts: Vec<u32> = (0..n).map(|_| rng.below(5) as u32).collect();
            let mut sums = counts.clone();
            super::prefix_sums(&mut sums);
            let expected: Vec<u32> = counts
                .iter()
                .scan(0, |s, &c| {
                    *s += c;
                    Some(*s)
                })
                .collect();
            assert_eq!(sums, expected, "{counts:?}");
        }
    }

    /// The bucket sort gives the comparison sort's order, with ties, clumps and both ends.
    #[test]
    fn sort_by_time_orders_like_a_comparison_sort() {
        let mut rng = Rng::new(7);
        let mut scratch = Scratch::default();
        for n in [0, 1, 5, 31, 32, 33, 120, 1000] {
            for clump in [1.0, 1e-3, 0.0] {
                let mut items: Vec<(f64, u32)> = (0..n as u32)
                    .map(|j| {
                        let t = match rng.below(4) {
                            0 => 20.0,
                            1 => 0.0,
                            _ => 20.0 * rng.uniform() * clump,
                        };
                        (t, j)
                    })
                    .collect();
                rng.shuffle(&mut items);
                let mut expected = items.clone();
                expected.sort_unstable_by_key(|&(t, j)| (t.to_bits(), j));
                sort_by_time(&mut items, 20.0, &mut scratch, false);
                assert_eq!(items, expected, "n {n}, clump {clump}");
            }
        }
    }
}
