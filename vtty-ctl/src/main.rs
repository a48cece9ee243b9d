//! `vtty-ctl`: administration CLI for vtty.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
