//! Command-line definitions of `vtty-ctl`.

pub mod probes;
