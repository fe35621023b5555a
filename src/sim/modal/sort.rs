//! Sorting a layer's spikes by time (then neuron), in linear time for spread-out times.

/// Sorts spikes `(t, j)` with `0 <= t <= t_max` by time, then index: by bucket (the bucket,
/// floor(t n / t_max), grows with t), then insertion sort within the buckets. Linear time for
/// spread-out times, where a comparison sort spent 8 % of a training run.
pub(super) fn sort_by_time(
    items: &mut Vec<(f64, u32)>,
    t_max: f64,
    sorted: &mut Vec<(f64, u32)>,
    counts: &mut Vec<u32>,
) {
    let key = |&(t, j): &(f64, u32)| (t.to_bits(), j);
    let n = items.len();
    if n < 32 || !items.iter().all(|&(t, _)| (0.0..=t_max).contains(&t)) {
        items.sort_unstable_by_key(key);
        return;
    }
    let scale = n as f64 / t_max;
    let bucket = |t: f64| ((t * scale) as usize).min(n - 1);
    counts.clear();
    counts.resize(n + 1, 0);
    for &(t, _) in items.iter() {
        counts[bucket(t) + 1] += 1;
    }
    for b in 0..n {
        counts[b + 1] += counts[b];
    }
    sorted.clear();
    sorted.resize(n, (0.0, 0));
    for &item in items.iter() {
        let b = bucket(item.0);
        sorted[counts[b] as usize] = item;
        counts[b] += 1;
    }
    // Now counts[b] is where bucket b ends; each bucket in order by insertion.
    let mut start = 0;
    for &end in &counts[..n] {
        let end = end as usize;
        for i in start + 1..end {
            let item = sorted[i];
            let mut k = i;
            while k > start && key(&sorted[k - 1]) > key(&item) {
                sorted[k] = sorted[k - 1];
                k -= 1;
            }
            sorted[k] = item;
        }
        start = end.max(start);
    }
    std::mem::swap(items, sorted);
}

#[cfg(test)]
mod tests {
    use super::sort_by_time;
    use crate::sim::rng::Rng;

    /// The bucket sort gives the comparison sort's order, with ties, clumps and both ends.
    #[test]
    fn sort_by_time_orders_like_a_comparison_sort() {
        let mut rng = Rng::new(7);
        let (mut sorted, mut counts) = (Vec::new(), Vec::new());
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
                sort_by_time(&mut items, 20.0, &mut sorted, &mut counts);
                assert_eq!(items, expected, "n {n}, clump {clump}");
            }
        }
    }
}
