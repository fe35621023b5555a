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
//! direct-mapped: a newer key replaces an older one in its slot. It does not decide what to
//! split; `jit::translate` does.

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

thread_local! {
    static STORE: UnsafeCell<[Entry; SLOTS]> = const { UnsafeCell::new([EMPTY; SLOTS]) };
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
        // or `put`'s (neither calls out), so this shared borrow is the only one.
        let e = unsafe { &(*s.get())[slot(id, key)] };
        same(e, id, key).then_some(e.values.as_ptr())
    })
}

/// Stores `values` of function `id` under `key`.
pub fn put(id: u64, key: &[f64], values: &[f64; MAX_VALUES]) {
    STORE.with(|s| {
        // SAFETY: as in `get`: this is the only reference into this thread's store.
        let e = unsafe { &mut (*s.get())[slot(id, key)] };
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
}
