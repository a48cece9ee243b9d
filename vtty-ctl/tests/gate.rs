//! vtty's cgroup v2 device gate on the host: one program however often allow and
//! deny run, a foreign program that denies 5:1, a gate detached behind vtty's
//! back, removal, and a frozen cgroup.

mod common;

use std::time::Duration;

use common::{Env, ForeignProgram, V2, expected_rules, parse_rules};
use vtty_ctl::policy::gate::{self, PROGRAM_NAME};
use vtty_ctl::policy::{self, Change, Finding, bpf};

fn program_names(ids: &[u32]) -> Vec<String> {
    let names = bpf::program_names(ids);
    ids.iter().map(|id| names.get(id).cloned().unwrap_or_default()).collect()
}

#[test]
fn many_cycles_leave_one_gate() {
    require!(V2);
    let env = Env::new("cycles", V2);
    let context = env.context();
    let container = env.container();
    for _ in 0..10 {
        policy::apply(&context, &container, Change::Deny, None, false).expect("deny");
        policy::apply(&context, &container, Change::Allow, None, false).expect("allow");
        let deny = env.cli(&["deny", &env.ctid(), "--tty", "tty5"]);
        assert_eq!(deny.code, 0, "{deny:?}");
    }
    let attached = env.attached_programs();
    assert_eq!(attached.len(), 1, "attached programs: {attached:?}");
    assert_eq!(program_names(&attached), [PROGRAM_NAME]);
    let gates = gate::pinned_gates(&env.pin_dir()).expect("list gates");
    assert_eq!(gates.len(), 1, "pinned gates: {gates:?}");
    let rules = env.cli(&["rules", &env.ctid()]);
    assert_eq!(parse_rules(&rules.stdout), expected_rules(&["v2"], &["c 4:5"]), "{}", rules.stdout);
}

#[test]
fn foreign_program_blocks_allow_and_check() {
    require!(V2);
    let env = Env::new("foreign", V2);
    let ctid = env.ctid();
    let console = env.node("console", 5, 1);
    let foreign = ForeignProgram::attach(env.v2.as_ref().expect("v2"));
    assert_eq!(env.open_errno(&console), libc::EPERM, "the foreign program denies 5:1");
    let before = env.snapshot();

    let context = env.context();
    let error = policy::apply(&context, &env.container(), Change::Allow, None, false)
        .expect_err("allow must fail");
    assert_eq!(error.code(), vtty_ctl::exit::ExitCode::Conflict);
    let message = error.to_string();
    assert!(message.contains("c 5:1 (console)"), "{message}");
    assert!(message.contains("foreign_deny"), "{message}");
    assert!(message.contains("DeviceAllow="), "{message}");
    assert!(message.contains("linux.resources.devices"), "{message}");
    assert_eq!(env.snapshot(), before, "a refused allow leaves everything as it was");

    let check = env.cli(&["check", &ctid]);
    assert_eq!(check.code, 7, "{check:?}");
    assert!(check.stdout.contains("foreign_deny"), "{}", check.stdout);
    assert!(check.stdout.contains("c 5:1 (console) rw"), "{}", check.stdout);

    drop(foreign);
    assert_eq!(env.cli(&["check", &ctid]).code, 0, "check passes once the foreign program is gone");
}

#[test]
fn detached_gate_reported_and_restored() {
    require!(V2);
    let env = Env::new("detached", V2);
    let ctid = env.ctid();
    let tty2 = env.node("tty2", 4, 2);
    assert_eq!(env.cli(&["deny", &ctid, "--tty", "tty2"]).code, 0);
    assert_eq!(env.open_errno(&tty2), libc::EPERM);

    // Another manager detaches vtty's link, as `bpftool link detach` does.
    let state = gate::inspect(&env.pin_dir(), &env.v2_cgroup()).expect("inspect").expect("gate");
    let link = bpf::open_pinned(&gate::link_path(&state)).expect("open the pinned link");
    bpf::detach_link(std::os::fd::AsFd::as_fd(&link)).expect("detach the link");
    assert!(env.attached_programs().is_empty());
    assert_ne!(env.open_errno(&tty2), libc::EPERM, "the detached gate no longer denies");

    let check = env.cli(&["check", &ctid]);
    assert_eq!(check.code, 7, "{check:?}");
    assert!(check.stdout.contains("no longer attached"), "{}", check.stdout);
    let rules = env.cli(&["rules", &ctid]);
    assert!(rules.stdout.contains("detached gate (---)"), "{}", rules.stdout);

    let context = env.context();
    let applied = policy::apply(&context, &env.container(), Change::Allow, None, false)
        .expect("allow re-attaches");
    assert!(
        applied.plan.changes().any(|step| step.to_string().contains("again")),
        "{:?}",
        applied.plan.steps
    );
    assert_eq!(program_names(&env.attached_programs()), [PROGRAM_NAME]);
    assert_eq!(env.cli(&["check", &ctid]).code, 0);

    assert_eq!(env.cli(&["deny", &ctid, "--tty", "tty2"]).code, 0);
    assert_eq!(env.open_errno(&tty2), libc::EPERM);
    assert_eq!(env.attached_programs().len(), 1);
}

#[test]
fn gate_removal_restores_cgroup() {
    require!(V2);
    let env = Env::new("removal", V2);
    let _foreign = ForeignProgram::attach(env.v2.as_ref().expect("v2"));
    let before = env.attached_programs();
    assert_eq!(before.len(), 1);

    assert_eq!(env.cli(&["deny", &env.ctid(), "--tty", "tty3"]).code, 0);
    assert_eq!(env.attached_programs().len(), 2);

    let cgroup_id = env.v2_cgroup().id().expect("cgroup id");
    gate::remove(&env.pin_dir(), cgroup_id).expect("remove the gate");
    assert_eq!(env.attached_programs(), before, "only the foreign program is left");
    assert!(gate::pinned_gates(&env.pin_dir()).expect("list").is_empty());
}

#[test]
fn frozen_cgroup_times_out() {
    require!(V2);
    let env = Env::new("frozen", V2);
    assert_eq!(env.cli(&["deny", &env.ctid(), "--tty", "tty4"]).code, 0);
    let freeze = env.v2.as_ref().expect("v2").join("cgroup.freeze");
    std::fs::write(&freeze, "1").expect("freeze");

    let mut context = env.context();
    context.probe_timeout = Duration::from_secs(1);
    let report = policy::check(&context, &env.container()).expect("check runs");
    std::fs::write(&freeze, "0").expect("thaw");
    let failure = report.findings.iter().find(|f| matches!(f, Finding::ProbeFailed { .. }));
    let failure = failure.unwrap_or_else(|| panic!("no probe failure in {:?}", report.findings));
    assert!(failure.to_string().contains("frozen"), "{failure}");
}
