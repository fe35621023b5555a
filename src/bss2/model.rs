//! Recognises the chip's neuron in a user's model and maps its parameters to hardware.
//!
//! The chip implements one neuron: a leaky membrane `v` with time constant `tau_mem`, driven by
//! an excitatory and an inhibitory synaptic current that decay exponentially and that incoming
//! spikes kick, a threshold on `v` and a reset of `v` to a constant. This module decides, by
//! evaluating the model's IR functions (flow coefficients, jumps, threshold, reset) at the
//! population's parameters, whether a user's model is that neuron, and reads off its time
//! constants, potentials and the factor by which one unit of weight moves the membrane. It does
//! not place or route anything.

use crate::ir::derive::ModelIr;
use crate::ir::interp::eval;
use crate::ir::linear::Dynamics;

/// Which synaptic input of the chip a receptor drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Input {
    Excitatory,
    Inhibitory,
}

impl Input {
    pub fn name(self) -> &'static str {
        match self {
            Input::Excitatory => "excitatory",
            Input::Inhibitory => "inhibitory",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One receptor of the model as the chip sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct HwReceptor {
    /// Index of the synaptic state the receptor kicks.
    pub state: usize,
    /// Decay time constant of that state (model seconds).
    pub tau: f64,
    /// Membrane drive of one unit of weight, in model voltage units, expressed as the kick it
    /// would give the chip's synaptic current (`tau_mem * coupling * jump`); its sign says which
    /// input a positive weight uses.
    pub gain: f64,
}

/// A model recognised as the chip's neuron, at one population's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct HwModel {
    pub membrane: usize,
    pub tau_mem: f64,
    pub v_leak: f64,
    pub v_threshold: f64,
    pub v_reset: f64,
    pub refractory: f64,
    pub receptors: Vec<HwReceptor>,
}

impl HwModel {
    /// The chip input a weight `w` through receptor `r` uses, and its magnitude in model units
    /// of synaptic current.
    pub fn route(&self, r: usize, w: f64) -> (Input, f64) {
        let drive = self.receptors[r].gain * w;
        let input = if drive >= 0.0 {
            Input::Excitatory
        } else {
            Input::Inhibitory
        };
        (input, drive.abs())
    }
}

/// Recognises `m` at parameters `p`; the error says in words what does not match.
pub fn recognise(m: &ModelIr, p: &[f64]) -> Result<HwModel, String> {
    let n = m.n();
    let Dynamics::Linear(lin) = &m.dynamics else {
        return Err("its dynamics are not linear".into());
    };
    let mut args = vec![0.0; n];
    args.extend_from_slice(p);
    let coef = eval(&lin.coefficients, &args);
    let a = |i: usize, j: usize| coef[i * n + j];
    let b = |i: usize| coef[n * n + i];
    // The threshold must test one state: h(x) = c (x_m - theta), c > 0.
    let h0 = eval(&m.base.threshold, &args)[0];
    let mut grad = vec![0.0; n];
    for (s, g) in grad.iter_mut().enumerate() {
        let mut x = args.clone();
        x[s] = 1.0;
        *g = eval(&m.base.threshold, &x)[0] - h0;
    }
    let tested: Vec<usize> = (0..n).filter(|&s| grad[s] != 0.0).collect();
    let [membrane] = tested[..] else {
        return Err("its spike condition does not test exactly one state".into());
    };
    if !m.threshold_affine || grad[membrane] <= 0.0 {
        return Err(format!(
            "its spike condition is not `{} >= constant`",
            m.states[membrane]
        ));
    }
    let v_threshold = -h0 / grad[membrane];
    if a(membrane, membrane) >= 0.0 {
        return Err(format!("`{}` has no leak", m.states[membrane]));
    }
    let tau_mem = -1.0 / a(membrane, membrane);
    let v_leak = b(membrane) * tau_mem;
    // Every other state is a synaptic current: it decays alone and only feeds the membrane.
    for s in (0..n).filter(|&s| s != membrane) {
        let others = (0..n).any(|j| j != s && a(s, j) != 0.0);
        if others || b(s) != 0.0 || a(s, s) >= 0.0 {
            return Err(format!(
                "state `{}` is not an exponentially decaying synaptic current",
                m.states[s]
            ));
        }
        if a(membrane, s) == 0.0 {
            return Err(format!(
                "state `{}` does not drive the membrane `{}`",
                m.states[s], m.states[membrane]
            ));
        }
    }
    // Each receptor adds a multiple of the weight to one synaptic state.
    let mut receptors = Vec::new();
    for (r, jump) in m.base.jumps.iter().enumerate() {
        let at = |x: &[f64], w: f64| {
            let mut v = x.to_vec();
            v.push(w);
            eval(jump, &v)
        };
        let probe: Vec<f64> = (0..n).map(|i| 0.37 + 0.11 * i as f64).collect();
        let mut full = probe.clone();
        full.extend_from_slice(p);
        let base = at(&full[..], 0.0);
        let one = at(&full[..], 1.0);
        let two = at(&full[..], 2.0);
        let moved: Vec<usize> = (0..n).filter(|&s| one[s] != base[s]).collect();
        let unchanged = (0..n).all(|s| (base[s] - probe[s]).abs() <= 1e-12 * probe[s].abs());
        let [state] = moved[..] else {
            return Err(format!(
                "receptor `{}` does not kick exactly one state",
                m.base.jumps[r].name.trim_start_matches("jump_")
            ));
        };
        let c = one[state] - base[state];
        let linear = ((two[state] - base[state]) - 2.0 * c).abs() <= 1e-12 * c.abs().max(1e-300);
        if state == membrane || !unchanged || !linear {
            return Err(format!(
                "receptor `{}` does not add the weight to a synaptic current",
                m.base.jumps[r].name.trim_start_matches("jump_")
            ));
        }
        receptors.push(HwReceptor {
            state,
            tau: -1.0 / a(state, state),
            gain: tau_mem * a(membrane, state) * c,
        });
    }
    // The reset sets the membrane to a constant and leaves the currents alone.
    let mut x1: Vec<f64> = (0..n).map(|i| 0.5 + i as f64).collect();
    x1.extend_from_slice(p);
    let mut x2: Vec<f64> = (0..n).map(|i| -1.5 + 2.0 * i as f64).collect();
    x2.extend_from_slice(p);
    let (r1, r2) = (eval(&m.base.reset, &x1), eval(&m.base.reset, &x2));
    let currents_kept = (0..n).all(|s| s == membrane || (r1[s] == x1[s] && r2[s] == x2[s]));
    if r1[membrane] != r2[membrane] || !currents_kept {
        return Err(format!(
            "its reset does not set `{}` to a constant",
            m.states[membrane]
        ));
    }
    let refractory = m
        .base
        .refractory
        .as_ref()
        .map_or(0.0, |f| eval(f, p)[0].max(0.0));
    Ok(HwModel {
        membrane,
        tau_mem,
        v_leak,
        v_threshold,
        v_reset: r1[membrane],
        refractory,
        receptors,
    })
}
