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
        fn gcd(a: i32, b: i32) -> i32 {
            if b == 0 {
                a.abs().max(1)
            } else {
                gcd(b, a % b)
            }
        }
        let g = gcd(num, den) * den.signum();
        Ratio {
            num: num / g,
            den: den / g,
        }
    }

    pub fn int(n: i32) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    fn add(self, o: Ratio) -> Ratio {
        Ratio::new(self.num * o.den + o.num * self.den, self.den * o.den)
    }

    fn mul(self, o: Ratio) -> Ratio {
        Ratio::new(self.num * o.num, self.den * o.den)
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
        // A named unit times a power of time reads best ("V/s"), otherwise fall back to SI base units.
        for (_, symbol, d) in named() {
            for k in [-1, 1, -2, 2] {
                if d * Dimension::time().powr(Ratio::int(k)) == *self {
                    let t = match k {
                        1 => "·s".to_string(),
                        -1 => "/s".to_string(),
                        k if k > 0 => format!("·s^{k}"),
                        k => format!("/s^{}", -k),
                    };
                    return write!(f, "[{symbol}{t}]");
                }
            }
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
