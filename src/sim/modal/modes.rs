//! A population's linear model in modal coordinates: eigenvalues, left and right eigenvectors,
//! the fixed point, the threshold and the receptor jumps as coefficients of the modes, and the
//! reset, derived once per plan from the model's compiled functions (probing them at zero and
//! at the unit vectors) and checked (each eigenvector to rounding, jumps `x += w d`).
//!
//! What it does not do: decide which networks the fast path runs (that is `Plan::new`) or
//! simulate anything.

use super::{MAX_EXPONENT, MAX_STATES, Work};
use crate::sim::kernels::ModelKernels;

/// What one population's model looks like in modal coordinates (its parameters are the same
/// for every neuron).
#[derive(Clone, Debug)]
pub(super) struct Modes {
    pub(super) n: usize,
    /// The eigenvalues, mode m belonging to state m (the diagonal of A).
    pub(super) lambda: Vec<f64>,
    /// The kernel's eigenvalue list for the crossing finder (with 0 for the constant part).
    pub(super) finder_lambdas: Vec<f64>,
    /// Right eigenvectors: `v[s * n + m]` is state s of mode m.
    pub(super) v: Vec<f64>,
    /// Left eigenvectors: `u[m * n + s]`.
    pub(super) u: Vec<f64>,
    pub(super) x_inf: Vec<f64>,
    /// g . v_m per mode, and h at the fixed point.
    pub(super) g: Vec<f64>,
    pub(super) h_inf: f64,
    /// Per receptor, per mode: u_m . d_r, the coefficient a unit weight adds at time 0.
    pub(super) d: Vec<Vec<f64>>,
    /// Every neuron's coefficients at time 0.
    pub(super) c0: Vec<f64>,
    /// For two modes with eigenvalues a and 2a (tau_mem = 2 tau_syn): (mode of a, mode of 2a,
    /// a). The crossing is then a quadratic in e^{a t}, solved from the coefficients directly.
    pub(super) ratio_two: Option<(usize, usize, f64)>,
    /// An affine reset x+ = R x + r in modal coordinates: with e_m = C_m e^{lambda_m t} before
    /// the reset, `C_m e^{lambda_m t}` after it is `k_m + sum_k M[m * n + k] e_k` (M, k).
    pub(super) reset: Option<(Vec<f64>, Vec<f64>)>,
    pub(super) params: Vec<f64>,
}

impl Modes {
    /// e^{-lambda_m t} from `p` = e^{lambda_m t}: for eigenvalues a and 2a one division, the
    /// other factor its square.
    #[inline(always)]
    pub(super) fn inverse<const N: usize>(&self, p: &[f64; N]) -> [f64; N] {
        match self.ratio_two {
            Some((ia, ib, _)) => {
                let iz = 1.0 / p[ia];
                std::array::from_fn(|m| if m == ib { iz * iz } else { iz })
            }
            None => std::array::from_fn(|m| 1.0 / p[m]),
        }
    }

    pub(super) fn new(kern: &ModelKernels, params: &[f64], t_max: f64) -> Option<Modes> {
        let (n, k) = (kern.n, kern.n_params);
        let eig = kern.eigenvalues.as_ref()?;
        if n > MAX_STATES {
            return None;
        }
        if kern.propagate.is_none() || !kern.threshold_affine || kern.refractory.is_some() {
            return None;
        }
        let mut args = vec![0.0; n + k + 1];
        args[n..n + k].copy_from_slice(params);
        let mut finder_lambdas = vec![0.0; eig.n_outputs()];
        eig.call(&args[..n + k], &mut finder_lambdas);
        let lambda = finder_lambdas.get(..n)?.to_vec();
        let scale = lambda.iter().fold(0.0f64, |a, l| a.max(l.abs()));
        for (m, &l) in lambda.iter().enumerate() {
            let distinct = lambda[..m]
                .iter()
                .all(|&o| (l - o).abs() > 1e-6 * l.abs().max(o.abs()));
            if !(l.abs() > 1e-9 * scale && l.abs() * t_max <= MAX_EXPONENT && distinct) {
                return None;
            }
        }
        // A and b from the right-hand side, which is affine in the state.
        let mut b = vec![0.0; n];
        kern.rhs.call(&args[..n + k], &mut b);
        let mut a = vec![0.0; n * n];
        let mut col = vec![0.0; n];
        for s in 0..n {
            args[s] = 1.0;
            kern.rhs.call(&args[..n + k], &mut col);
            args[s] = 0.0;
            for r in 0..n {
                a[r * n + s] = if r == s { lambda[s] } else { col[r] - b[r] };
            }
        }
        // States in an order that makes A lower triangular.
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            let next = (0..n).find(|&s| {
                !order.contains(&s)
                    && (0..n).all(|j| j == s || a[s * n + j] == 0.0 || order.contains(&j))
            })?;
            order.push(next);
        }
        // Right eigenvectors by substitution down the triangular order.
        let mut v = vec![0.0; n * n];
        for m in 0..n {
            let pm = order.iter().position(|&s| s == m)?;
            v[m * n + m] = 1.0;
            for &s in &order[pm + 1..] {
                let sum: f64 = (0..n)
                    .filter(|&j| j != s)
                    .map(|j| a[s * n + j] * v[j * n + m])
                    .sum();
                v[s * n + m] = sum / (lambda[m] - lambda[s]);
            }
        }
        let u = invert(&v, n)?;
        // Each v_m must be an eigenvector to rounding.
        for m in 0..n {
            for r in 0..n {
                let av: f64 = (0..n).map(|j| a[r * n + j] * v[j * n + m]).sum();
                let norm: f64 = (0..n).map(|j| (a[r * n + j] * v[j * n + m]).abs()).sum();
                if (av - lambda[m] * v[r * n + m]).abs()
                    > 1e-9 * norm.max(lambda[m].abs() * v[r * n + m].abs())
                {
                    return None;
                }
            }
        }
        let modal = |x: &[f64], m: usize| -> f64 { (0..n).map(|s| u[m * n + s] * x[s]).sum() };
        // x_inf = -A^{-1} b = -sum_m v_m (u_m . b) / lambda_m.
        let ub: Vec<f64> = (0..n).map(|m| modal(&b, m) / lambda[m]).collect();
        let x_inf: Vec<f64> = (0..n)
            .map(|s| -(0..n).map(|m| v[s * n + m] * ub[m]).sum::<f64>())
            .collect();
        // The threshold h(x) = g . x + h0.
        let mut h = [0.0];
        kern.threshold.call(&args[..n + k], &mut h);
        let h0 = h[0];
        let mut gx = vec![0.0; n];
        for s in 0..n {
            args[s] = 1.0;
            kern.threshold.call(&args[..n + k], &mut h);
            args[s] = 0.0;
            gx[s] = h[0] - h0;
        }
        let g: Vec<f64> = (0..n)
            .map(|m| (0..n).map(|s| gx[s] * v[s * n + m]).sum())
            .collect();
        let h_inf = h0 + (0..n).map(|s| gx[s] * x_inf[s]).sum::<f64>();
        // Receptor jumps must be x += w d: affine (checked in the IR), identity in x, no offset.
        let mut d = Vec::with_capacity(kern.jumps.len());
        let mut out = vec![0.0; n];
        for (r, jump) in kern.jumps.iter().enumerate() {
            if !kern.jumps_affine.get(r).copied().unwrap_or(false) {
                return None;
            }
            args[n + k] = 0.0;
            jump.call(&args, &mut out);
            if out.iter().any(|c| *c != 0.0) {
                return None;
            }
            for s in 0..n {
                args[s] = 1.0;
                jump.call(&args, &mut out);
                args[s] = 0.0;
                if (0..n).any(|q| out[q] != if q == s { 1.0 } else { 0.0 }) {
                    return None;
                }
            }
            args[n + k] = 1.0;
            jump.call(&args, &mut out);
            args[n + k] = 0.0;
            d.push((0..n).map(|m| modal(&out, m)).collect());
        }
        let mut x0 = vec![0.0; n];
        kern.init.call(params, &mut x0);
        let rel: Vec<f64> = x0.iter().zip(&x_inf).map(|(x, xi)| x - xi).collect();
        let c0 = (0..n).map(|m| modal(&rel, m)).collect();
        let reset = kern.reset_affine.then(|| {
            // R and r by probing the reset at 0 and at the unit vectors (exact for an affine
            // map up to the rounding of the differences).
            args[..n].fill(0.0);
            let mut r0 = vec![0.0; n];
            kern.reset.call(&args[..n + k], &mut r0);
            let mut rm = vec![0.0; n * n];
            for q in 0..n {
                args[q] = 1.0;
                kern.reset.call(&args[..n + k], &mut out);
                args[q] = 0.0;
                for s in 0..n {
                    rm[s * n + q] = out[s] - r0[s];
                }
            }
            let mm = (0..n * n)
                .map(|i| {
                    let (m, kk) = (i / n, i % n);
                    (0..n)
                        .map(|s| {
                            let rv: f64 = (0..n).map(|q| rm[s * n + q] * v[q * n + kk]).sum();
                            u[m * n + s] * rv
                        })
                        .sum()
                })
                .collect();
            let shift: Vec<f64> = (0..n)
                .map(|s| {
                    let rx: f64 = (0..n).map(|q| rm[s * n + q] * x_inf[q]).sum();
                    rx + r0[s] - x_inf[s]
                })
                .collect();
            (mm, (0..n).map(|m| modal(&shift, m)).collect())
        });
        let ratio_two = match lambda[..] {
            [l0, l1] => crate::ir::crossing::ratio_two_exponents(&[0.0, l0, l1])
                .map(|(a, _)| if a == l0 { (0, 1, a) } else { (1, 0, a) }),
            _ => None,
        };
        Some(Modes {
            ratio_two,
            reset,
            n,
            lambda,
            finder_lambdas,
            v,
            u,
            x_inf,
            g,
            h_inf,
            d,
            c0,
            params: params.to_vec(),
        })
    }

    /// The terms C_m e^{lambda_m t} just after a reset at a time t where e^{lambda_m t} =
    /// `ps[m]` and the coefficients were `c`, for an affine reset (a matrix in modal
    /// coordinates, `Modes::reset`).
    #[inline]
    pub(super) fn reset_affine<const N: usize>(&self, c: &[f64; N], ps: &[f64; N]) -> [f64; N] {
        let (mm, shift) = self
            .reset
            .as_ref()
            .expect("reset_affine runs only for affine resets");
        let (mm, shift) = (&mm[..N * N], &shift[..N]);
        let e: [f64; N] = std::array::from_fn(|m| c[m] * ps[m]);
        std::array::from_fn(|m| {
            let mut um = shift[m];
            for k in 0..N {
                um += mm[m * N + k] * e[k];
            }
            um
        })
    }

    /// [`Modes::reset_affine`] for any reset: the state rebuilt from the coefficients, the
    /// model's reset function applied, and back to modal coordinates.
    pub(super) fn reset_generic<const N: usize>(
        &self,
        kern: &ModelKernels,
        c: &[f64; N],
        ps: &[f64; N],
        work: &mut Work,
    ) -> [f64; N] {
        let Work { args, x, .. } = work;
        args.clear();
        for s in 0..N {
            let mut xs = self.x_inf[s];
            for m in 0..N {
                xs += self.v[s * N + m] * c[m] * ps[m];
            }
            args.push(xs);
        }
        args.extend_from_slice(&self.params);
        x.resize(N, 0.0);
        kern.reset.call(args, x);
        for s in 0..N {
            x[s] -= self.x_inf[s];
        }
        std::array::from_fn(|m| (0..N).map(|s| self.u[m * N + s] * x[s]).sum())
    }

    /// Lie derivatives `[h, h', h'', ..]` at `t0 + tau` of a neuron whose terms at `t0` are
    /// `e[m] = C_m e^{lambda_m t0}`.
    pub(super) fn lie(&self, e: &[f64], tau: f64, out: &mut [f64]) {
        let n = self.n;
        let mut terms = [0.0; MAX_STATES];
        for m in 0..n {
            let em = if tau == 0.0 {
                e[m]
            } else {
                e[m] * (self.lambda[m] * tau).exp()
            };
            terms[m] = self.g[m] * em;
        }
        for (k, o) in out.iter_mut().enumerate() {
            let mut s = 0.0;
            for m in 0..n {
                s += terms[m];
                terms[m] *= self.lambda[m];
            }
            *o = if k == 0 { self.h_inf + s } else { s };
        }
    }
}

/// The inverse of the `n` x `n` matrix `m` (row-major), by Gauss-Jordan elimination with
/// partial pivoting; `None` if it is singular.
fn invert(m: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut a = m.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    for c in 0..n {
        let p = (c..n).max_by(|&x, &y| a[x * n + c].abs().total_cmp(&a[y * n + c].abs()))?;
        if a[p * n + c] == 0.0 {
            return None;
        }
        for j in 0..n {
            a.swap(c * n + j, p * n + j);
            inv.swap(c * n + j, p * n + j);
        }
        let piv = a[c * n + c];
        for j in 0..n {
            a[c * n + j] /= piv;
            inv[c * n + j] /= piv;
        }
        for r in 0..n {
            if r != c {
                let f = a[r * n + c];
                if f != 0.0 {
                    for j in 0..n {
                        a[r * n + j] -= f * a[c * n + j];
                        inv[r * n + j] -= f * inv[c * n + j];
                    }
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::super::Work;
    use super::Modes;
    use crate::sim::kernels::{Backend, ModelKernels};
    use crate::sim::network::Network;
    use crate::sim::rng::Rng;

    /// A reset applied as a matrix in modal coordinates gives what the model's own reset
    /// function gives on the state rebuilt from the coefficients (to rounding).
    #[test]
    fn affine_resets_in_modal_coordinates_match_the_model_reset() {
        let models = [
            "state v = 0.0  state i = 0.0
             d/dt v = (i - v) / tau_mem  d/dt i = -i / tau_syn
             receptor syn(w) { i += w }  spike when v >= 1.0  on spike { v = -1000.0 }",
            "state v = 0.0  state i = 0.0
             d/dt v = (0.2 - v + i) / tau_mem  d/dt i = -i / tau_syn
             receptor syn(w) { i += w }  spike when v >= 1.0
             on spike { v = v - 0.7 + 0.2 * i  i = 0.5 * i + 0.1 }",
            "state v = 0.0  state e = 0.0  state k = 0.0
             d/dt v = (e - k - v) / tau_mem  d/dt e = -e / tau_syn  d/dt k = -k / (3 ms)
             receptor syn(w) { e += w }  spike when v >= 1.0
             on spike { v = -2.0  k = k + 0.3 * e }",
        ];
        let mut rng = Rng::new(3);
        for body in models {
            let src = format!(
                "neuron N {{ param tau_mem = 10 ms  param tau_syn = 4 ms  {body} }}
                 population p = 1 N
                 simulation {{ mode event  t_max 20 ms }}"
            );
            let checked = crate::driver::check_source("t.snn", &src);
            assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
            let program = checked.program.unwrap();
            let ir = crate::driver::lower(&program);
            let kern = ModelKernels::new(&ir[0], Backend::Jit).unwrap();
            assert!(kern.reset_affine, "{body}");
            let params: Vec<f64> = Network::build(&program, 0).params[0]
                .iter()
                .map(|q| q[0])
                .collect();
            let t_max = program.simulation.t_max;
            let md = Modes::new(&kern, &params, t_max).expect("a model the fast path runs");
            let mut work = Work::default();
            for _ in 0..20 {
                let t = t_max * rng.uniform();
                match md.n {
                    2 => check::<2>(&md, &kern, t, &mut rng, &mut work),
                    3 => check::<3>(&md, &kern, t, &mut rng, &mut work),
                    n => unreachable!("{n} states"),
                }
            }
        }

        fn check<const N: usize>(
            md: &Modes,
            kern: &ModelKernels,
            t: f64,
            rng: &mut Rng,
            work: &mut Work,
        ) {
            let c: [f64; N] = std::array::from_fn(|_| 4.0 * rng.normal());
            let ps: [f64; N] = std::array::from_fn(|m| (md.lambda[m] * t).exp());
            let (a, b) = (
                md.reset_affine(&c, &ps),
                md.reset_generic(kern, &c, &ps, work),
            );
            for m in 0..N {
                let scale = 1.0 + (c[m] * ps[m]).abs() + b[m].abs();
                assert!(
                    (a[m] - b[m]).abs() <= 1e-12 * scale,
                    "mode {m}: {} vs {}",
                    a[m],
                    b[m]
                );
            }
        }
    }
}
