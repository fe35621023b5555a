#![allow(clippy::needless_range_loop)]
//! Every example checks clean, prints a reviewed summary, and survives a print/parse round trip
//! with its meaning unchanged.

use snnc::driver;
use snnc::syntax::{self, print};
use std::path::Path;

fn examples() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snn"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn examples_check_clean_and_summaries_match() {
    for (name, text) in examples() {
        let checked = driver::check_source(&name, &text);
        assert!(
            checked.diagnostics.is_empty(),
            "{name}: {:#?}",
            checked.diagnostics
        );
        let program = checked.program.expect("a clean check yields a program");
        insta::assert_snapshot!(
            format!("summary_{name}"),
            snnc::report::summary(&program, &[])
        );
    }
}

#[test]
fn print_parse_round_trip_keeps_the_meaning() {
    for (name, text) in examples() {
        let (module, diags) = syntax::parse(Default::default(), &text);
        assert!(diags.is_empty(), "{name}: {diags:?}");
        let printed = print::module(&module.unwrap());
        let (again, diags) = syntax::parse(Default::default(), &printed);
        assert!(
            diags.is_empty(),
            "{name} reprinted does not parse: {diags:?}\n{printed}"
        );
        assert_eq!(
            print::module(&again.unwrap()),
            printed,
            "{name}: printing is not a fixpoint"
        );
        let a = driver::check_source(&name, &text).program.unwrap();
        let b = driver::check_source(&name, &printed).program.unwrap();
        assert_eq!(
            snnc::report::summary(&a, &[]),
            snnc::report::summary(&b, &[]),
            "{name}: meaning changed"
        );
    }
}

#[test]
fn precedence_survives_printing() {
    let cases = [
        "-x ^ 2",
        "(-x) ^ 2",
        "a - (b - c)",
        "a - b - c",
        "a / (b * c)",
        "2 ^ 3 ^ 2",
        "(2 ^ 3) ^ 2",
        "-(a + b) * c",
        "a < b && c >= d || !e",
    ];
    for src in cases {
        let text = format!("simulation {{ t_max {src} }}");
        let (m, d) = syntax::parse(Default::default(), &text);
        assert!(d.is_empty(), "{src}: {d:?}");
        let printed = print::module(&m.unwrap());
        assert!(
            printed.contains(&format!("t_max {src}\n")),
            "{src} printed as {printed}"
        );
    }
}

/// `snnc compile ... | head`: when the reader closes the pipe early, snnc ends quietly (exit 0)
/// instead of panicking on the failed write (the configuration, about 500 kB, is larger than a
/// pipe's buffer, so the write does fail).
#[test]
fn closed_stdout_pipe_ends_quietly() {
    use std::io::Read;
    let exe = env!("CARGO_BIN_EXE_snnc");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/yinyang_bss2.snn");
    let mut child = std::process::Command::new(exe)
        .args(["compile", "--target", "bss2", file])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// A model named like a unit (`F` is the farad) may follow the population size directly:
/// `10 F` would be a quantity, but nothing else could be the model name, so it is count and model.
#[test]
fn a_model_named_like_a_unit_follows_the_count() {
    let src = "
neuron F {
    state v = 0.0
    d/dt v = -v / 10 ms
    receptor syn(w) { v += w }
    spike when v >= 1.0
}
population p = 10 F
population q = (3) F { }
simulation { t_max 1 ms }";
    let checked = driver::check_source("t.snn", src);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let program = checked.program.unwrap();
    let sizes: Vec<usize> = program.populations.iter().map(|p| p.size).collect();
    assert_eq!(sizes, vec![10, 3]);
    // A size with a real unit and a model after it is still a quantity, and wrong.
    let bad = driver::check_source("t.snn", &src.replace("= 10 F", "= 10 ms F"));
    assert!(bad.has_errors());
}
