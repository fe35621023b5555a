#![allow(clippy::needless_range_loop)]
//! Helpers shared by the integration tests: compiling sources to model IR, a deterministic
//! random generator, and reference integrators that do not use any derived function.

#![allow(dead_code)]

use snnc::driver;
use snnc::ir::derive::ModelIr;
use snnc::ir::interp::eval;
use snnc::sema::hir::Program;

/// A time-to-first-spike LIF (`N`) with tau_mem = 2 tau_syn (the crossing finder's quadratic
/// closed form) and a reset so deep that each neuron spikes at most once.
pub const LIF_TTFS: &str = "
neuron N {
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    param v_th = 1.0
    param v_reset = -1000.0
    state v = 0.0
    state i = 0.0
    d/dt v = (i - v) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= v_th
    on spike { v = v_reset }
}";

/// The current-based LIF of `bench/ei_10k.snn` (three states, SI units, excitatory and
/// inhibitory receptors), without refractoriness.
pub const EI_LIF: &str = "
neuron LIF {
    param tau_mem = 20 ms
    param tau_exc = 5 ms
    param tau_inh = 10 ms
    param c_mem = 250 pF
    param e_leak = -65 mV
    param v_th = -50 mV
    param v_reset = -65 mV
    state v = e_leak
    state i_exc = 0 nA
    state i_inh = 0 nA
    d/dt v = (e_leak - v) / tau_mem + (i_exc - i_inh) / c_mem
    d/dt i_exc = -i_exc / tau_exc
    d/dt i_inh = -i_inh / tau_inh
    receptor exc(w) { i_exc += w }
    receptor inh(w) { i_inh += w }
    spike when v >= v_th
    on spike { v = v_reset }
}";

pub fn program(src: &str) -> Program {
    // Every IR pass in every test is followed by the verifier, in release builds too.
    snnc::ir::passes::verify_after_every_pass(true);
    let checked = driver::check_source("test.snn", src);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    checked.program.unwrap()
}

pub fn models(src: &str) -> Vec<ModelIr> {
    driver::lower(&program(src))
}

pub fn example(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/examples/{name}.snn",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// xorshift64*, enough for randomised tests with fixed seeds.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Integrates `rhs` of a model from `x` over `t` with classical RK4 at `steps` steps, using
/// only the base right-hand side (an independent reference for propagators).
pub fn rk4(m: &ModelIr, x: &[f64], p: &[f64], t: f64, steps: usize) -> Vec<f64> {
    let h = t / steps as f64;
    let f = |x: &[f64]| {
        let mut a = x.to_vec();
        a.extend_from_slice(p);
        eval(&m.base.rhs, &a)
    };
    let mut x = x.to_vec();
    for _ in 0..steps {
        let k1 = f(&x);
        let x2: Vec<f64> = x.iter().zip(&k1).map(|(a, k)| a + 0.5 * h * k).collect();
        let k2 = f(&x2);
        let x3: Vec<f64> = x.iter().zip(&k2).map(|(a, k)| a + 0.5 * h * k).collect();
        let k3 = f(&x3);
        let x4: Vec<f64> = x.iter().zip(&k3).map(|(a, k)| a + h * k).collect();
        let k4 = f(&x4);
        for i in 0..x.len() {
            x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
    x
}

/// `args = x ++ p ++ extra`.
pub fn args(x: &[f64], p: &[f64], extra: &[f64]) -> Vec<f64> {
    let mut a = x.to_vec();
    a.extend_from_slice(p);
    a.extend_from_slice(extra);
    a
}

pub fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

/// A folder under the system's temporary directory for one test, `snnc-<name>-<pid>`, emptied
/// when made and removed when dropped, unless the test is failing (then it stays, to look at).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// The folder, created (`create`) or left for the code under test to create.
    pub fn new(name: &str, create: bool) -> TempDir {
        let d = std::env::temp_dir().join(format!("snnc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        if create {
            std::fs::create_dir_all(&d).unwrap();
        }
        TempDir(d)
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
