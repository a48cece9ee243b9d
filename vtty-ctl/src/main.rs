//! `vtty-ctl`: administration CLI for vtty.

use clap::Parser as _;
use vtty_ctl::cli::{self, Cli};

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vtty-ctl: {error}");
            std::process::ExitCode::from(error.code() as u8)
        }
    }
}
