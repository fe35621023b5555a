#![allow(clippy::needless_range_loop)]
//! Golden tests of rendered diagnostics: one failing program per file under `tests/ui/<phase>/`,
//! its diagnostics rendered without colour and compared with a reviewed snapshot in
//! `tests/snapshots/`. Also checks that every diagnostic code has at least one such test and an
//! explanation in `lang/errors.md`.

use snnc::diag::{self, Code, codes};
use snnc::driver;
use std::collections::BTreeSet;
use std::path::Path;

fn render_case(path: &Path) -> (String, Vec<Code>) {
    let text = std::fs::read_to_string(path)
        .expect("test input is readable UTF-8")
        .replace("\r\n", "\n");
    let rel = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
        .replace('\\', "/");
    let mut checked = driver::check_source(&rel, &text);
    // Programs under `ui/bss2/` are also compiled for BrainScaleS-2.
    if rel.contains("/bss2/")
        && let Some(p) = &checked.program
    {
        checked
            .diagnostics
            .extend(snnc::bss2::compile_program(p, &text).1);
    }
    let mut out = format!("----- SOURCE {rel}\n{text}\n----- DIAGNOSTICS\n");
    for d in &checked.diagnostics {
        out.push_str(&diag::render(&checked.sources, d, false));
    }
    (out, checked.diagnostics.iter().map(|d| d.code).collect())
}

#[test]
fn ui() {
    insta::glob!("ui/**/*.snn", |path| {
        let (out, codes) = render_case(path);
        assert!(
            !codes.is_empty(),
            "{} produced no diagnostic",
            path.display()
        );
        insta::assert_snapshot!(out);
    });
}

#[test]
fn every_code_has_a_ui_test_and_an_explanation() {
    let mut seen = BTreeSet::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("tests/ui exists") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "snn") {
                seen.extend(render_case(&path).1);
            }
        }
    }
    let missing: Vec<_> = Code::ALL.iter().filter(|c| !seen.contains(c)).collect();
    assert!(missing.is_empty(), "codes without a ui test: {missing:?}");
    let unexplained: Vec<_> = Code::ALL
        .iter()
        .filter(|c| codes::explain(**c).is_none())
        .collect();
    assert!(
        unexplained.is_empty(),
        "codes without a section in lang/errors.md: {unexplained:?}"
    );
}
