//! Simulation: network instances, compiled kernels and the two engines.
//!
//! `network` builds parameters and weights; `kernels` wraps a model's derived functions behind
//! one calling convention; `event` is the exact event-driven engine (with an event log for
//! EventProp); `modal` its fast path for feed-forward training; `discrete` the time-discrete
//! one; `inputs` turns input declarations into spike trains; `rng` the deterministic random
//! streams; `spin` how helper threads wait for work. Nothing here knows about files or the CLI.

pub mod discrete;
pub mod event;
pub mod inputs;
pub mod kernels;
pub mod modal;
pub mod network;
pub mod ode;
pub mod rng;
pub(crate) mod spin;
