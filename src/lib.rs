//! snnc: a language and compiler for spiking-neural-network experiments.
//!
//! ```text
//!  .snn text --syntax--> AST --sema--> HIR (names resolved, units checked)
//!                                        |
//!                                        +--> summary (`snnc check`)
//! ```
//!
//! Every phase returns data plus [`diag::Diagnostic`]s; only [`driver`] and the binary do IO.

// Numerical kernels index several arrays in lock-step; index loops read better there.
#![allow(clippy::needless_range_loop)]

pub mod bss2;
pub mod diag;
pub mod driver;
pub mod ir;
pub mod jit;
pub mod npz;
pub mod plot;
pub mod report;
pub mod results;
pub mod runner;
pub mod sema;
pub mod sim;
pub mod source;
pub mod syntax;
pub mod train;
