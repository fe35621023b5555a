//! Reuse of a generated function's parameter-and-time part between calls.
//!
//! The engines call a model's functions once per neuron and event, and most calls in a row have
//! the same parameters and time step: every neuron of a population that one input spike
//! reaches is moved on by the same `t`. What a function computes from those alone (the
//! exponentials and reciprocals of a propagator) is then the same from call to call. For such
//! a function, `jit::translate` splits the code with `ir::hoist` into that part and the rest,
//! and the generated code asks [`get`] for the part's values under its key (the function's id
//! and the values of the arguments the part reads) and reads them where they are stored; on a
//! miss it computes them and hands them to [`put`].
//!
//! The values are the very ones the part computes (hoisting keeps every instruction), so a
//! function gives bit for bit the same result with and without reuse, and the same as the
//! interpreter. The store is per thread (no locking, no sharing between threads) and
//! direct-mapped: a newer key replaces an older one in its slot. Where a function's keys
//! rarely repeat (in a recurrent network every neuron has its own time since its last event),
//! looking up and storing only costs, so a function whose last [`WINDOW`] lookups all missed
//! is not looked up for its next [`PAUSE`] calls (on this thread). It does
//! not decide what to split; `jit::translate` does.

use std::cell::UnsafeCell;

/// Most key arguments and part values a function may have to be split.
pub const MAX_KEY: usize = 8;
pub const MAX_VALUES: usize = 16;

const SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct Entry {
    /// The function's id (`0`: empty).
    id: u64,
    key: [u64; MAX_KEY],
    values: [f64; MAX_VALUES],
}

const EMPTY: Entry = Entry {
    id: 0,
    key: [0; MAX_KEY],
    values: [0.0; MAX_VALUES],
};

/// Misses in a row that pause a function's lookups, and the calls the pause lasts.
pub const WINDOW: u32 = 64;
pub const PAUSE: u32 = 4096;

/// How well reuse works for one function on this thread.
#[derive(Clone, Copy)]
struct Stats {
    id: u64,
    /// Lookups that missed since the last hit.
    misses: u32,
    /// Calls left without lookup; `paused` is set while the current call is one of them.
    pause: u32,
    paused: bool,
}

const FRESH: Stats = Stats {
    id: 0,
    misses: 0,
    pause: 0,
    paused: false,
};

/// One thread's store and statistics.
struct Store {
    entries: [Entry; SLOTS],
    stats: [Stats; SLOTS],
}

thread_local! {
    static STORE: UnsafeCell<Store> = const {
        UnsafeCell::new(Store { entries: [EMPTY; SLOTS], stats: [FRESH; SLOTS] })
    };
}

/// The statistics of function `id`, reset if the slot held another function.
fn stats(all: &mut [Stats; SLOTS], id: u64) -> &mut Stats {
    let st = &mut all[id as usize % SLOTS];
    if st.id != id {
        *st = Stats { id, ..FRESH };
    }
    st
}

/// A fresh function id (never 0, never repeated in a process).
pub fn fresh_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// One multiplication: the keys of one function differ in a few bits of `t` mostly.
fn slot(id: u64, key: &[f64]) -> usize {
    let mut h = id;
    for (j, k) in key.iter().enumerate() {
        h ^= k.to_bits().rotate_left(7 + 13 * j as u32);
    }
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % SLOTS
}

fn same(e: &Entry, id: u64, key: &[f64]) -> bool {
    e.id == id && e.key.iter().zip(key).all(|(k, v)| *k == v.to_bits())
}

/// Where the stored values of function `id` under `key` are, if there are any. They stay there
/// until the next [`put`] on this thread (generated code reads them before it calls anything).
#[inline]
pub fn get(id: u64, key: &[f64]) -> Option<*const f64> {
    STORE.with(|s| {
        // SAFETY: the store belongs to this thread, and no reference into it outlives this call
        // or `put`'s (neither calls out), so this borrow is the only one.
        let s = unsafe { &mut *s.get() };
        let st = stats(&mut s.stats, id);
        st.paused = st.pause > 0;
        if st.paused {
            st.pause -= 1;
            return None;
        }
        let e = &s.entries[slot(id, key)];
        let found = same(e, id, key).then_some(e.values.as_ptr());
        if found.is_some() {
            st.misses = 0;
        } else {
            st.misses += 1;
            if st.misses == WINDOW {
                st.pause = PAUSE;
                st.misses = 0;
            }
        }
        found
    })
}

/// Stores `values` of function `id` under `key` (unless lookups of `id` are paused).
pub fn put(id: u64, key: &[f64], values: &[f64; MAX_VALUES]) {
    STORE.with(|s| {
        // SAFETY: as in `get`: the only reference into this thread's store.
        let s = unsafe { &mut *s.get() };
        if stats(&mut s.stats, id).paused {
            return;
        }
        let e = &mut s.entries[slot(id, key)];
        e.id = id;
        e.key = [0; MAX_KEY];
        for (k, v) in e.key.iter_mut().zip(key) {
            *k = v.to_bits();
        }
        e.values = *values;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_functions_are_told_apart() {
        let (a, b) = (fresh_id(), fresh_id());
        assert!(get(a, &[1.0, 2.0]).is_none());
        let mut stored = [0.0; MAX_VALUES];
        stored[0] = 42.0;
        put(a, &[1.0, 2.0], &stored);
        let at = get(a, &[1.0, 2.0]).expect("stored");
        // SAFETY: nothing was stored on this thread since `get`.
        assert_eq!(unsafe { *at }, 42.0);
        assert!(get(b, &[1.0, 2.0]).is_none(), "another function");
        assert!(get(a, &[1.0, 2.5]).is_none(), "another key");
        assert!(get(a, &[0.0]).is_none());
    }

    /// A function whose keys never repeat is not looked up for a while, then again.
    #[test]
    fn lookups_pause_when_they_rarely_hit() {
        let id = fresh_id();
        let values = [1.0; MAX_VALUES];
        for k in 0..WINDOW {
            assert!(get(id, &[k as f64]).is_none());
            put(id, &[k as f64], &values);
        }
        // Paused: even a stored key is not found, and nothing is stored.
        assert!(get(id, &[(WINDOW - 1) as f64]).is_none());
        put(id, &[-1.0], &values);
        for _ in 1..PAUSE {
            assert!(get(id, &[-1.0]).is_none());
        }
        // Looked up again: the key stored before the pause is there, the paused one is not.
        assert!(get(id, &[(WINDOW - 1) as f64]).is_some());
        assert!(get(id, &[-1.0]).is_none());
    }
}
