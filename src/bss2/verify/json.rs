//! Typed access to a JSON tree with paths: every missing field or wrong type becomes an `R0`
//! violation at its JSON path (`populations[1].neurons[3].index`), and the `Sink` that collects
//! violations and warnings. It knows nothing about the schema's meaning.

use super::Violation;
use serde_json::{Map, Value};

/// Collects violations and warnings while the rules run.
#[derive(Default)]
pub struct Sink {
    pub errors: Vec<Violation>,
    pub warnings: Vec<Violation>,
}

impl Sink {
    pub fn err(&mut self, rule: &'static str, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Violation {
            rule,
            path: path.into(),
            message: message.into(),
        });
    }
    pub fn warn(
        &mut self,
        rule: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.warnings.push(Violation {
            rule,
            path: path.into(),
            message: message.into(),
        });
    }
}

/// At most this many violations (or warnings) of one rule are kept; the rest are counted in a
/// final entry of that rule.
const MAX_PER_RULE: usize = 25;

impl Sink {
    /// Caps each rule's list at [`MAX_PER_RULE`] entries, keeping the order.
    pub fn capped(list: Vec<Violation>) -> Vec<Violation> {
        let mut counts: std::collections::BTreeMap<&'static str, usize> = Default::default();
        let mut out = Vec::new();
        for v in list {
            let n = counts.entry(v.rule).or_insert(0);
            *n += 1;
            if *n <= MAX_PER_RULE {
                out.push(v);
            }
        }
        for (rule, n) in counts {
            if n > MAX_PER_RULE {
                let message = format!("and {} more {rule} violations", n - MAX_PER_RULE);
                out.push(Violation {
                    rule,
                    path: String::new(),
                    message,
                });
            }
        }
        out
    }
}

/// `parent.key`, or `key` at the root.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`.
pub fn at(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A short description of a JSON value's type, for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a float",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A JSON object together with its path, with typed getters that report `R0`.
#[derive(Clone, Copy)]
pub struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub path: &'a str,
}

/// `v` as an object, or an `R0` violation.
pub fn obj<'a>(v: &'a Value, path: &'a str, s: &mut Sink) -> Option<Obj<'a>> {
    match v {
        Value::Object(map) => Some(Obj { map, path }),
        other => {
            s.err(
                "R0",
                path,
                format!("expected an object, found {}", kind_of(other)),
            );
            None
        }
    }
}

/// `v` as an integer, or an `R0` violation.
/// No field of the schema holds an integer beyond ±2^40 (times are below 2^32), so larger ones
/// are rejected as they are read; this keeps all later arithmetic far from overflow.
const INT_LIMIT: i64 = 1 << 40;

pub fn int_of(v: &Value, path: &str, s: &mut Sink) -> Option<i64> {
    match v.as_i64() {
        Some(i) if (-INT_LIMIT..=INT_LIMIT).contains(&i) => Some(i),
        Some(i) => {
            s.err(
                "R1",
                path,
                format!("{i} is beyond any value of the schema (|x| <= 2^40)"),
            );
            None
        }
        None => {
            let what = if v.is_u64() {
                "an integer too large"
            } else {
                kind_of(v)
            };
            s.err("R0", path, format!("expected an integer, found {what}"));
            None
        }
    }
}

/// `v` as a finite number, or an `R0` violation.
pub fn float_of(v: &Value, path: &str, s: &mut Sink) -> Option<f64> {
    match v.as_f64() {
        Some(x) if x.is_finite() => Some(x),
        _ => {
            s.err(
                "R0",
                path,
                format!("expected a number, found {}", kind_of(v)),
            );
            None
        }
    }
}

/// `v` as a list, or an `R0` violation.
pub fn arr_of<'a>(v: &'a Value, path: &str, s: &mut Sink) -> Option<&'a Vec<Value>> {
    match v {
        Value::Array(a) => Some(a),
        other => {
            s.err(
                "R0",
                path,
                format!("expected a list, found {}", kind_of(other)),
            );
            None
        }
    }
}

impl<'a> Obj<'a> {
    pub fn path_of(&self, key: &str) -> String {
        join(self.path, key)
    }

    /// The field, or an `R0` "missing field" violation.
    pub fn req(&self, key: &str, s: &mut Sink) -> Option<&'a Value> {
        let v = self.map.get(key);
        if v.is_none() {
            s.err("R0", self.path, format!("missing field `{key}`"));
        }
        v
    }

    pub fn int(&self, key: &str, s: &mut Sink) -> Option<i64> {
        self.req(key, s)
            .and_then(|v| int_of(v, &self.path_of(key), s))
    }

    pub fn float(&self, key: &str, s: &mut Sink) -> Option<f64> {
        self.req(key, s)
            .and_then(|v| float_of(v, &self.path_of(key), s))
    }

    pub fn str(&self, key: &str, s: &mut Sink) -> Option<&'a str> {
        match self.req(key, s)? {
            Value::String(t) => Some(t),
            other => {
                s.err(
                    "R0",
                    self.path_of(key),
                    format!("expected a string, found {}", kind_of(other)),
                );
                None
            }
        }
    }

    pub fn bool(&self, key: &str, s: &mut Sink) -> Option<bool> {
        match self.req(key, s)? {
            Value::Bool(b) => Some(*b),
            other => {
                s.err(
                    "R0",
                    self.path_of(key),
                    format!("expected a boolean, found {}", kind_of(other)),
                );
                None
            }
        }
    }

    pub fn arr(&self, key: &str, s: &mut Sink) -> Option<&'a Vec<Value>> {
        self.req(key, s)
            .and_then(|v| arr_of(v, &self.path_of(key), s))
    }

    /// A hemisphere string as 0 (top) or 1 (bottom); unknown strings are `R1`.
    pub fn hemisphere(&self, key: &str, s: &mut Sink) -> Option<u8> {
        match self.str(key, s)? {
            "top" => Some(0),
            "bottom" => Some(1),
            other => {
                s.err(
                    "R1",
                    self.path_of(key),
                    format!("`{other}` is not a hemisphere (top or bottom)"),
                );
                None
            }
        }
    }

    /// A pair of integers `[a, b]`.
    pub fn pair(&self, key: &str, s: &mut Sink) -> Option<(i64, i64)> {
        let path = self.path_of(key);
        let a = self.arr(key, s)?;
        if a.len() != 2 {
            s.err(
                "R0",
                &path,
                format!("expected a pair [a, b], found a list of {}", a.len()),
            );
            return None;
        }
        Some((
            int_of(&a[0], &at(&path, 0), s)?,
            int_of(&a[1], &at(&path, 1), s)?,
        ))
    }
}
