//! Physical dimensions and the unit registry.
//!
//! A [`Dimension`] is a product of the seven SI base dimensions with rational exponents; a unit is
//! a scale factor (to SI) times a dimension. All values inside snnc are in SI base units, so
//! `10 ms` becomes `0.01` with dimension time. Dimensionless models (threshold `1.0`) need no
//! units at all. This module does not check programs; `check` uses it.

use std::fmt;
use std::ops::{Div, Mul};

/// A rational exponent `num/den` in lowest terms, `den > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Ratio {
    pub num: i32,
    pub den: i32,
}

impl Ratio {
    pub const ZERO: Ratio = Ratio { num: 0, den: 1 };

    pub fn new(num: i32, den: i32) -> Ratio {
        Ratio::reduce(num as i64, den as i64)
    }

    pub fn int(n: i32) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    /// Reduces a wide fraction; exponents beyond +-1e6 saturate (no real program has them,
    /// and saturating keeps hostile input from overflowing).
    fn reduce(num: i64, den: i64) -> Ratio {
        fn gcd(a: i64, b: i64) -> i64 {
            if b == 0 {
                a.abs().max(1)
            } else {
                gcd(b, a % b)
            }
        }
        let g = gcd(num, den) * den.signum();
        let (num, den) = (num / g, den / g);
        const MAX: i64 = 1_000_000;
        if num.abs() > MAX || den > MAX {
            return Ratio {
                num: (num.signum() * MAX) as i32,
                den: 1,
            };
        }
        Ratio {
            num: num as i32,
            den: den as i32,
        }
    }

    fn add(self, o: Ratio) -> Ratio {
        let (a, b, c, d) = (self.num as i64, self.den as i64, o.num as i64, o.den as i64);
        Ratio::reduce(a * d + c * b, b * d)
    }

    fn mul(self, o: Ratio) -> Ratio {
        Ratio::reduce(
            self.num as i64 * o.num as i64,
            self.den as i64 * o.den as i64,
        )
    }

    /// The largest exponent magnitude, for sanity limits.
    pub fn magnitude(self) -> f64 {
        (self.num as f64 / self.den as f64).abs()
    }

    /// The nearest ratio with a small denominator to `x`, if `x` is (nearly) one.
    pub fn from_f64(x: f64) -> Option<Ratio> {
        (1..=12).find_map(|den| {
            let num = (x * den as f64).round();
            ((num / den as f64 - x).abs() < 1e-9 && num.abs() < 1e6)
                .then(|| Ratio::new(num as i32, den))
        })
    }
}

const BASE: [&str; 7] = ["kg", "m", "s", "A", "K", "mol", "cd"];

/// A physical dimension: exponents of kg, m, s, A, K, mol, cd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Dimension(pub [Ratio; 7]);

impl Dimension {
    pub const NONE: Dimension = Dimension([Ratio::ZERO; 7]);

    const fn base(i: usize, e: i32) -> Dimension {
        let mut d = [Ratio::ZERO; 7];
        d[i] = Ratio { num: e, den: 1 };
        Dimension(d)
    }

    pub fn time() -> Dimension {
        Dimension::base(2, 1)
    }
    pub fn current() -> Dimension {
        Dimension::base(3, 1)
    }
    pub fn voltage() -> Dimension {
        // kg m^2 s^-3 A^-1
        Dimension([
            Ratio::int(1),
            Ratio::int(2),
            Ratio::int(-3),
            Ratio::int(-1),
            Ratio::ZERO,
            Ratio::ZERO,
            Ratio::ZERO,
        ])
    }
    pub fn frequency() -> Dimension {
        Dimension::NONE / Dimension::time()
    }

    pub fn is_none(self) -> bool {
        self == Dimension::NONE
    }

    pub fn powr(self, e: Ratio) -> Dimension {
        Dimension(self.0.map(|x| x.mul(e)))
    }
}

impl Mul for Dimension {
    type Output = Dimension;
    fn mul(self, o: Dimension) -> Dimension {
        let mut d = self.0;
        for (a, b) in d.iter_mut().zip(o.0) {
            *a = a.add(b);
        }
        Dimension(d)
    }
}

impl Div for Dimension {
    type Output = Dimension;
    fn div(self, o: Dimension) -> Dimension {
        self * o.powr(Ratio::int(-1))
    }
}

/// Named dimensions, for messages: (name, SI symbol, dimension).
fn named() -> [(&'static str, &'static str, Dimension); 8] {
    let v = Dimension::voltage();
    let a = Dimension::current();
    let t = Dimension::time();
    [
        ("time", "s", t),
        ("frequency", "Hz", Dimension::frequency()),
        ("voltage", "V", v),
        ("current", "A", a),
        ("charge", "C", a * t),
        ("capacitance", "F", a * t / v),
        ("conductance", "S", a / v),
        ("resistance", "Ohm", v / a),
    ]
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("dimensionless");
        }
        for (name, symbol, d) in named() {
            if d == *self {
                return write!(f, "{name} [{symbol}]");
            }
        }
        if let Some(text) = as_named_product(*self) {
            return write!(f, "[{text}]");
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .zip(BASE)
            .filter(|(e, _)| e.num != 0)
            .map(|(e, b)| match (e.num, e.den) {
                (1, 1) => b.to_string(),
                (n, 1) => format!("{b}^{n}"),
                (n, d) => format!("{b}^({n}/{d})"),
            })
            .collect();
        write!(f, "[{}]", parts.join("·"))
    }
}

/// The SI symbol of a named dimension (`V`, `A`, `s`, ...), if it has one.
pub fn symbol(dim: Dimension) -> Option<&'static str> {
    named()
        .into_iter()
        .find(|(_, _, d)| *d == dim)
        .map(|(_, s, _)| s)
}

/// Formats an SI value with the best prefix for its dimension, e.g. `1.2 nA`, `-65 mV`, `0.5`.
pub fn format_quantity(v: f64, dim: Dimension) -> String {
    let round = |x: f64| format!("{x:.6e}").parse::<f64>().unwrap_or(x);
    if dim.is_none() {
        return format!("{}", round(v));
    }
    let Some(sym) = symbol(dim) else {
        return format!("{} {dim}", round(v));
    };
    let a = v.abs();
    let (prefix, scale) = [
        ("G", 1e9),
        ("M", 1e6),
        ("k", 1e3),
        ("", 1.0),
        ("m", 1e-3),
        ("u", 1e-6),
        ("n", 1e-9),
        ("p", 1e-12),
    ]
    .into_iter()
    .find(|(_, sc)| a >= *sc * 0.9999999)
    .unwrap_or(("p", 1e-12));
    let (prefix, scale) = if a == 0.0 { ("", 1.0) } else { (prefix, scale) };
    format!("{} {prefix}{sym}", round(v / scale))
}

/// Writes a dimension as a product of at most two named units with small powers ("V/s",
/// "S/s", "1/s^2", "A·s"), preferring fewer factors and smaller powers.
fn as_named_product(dim: Dimension) -> Option<String> {
    let units = named();
    let mut best: Option<(u32, String)> = None;
    let pow = |sym: &str, k: i32| {
        if k.abs() == 1 {
            sym.to_string()
        } else {
            format!("{sym}^{}", k.abs())
        }
    };
    for (i, (_, s1, d1)) in units.iter().enumerate() {
        for k1 in [-2, -1, 1, 2] {
            let p1 = d1.powr(Ratio::int(k1));
            let mut consider = |cost: u32, factors: Vec<(&str, i32)>| {
                let num: Vec<String> = factors
                    .iter()
                    .filter(|(_, k)| *k > 0)
                    .map(|(s, k)| pow(s, *k))
                    .collect();
                let den: Vec<String> = factors
                    .iter()
                    .filter(|(_, k)| *k < 0)
                    .map(|(s, k)| pow(s, *k))
                    .collect();
                let num = if num.is_empty() {
                    "1".to_string()
                } else {
                    num.join("·")
                };
                let text = if den.is_empty() {
                    num
                } else {
                    format!("{num}/{}", den.join("·"))
                };
                if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                    best = Some((cost, text));
                }
            };
            if p1 == dim {
                consider(10 + k1.unsigned_abs(), vec![(s1, k1)]);
            }
            for (_, s2, d2) in units.iter().skip(i + 1) {
                for k2 in [-2, -1, 1, 2] {
                    if p1 * d2.powr(Ratio::int(k2)) == dim {
                        consider(
                            20 + k1.unsigned_abs() + k2.unsigned_abs(),
                            vec![(s1, k1), (s2, k2)],
                        );
                    }
                }
            }
        }
    }
    best.map(|(_, t)| t)
}

/// A unit: `value_in_unit * scale` is the SI value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    pub scale: f64,
    pub dim: Dimension,
}

const PREFIXES: [(&str, f64); 10] = [
    ("", 1.0),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("m", 1e-3),
    ("u", 1e-6),
    ("µ", 1e-6),
    ("μ", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
];

fn base_units() -> [(&'static str, Dimension); 8] {
    let v = Dimension::voltage();
    let a = Dimension::current();
    let t = Dimension::time();
    [
        ("s", t),
        ("Hz", Dimension::frequency()),
        ("V", v),
        ("A", a),
        ("F", a * t / v),
        ("S", a / v),
        ("Ohm", v / a),
        ("Ω", v / a),
    ]
}

/// Looks up a unit name such as `ms`, `mV`, `nA`, `kHz`, `pF`, `nS`, `MOhm`.
pub fn lookup(name: &str) -> Option<Unit> {
    base_units().into_iter().find_map(|(base, dim)| {
        let prefix = name.strip_suffix(base)?;
        let (_, scale) = PREFIXES.iter().find(|(p, _)| *p == prefix)?;
        Some(Unit { scale: *scale, dim })
    })
}

/// Every unit name, for "did you mean" suggestions.
pub fn names() -> impl Iterator<Item = &'static str> {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            base_units()
                .iter()
                .flat_map(|(b, _)| PREFIXES.iter().map(move |(p, _)| format!("{p}{b}")))
                .collect()
        })
        .iter()
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_to_si() {
        assert_eq!(lookup("ms").unwrap().scale, 1e-3);
        assert_eq!(lookup("ms").unwrap().dim, Dimension::time());
        assert_eq!(
            lookup("mS").unwrap().dim,
            Dimension::current() / Dimension::voltage()
        );
        assert_eq!(
            lookup("kHz").unwrap().dim * Dimension::time(),
            Dimension::NONE
        );
        assert!(lookup("mss").is_none());
        assert!(lookup("epochs").is_none());
    }

    #[test]
    fn ohms_law_and_rc_time() {
        let r = lookup("MOhm").unwrap().dim;
        let c = lookup("pF").unwrap().dim;
        assert_eq!(r * c, Dimension::time());
        assert_eq!(lookup("nA").unwrap().dim * r, Dimension::voltage());
    }

    #[test]
    fn display_names_and_rational_powers() {
        assert_eq!(Dimension::voltage().to_string(), "voltage [V]");
        assert_eq!(
            (Dimension::voltage() / Dimension::time()).to_string(),
            "[V/s]"
        );
        assert_eq!(
            Dimension::time().powr(Ratio::new(1, 2)).to_string(),
            "[s^(1/2)]"
        );
        assert_eq!(
            Dimension::time().powr(Ratio::new(1, 2)).powr(Ratio::int(2)),
            Dimension::time()
        );
    }
}
