//! Adaptive Dormand-Prince 5(4) integration with dense output and event location, for models
//! without a closed-form propagator (nonlinear dynamics, cyclic linear coupling).
//!
//! Error control is relative: each state's error is measured against the largest magnitude
//! that state has had on the trajectory (`scale`, floored at a millionth of the largest state
//! scale), times the `tolerance` of the simulation section. Threshold crossings are located on the step's continuous extension (Hairer's fourth
//! order interpolant): the threshold is sampled at 8 points per step and a sign change is
//! refined by bisection. A crossing whose excursion above the threshold lies entirely between two
//! samples of one step can be missed; the stated guarantee is the integrator's tolerance, not
//! the exactness of the closed-form path.

use super::kernels::Compiled;

const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [0.2, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// Fifth-order weights minus fourth-order weights (the error estimate).
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];
/// Dense-output coefficients.
const D: [f64; 7] = [
    -12715105075.0 / 11282082432.0,
    0.0,
    87487479700.0 / 32700410799.0,
    -10690763975.0 / 1880347072.0,
    701980252875.0 / 199316789632.0,
    -1453857185.0 / 822651844.0,
    69997945.0 / 29380423.0,
];

/// The right-hand side and threshold of one neuron with its parameters.
pub struct Flow<'a> {
    pub rhs: &'a Compiled,
    pub threshold: &'a Compiled,
    pub params: &'a [f64],
    pub tolerance: f64,
}

/// Buffers the integrator reuses from step to step and call to call (an engine keeps one), so
/// that integrating allocates nothing once they have grown.
#[derive(Default)]
pub struct Workspace {
    args: Vec<f64>,
    k: [Vec<f64>; 7],
    k7: Vec<f64>,
    xs: Vec<f64>,
    /// The last accepted step.
    step: Step,
    /// A point of the continuous extension.
    at: Vec<f64>,
    /// The start of a crossing search.
    x: Vec<f64>,
}

impl Flow<'_> {
    fn f(&self, args: &mut Vec<f64>, x: &[f64], out: &mut [f64]) {
        args.clear();
        args.extend_from_slice(x);
        args.extend_from_slice(self.params);
        self.rhs.call(args, out);
    }

    fn h_with(&self, args: &mut Vec<f64>, x: &[f64]) -> f64 {
        args.clear();
        args.extend_from_slice(x);
        args.extend_from_slice(self.params);
        let mut o = [0.0];
        self.threshold.call(args, &mut o);
        o[0]
    }

    pub fn h(&self, x: &[f64]) -> f64 {
        self.h_with(&mut Vec::new(), x)
    }
}

/// One accepted step: its length, start, endpoint and interpolation data.
#[derive(Default)]
struct Step {
    h: f64,
    y0: Vec<f64>,
    y1: Vec<f64>,
    r: [Vec<f64>; 4],
}

impl Step {
    /// The continuous extension at `theta` (0 at the start, 1 at the end) into `out`.
    fn at(&self, theta: f64, out: &mut Vec<f64>) {
        out.clear();
        out.extend((0..self.y0.len()).map(|i| {
            self.y0[i]
                + theta
                    * (self.r[0][i]
                        + (1.0 - theta)
                            * (self.r[1][i]
                                + theta * (self.r[2][i] + (1.0 - theta) * self.r[3][i])))
        }));
    }
}

/// Takes one adaptive step of at most `h_max` from `x` into `w.step`; returns the next step size.
fn step(
    flow: &Flow<'_>,
    w: &mut Workspace,
    x: &[f64],
    scale: &mut [f64],
    mut h: f64,
    h_max: f64,
) -> f64 {
    let n = x.len();
    let Workspace {
        args,
        k,
        k7,
        xs,
        step: st,
        ..
    } = w;
    for kj in k.iter_mut() {
        kj.resize(n, 0.0);
    }
    k7.resize(n, 0.0);
    flow.f(args, x, &mut k[0]);
    loop {
        h = h.min(h_max);
        for s in 1..7 {
            xs.clear();
            xs.extend((0..n).map(|i| x[i] + h * (0..s).map(|j| A[s][j] * k[j][i]).sum::<f64>()));
            let (done, rest) = k.split_at_mut(s);
            let _ = done;
            flow.f(args, xs, &mut rest[0]);
        }
        let y1 = &mut st.y1;
        y1.clear();
        y1.extend((0..n).map(|i| x[i] + h * (0..6).map(|j| A[6][j] * k[j][i]).sum::<f64>()));
        flow.f(args, y1, k7);
        let mut err = 0.0;
        // States that start at zero (a synaptic conductance, an adaptation current) would get an
        // absurdly strict absolute tolerance from their own tiny values; floor each scale at a
        // millionth of the largest state scale.
        let floor = 1e-6 * scale.iter().fold(0.0f64, |m, v| m.max(*v));
        for i in 0..n {
            let e = h * ((0..6).map(|j| E[j] * k[j][i]).sum::<f64>() + E[6] * k7[i]);
            let sc = flow.tolerance
                * scale[i]
                    .max(x[i].abs())
                    .max(y1[i].abs())
                    .max(floor)
                    .max(f64::MIN_POSITIVE);
            err += (e / sc).powi(2);
        }
        let err = (err / n as f64).sqrt();
        // A NaN or infinite error (the state blew up inside the step) shrinks the step.
        let factor = if err == 0.0 {
            5.0
        } else if err.is_finite() {
            (0.9 * err.powf(-0.2)).clamp(0.2, 5.0)
        } else {
            0.2
        };
        if err <= 1.0 || h <= 1e-15 * h_max.max(1e-12) || h < 1e-18 {
            for i in 0..n {
                scale[i] = scale[i].max(y1[i].abs());
            }
            let [ydiff, bspl, r3, r4] = &mut st.r;
            ydiff.clear();
            ydiff.extend((0..n).map(|i| y1[i] - x[i]));
            bspl.clear();
            bspl.extend((0..n).map(|i| h * k[0][i] - ydiff[i]));
            r3.clear();
            r3.extend((0..n).map(|i| ydiff[i] - h * k7[i] - bspl[i]));
            r4.clear();
            r4.extend((0..n).map(|i| {
                h * (D[0] * k[0][i]
                    + D[2] * k[2][i]
                    + D[3] * k[3][i]
                    + D[4] * k[4][i]
                    + D[5] * k[5][i]
                    + D[6] * k7[i])
            }));
            st.h = h;
            st.y0.clear();
            st.y0.extend_from_slice(x);
            return h * factor;
        }
        h *= factor;
    }
}

/// Integrates from `x` over `t` (no threshold test).
pub fn advance(flow: &Flow<'_>, w: &mut Workspace, x: &mut Vec<f64>, scale: &mut [f64], t: f64) {
    advance_sampled(flow, w, x, scale, t, &[], &mut Vec::new());
}

/// [`advance`], and the trajectory at the sorted `offsets` (each in `[0, t]`) appended to
/// `samples` (`x.len()` values each), read from the continuous extension of the very steps that
/// `advance` takes: sampling never changes the step sequence or the result.
pub fn advance_sampled(
    flow: &Flow<'_>,
    w: &mut Workspace,
    x: &mut Vec<f64>,
    scale: &mut [f64],
    t: f64,
    offsets: &[f64],
    samples: &mut Vec<f64>,
) {
    let mut next_offset = 0;
    while next_offset < offsets.len() && offsets[next_offset] <= 0.0 {
        samples.extend_from_slice(x);
        next_offset += 1;
    }
    let mut done = 0.0;
    let mut h = t;
    while done < t {
        let next = step(flow, w, x, scale, h, t - done);
        let s = &w.step;
        while next_offset < offsets.len() && offsets[next_offset] < done + s.h {
            let theta = ((offsets[next_offset] - done) / s.h).clamp(0.0, 1.0);
            s.at(theta, &mut w.at);
            samples.extend_from_slice(&w.at);
            next_offset += 1;
        }
        done += s.h;
        let blew_up = s.y1.iter().any(|v| !v.is_finite());
        x.clear();
        x.extend_from_slice(&s.y1);
        // A state that overflowed cannot be integrated further; it stays non-finite.
        if blew_up {
            break;
        }
        h = next;
        if t - done <= 1e-15 * t {
            break;
        }
    }
    // Offsets at (or within rounding of) the end of the interval: the final state.
    for _ in next_offset..offsets.len() {
        samples.extend_from_slice(x);
    }
}

/// The first time in `[0, horizon]` at which the threshold is reached from `x`, if any.
pub fn first_crossing(
    flow: &Flow<'_>,
    w: &mut Workspace,
    x: &[f64],
    scale: &mut [f64],
    horizon: f64,
) -> Option<f64> {
    if flow.h_with(&mut w.args, x) >= 0.0 {
        return Some(0.0);
    }
    let mut cur = std::mem::take(&mut w.x);
    cur.clear();
    cur.extend_from_slice(x);
    let mut done = 0.0;
    let mut h = horizon;
    let mut found = None;
    'steps: while done < horizon {
        let next = step(flow, w, &cur, scale, h, horizon - done);
        let mut prev = 0.0;
        for j in 1..=8 {
            let theta = j as f64 / 8.0;
            w.step.at(theta, &mut w.at);
            if flow.h_with(&mut w.args, &w.at) >= 0.0 {
                let (mut lo, mut hi) = (prev, theta);
                for _ in 0..60 {
                    let mid = 0.5 * (lo + hi);
                    w.step.at(mid, &mut w.at);
                    if flow.h_with(&mut w.args, &w.at) >= 0.0 {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                found = Some(done + hi * w.step.h);
                break 'steps;
            }
            prev = theta;
        }
        done += w.step.h;
        if w.step.y1.iter().any(|v| !v.is_finite()) {
            break;
        }
        cur.clear();
        cur.extend_from_slice(&w.step.y1);
        h = next;
    }
    w.x = cur;
    found
}
