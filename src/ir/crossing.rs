//! The next threshold crossing of a linear model's free evolution, found without ever missing
//! one.
//!
//! Along a free trajectory of x' = A x + b with triangular A, the threshold signal
//! y_0(t) = h(x(t)) (h affine) is annihilated by the operator prod_k (D - lambda_k), whose
//! lambda_k are the eigenvalues (the diagonal of A) and 0. Write y_k = (D - lambda_k) y_{k-1}.
//! Then u_k = e^{-lambda_{k+1} t} y_k has derivative e^{-lambda_{k+1} t} y_{k+1}: between two
//! consecutive zeros of y_{k+1}, u_k is monotone, so y_k has at most one zero there and it is
//! bracketed by a sign change. The last y_{N-1} is a single exponential with no zeros. Going down
//! from there isolates every zero of every y_k, so no crossing is missed, grazing ones included
//! (a touch of zero is a zero of y_1, where h is evaluated). A reported time always has
//! h >= 0 there (the bracket keeps h(hi) >= 0), so no crossing is invented.
//!
//! The y_k are linear combinations of the Lie derivatives h, L_f h, .., which `derive::lie`
//! provides as an IR function; the caller supplies their values along the trajectory.
//!
//! Two closed forms come first where they exist: eigenvalues 0, a, 2a (tau_mem = 2 tau_syn, a
//! quadratic in e^{a t}) and 0, a, a (tau_mem = tau_syn, Lambert W). Their roots are checked
//! (h >= 0 at the reported time) and fall back to the general method near grazing touches.

/// Evaluates the Lie derivatives `[h, L_f h, ..]` of the threshold at time `t` of the free
/// trajectory.
pub trait Signal {
    fn lie_at(&mut self, t: f64, out: &mut [f64]);
}

impl<F: FnMut(f64, &mut [f64])> Signal for F {
    fn lie_at(&mut self, t: f64, out: &mut [f64]) {
        self(t, out)
    }
}

/// Coefficients of prod_{j<k} (z - lambda_j) for k = 0..N, lowest power first, into `out`.
fn operator_coefficients(lambdas: &[f64], out: &mut Vec<Vec<f64>>) {
    out.resize(lambdas.len() + 1, Vec::new());
    out[0].clear();
    out[0].push(1.0);
    for (k, &l) in lambdas.iter().enumerate() {
        let (done, rest) = out.split_at_mut(k + 1);
        let (prev, next) = (&done[k], &mut rest[0]);
        next.clear();
        next.resize(prev.len() + 1, 0.0);
        for (m, c) in prev.iter().enumerate() {
            next[m + 1] += c;
            next[m] -= l * c;
        }
    }
}

/// Reusable buffers of the crossing finder (so a search allocates nothing in the common case).
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// What was prepared for the last few sets of eigenvalues (a network's populations with
    /// different time constants take turns), and which of them the current search uses.
    sets: Vec<Prepared>,
    current: usize,
    /// The set replaced next when a new one comes.
    next: usize,
    coef: Vec<Vec<f64>>,
    lie: Vec<f64>,
    levels: Vec<Vec<f64>>,
}

/// Kept for one set of eigenvalues: everything a search derives from them alone.
#[derive(Clone, Debug, Default)]
struct Prepared {
    /// The eigenvalues as given.
    given: Vec<f64>,
    ordered: Vec<f64>,
    /// The operator coefficients of every y_k for `ordered` (root isolation).
    full: Vec<Vec<f64>>,
    modes: Modes,
}

/// How many sets of eigenvalues a [`Scratch`] keeps prepared.
const PREPARED: usize = 4;

struct Finder<'a, 'c, S: Signal> {
    signal: &'a mut S,
    /// The rows of `y_k` this search uses (only `y_0` for the closed forms and the bound).
    coef: &'c [Vec<f64>],
    /// Every `y_k` of the eigenvalues (for the root isolation).
    full: &'c [Vec<f64>],
    lie: &'a mut Vec<f64>,
    modes: &'a mut Modes,
    /// `levels[k]`: the zeros of `y_k` found by the isolation (buffers reused between searches).
    levels: &'a mut Vec<Vec<f64>>,
    evaluations: usize,
}

impl<S: Signal> Finder<'_, '_, S> {
    fn y(&mut self, k: usize, t: f64) -> f64 {
        self.y_dy(k, t).0
    }

    /// y_k(t) and its time derivative (the Lie derivatives shifted by one).
    fn y_dy(&mut self, k: usize, t: f64) -> (f64, f64) {
        self.evaluations += 1;
        self.signal.lie_at(t, self.lie);
        let c = &self.coef[k];
        let y = c.iter().zip(self.lie.iter()).map(|(c, l)| c * l).sum();
        let dy = c.iter().zip(&self.lie[1..]).map(|(c, l)| c * l).sum();
        (y, dy)
    }

    /// The zeros of every y_k (k >= 1) on [a, b], ascending, into `levels[k]`: those of y_k
    /// lie one per interval between consecutive zeros of y_(k+1) (see the module comment), so
    /// they are found from the highest k down. Allocates nothing once the buffers have grown.
    fn all_zeros(&mut self, a: f64, b: f64) {
        let len = self.coef.len();
        if self.levels.len() < len.max(2) {
            self.levels.resize(len.max(2), Vec::new());
        }
        for k in (1..len).rev() {
            let mut out = std::mem::take(&mut self.levels[k]);
            out.clear();
            if k + 1 < len - 1 {
                let next = std::mem::take(&mut self.levels[k + 1]);
                let mut p = a;
                for &q in next.iter().chain(std::iter::once(&b)) {
                    let (yp, yq) = (self.y(k, p), self.y(k, q));
                    if yp == 0.0 {
                        if out.last() != Some(&p) {
                            out.push(p);
                        }
                    } else if yq == 0.0 || (yp < 0.0) != (yq < 0.0) {
                        let sign = if yp < 0.0 { 1.0 } else { -1.0 };
                        out.push(self.solve(k, sign, p, q));
                    }
                    p = q;
                }
                self.levels[k + 1] = next;
            }
            self.levels[k] = out;
        }
    }

    /// The zero of `sign * y_k` on [lo, hi] given `sign*y(lo) < 0 <= sign*y(hi)`: the returned
    /// time always has `sign*y >= 0`. Newton steps (y_k is monotone-signed in the bracket)
    /// safeguarded by bisection, finished by stepping to the first float with `sign*y >= 0`.
    fn solve(&mut self, k: usize, sign: f64, mut lo: f64, mut hi: f64) -> f64 {
        let mut t = 0.5 * (lo + hi);
        for _ in 0..100 {
            let (y, dy) = self.y_dy(k, t);
            let (y, dy) = (sign * y, sign * dy);
            if y >= 0.0 {
                hi = t;
            } else {
                lo = t;
            }
            if hi - lo <= 4.0 * f64::EPSILON * hi.abs().max(lo.abs())
                || hi - lo <= f64::MIN_POSITIVE
            {
                break;
            }
            let newton = t - y / dy;
            let next = if dy != 0.0 && newton > lo && newton < hi {
                newton
            } else {
                0.5 * (lo + hi)
            };
            if (next - t).abs() <= 2.0 * f64::EPSILON * t.abs() {
                // Converged: bracket the root tightly around it.
                let step = 4.0 * f64::EPSILON * t.abs().max(f64::MIN_POSITIVE);
                let (a, b) = ((t - step).max(lo), (t + step).min(hi));
                if sign * self.y(k, b) >= 0.0 {
                    hi = b;
                    if sign * self.y(k, a) < 0.0 {
                        lo = a;
                    }
                }
                break;
            }
            t = next;
        }
        // Bisect what is left down to adjacent floats, keeping sign*y(hi) >= 0.
        while hi - lo > 2.0 * f64::EPSILON * hi.abs() && hi - lo > f64::MIN_POSITIVE {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if sign * self.y(k, mid) >= 0.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }
}

/// Result of a crossing search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crossing {
    /// Time of the first crossing after the start, if any within the horizon.
    pub time: Option<f64>,
    /// How many times the signal was evaluated (for benchmarks).
    pub evaluations: usize,
}

/// The first `t` in `[0, horizon]` with `h(x(t)) >= 0`, given the eigenvalues of the model
/// (`lambdas`, from `derive::eigenvalues`, one Lie derivative per eigenvalue plus h itself).
/// Returns `Some(0.0)` if the threshold is already reached at the start.
pub fn next_crossing(signal: &mut impl Signal, lambdas: &[f64], horizon: f64) -> Crossing {
    next_crossing_in(&mut Scratch::default(), signal, lambdas, horizon)
}

/// [`next_crossing`] with caller-provided buffers.
pub fn next_crossing_in(
    scratch: &mut Scratch,
    signal: &mut impl Signal,
    lambdas: &[f64],
    horizon: f64,
) -> Crossing {
    let stage = next_crossing_deferred(scratch, signal, lambdas, horizon);
    complete(scratch, signal, lambdas, horizon, stage)
}

/// Takes a search from any stage to its result (what [`next_crossing_in`] returns).
pub fn complete(
    scratch: &mut Scratch,
    signal: &mut impl Signal,
    lambdas: &[f64],
    horizon: f64,
    mut stage: Deferred,
) -> Crossing {
    loop {
        match stage {
            Deferred::Done(found) => return found,
            Deferred::Candidate(c) => stage = finish_crossing(scratch, signal, lambdas, horizon, c),
        }
    }
}

/// A closed-form root whose check (h >= 0 there, stepping forward a few floats if not) is still
/// to do. The finished search reports `t` or a later time, unless the check fails and the
/// general method takes over (not expected, but then the time may also be earlier).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// The closed form's root, or for `general` a lower bound of the first crossing.
    pub t: f64,
    /// The general method's root isolation is still to do: `t` is a time before which `h`
    /// was shown to stay below zero (the finished search reports `t` or later).
    pub general: bool,
}

/// Signal evaluations a search has made when it returns a candidate (one, at t = 0).
const CANDIDATE_EVALUATIONS: usize = 1;

/// The outcome of [`next_crossing_deferred`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Deferred {
    Done(Crossing),
    /// Finish with [`finish_crossing`], with the same signal, eigenvalues and horizon.
    Candidate(Candidate),
}

/// The cheap first part of [`next_crossing_in`]: the result, or a candidate whose check costs
/// signal evaluations away from t = 0. [`finish_crossing`] completes a candidate with exactly the
/// result `next_crossing_in` gives, so the check can wait until it is needed (the event engine
/// skips it for crossings that a later input cancels).
pub fn next_crossing_deferred(
    scratch: &mut Scratch,
    signal: &mut impl Signal,
    lambdas: &[f64],
    horizon: f64,
) -> Deferred {
    prepare(scratch, lambdas);
    let (mut f, ordered) = scratch.finder(signal, 0);
    match ratio_two_candidate(&mut f, ordered, horizon)
        .or_else(|| equal_candidate(&mut f, ordered, horizon))
    {
        Some(found) => found,
        None => general_stage(&mut f, ordered, horizon, 0.0),
    }
}

/// Takes a [`Deferred::Candidate`] one stage further: the same result as
/// [`next_crossing_in`], or a later candidate (the general method's bound went on).
pub fn finish_crossing(
    scratch: &mut Scratch,
    signal: &mut impl Signal,
    lambdas: &[f64],
    horizon: f64,
    candidate: Candidate,
) -> Deferred {
    prepare(scratch, lambdas);
    let (mut f, ordered) = scratch.finder(signal, CANDIDATE_EVALUATIONS);
    if candidate.general {
        // h < 0 before `candidate.t` is known; bound on from there, and isolate only when the
        // bound makes no progress (the isolation from t = 0 gives what `general` would).
        return general_stage(&mut f, ordered, horizon, candidate.t);
    }
    Deferred::Done(match closed_form_check(&mut f, candidate.t, horizon) {
        Some(found) => found,
        None => general(&mut f, ordered, horizon),
    })
}

impl Scratch {
    /// A finder over these buffers, and the ordered eigenvalues.
    fn finder<'s, S: Signal>(
        &'s mut self,
        signal: &'s mut S,
        evaluations: usize,
    ) -> (Finder<'s, 's, S>, &'s [f64]) {
        let Scratch {
            sets,
            current,
            coef,
            lie,
            levels,
            ..
        } = self;
        let Prepared {
            ordered,
            full,
            modes,
            ..
        } = &mut sets[*current];
        let f = Finder {
            signal,
            coef,
            full,
            lie,
            modes,
            levels,
            evaluations,
        };
        (f, ordered)
    }
}

/// The general method from `from` on (h < 0 before it is known): no crossing, a later
/// candidate, or the root isolation now when the bound makes no progress.
fn general_stage<S: Signal>(
    f: &mut Finder<'_, '_, S>,
    ordered: &[f64],
    horizon: f64,
    from: f64,
) -> Deferred {
    match bounded_below_threshold(f, ordered, horizon, from) {
        Bound::Below(found) => Deferred::Done(found),
        Bound::Until(t) if t > from => Deferred::Candidate(Candidate { t, general: true }),
        Bound::Until(_) => Deferred::Done(isolate(f, ordered, horizon)),
    }
}

/// Orders the eigenvalues and sizes the buffers for a search. Successive searches mostly have
/// the same eigenvalues (one population), so the buffers are only written for a set of
/// eigenvalues that is not among the last few prepared (see [`Scratch`]).
fn prepare(scratch: &mut Scratch, lambdas: &[f64]) {
    let Scratch {
        sets,
        current,
        next,
        coef,
        lie,
        ..
    } = scratch;
    // Bitwise and inlined: this runs before every search.
    let same = |given: &[f64]| {
        given.len() == lambdas.len()
            && given
                .iter()
                .zip(lambdas)
                .all(|(g, l)| g.to_bits() == l.to_bits())
    };
    if sets.get(*current).is_none_or(|p| !same(&p.given)) {
        match sets.iter().position(|p| same(&p.given)) {
            Some(k) => *current = k,
            None => {
                if sets.len() < PREPARED {
                    sets.push(Prepared::default());
                    *current = sets.len() - 1;
                } else {
                    *current = *next;
                    *next = (*next + 1) % PREPARED;
                }
                let Prepared {
                    given,
                    ordered,
                    full,
                    ..
                } = &mut sets[*current];
                given.clear();
                given.extend_from_slice(lambdas);
                // Any order of the factors annihilates; eigenvalue 0 first makes y_1 = h',
                // whose zeros are the extrema of h.
                ordered.clear();
                ordered.extend(lambdas.iter().copied().filter(|l| *l == 0.0));
                ordered.extend(lambdas.iter().copied().filter(|l| *l != 0.0));
                operator_coefficients(ordered, full);
            }
        }
    }
    // Every evaluation overwrites all of `lie`; only its length matters.
    if lie.len() != lambdas.len() + 1 {
        lie.clear();
        lie.resize(lambdas.len() + 1, 0.0);
    }
    // The closed forms and the bound need only y_0 = h (the isolation uses `full`).
    if coef.len() != 1 {
        operator_coefficients(&[], coef);
    }
}

/// The quick rejection, then root isolation over every y_k (see the module comment).
fn general<S: Signal>(f: &mut Finder<'_, '_, S>, ordered: &[f64], horizon: f64) -> Crossing {
    match bounded_below_threshold(f, ordered, horizon, 0.0) {
        Bound::Below(found) => found,
        Bound::Until(_) => isolate(f, ordered, horizon),
    }
}

/// Root isolation over every y_k (see the module comment): the first crossing in
/// `[0, horizon]`, whatever the bound said. The isolation stops where the tail bound shows h
/// below zero for good ([`settled`]): further out the y_k are below the rounding of the
/// states, and their signs (which the isolation trusts) would be noise.
fn isolate<S: Signal>(f: &mut Finder<'_, '_, S>, ordered: &[f64], horizon: f64) -> Crossing {
    let horizon = settled(f, ordered, horizon);
    let mut f = Finder {
        signal: &mut *f.signal,
        coef: f.full,
        full: f.full,
        lie: &mut *f.lie,
        modes: &mut *f.modes,
        levels: &mut *f.levels,
        evaluations: f.evaluations,
    };
    f.all_zeros(0.0, horizon);
    let extrema = std::mem::take(&mut f.levels[1]);
    let mut found = None;
    let mut p = 0.0;
    for &q in extrema.iter().chain(std::iter::once(&horizon)) {
        if f.y(0, p) >= 0.0 {
            found = Some(p);
            break;
        }
        if f.y(0, q) >= 0.0 {
            found = Some(f.solve(0, 1.0, p, q));
            break;
        }
        p = q;
    }
    f.levels[1] = extrema;
    Crossing {
        time: found,
        evaluations: f.evaluations,
    }
}

/// Closed form for h(t) = c0 + c1 e^{a t} + c2 e^{2 a t} (eigenvalues 0, a and 2a, as for
/// tau_mem = 2 tau_syn): a quadratic in E = e^{a t}. The coefficients come from h, h', h'' at
/// t = 0. Returns `None` (use the general method) when the eigenvalues do not have this shape or
/// when rounding leaves the answer in doubt; a reported time is checked to have h >= 0.
///
/// This part stops at the candidate root; [`closed_form_check`] makes sure of it.
fn ratio_two_candidate<S: Signal>(
    f: &mut Finder<'_, '_, S>,
    lambdas: &[f64],
    horizon: f64,
) -> Option<Deferred> {
    let (a, b) = ratio_two_exponents(lambdas)?;
    f.evaluations += 1;
    f.signal.lie_at(0.0, f.lie);
    let (l0, d1, d2) = (f.lie[0], f.lie[1], f.lie[2]);
    if l0 >= 0.0 {
        return Some(Deferred::Done(Crossing {
            time: Some(0.0),
            evaluations: f.evaluations,
        }));
    }
    let c1 = (b * d1 - d2) / (a * (b - a));
    let c2 = (d2 - a * d1) / (b * (b - a));
    let c0 = l0 - c1 - c2;
    let found = ratio_two_roots([c0, c1, c2], a, horizon)?;
    Some(match found {
        Some((t, _)) => {
            debug_assert_eq!(f.evaluations, CANDIDATE_EVALUATIONS);
            Deferred::Candidate(Candidate { t, general: false })
        }
        None => Deferred::Done(Crossing {
            time: None,
            evaluations: f.evaluations,
        }),
    })
}

/// The roots part of the ratio-two closed form: for h(t) = c0 + c1 e^{a t} + c2 e^{2 a t} with
/// h(0) < 0, the first root in `[0, horizon]` as a candidate (still to be checked) with its
/// e^{a t}, `Some(None)` if there is none, or `None` near a double root, where rounding decides
/// and the general method must (also for callers that know the coefficients, as `sim::modal`
/// does).
pub fn ratio_two_roots([c0, c1, c2]: [f64; 3], a: f64, horizon: f64) -> Option<Option<(f64, f64)>> {
    if c2.abs() <= 1e-12 * (c0.abs() + c1.abs() + c2.abs()) {
        return None;
    }
    let Some((first, second)) = ordered_roots([c0, c1, c2], a)? else {
        return Some(None);
    };
    for e in [first, second] {
        if e > 0.0 {
            let t = e.ln() / a;
            if (0.0..=horizon).contains(&t) {
                return Some(Some((t, e)));
            }
        }
    }
    Some(None)
}

/// The real roots e of c0 + c1 e + c2 e^2 = 0 (c2 not negligible; the caller checks), the one
/// that gives the earlier time t = ln(e) / a first (one logarithm in the common case); `Some(None)`
/// without real roots, `None` near a double root (a grazing touch), where rounding decides and
/// the general method must.
pub fn ordered_roots([c0, c1, c2]: [f64; 3], a: f64) -> Option<Option<(f64, f64)>> {
    let disc = c1 * c1 - 4.0 * c2 * c0;
    if disc.abs() <= 1e-9 * (c1 * c1 + (4.0 * c2 * c0).abs()) {
        return None;
    }
    if disc < 0.0 {
        return Some(None);
    }
    // The stable form: no cancellation between -c1 and the square root.
    let q = -0.5 * (c1 + c1.signum() * disc.sqrt());
    let (e1, e2) = (q / c2, c0 / q);
    // t grows with e for a > 0 and shrinks for a < 0.
    Some(Some(if (e1 > e2) == (a < 0.0) {
        (e1, e2)
    } else {
        (e2, e1)
    }))
}

/// Whether ordered eigenvalues (as `derive::eigenvalues` lists them, 0 first) are 0, a and
/// 2a (to rounding): (a, b = 2a).
pub fn ratio_two_exponents(lambdas: &[f64]) -> Option<(f64, f64)> {
    let [z, l1, l2] = lambdas else { return None };
    let (a, b) = if l1.abs() <= l2.abs() {
        (*l1, *l2)
    } else {
        (*l2, *l1)
    };
    (*z == 0.0 && a != 0.0 && (b - 2.0 * a).abs() <= 4.0 * f64::EPSILON * b.abs()).then_some((a, b))
}

/// Closed form for h(t) = c0 + (c1 + c2 t) e^{a t} (eigenvalues 0, a and a again, as for
/// tau_mem = tau_syn): with `u = c1 + c2 t` and `k = a / c2`, `h = 0` becomes
/// `(k u) e^{k u} = -k c0 e^{k c1}`, so `k u` is a branch of the Lambert W function at that
/// argument (`W0`, and `W-1` when it is negative). The coefficients come from h, h', h'' at
/// t = 0. Returns `None` (use the general method) when the eigenvalues do not have this shape,
/// when a term overflows, or near the branch point `-1/e`, where two roots merge (a grazing
/// touch) and rounding would decide.
///
/// Like [`ratio_two_candidate`] this stops at the candidate root for [`closed_form_check`].
fn equal_candidate<S: Signal>(
    f: &mut Finder<'_, '_, S>,
    lambdas: &[f64],
    horizon: f64,
) -> Option<Deferred> {
    let [z, l1, l2] = lambdas else { return None };
    if *z != 0.0 || *l1 == 0.0 || l1 != l2 {
        return None;
    }
    let a = *l1;
    f.evaluations += 1;
    f.signal.lie_at(0.0, f.lie);
    let (l0, d1, d2) = (f.lie[0], f.lie[1], f.lie[2]);
    let done = |time: Option<f64>, evaluations: usize| {
        Some(Deferred::Done(Crossing { time, evaluations }))
    };
    if l0 >= 0.0 {
        return done(Some(0.0), f.evaluations);
    }
    // h = c0 + c1 E + c2 t E: h(0) = c0 + c1, h'(0) = a c1 + c2, h''(0) = a^2 c1 + 2 a c2.
    let c1 = (2.0 * a * d1 - d2) / (a * a);
    let c2 = d1 - a * c1;
    let c0 = l0 - c1;
    let scale = c0.abs() + c1.abs() + c2.abs() * horizon;
    let mut roots = [f64::NAN; 2];
    if c2.abs() <= 1e-12 * scale {
        return None;
    }
    let k = a / c2;
    let arg = -k * c0 * (k * c1).exp();
    if !arg.is_finite() {
        return None;
    }
    const INV_E: f64 = 0.36787944117144233;
    if (arg + INV_E).abs() <= 1e-7 * INV_E {
        return None;
    }
    if arg < -INV_E {
        return done(None, f.evaluations);
    }
    for (slot, w) in roots
        .iter_mut()
        .zip([super::lambert::w0(arg), super::lambert::wm1(arg)])
    {
        if let Some(w) = w {
            *slot = (w / k - c1) / c2;
        }
    }
    let first = roots
        .iter()
        .copied()
        .filter(|t| (0.0..=horizon).contains(t))
        .fold(None, |best: Option<f64>, t| {
            Some(best.map_or(t, |b| b.min(t)))
        });
    let Some(t) = first else {
        return done(None, f.evaluations);
    };
    debug_assert_eq!(f.evaluations, CANDIDATE_EVALUATIONS);
    Some(Deferred::Candidate(Candidate { t, general: false }))
}

/// Makes sure h >= 0 at the reported time (rounding may put the closed form's root a little
/// early): steps forward from `t` until it is; `None` (use the general method) if that fails.
///
/// A step is the Newton step to the root of h's tangent (h < 0 and h' > 0 there, so it goes
/// forward) plus two ulps of `t`. Times are measured from the neuron's last event, so a
/// crossing right after a strong input has a tiny `t`, whose ulps move h by far less than the
/// rounding error of h itself (about 1e-15 of the threshold): ulp steps alone would not get
/// there. The Newton step is the size of that rounding error divided by the slope, so the
/// reported time stays within rounding of the exact root, and a step never jumps over a
/// second root unless two roots are that close, which the closed forms leave to the general
/// method (their discriminant test). A candidate that would need a step longer than 1e-9 of
/// the horizon is not a rounding matter: the general method decides.
fn closed_form_check<S: Signal>(
    f: &mut Finder<'_, '_, S>,
    t: f64,
    horizon: f64,
) -> Option<Crossing> {
    let time = check_root(|t| f.y_dy(0, t), t, horizon)?;
    Some(Crossing {
        time: Some(time),
        evaluations: f.evaluations,
    })
}

/// The check of a closed form's root `t`: the time, `t` or a few floats later, at which
/// `h >= 0` (`eval` gives h and its slope), or `None` if rounding cannot explain the miss (the
/// general method must decide). Shared with callers that evaluate h their own way
/// (`sim::modal`).
pub fn check_root(
    mut eval: impl FnMut(f64) -> (f64, f64),
    mut t: f64,
    horizon: f64,
) -> Option<f64> {
    for _ in 0..16 {
        let (h, slope) = eval(t);
        if h >= 0.0 {
            return Some(t);
        }
        let newton = if slope > 0.0 { -h / slope } else { 0.0 };
        if newton > 1e-9 * horizon {
            return None;
        }
        t = (t + newton + 2.0 * f64::EPSILON * t.abs().max(f64::MIN_POSITIVE)).min(horizon);
    }
    None
}

/// A quick, safe rejection: h(t) = sum_j c_j t^p_j e^{lambda_j t}, with p_j = 1 for the second
/// copy of an exactly repeated eigenvalue (as for tau_mem = tau_syn) and 0 otherwise
/// (coefficients from the Lie derivatives at t = 0, a small confluent Vandermonde solve). If a
/// bound of that sum on [0, horizon] stays clearly below zero there is no crossing (see
/// [`below_on_grid`]). Otherwise returns the time up to which the bound stays below zero
/// (0 when nothing could be shown, as for eigenvalues that are close but not equal, an
/// ill-conditioned solve); the first crossing, if any, is at or after it.
fn bounded_below_threshold<S: Signal>(
    f: &mut Finder<'_, '_, S>,
    lambdas: &[f64],
    horizon: f64,
    from: f64,
) -> Bound {
    let undecided = Bound::Until(from);
    let n = lambdas.len();
    f.modes.prepare(lambdas);
    if !f.modes.usable {
        return undecided;
    }
    let power = f.modes.power;
    let repeated = power[..n].contains(&1);
    f.evaluations += 1;
    f.signal.lie_at(0.0, f.lie);
    if f.lie[0] >= 0.0 {
        return Bound::Below(Crossing {
            time: Some(0.0),
            evaluations: f.evaluations,
        });
    }
    // Every derivative exactly zero (a neuron at rest): h^(k)(0) = 0 for k = 1..=N leaves the
    // annihilating equation, whose roots include 0, only the constant h(0) < 0. No crossing.
    if f.lie[1..].iter().all(|d| *d == 0.0) {
        return Bound::Below(Crossing {
            time: None,
            evaluations: f.evaluations,
        });
    }
    let mut c = [0.0f64; 6];
    for (j, cj) in c[..n].iter_mut().enumerate() {
        *cj = (0..n).map(|m| f.modes.inv[j][m] * f.lie[m]).sum();
    }
    let c = &c[..n];
    let scale = c.iter().map(|v| v.abs()).sum::<f64>() + f.lie[0].abs();
    let at_zero: f64 = (0..n).filter(|&j| power[j] == 0).map(|j| c[j]).sum();
    if !scale.is_finite() || (at_zero - f.lie[0]).abs() > 1e-9 * scale {
        return undecided;
    }
    let coarse = !repeated && from == 0.0 && {
        let bound: f64 = c
            .iter()
            .zip(lambdas)
            .map(|(cj, l)| cj.max(cj * (l * horizon).exp()))
            .sum();
        bound < -1e-6 * scale
    };
    // A grid of a tenth of the fastest time constant; where its first piece cannot be bounded
    // (close to threshold), finer ones near the start, so that the bound makes progress.
    let mut until = if coarse { None } else { Some(from) };
    for level in 0..REFINE.len() {
        if coarse || f.modes.steps[level] == 0.0 {
            break;
        }
        let first = (f.modes.steps[level], f.modes.q[level]);
        until = below_on_grid(c, lambdas, &power[..n], horizon, 1e-6 * scale, from, first);
        if until != Some(from) {
            break;
        }
    }
    match until {
        None => Bound::Below(Crossing {
            time: None,
            evaluations: f.evaluations,
        }),
        Some(t) => Bound::Until(t),
    }
}

/// A time from which h stays below zero for good by the tail bound of [`below_on_grid`] (the
/// constant term plus the positive parts of the decaying ones), tried at a tenth of the fastest
/// time constant and doubling from there; `horizon` if none is found before it or the modes
/// cannot be used. The isolation needs to look no further.
fn settled<S: Signal>(f: &mut Finder<'_, '_, S>, lambdas: &[f64], horizon: f64) -> f64 {
    let n = lambdas.len();
    f.modes.prepare(lambdas);
    if !f.modes.usable || lambdas.iter().any(|l| *l > 0.0) || f.modes.steps[0] == 0.0 {
        return horizon;
    }
    f.evaluations += 1;
    f.signal.lie_at(0.0, f.lie);
    let mut c = [0.0f64; 6];
    for (j, cj) in c[..n].iter_mut().enumerate() {
        *cj = (0..n).map(|m| f.modes.inv[j][m] * f.lie[m]).sum();
    }
    let scale = c[..n].iter().map(|v| v.abs()).sum::<f64>() + f.lie[0].abs();
    if !scale.is_finite() {
        return horizon;
    }
    let power = f.modes.power;
    let mut t = f.modes.steps[0];
    while t < horizon {
        let tail: f64 = (0..n)
            .map(|j| {
                let (l, e) = (lambdas[j], (lambdas[j] * t).exp());
                match power[j] {
                    0 if l == 0.0 => c[j],
                    0 => (c[j] * e).max(0.0),
                    // t e^{lambda t} falls after its peak at -1/lambda; before it, its peak.
                    _ if t >= -1.0 / l => (c[j] * t * e).max(0.0),
                    _ => (c[j] * (-1.0 / l) * (-1.0f64).exp() * (1.0 + 1e-12)).max(0.0),
                }
            })
            .sum();
        if tail < -1e-6 * scale {
            return t;
        }
        t *= 2.0;
    }
    horizon
}

/// The coefficients of the threshold signal's modes from its Lie derivatives at t = 0, as
/// [`bounded_below_threshold`] uses them: h(t) = sum_j c_j t^p_j e^{lambda_j t} with
/// `c_j = sum_m inv[j][m] L_m` (`power[j] = p_j`, 1 for the second copy of an exactly repeated
/// eigenvalue). `None` where that bound cannot use them (more than six eigenvalues, close but
/// unequal ones, more than one repeated pair).
pub(crate) fn mode_map(lambdas: &[f64]) -> Option<([u8; 6], [[f64; 6]; 6])> {
    let mut m = Modes::default();
    m.prepare(lambdas);
    m.usable.then_some((m.power, m.inv))
}

/// The map from the Lie derivatives at t = 0 to the mode coefficients of
/// [`bounded_below_threshold`]: `sum_j c_j D^m[t^p_j e^{lambda_j t}](0) = L_m` for m < n, with
/// `D^m e^{lambda t} = lambda^m` and `D^m [t e^{lambda t}] = m lambda^(m-1)` at 0, inverted once
/// per set of eigenvalues (Gauss-Jordan with pivoting) instead of solved at every search.
#[derive(Clone, Debug, Default)]
pub(crate) struct Modes {
    key: Vec<f64>,
    /// `power[j] = 1` for the second copy of an exactly repeated eigenvalue (its mode is
    /// `t e^{lambda t}`).
    power: [u8; 6],
    inv: [[f64; 6]; 6],
    /// The first piece's length of the bound at each refinement (0 without a decaying mode),
    /// and `e^{lambda_j step}` for it.
    steps: [f64; 3],
    q: [[f64; 6]; 3],
    /// False for more than 6 eigenvalues, close but unequal ones (ill-conditioned), or more
    /// than one repeated pair.
    usable: bool,
}

impl Modes {
    fn prepare(&mut self, lambdas: &[f64]) {
        if self.key.as_slice() == lambdas {
            return;
        }
        self.key.clear();
        self.key.extend_from_slice(lambdas);
        self.usable = self.build(lambdas);
        // A tenth of the fastest time constant, then finer near the start.
        let fastest = lambdas.iter().fold(0.0f64, |m, l| m.max(-l));
        for (level, refine) in REFINE.iter().enumerate() {
            self.steps[level] = if fastest == 0.0 {
                0.0
            } else {
                0.1 / fastest * refine
            };
            for (j, l) in lambdas.iter().take(6).enumerate() {
                self.q[level][j] = (l * self.steps[level]).exp();
            }
        }
    }

    fn build(&mut self, lambdas: &[f64]) -> bool {
        let n = lambdas.len();
        if n > 6 {
            return false;
        }
        let scale_l = lambdas.iter().fold(0.0f64, |m, l| m.max(l.abs()));
        self.power = [0; 6];
        for i in 0..n {
            for j in 0..i {
                if lambdas[i] == lambdas[j] && self.power[j] == 0 && !self.power[..i].contains(&1) {
                    // One repeated pair: its second copy is the t e^{lambda t} mode.
                    self.power[i] = 1;
                } else if (lambdas[i] - lambdas[j]).abs() < 0.05 * scale_l {
                    return false;
                }
            }
        }
        // [A | I] with A[m][j] the m-th derivative of mode j at 0.
        let mut a = [[0.0f64; 12]; 6];
        let (mut pw, mut prev) = ([1.0f64; 6], [0.0f64; 6]);
        for (m, row) in a[..n].iter_mut().enumerate() {
            for j in 0..n {
                row[j] = if self.power[j] == 0 {
                    pw[j]
                } else {
                    m as f64 * prev[j]
                };
                prev[j] = pw[j];
                pw[j] *= lambdas[j];
            }
            row[n + m] = 1.0;
        }
        for col in 0..n {
            let piv = (col..n)
                .max_by(|x, y| a[*x][col].abs().total_cmp(&a[*y][col].abs()))
                .unwrap_or(col);
            a.swap(col, piv);
            let d = a[col][col];
            if d == 0.0 || !d.is_finite() {
                return false;
            }
            for k in 0..2 * n {
                a[col][k] /= d;
            }
            for r in 0..n {
                if r != col {
                    let factor = a[r][col];
                    for k in 0..2 * n {
                        a[r][k] -= factor * a[col][k];
                    }
                }
            }
        }
        for j in 0..n {
            for m in 0..n {
                self.inv[j][m] = a[j][n + m];
            }
        }
        true
    }
}

/// The refinements of the bound's first piece (fractions of a tenth of the fastest time
/// constant).
const REFINE: [f64; 3] = [1.0, 1.0 / 8.0, 1.0 / 64.0];

/// What the quick rejection showed.
enum Bound {
    /// Decided: the threshold is already reached at the start, or never within the horizon.
    Below(Crossing),
    /// Undecided, but h stays below zero before this time.
    Until(f64),
}

/// The bound of [`bounded_below_threshold`], piecewise: on pieces from `from`, the first of
/// length `step` (with `q0[j] = e^{lambda_j step}`) and each next one twice as long, a term c e^{lambda t} is bounded on a step by its larger end value
/// (it is monotone), a term c t e^{lambda t} by its larger end value or its peak value at
/// t = -1/lambda if the step contains it, and its smaller end value if c < 0 (it is unimodal);
/// once the decaying terms are small, the rest of time is bounded by the constant term plus
/// their positive parts (each decays monotonically towards 0 past its peak). True when every
/// piece stays below `-margin` (`None`: no crossing); otherwise the start of the first piece
/// that is not (`Some`: h < 0 before it), after at most `MAX_STEPS` pieces, or `Some(from)` with a
/// growing mode. The end values are updated by multiplication (relative rounding about
/// `MAX_STEPS` ulps, far below the margin).
fn below_on_grid(
    c: &[f64],
    lambdas: &[f64],
    power: &[u8],
    horizon: f64,
    margin: f64,
    from: f64,
    (step, q0): (f64, [f64; 6]),
) -> Option<f64> {
    const MAX_STEPS: usize = 64;
    if lambdas.iter().any(|l| *l > 0.0) || c.len() > 6 {
        return Some(from);
    }
    let n = c.len();
    let mut q = [1.0f64; 6];
    let mut e = [1.0f64; 6];
    // Peak time and peak value of t e^{lambda t} (lambda < 0 where p = 1: a zero eigenvalue is
    // never repeated, the threshold signal having one constant mode).
    let mut peak = [(0.0f64, 0.0f64); 6];
    for j in 0..n {
        q[j] = q0[j];
        if from > 0.0 {
            e[j] = (lambdas[j] * from).exp();
        }
        if power[j] == 1 {
            if lambdas[j] >= 0.0 {
                return Some(from);
            }
            let tp = -1.0 / lambdas[j];
            peak[j] = (tp, tp * (-1.0f64).exp() * (1.0 + 1e-12));
        }
    }
    let (mut t, mut step) = (from, step);
    for _ in 0..MAX_STEPS {
        // The tail [t, infinity) (covers the rest of the horizon).
        let tail: f64 = (0..n)
            .map(|j| match power[j] {
                0 if lambdas[j] == 0.0 => c[j],
                0 => (c[j] * e[j]).max(0.0),
                _ if t >= peak[j].0 => (c[j] * t * e[j]).max(0.0),
                _ => (c[j] * peak[j].1).max(0.0),
            })
            .sum();
        if tail < -margin || t >= horizon {
            return None;
        }
        let t1 = t + step;
        let mut piece = 0.0;
        for j in 0..n {
            let next = e[j] * q[j];
            piece += if power[j] == 0 {
                (c[j] * e[j]).max(c[j] * next)
            } else {
                let (ga, gb) = (t * e[j], t1 * next);
                if c[j] < 0.0 {
                    c[j] * ga.min(gb)
                } else if t < peak[j].0 && peak[j].0 < t1 {
                    c[j] * peak[j].1
                } else {
                    c[j] * ga.max(gb)
                }
            };
            e[j] = next;
        }
        if piece >= -margin {
            return Some(t);
        }
        // Safely below on this piece: the next one is twice as long (the bound only needs to
        // reach the tail; where it gets too coarse, the caller resumes from there).
        t = t1;
        step *= 2.0;
        for qj in &mut q[..n] {
            *qj *= *qj;
        }
    }
    Some(t)
}
