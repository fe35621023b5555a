//! The BrainScaleS-2 target: `verify` checks a `snnc.bss2.config/v1` file (lang/bss2.md).

pub mod verify;
