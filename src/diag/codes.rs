//! The stable diagnostic codes of snnc, one line of explanation each.
//!
//! Codes are grouped by phase: `E01xx` syntax, `E02xx` names, `E03xx` types and units, `E04xx`
//! static semantics of the experiment, `W....` warnings. The long explanations with examples live
//! in `lang/errors.md`; `snnc explain` prints the section of that file. A code is never reused
//! for a different mistake.

use std::fmt;

macro_rules! codes {
    ($($name:ident => $summary:literal,)*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($name,)* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The code as printed, e.g. `E0301`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => stringify!($name),)* }
            }

            /// A one-line summary of the mistake.
            pub fn summary(self) -> &'static str {
                match self { $(Code::$name => $summary,)* }
            }
        }
    };
}

codes! {
    E0101 => "unexpected token",
    E0102 => "invalid character or token",
    E0103 => "invalid number literal",
    E0104 => "unknown unit after a number",
    E0201 => "unknown name",
    E0202 => "duplicate definition",
    E0203 => "wrong kind of name",
    E0204 => "cycle in parameter definitions",
    E0205 => "unknown setting or argument",
    E0206 => "unknown function",
    E0207 => "state with two derivatives",
    E0208 => "missing required item or setting",
    E0301 => "mismatched dimensions",
    E0302 => "derivative has the wrong dimension",
    E0303 => "argument must be dimensionless",
    E0304 => "assignment changes the dimension",
    E0305 => "setting has the wrong dimension",
    E0306 => "exponent must be a dimensionless constant",
    E0307 => "type mismatch",
    E0308 => "wrong number of arguments",
    E0401 => "value out of range",
    E0402 => "gradient method does not fit the simulation mode",
    E0403 => "spike condition can never fire, or fires again at once",
    E0404 => "wrong kind of value for a setting",
    E0405 => "invalid network structure",
    E0406 => "neuron model cannot be trained with exact gradients",
    E0501 => "neuron model cannot run on BrainScaleS-2",
    E0502 => "hardware value outside the calibratable range",
    E0503 => "population does not fit on the chip",
    E0504 => "projection cannot be routed on the chip",
    W0201 => "a name hides a unit",
    W0401 => "parameter is never used",
    W0501 => "weights clipped by quantisation for the chip",
    W0502 => "hardware value outside calibration's feasible range",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The explanations of `lang/errors.md`, compiled in so `snnc explain` works anywhere.
const ERRORS_MD: &str = include_str!("../../lang/errors.md");

/// The long explanation of `code` from `lang/errors.md` (its `## Exxxx` section), if written.
pub fn explain(code: Code) -> Option<&'static str> {
    let heading = format!("## {}", code.as_str());
    let start = ERRORS_MD.find(&heading)?;
    let rest = &ERRORS_MD[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
    Some(rest[..end].trim_end())
}

/// Parses `E0301` (case-insensitive) into a code.
pub fn parse_code(text: &str) -> Option<Code> {
    Code::ALL
        .iter()
        .copied()
        .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
}
