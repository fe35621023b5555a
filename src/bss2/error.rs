//! Why a program cannot be lowered to BrainScaleS-2, as data; rendered into diagnostics in one
//! place (`to_diagnostic`).

use crate::diag::{Code, Diagnostic};
use crate::source::Span;

#[derive(Clone, Debug, PartialEq)]
pub enum Bss2Error {
    /// The neuron model is not one the chip implements.
    Model {
        model: String,
        reason: String,
        span: Span,
    },
    /// A value mapped to hardware lies outside what calibration can reach.
    Range {
        population: String,
        what: String,
        value: String,
        allowed: String,
        help: String,
        span: Span,
        hardware: Span,
    },
    /// The populations do not fit on the neuron circuits.
    Placement {
        population: String,
        reason: String,
        help: String,
        span: Span,
    },
    /// A projection cannot be routed.
    Routing {
        projection: String,
        reason: String,
        help: String,
        span: Span,
    },
}

/// Something that compiles but may hurt accuracy.
#[derive(Clone, Debug, PartialEq)]
pub enum Bss2Warning {
    Clipped {
        projection: String,
        clipped: usize,
        total: usize,
        largest: f64,
        span: Span,
    },
    Feasible {
        population: String,
        what: String,
        value: String,
        feasible: String,
        span: Span,
    },
}

impl Bss2Error {
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            Bss2Error::Model {
                model,
                reason,
                span,
            } => Diagnostic::error(
                Code::E0501,
                format!("neuron model `{model}` cannot run on BrainScaleS-2"),
                *span,
                reason.clone(),
            )
            .with_note("the chip implements leaky integrate-and-fire neurons with exponential excitatory and inhibitory synaptic currents, a threshold on the membrane and a reset to a constant"),
            Bss2Error::Range {
                population,
                what,
                value,
                allowed,
                help,
                span,
                hardware,
            } => Diagnostic::error(
                Code::E0502,
                format!("{what} of population `{population}` is {value} on the chip, outside {allowed}"),
                *span,
                format!("{what} comes from here"),
            )
            .with_label(*hardware, "mapped to hardware by this section")
            .with_help(help.clone()),
            Bss2Error::Placement {
                population,
                reason,
                help,
                span,
            } => Diagnostic::error(
                Code::E0503,
                format!("population `{population}` does not fit on the chip"),
                *span,
                reason.clone(),
            )
            .with_help(help.clone()),
            Bss2Error::Routing {
                projection,
                reason,
                help,
                span,
            } => Diagnostic::error(
                Code::E0504,
                format!("projection `{projection}` cannot be routed"),
                *span,
                reason.clone(),
            )
            .with_help(help.clone()),
        }
    }
}

impl Bss2Warning {
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            Bss2Warning::Clipped {
                projection,
                clipped,
                total,
                largest,
                span,
            } => Diagnostic::warning(
                Code::W0501,
                format!("{clipped} of {total} weights of `{projection}` are clipped to the chip's 6-bit range"),
                *span,
                format!("the largest scaled weight is {largest:.1}, the chip's largest is 63"),
            )
            .with_help("lower `weight_scale` in the hardware section, or initialise smaller weights"),
            Bss2Warning::Feasible {
                population,
                what,
                value,
                feasible,
                span,
            } => Diagnostic::warning(
                Code::W0502,
                format!("{what} of population `{population}` is {value} on the chip, outside calibration's feasible range {feasible}"),
                *span,
                "calibration will be imperfect here",
            ),
        }
    }
}
