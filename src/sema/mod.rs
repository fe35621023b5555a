//! Semantic analysis: name resolution, type and unit checking, static rules.
//!
//! `check` turns an AST into a [`hir::Program`] or explains why it cannot. It never sees tokens
//! and never generates code. Submodules: `units` (dimensions), `expr` (expressions), `neuron`
//! (neuron models), `network` (populations, inputs, projections), `sections` (experiment
//! settings), `args` (the settings reader), `error` (the error data).

pub mod args;
pub mod error;
pub mod expr;
pub mod hir;
pub mod network;
pub mod neuron;
pub mod sections;
pub mod units;

use crate::diag::Diagnostic;
use crate::source::Span;
use crate::syntax::ast::{self, Item, SectionKind};
use error::SemaError;
use hir::*;
use network::{Names, PartialProgram};
use std::collections::HashMap;

/// Checks a parsed module. The program is `None` if any error was found.
pub fn check(module: &ast::Module) -> (Option<Program>, Vec<Diagnostic>) {
    let mut errs = Vec::new();
    let program = check_module(module, &mut errs);
    let diags: Vec<Diagnostic> = errs.into_iter().map(SemaError::into_diagnostic).collect();
    let ok = !diags.iter().any(Diagnostic::is_error);
    (program.filter(|_| ok), diags)
}

fn check_module(module: &ast::Module, errs: &mut Vec<SemaError>) -> Option<Program> {
    let whole = module_span(module);
    let mut names = Names::default();
    let mut neuron_defs = Vec::new();
    let mut pop_defs = Vec::new();
    let mut input_defs = Vec::new();
    let mut proj_defs = Vec::new();
    let mut sections: HashMap<&'static str, &ast::SectionDef> = HashMap::new();
    for item in &module.items {
        match item {
            Item::Neuron(n) => {
                if let Some((_, first)) = names.models.get(&n.name.node) {
                    errs.push(SemaError::Duplicate {
                        name: n.name.node.clone(),
                        span: n.name.span,
                        first: *first,
                    });
                    continue;
                }
                names.models.insert(
                    n.name.node.clone(),
                    (NeuronId(neuron_defs.len() as u32), n.name.span),
                );
                neuron_defs.push(n);
            }
            Item::Population(p) => {
                if declare_node(
                    &mut names,
                    &p.name,
                    Node::Pop(PopId(pop_defs.len() as u32)),
                    errs,
                ) {
                    pop_defs.push(p);
                }
            }
            Item::Input(i) => {
                if declare_node(
                    &mut names,
                    &i.name,
                    Node::Input(InputId(input_defs.len() as u32)),
                    errs,
                ) {
                    input_defs.push(i);
                }
            }
            Item::Project(p) => proj_defs.push(p),
            Item::Section(s) => {
                let key = s.kind.node.name();
                if let Some(first) = sections.get(key) {
                    errs.push(SemaError::Duplicate {
                        name: key.to_string(),
                        span: s.kind.span,
                        first: first.kind.span,
                    });
                } else {
                    sections.insert(key, s);
                }
            }
            Item::Error(_) => {}
        }
    }
    for (name, (_, span)) in &names.models {
        if names.nodes.contains_key(name) {
            let first = names.nodes[name].1;
            errs.push(SemaError::Duplicate {
                name: name.clone(),
                span: first,
                first: *span,
            });
        }
    }

    let models: Vec<Option<NeuronModel>> = neuron_defs
        .iter()
        .map(|n| neuron::check_neuron(n, errs))
        .collect();
    // Inputs first, then populations in order, so a size or setting may use `earlier.size`.
    let mut sizes = HashMap::new();
    let inputs: Vec<Option<Input>> = input_defs
        .iter()
        .map(|i| {
            let input = network::check_input(i, errs);
            if let Some(input) = &input {
                sizes.insert(input.name.clone(), input.size);
            }
            input
        })
        .collect();
    let mut populations: Vec<Option<Population>> = Vec::new();
    for p in &pop_defs {
        let pop = args::with_sizes(&sizes, || {
            network::check_population(p, &models, &names, errs)
        });
        if let Some(pop) = &pop {
            sizes.insert(pop.name.clone(), pop.size);
        }
        populations.push(pop);
    }
    let partial = PartialProgram {
        models: &models,
        populations: &populations,
        inputs: &inputs,
    };
    let projections: Vec<Option<Projection>> = args::with_sizes(&sizes, || {
        proj_defs
            .iter()
            .map(|p| network::check_projection(p, &partial, &names, errs))
            .collect()
    });
    if pop_defs.is_empty() && !module.items.is_empty() {
        errs.push(SemaError::Missing {
            what: "population".into(),
            span: whole,
            help: "declare one, e.g. `population hidden = 100 LIF`".into(),
        });
    }

    let (simulation, mode_span) = args::with_sizes(&sizes, || {
        sections::check_simulation(sections.get("simulation").copied(), whole, errs)
    });
    let training = args::with_sizes(&sizes, || {
        sections.get(SectionKind::Train.name()).and_then(|s| {
            sections::check_train(s, &partial, &names, simulation.as_ref(), mode_span, errs)
        })
    });
    let record = sections::check_record(
        sections.get("record").copied(),
        simulation.as_ref(),
        &partial,
        &names,
        errs,
    );
    let hardware = sections
        .get("hardware")
        .and_then(|s| sections::check_hardware(s, &projections, &names, errs));

    Some(Program {
        neurons: models.into_iter().collect::<Option<_>>()?,
        populations: populations.into_iter().collect::<Option<_>>()?,
        inputs: inputs.into_iter().collect::<Option<_>>()?,
        projections: projections.into_iter().collect::<Option<_>>()?,
        simulation: simulation?,
        training,
        record,
        hardware,
    })
}

fn declare_node(
    names: &mut Names,
    name: &ast::Ident,
    node: Node,
    errs: &mut Vec<SemaError>,
) -> bool {
    if let Some((_, first)) = names.nodes.get(&name.node) {
        errs.push(SemaError::Duplicate {
            name: name.node.clone(),
            span: name.span,
            first: *first,
        });
        return false;
    }
    names.nodes.insert(name.node.clone(), (node, name.span));
    true
}

fn module_span(module: &ast::Module) -> Span {
    let spans: Vec<Span> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Neuron(n) => n.span,
            Item::Population(p) => p.span,
            Item::Input(i) => i.span,
            Item::Project(p) => p.span,
            Item::Section(s) => s.span,
            Item::Error(s) => *s,
        })
        .collect();
    match (spans.first(), spans.last()) {
        (Some(a), Some(b)) => Span {
            source: a.source,
            start: a.start,
            end: a.start.max(b.start.min(a.end)),
        },
        _ => Span::default(),
    }
}
