//! Numerical runtime helpers that IR instructions need and that are too large to inline:
//! divided differences of the exponential (exact propagators) and the matrix exponential
//! (the propagator of linear systems whose coupling is cyclic).
//!
//! Both the interpreter and the JIT call exactly these functions, so they agree bit for bit.

use std::cell::Cell;

/// Divided difference of `lambda -> exp(lambda t)` over the nodes `lambdas` (at least one).
///
/// For two nodes this is `(e^{l0 t} - e^{l1 t}) / (l0 - l1)`, which tends to `t e^{l t}` as the
/// nodes meet; it is evaluated without dividing by the difference of the nodes, so it is accurate
/// for equal, nearly equal and distant nodes alike (McCurdy, Ng and Parlett 1984: Taylor series
/// on a scaled table, then squaring).
pub fn dd_exp(t: f64, lambdas: &[f64]) -> f64 {
    match *lambdas {
        [l0] => dd_exp1(t, l0),
        [l0, l1] => dd_exp2(t, l0, l1),
        _ => dd_exp_many(t, lambdas),
    }
}

/// [`dd_exp`] over one node: `e^{l0 t}`.
pub fn dd_exp1(t: f64, l0: f64) -> f64 {
    cached_exp(l0 * t)
}

/// [`dd_exp`] over two nodes.
pub fn dd_exp2(t: f64, l0: f64, l1: f64) -> f64 {
    let (z0, z1) = (l0 * t, l1 * t);
    let (hi, lo) = if z0 >= z1 { (z0, z1) } else { (z1, z0) };
    let d = lo - hi;
    let ratio = if d == 0.0 {
        1.0
    } else {
        cached_exp_m1_ratio(d)
    };
    t * cached_exp(hi) * ratio
}

/// [`dd_exp`] over three or more nodes.
#[inline(never)]
fn dd_exp_many(t: f64, lambdas: &[f64]) -> f64 {
    let r = lambdas.len() - 1;
    let z: Vec<f64> = lambdas.iter().map(|l| l * t).collect();
    let c = z.iter().sum::<f64>() / z.len() as f64;
    let y: Vec<f64> = z.iter().map(|zi| zi - c).collect();
    t.powi(r as i32) * c.exp() * dd_exp_unit(&y)
}

/// Entries of the small caches of [`cached_exp`] and [`cached_exp_m1_ratio`].
const CACHE: usize = 16;

thread_local! {
    /// Recent arguments (as bits) and values of `exp` and of `exp_m1(d) / d` in [`dd_exp`],
    /// direct-mapped by a hash of the argument. The key 0 (`+0.0`) holds the exact limits.
    static EXP_CACHE: [Cell<(u64, f64)>; CACHE] = const { [const { Cell::new((0, 1.0)) }; CACHE] };
    static RATIO_CACHE: [Cell<(u64, f64)>; CACHE] = const { [const { Cell::new((0, 1.0)) }; CACHE] };
}

/// The cache slot of an argument.
fn slot(bits: u64) -> usize {
    (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % CACHE
}

/// `z.exp()`, reusing a recent call's value for the same argument. A propagator evaluates the
/// same exponentials in several divided differences (for nodes `[a]`, `[b, a]`, `[0, a]` the
/// arguments `a t` and `(b - a) t` often coincide), and the neurons of a population that one
/// input reaches at the same time all ask for the same ones (equal parameters, equal time
/// step). The value is the very one `exp` returns, so results stay bit for bit the same.
fn cached_exp(z: f64) -> f64 {
    if z == 0.0 {
        return 1.0;
    }
    let bits = z.to_bits();
    EXP_CACHE.with(|c| {
        let cell = &c[slot(bits)];
        let (k, v) = cell.get();
        if k == bits {
            return v;
        }
        let v = z.exp();
        cell.set((bits, v));
        v
    })
}

/// `d.exp_m1() / d` (`d` nonzero) with the same reuse as [`cached_exp`].
fn cached_exp_m1_ratio(d: f64) -> f64 {
    let bits = d.to_bits();
    RATIO_CACHE.with(|c| {
        let cell = &c[slot(bits)];
        let (k, v) = cell.get();
        if k == bits {
            return v;
        }
        let v = d.exp_m1() / d;
        cell.set((bits, v));
        v
    })
}

/// Divided difference of `exp` over nodes `y` (any spread), by scaling and squaring.
fn dd_exp_unit(y: &[f64]) -> f64 {
    let n = y.len();
    let spread = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut s = 0i32;
    while spread / 2f64.powi(s) > 0.5 {
        s += 1;
    }
    let h = 2f64.powi(-s);
    let x: Vec<f64> = y.iter().map(|v| v * h).collect();
    // t[i][j] = h^(j-i) * exp[x_i..x_j] for the scaled nodes.
    let mut t = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in i..n {
            t[i][j] = h.powi((j - i) as i32) * taylor_dd(&x[i..=j]);
        }
    }
    for _ in 0..s {
        let mut sq = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in i..n {
                sq[i][j] = (i..=j).map(|k| t[i][k] * t[k][j]).sum();
            }
        }
        t = sq;
    }
    t[0][n - 1]
}

/// `exp[x_0..x_m]` for small nodes: `sum_k h_k(x) / (k + m)!` with `h_k` the complete
/// homogeneous symmetric polynomials.
fn taylor_dd(x: &[f64]) -> f64 {
    const TERMS: usize = 32;
    let m = x.len() - 1;
    // h[k] over the nodes seen so far, updated one node at a time.
    let mut h = [0.0f64; TERMS];
    h[0] = 1.0;
    for (idx, &xj) in x.iter().enumerate() {
        if idx == 0 {
            for k in 1..TERMS {
                h[k] = h[k - 1] * xj;
            }
        } else {
            for k in 1..TERMS {
                h[k] += xj * h[k - 1];
            }
        }
    }
    let mut fact = (1..=m).map(|i| i as f64).product::<f64>();
    let mut sum = 0.0;
    for (k, hk) in h.iter().enumerate() {
        sum += hk / fact;
        fact *= (k + m + 1) as f64;
    }
    sum
}

/// The matrix exponential `exp(a)` of a small square matrix (row-major), by scaling and
/// squaring with a degree-18 Taylor polynomial; accurate to about 1e-15 relative for the
/// well-conditioned systems neuron models produce.
pub fn expm(a: &[f64], n: usize) -> Vec<f64> {
    let norm = (0..n)
        .map(|i| (0..n).map(|j| a[i * n + j].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let mut s = 0;
    // (An infinite norm stops at the cap and gives a non-finite result.)
    while norm / 2f64.powi(s) > 0.25 && s < 1100 {
        s += 1;
    }
    let h = 2f64.powi(-s);
    let a: Vec<f64> = a.iter().map(|v| v * h).collect();
    let mut result = identity(n);
    let mut term = identity(n);
    for k in 1..=18 {
        term = matmul(&term, &a, n).iter().map(|v| v / k as f64).collect();
        for (r, t) in result.iter_mut().zip(&term) {
            *r += t;
        }
    }
    for _ in 0..s {
        result = matmul(&result, &result, n);
    }
    result
}

thread_local! {
    /// The arguments (as bits) and the value of the last [`expm_entry`] matrix: a propagator
    /// asks for every entry of the same `exp(M t)` in a row.
    static LAST_EXPM: std::cell::RefCell<(Vec<u64>, Vec<f64>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Entry `at` (row-major) of `exp(m t)` for the square matrix `m` (row-major). The whole
/// matrix is computed once and reused while the arguments stay the same bit for bit, so the
/// value never depends on which entries were asked for before.
pub fn expm_entry(t: f64, m: &[f64], at: usize) -> f64 {
    let n = (m.len() as f64).sqrt().round() as usize;
    LAST_EXPM.with(|c| {
        let mut c = c.borrow_mut();
        let same = c.0.len() == m.len() + 1
            && c.0[0] == t.to_bits()
            && c.0[1..].iter().zip(m).all(|(k, v)| *k == v.to_bits());
        if !same {
            let scaled: Vec<f64> = m.iter().map(|v| v * t).collect();
            c.1 = expm(&scaled, n);
            c.0.clear();
            c.0.push(t.to_bits());
            c.0.extend(m.iter().map(|v| v.to_bits()));
        }
        c.1[at]
    })
}

fn identity(n: usize) -> Vec<f64> {
    (0..n * n)
        .map(|k| f64::from(u8::from(k / n == k % n)))
        .collect()
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference by direct formula where it is well conditioned.
    fn direct(t: f64, l: &[f64]) -> f64 {
        match l.len() {
            1 => (l[0] * t).exp(),
            _ => (direct(t, &l[..l.len() - 1]) - direct(t, &l[1..])) / (l[0] - l[l.len() - 1]),
        }
    }

    #[test]
    fn distinct_nodes_match_the_direct_formula() {
        let cases: [&[f64]; 4] = [
            &[-100.0, -200.0],
            &[-1.0, -3.0, -7.0],
            &[0.0, -50.0, -20.0],
            &[-5.0, 2.0, -9.0, -13.0],
        ];
        for l in cases {
            for t in [0.0, 1e-3, 0.01, 0.3, 1.0] {
                // The direct recursion cancels catastrophically when the scaled nodes are close;
                // compare only where it is well conditioned (small t is covered below).
                let spread = l
                    .iter()
                    .fold(0.0f64, |m, a| l.iter().fold(m, |m, b| m.max((a - b).abs())));
                if l.len() > 2 && spread * t < 1.0 {
                    continue;
                }
                let (a, b) = (dd_exp(t, l), direct(t, l));
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1e-300) + 1e-300,
                    "{l:?} t={t}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn small_times_follow_the_leading_taylor_term() {
        // exp[t l_0 .. t l_r] t^r = t^r / r! * e^{mean t} * (1 + O((spread t)^2)).
        let l = [-5.0, 2.0, -9.0, -13.0];
        for t in [1e-2f64, 1e-3, 1e-4] {
            let mean = l.iter().sum::<f64>() / 4.0;
            let lead = t.powi(3) / 6.0 * (mean * t).exp();
            let spread = 15.0 * t;
            assert!(
                (dd_exp(t, &l) - lead).abs() <= lead * spread * spread,
                "t={t}"
            );
        }
    }

    #[test]
    fn coinciding_nodes_give_the_confluent_limit() {
        // exp[l, l] = t e^{lt}; exp[l, l, l] = t^2/2 e^{lt}.
        for (l, t) in [(-100.0f64, 0.01f64), (-200.0, 0.003), (0.0, 2.0)] {
            let e = (l * t).exp();
            assert!((dd_exp(t, &[l, l]) - t * e).abs() <= 1e-15 * t * e);
            assert!((dd_exp(t, &[l, l, l]) - t * t / 2.0 * e).abs() <= 1e-14 * t * t * e);
        }
        // Nearly equal nodes sit between the limits and agree with a series expansion.
        let (l, d, t): (f64, f64, f64) = (-100.0, 1e-7, 0.01);
        let approx = t * (l * t).exp() * (1.0 + d * t / 2.0);
        assert!((dd_exp(t, &[l + d, l]) - approx).abs() < 1e-15);
    }

    #[test]
    fn expm_of_a_rotation_and_a_triangular_block() {
        let th: f64 = 0.7;
        let e = expm(&[0.0, -th, th, 0.0], 2);
        let want = [th.cos(), -th.sin(), th.sin(), th.cos()];
        for (a, b) in e.iter().zip(want) {
            assert!((a - b).abs() < 1e-15);
        }
        let (a, b, t) = (-1.0 / 0.01, -1.0 / 0.005, 0.004);
        let e = expm(&[a * t, t / 0.01, 0.0, b * t], 2);
        assert!((e[1] - dd_exp(t, &[a, b]) / 0.01).abs() < 1e-14);
    }
}
