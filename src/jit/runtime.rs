//! The functions JIT-compiled code calls for transcendentals and helpers.
//!
//! They call exactly what the interpreter calls (Rust's `f64` methods, `ir::rt`, `ir::interp`),
//! so the JIT and the interpreter agree bit for bit.

use crate::ir::{SurrogateFn, interp, rt};

pub extern "C" fn exp(x: f64) -> f64 {
    x.exp()
}
pub extern "C" fn expm1(x: f64) -> f64 {
    x.exp_m1()
}
pub extern "C" fn log(x: f64) -> f64 {
    x.ln()
}
pub extern "C" fn tanh(x: f64) -> f64 {
    x.tanh()
}
pub extern "C" fn sin(x: f64) -> f64 {
    x.sin()
}
pub extern "C" fn cos(x: f64) -> f64 {
    x.cos()
}
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}
pub extern "C" fn min(x: f64, y: f64) -> f64 {
    x.min(y)
}
pub extern "C" fn max(x: f64, y: f64) -> f64 {
    x.max(y)
}
pub extern "C" fn superspike(h: f64, beta: f64) -> f64 {
    interp::surrogate(SurrogateFn::SuperSpike { beta }, h)
}
pub extern "C" fn sigmoid(h: f64, beta: f64) -> f64 {
    interp::surrogate(SurrogateFn::Sigmoid { beta }, h)
}

/// `dd_exp` over one node, with its arguments in registers.
pub extern "C" fn dd_exp1(t: f64, l0: f64) -> f64 {
    rt::dd_exp1(t, l0)
}

/// `dd_exp` over two nodes, with its arguments in registers.
pub extern "C" fn dd_exp2(t: f64, l0: f64, l1: f64) -> f64 {
    rt::dd_exp2(t, l0, l1)
}

/// `dd_exp` with `args[0] = t` and `args[1..len]` the nodes (three or more).
///
/// # Safety
/// `args` must point to `len >= 2` readable `f64`s (generated code passes a stack slot).
pub unsafe extern "C" fn dd_exp(args: *const f64, len: usize) -> f64 {
    // SAFETY: the caller (generated code) guarantees `len` valid values at `args`.
    let a = unsafe { std::slice::from_raw_parts(args, len) };
    // One or two nodes are passed on as scalars: generated code has just stored them one by
    // one, and a wide load spanning two such stores stalls (no store forwarding).
    match *a {
        [t, l0] => rt::dd_exp1(t, l0),
        [t, l0, l1] => rt::dd_exp2(t, std::hint::black_box(l0), l1),
        _ => rt::dd_exp(a[0], &a[1..]),
    }
}

/// An entry of a matrix exponential: `args` holds the entry's index `at`, then `t`, then the
/// matrix row by row (`len = 2 + n * n`).
///
/// # Safety
/// `args` must point to `len >= 3` readable `f64`s (generated code passes a stack slot).
pub unsafe extern "C" fn expm(args: *const f64, len: usize) -> f64 {
    // SAFETY: the caller (generated code) guarantees `len` valid values at `args`.
    let a = unsafe { std::slice::from_raw_parts(args, len) };
    rt::expm_entry(a[1], &a[2..], a[0] as usize)
}

/// The symbols generated code imports: (name, address, number of f64 arguments).
pub fn symbols() -> Vec<(&'static str, *const u8, usize)> {
    vec![
        ("snnc_exp", exp as *const u8, 1),
        ("snnc_expm1", expm1 as *const u8, 1),
        ("snnc_log", log as *const u8, 1),
        ("snnc_tanh", tanh as *const u8, 1),
        ("snnc_sin", sin as *const u8, 1),
        ("snnc_cos", cos as *const u8, 1),
        ("snnc_pow", pow as *const u8, 2),
        ("snnc_min", min as *const u8, 2),
        ("snnc_max", max as *const u8, 2),
        ("snnc_superspike", superspike as *const u8, 2),
        ("snnc_sigmoid", sigmoid as *const u8, 2),
        ("snnc_dd_exp1", dd_exp1 as *const u8, 2),
        ("snnc_dd_exp2", dd_exp2 as *const u8, 3),
    ]
}
