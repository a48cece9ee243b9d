//! allow, deny, rules and check against the host's real device cgroups: v1
//! only, v2 only, and both. The driver cannot run on the host, so the grant goes
//! through the library (`policy::apply`), while deny, rules and check run as the
//! CLI.

mod common;

use common::{Env, HYBRID, Layout, V1, V2, expected_rules, parse_rules};
use vtty_ctl::policy::devices::TtyName;
use vtty_ctl::policy::{self, Change};

/// deny makes opening 4:2 fail with EPERM, the library grant makes it work
/// again, and rules shows exactly that after each step.
fn deny_grant_cycle(tag: &str, layout: Layout, layers: &[&str]) {
    let env = Env::new(tag, layout);
    let ctid = env.ctid();
    let tty2 = env.node("tty2", 4, 2);
    assert_ne!(env.open_errno(&tty2), libc::EPERM, "a fresh cgroup allows 4:2");

    let deny = env.cli(&["deny", &ctid, "--tty", "tty2"]);
    assert_eq!(deny.code, 0, "deny failed: {deny:?}");
    assert_eq!(env.open_errno(&tty2), libc::EPERM, "4:2 after deny");
    let rules = env.cli(&["rules", &ctid]);
    assert_eq!(rules.code, 0, "{rules:?}");
    assert_eq!(parse_rules(&rules.stdout), expected_rules(layers, &["c 4:2"]), "{}", rules.stdout);

    let check = env.cli(&["check", &ctid]);
    assert_eq!(check.code, 0, "check after deny: {check:?}");

    let context = env.context();
    let names = [TtyName::Tty(2)];
    policy::apply(&context, &env.container(), Change::Allow, Some(&names), false)
        .expect("grant tty2");
    assert_ne!(env.open_errno(&tty2), libc::EPERM, "4:2 after the grant");
    let rules = env.cli(&["rules", &ctid]);
    assert_eq!(parse_rules(&rules.stdout), expected_rules(layers, &[]), "{}", rules.stdout);

    let check = env.cli(&["check", &ctid]);
    assert_eq!(check.code, 0, "check after the grant: {check:?}");
}

#[test]
fn deny_and_grant_v1() {
    require!(V1);
    deny_grant_cycle("v1", V1, &["v1"]);
}

#[test]
fn deny_and_grant_v2() {
    require!(V2);
    deny_grant_cycle("v2", V2, &["v2"]);
}

#[test]
fn deny_and_grant_hybrid() {
    require!(HYBRID);
    deny_grant_cycle("hybrid", HYBRID, &["v1", "v2"]);
}

#[test]
fn shared_v2_cgroup_only_checked() {
    require!(V1);
    let env = Env::new("shared-v2", V1);
    let deny = env.cli(&["deny", &env.ctid(), "--tty", "console"]);
    assert_eq!(deny.code, 0, "{deny:?}");
    assert!(deny.stdout.contains("so vtty only checks it"), "{}", deny.stdout);
    assert!(!env.dir.join("bpf/vtty/gates").exists(), "no gate on a shared v2 cgroup");
    let console = env.node("console", 5, 1);
    assert_eq!(env.open_errno(&console), libc::EPERM);
}

#[test]
fn deny_all_then_dry_run_grant() {
    require!(HYBRID);
    let env = Env::new("dry-run", HYBRID);
    let ctid = env.ctid();
    assert_eq!(env.cli(&["deny", &ctid]).code, 0);
    let before = env.snapshot();

    let context = env.context();
    let applied =
        policy::apply(&context, &env.container(), Change::Allow, None, true).expect("dry run");
    assert!(applied.verification.is_none());
    assert_eq!(applied.plan.changes().count(), 28, "14 v1 rules and 14 gate rules change");
    assert_eq!(env.snapshot(), before, "a dry run changes nothing");

    let dry_deny = env.cli(&["deny", &ctid, "--dry-run"]);
    assert_eq!(dry_deny.code, 0);
    assert!(dry_deny.stdout.contains("nothing to change"), "{}", dry_deny.stdout);
}

#[test]
fn deny_is_idempotent() {
    require!(HYBRID);
    let env = Env::new("idempotent", HYBRID);
    let ctid = env.ctid();
    let first = env.cli(&["deny", &ctid, "--tty", "tty2,tty3"]);
    assert_eq!(first.code, 0, "{first:?}");
    let after_first = env.snapshot();
    let second = env.cli(&["deny", &ctid, "--tty", "tty3,tty2"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(second.stdout.contains("nothing to change"), "{}", second.stdout);
    assert_eq!(env.snapshot(), after_first);
}
