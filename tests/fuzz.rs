#![allow(clippy::needless_range_loop)]
//! Robustness: nothing a user can type makes the front end panic.
//!
//! Feeds truncations, byte mutations, token shuffles and random bytes derived from every example
//! (with a fixed seed, so failures reproduce) through `check_source` and requires that it returns
//! normally, and that every error it reports carries a code and a span inside the source.

use snnc::driver;
use std::path::Path;

/// xorshift64*: a tiny deterministic generator, enough for mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snn"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn check(text: &str) {
    let checked = driver::check_source("fuzz.snn", text);
    for d in &checked.diagnostics {
        for l in &d.labels {
            assert!(
                l.span.start <= l.span.end && l.span.end as usize <= text.len(),
                "label outside source in {text:?}: {d:?}"
            );
        }
        // Rendering must not panic either.
        let _ = snnc::diag::render(&checked.sources, d, false);
    }
}

const SNIPPETS: [&str; 16] = [
    "(",
    ")",
    "{",
    "}",
    "d/dt",
    "->",
    "ms",
    " 1e999 ",
    "µs",
    "\u{feff}",
    "spike when",
    "=",
    "[",
    "\"",
    "neuron",
    "\0",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 => {
                let n = rng.below(20).min(bytes.len() - at.min(bytes.len()));
                bytes.drain(at.min(bytes.len())..at.min(bytes.len()) + n);
            }
            1 => bytes.insert(at.min(bytes.len()), rng.next() as u8),
            2 => {
                let s = SNIPPETS[rng.below(SNIPPETS.len())];
                bytes.splice(at.min(bytes.len())..at.min(bytes.len()), s.bytes());
            }
            _ => {
                let (a, b) = (rng.below(bytes.len()), rng.below(bytes.len()));
                if a < bytes.len() && b < bytes.len() {
                    bytes.swap(a, b);
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn truncations_of_every_example() {
    for text in examples() {
        for end in (0..text.len()).step_by(7) {
            if text.is_char_boundary(end) {
                check(&text[..end]);
            }
        }
    }
}

#[test]
fn random_mutations_of_every_example() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for text in examples() {
        for _ in 0..300 {
            check(&mutate(&mut rng, &text));
        }
    }
}

#[test]
fn random_bytes_and_token_soup() {
    let mut rng = Rng(42);
    for _ in 0..300 {
        let n = rng.below(300);
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        check(&String::from_utf8_lossy(&bytes));
        let soup: String = (0..rng.below(60))
            .map(|_| SNIPPETS[rng.below(SNIPPETS.len())])
            .collect::<Vec<_>>()
            .join(" ");
        check(&soup);
    }
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    for open in ["(", "[", "{"] {
        let text = format!("simulation {{ t_max {}1{} }}", open.repeat(100_000), "");
        let checked = driver::check_source("deep.snn", &text);
        assert!(checked.has_errors());
    }
    let ok = format!(
        "simulation {{ t_max {}1 ms{} }}",
        "(".repeat(60),
        ")".repeat(60)
    );
    assert!(
        !driver::check_source("deep.snn", &ok)
            .diagnostics
            .iter()
            .any(|d| d.message.contains("nested"))
    );
}
