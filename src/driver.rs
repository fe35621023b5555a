//! Runs the phases in order and stops after a phase with errors.
//!
//! The driver owns the source map and the collected diagnostics. Besides `main.rs` it is the only
//! module that reads files.

use crate::diag::Diagnostic;
use crate::sema::{self, hir::Program};
use crate::source::{SourceId, SourceMap};
use crate::syntax;
use std::path::Path;

/// The result of compiling one file up to a checked program.
pub struct Checked {
    pub sources: SourceMap,
    pub source: SourceId,
    pub program: Option<Program>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum LoadError {
    Io { path: String, error: std::io::Error },
    NotUtf8 { path: String },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io { path, error } => write!(f, "cannot read `{path}`: {error}"),
            LoadError::NotUtf8 { path } => write!(f, "`{path}` is not valid UTF-8 text"),
        }
    }
}

/// Reads a file and checks it.
pub fn check_file(path: &Path) -> Result<Checked, LoadError> {
    check_file_with(path, &[])
}

/// Reads a file and checks it with command-line overrides.
pub fn check_file_with(path: &Path, overrides: &[String]) -> Result<Checked, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| LoadError::Io {
        path: name.clone(),
        error,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| LoadError::NotUtf8 { path: name.clone() })?;
    Ok(check_source_with(&name, &text, overrides))
}

/// Stack for the front end: the parser and checker recurse over the tree, and hostile input can
/// nest deeply (a sum of thousands of terms is a left-leaning tree thousands deep).
const FRONT_END_STACK: usize = 1 << 30;

/// Parses and checks source text (on a thread with a large stack, see [`FRONT_END_STACK`]).
pub fn check_source(name: &str, text: &str) -> Checked {
    check_source_with(name, text, &[])
}

/// Like [`check_source`], with command-line overrides (`section.key=value`) applied to the
/// program before checking; each override is a source of its own for diagnostics.
pub fn check_source_with(name: &str, text: &str, overrides: &[String]) -> Checked {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(FRONT_END_STACK)
            .spawn_scoped(scope, || check_source_here(name, text, overrides))
            .expect("spawning the front-end thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn check_source_here(name: &str, text: &str, overrides: &[String]) -> Checked {
    let mut sources = SourceMap::default();
    let source = sources.add(name, text);
    let (mut module, mut diagnostics) = syntax::parse(source, text);
    for (k, o) in overrides.iter().enumerate() {
        let id = sources.add(format!("--set #{}", k + 1), o.clone());
        match syntax::overrides::parse(id, o) {
            Ok((path, value)) => {
                if let Some(m) = module.as_mut()
                    && let Err(d) = syntax::overrides::apply(m, &path, value)
                {
                    diagnostics.push(d);
                }
            }
            Err(d) => diagnostics.extend(d),
        }
    }
    let mut program = None;
    if let Some(module) = module
        && !diagnostics.iter().any(Diagnostic::is_error)
    {
        let (p, d) = sema::check(&module);
        diagnostics.extend(d);
        if let Some(p) = &p {
            diagnostics.extend(check_modes(p));
        }
        program = p.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    }
    diagnostics.sort_by_key(|d| (d.span().source, d.span().start, d.code));
    Checked {
        sources,
        source,
        program,
        diagnostics,
    }
}

/// Models trained in `mode event` must have an exact event path (linear, closed-form
/// propagator, affine threshold): the IR decides, so this check runs after lowering.
fn check_modes(p: &Program) -> Vec<Diagnostic> {
    // Any model simulates in event mode (integrated when it has no closed form); exact
    // gradients need the closed-form path.
    if !matches!(p.simulation.mode, crate::sema::hir::Mode::Event { .. }) || p.training.is_none() {
        return Vec::new();
    }
    let models = lower(p);
    p.neurons
        .iter()
        .zip(&models)
        .enumerate()
        .filter(|(i, (_, m))| {
            let used = p.populations.iter().any(|q| q.model.index() == *i);
            used && !(m.propagate.is_some() && m.eigenvalues.is_some() && m.threshold_affine)
        })
        .map(|(_, (n, m))| {
            Diagnostic::error(
                crate::diag::Code::E0406,
                format!("neuron model `{}` cannot be trained with exact gradients in `mode event`", n.name),
                n.name_span,
                crate::ir::print::classification(m),
            )
            .with_label(p.training.as_ref().map_or(p.simulation.span, |t| t.span), "EventProp and analytic gradients need an exact closed-form flow")
            .with_help("train it time-discretely: `mode discrete` with `scheme rk4` (or `euler`) and `gradient surrogate(...)`")
        })
        .collect()
}

/// Lowers every neuron model of a checked program to IR and derives its functions.
pub fn lower(program: &Program) -> Vec<crate::ir::derive::ModelIr> {
    program
        .neurons
        .iter()
        .map(crate::ir::derive::derive)
        .collect()
}
