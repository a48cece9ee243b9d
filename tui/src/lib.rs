//! `vtty-top`: a live dashboard of every registered container's consoles.
//!
//! The crate is split the way ratatui dashboards usually are:
//!
//! - [`app`]: the dashboard's state and how events change it; no drawing.
//! - [`ui`]: one render function per screen region, drawing an [`app::App`].
//! - [`keys`]: the key binding table that drives both the handler and the help popup.
//! - [`event`]: the one event enum fed by input, the tick and data updates, and the
//!   commands the state machine hands back to the runner.
//! - [`source`]: where the numbers come from (the driver, the probes and the policy
//!   library), behind the [`source::DataSource`] trait so that tests need no kernel.
//! - [`runner`]: the draw loop, generic over ratatui's `Backend`.
//! - [`terminal`]: raw mode, the alternate screen and the panic hook.

pub mod app;
pub mod cli;
pub mod event;
pub mod format;
pub mod keys;
pub mod logger;
pub mod rates;
pub mod runner;
pub mod source;
pub mod terminal;
pub mod ui;

#[cfg(test)]
mod testdata;
