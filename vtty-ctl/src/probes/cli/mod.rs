//! `vtty-ctl probes load|unload|status`, `vtty-ctl stats` and `vtty-ctl trace`.

mod filter;
mod probes;
mod signals;
mod stats;
mod table;
mod trace;

pub use probes::probes;
pub use stats::stats;
pub use trace::trace;
