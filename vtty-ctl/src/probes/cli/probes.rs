//! `vtty-ctl probes load|unload|status`.

use crate::cli::probes::{ProbesArgs, ProbesCommand};
use crate::exit;
use crate::probes::{Acquire, Origin, ProbePaths, Status, open, status, unload};

use super::signals::{interrupted, runtime};

/// Runs `vtty-ctl probes`.
pub fn probes(args: &ProbesArgs) -> exit::Result<()> {
    let paths = ProbePaths::default();
    match args.command {
        ProbesCommand::Load { pin } => load(&paths, pin),
        ProbesCommand::Unload => {
            let unloaded = unload(&paths)?;
            if unloaded.removed.is_empty() {
                println!("no probes are pinned under {}; nothing to do", unloaded.dir.display());
            } else {
                println!(
                    "removed {} pins under {}; the probes are detached and the vtty driver can be unloaded",
                    unloaded.removed.len(),
                    unloaded.dir.display()
                );
            }
            Ok(())
        }
        ProbesCommand::Status => {
            print!("{}", render_status(&status(&paths)?));
            Ok(())
        }
    }
}

fn load(paths: &ProbePaths, pin: bool) -> exit::Result<()> {
    let acquire = if pin { Acquire::ReuseOrLoadPinned } else { Acquire::ReuseOrLoadPrivate };
    let probes = open(paths, acquire)?;
    let dir = probes.pin_dir();
    match probes.origin() {
        Origin::Reused => {
            println!(
                "the vtty probes are already loaded and pinned under {}; nothing to do",
                dir.display()
            );
            Ok(())
        }
        Origin::LoadedPinned => {
            println!("loaded the vtty probes and pinned them under {}", dir.display());
            println!(
                "run `vtty-ctl probes unload` before unloading the vtty driver: the probes keep it loaded"
            );
            Ok(())
        }
        Origin::LoadedPrivate => {
            println!(
                "loaded the vtty probes for this command only; they detach when it stops (Ctrl-C)"
            );
            let runtime = runtime()?;
            let signal = runtime.block_on(interrupted())?;
            drop(probes);
            println!("stopping on {signal}; the probes are detached");
            Ok(())
        }
    }
}

/// The text of `vtty-ctl probes status`.
fn render_status(status: &Status) -> String {
    let mut lines = Vec::new();
    let state = if !status.bpffs_mounted {
        "bpffs is not mounted, so nothing can be pinned".to_owned()
    } else if status.pinned {
        "loaded and pinned".to_owned()
    } else if status.missing_pins.is_empty() {
        "not loaded".to_owned()
    } else {
        format!(
            "incompletely pinned (missing: {}); run `vtty-ctl probes unload` and load again",
            status.missing_pins.join(", ")
        )
    };
    lines.push(format!("probes:       {state}"));
    lines.push(format!("pin dir:      {}", status.pin_dir.display()));
    for link in &status.links {
        lines.push(format!(
            "  link {:<16} id {:<6} program id {}",
            link.event, link.link_id, link.program_id
        ));
    }
    for map in &status.maps {
        lines.push(format!("  map  {:<16} id {}", map.name, map.map_id));
    }
    if let Some(on) = status.write_events {
        lines.push(format!("write events: {}", if on { "on (a trace is running)" } else { "off" }));
    }
    if let Some(stats) = status.stats {
        lines.push(format!(
            "losses:       {} events (ring buffer full), {} unreadable records, {} lost updates",
            stats.ringbuf_full, stats.read_failed, stats.update_failed
        ));
    }
    if let Some(problem) = &status.problem {
        lines.push(format!("problem:      {problem}"));
    }
    lines.push(format!(
        "driver:       {}",
        if status.driver_loaded { "loaded" } else { "not loaded" }
    ));
    lines.push(format!(
        "tracepoints:  {}",
        status.tracepoint_problem.as_deref().unwrap_or("present, formats match the probes")
    ));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_without_pins_says_not_loaded() {
        let status = Status {
            pin_dir: "/sys/fs/bpf/vtty/probes".into(),
            bpffs_mounted: true,
            tracepoint_problem: Some("vtty tracepoints not found".to_owned()),
            ..Status::default()
        };
        let text = render_status(&status);
        assert!(text.starts_with("probes:       not loaded\n"), "{text}");
        assert!(text.contains("driver:       not loaded\n"), "{text}");
        assert!(text.contains("tracepoints:  vtty tracepoints not found\n"), "{text}");
    }

    #[test]
    fn status_with_missing_pins_names_them() {
        let status = Status {
            bpffs_mounted: true,
            missing_pins: vec!["links/vtty_open".to_owned()],
            ..Status::default()
        };
        assert!(render_status(&status).contains("missing: links/vtty_open"));
    }
}
