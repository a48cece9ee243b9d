//! Every error case of the CLI: its exit code, a message that names the value and
//! the fix, and state left unchanged.

mod common;

use common::{Env, HYBRID, SHARED, V1, run_cli};
use vtty_ctl::exit::ExitCode;
use vtty_ctl::policy::devices::TtyName;
use vtty_ctl::policy::{self, Change};

fn code(exit: ExitCode) -> i32 {
    exit as i32
}

#[test]
fn malformed_pid_ctid() {
    require!(HYBRID);
    let env = Env::new("malformed-pid", HYBRID);
    let before = env.snapshot();
    for bad in ["pid:abc", "pid:", "pid:-3"] {
        let run = env.cli(&["deny", bad]);
        assert_eq!(run.code, code(ExitCode::Usage), "{bad}: {run:?}");
        assert!(run.stderr.contains(&format!("{bad:?}")), "{bad}: {}", run.stderr);
        assert!(run.stderr.contains("pid:N"), "{}", run.stderr);
    }
    assert_eq!(env.snapshot(), before);
}

#[test]
fn unknown_container_name() {
    require!(HYBRID);
    let env = Env::new("unknown", HYBRID);
    let run = env.cli(&["deny", "no-such-container-4711"]);
    assert_eq!(run.code, code(ExitCode::NotFound), "{run:?}");
    assert!(
        run.stderr.contains("no cgroup named no-such-container-4711 under /"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--cgroup-parent"), "{}", run.stderr);

    let run = env.cli(&["--cgroup-parent", "/no-such-parent", "rules", &env.name]);
    assert_eq!(run.code, code(ExitCode::NotFound), "{run:?}");
    assert!(run.stderr.contains("under /no-such-parent"), "{}", run.stderr);
}

#[test]
fn missing_absolute_cgroup() {
    require!(HYBRID);
    let env = Env::new("missing-cgroup", HYBRID);
    let run = env.cli(&["check", "/no/such/cgroup"]);
    assert_eq!(run.code, code(ExitCode::NotFound), "{run:?}");
    assert!(run.stderr.contains("no cgroup /no/such/cgroup"), "{}", run.stderr);
}

#[test]
fn host_process_is_no_container() {
    require!(HYBRID);
    let env = Env::new("host-pid", HYBRID);
    let ctid = format!("pid:{}", std::process::id());
    let run = env.cli(&["deny", &ctid]);
    assert_eq!(run.code, code(ExitCode::NotFound), "{run:?}");
    assert!(run.stderr.contains("host's pid namespace"), "{}", run.stderr);

    let run = env.cli(&["deny", "pid:999999999"]);
    assert_eq!(run.code, code(ExitCode::NotFound), "{run:?}");
    assert!(run.stderr.contains("no process with pid 999999999"), "{}", run.stderr);
}

#[test]
fn not_root_is_refused() {
    require!(HYBRID);
    let env = Env::new("not-root", HYBRID);
    let before = env.snapshot();
    let config = env.config_path();
    for args in [
        &["deny", env.ctid().as_str()][..],
        &["allow", env.ctid().as_str()],
        &["check", env.ctid().as_str()],
    ] {
        let run = run_cli(args, &[("VTTY_CONFIG", config.to_str().expect("utf-8"))], Some(65534));
        assert_eq!(run.code, code(ExitCode::Permission), "{args:?}: {run:?}");
        assert!(run.stderr.contains("must run as root"), "{}", run.stderr);
    }
    assert_eq!(env.snapshot(), before);
}

#[test]
fn driver_absent_refuses_allow() {
    require!(HYBRID);
    if vtty_ctl::driver::tty_driver_info().expect("/proc/tty/drivers").is_some() {
        eprintln!("skipped: the vtty driver is loaded here");
        return;
    }
    let env = Env::new("no-driver", HYBRID);
    let ctid = env.ctid();
    assert_eq!(env.cli(&["deny", &ctid, "--tty", "tty2"]).code, 0);
    let before = env.snapshot();
    for args in [
        &["allow", ctid.as_str()][..],
        &["allow", ctid.as_str(), "--dry-run"],
        &["register", ctid.as_str()],
        &["unregister", ctid.as_str()],
        &["hangup", ctid.as_str()],
        &["console", ctid.as_str(), "tty2"],
    ] {
        let run = env.cli(args);
        assert_eq!(run.code, code(ExitCode::DriverMissing), "{args:?}: {run:?}");
        assert!(run.stderr.contains("vtty driver is not loaded"), "{}", run.stderr);
        assert!(run.stderr.contains("modprobe vtty"), "{}", run.stderr);
    }
    assert_eq!(env.snapshot(), before, "nothing changed");
    let tty2 = env.node("tty2", 4, 2);
    assert_eq!(env.open_errno(&tty2), libc::EPERM, "the deny stays in force");
}

#[test]
fn parent_forbids_grant() {
    require!(V1);
    let env = Env::new("parent-forbids", V1);
    let parent = env.v1.clone().expect("v1");
    let child = parent.join("child");
    std::fs::create_dir(&child).expect("create child cgroup");
    std::fs::write(child.join("cgroup.procs"), env.init_pid.to_string()).expect("move container");
    std::fs::write(parent.join("devices.deny"), "c 4:2 rwm").expect("parent denies 4:2");
    let ctid = format!("/{}/child", env.name);
    let before_rules = env.cli(&["rules", &ctid]);
    let before_list = std::fs::read_to_string(child.join("devices.list")).expect("list");

    let context = env.context();
    let container = vtty_ctl::container::resolve(&ctid, "/", &env.hierarchies).expect("resolve");
    let names = [TtyName::Tty(2)];
    let error = policy::apply(&context, &container, Change::Allow, Some(&names), false)
        .expect_err("parent forbids");
    assert_eq!(error.code(), ExitCode::Conflict);
    let message = error.to_string();
    assert!(message.contains("forbids 'c 4:2 rwm'"), "{message}");
    assert!(message.contains("devices.allow"), "{message}");

    assert_eq!(env.cli(&["rules", &ctid]).stdout, before_rules.stdout);
    assert_eq!(std::fs::read_to_string(child.join("devices.list")).expect("list"), before_list);
    let tty2 = env.node("tty2", 4, 2);
    let procs = [child.join("cgroup.procs")];
    assert_eq!(common::open_in_cgroups(&procs, &tty2), libc::EPERM);
}

#[test]
fn parent_forbids_named_when_visible() {
    require!(V1);
    let env = Env::new("parent-deny-list", V1);
    let parent = env.v1.clone().expect("v1");
    // A default-deny parent shows what it allows: 4:0 but not 4:1. Writing `a`
    // only works before the cgroup has children. The child copies the parent and
    // then drops 4:0, so the grant changes 4:0 before the kernel rejects 4:1.
    std::fs::write(parent.join("devices.deny"), "a").expect("parent default deny");
    std::fs::write(parent.join("devices.allow"), "c 4:0 rwm").expect("parent allows tty0");
    let child = parent.join("child");
    std::fs::create_dir(&child).expect("create child cgroup");
    std::fs::write(child.join("devices.deny"), "c 4:0 rwm").expect("child drops tty0");
    std::fs::write(child.join("cgroup.procs"), env.init_pid.to_string()).expect("move container");
    let before = std::fs::read_to_string(child.join("devices.list")).expect("list");
    assert_eq!(before.trim(), "");
    let ctid = format!("/{}/child", env.name);
    let context = env.context();
    let container = vtty_ctl::container::resolve(&ctid, "/", &env.hierarchies).expect("resolve");
    let error = policy::apply(&context, &container, Change::Allow, None, false)
        .expect_err("parent forbids");
    assert_eq!(error.code(), ExitCode::Conflict);
    assert!(error.to_string().contains(&format!("parent cgroup /{}", env.name)), "{error}");
    assert!(error.to_string().contains("forbids 'c 4:1 rwm'"), "{error}");
    let after = std::fs::read_to_string(child.join("devices.list")).expect("list");
    assert_eq!(after, before, "the grant of 4:0 was undone");
}

#[test]
fn invalid_tty_list() {
    require!(HYBRID);
    let env = Env::new("bad-tty", HYBRID);
    let before = env.snapshot();
    let run = env.cli(&["deny", &env.ctid(), "--tty", "tty2,ttyS0"]);
    assert_eq!(run.code, code(ExitCode::Usage), "{run:?}");
    assert!(run.stderr.contains("\"ttyS0\""), "{}", run.stderr);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn shared_cgroups_refused() {
    require!(SHARED);
    let env = Env::new("shared", SHARED);
    let run = env.cli(&["deny", &env.ctid()]);
    assert_eq!(run.code, code(ExitCode::Conflict), "{run:?}");
    assert!(run.stderr.contains("cannot set device rules"), "{}", run.stderr);
    assert!(run.stderr.contains("cgroup of its own"), "{}", run.stderr);
    let rules = env.cli(&["rules", &env.ctid()]);
    assert_eq!(rules.code, 0, "{rules:?}");
    assert!(rules.stdout.contains("vtty can set no rules"), "{}", rules.stdout);
}

#[test]
fn bad_configuration() {
    require!(HYBRID);
    let env = Env::new("bad-config", HYBRID);
    let bad = env.dir.join("bad.toml");
    std::fs::write(&bad, "cgroup_parnet = \"/x\"\n").expect("write config");
    let run =
        run_cli(&["rules", &env.ctid()], &[("VTTY_CONFIG", bad.to_str().expect("utf-8"))], None);
    assert_eq!(run.code, code(ExitCode::Usage), "{run:?}");
    assert!(run.stderr.contains("invalid configuration file"), "{}", run.stderr);
    assert!(run.stderr.contains("cgroup_parnet"), "{}", run.stderr);

    let missing = env.dir.join("missing.toml");
    let run = run_cli(
        &["rules", &env.ctid()],
        &[("VTTY_CONFIG", missing.to_str().expect("utf-8"))],
        None,
    );
    assert_eq!(run.code, code(ExitCode::NotFound), "{run:?}");
    assert!(run.stderr.contains("VTTY_CONFIG"), "{}", run.stderr);

    let run = env.cli(&["--cgroup-parent", "/a/../b", "rules", "101"]);
    assert_eq!(run.code, code(ExitCode::Usage), "{run:?}");
}

#[test]
fn bad_console_arguments() {
    require!(HYBRID);
    let env = Env::new("bad-console", HYBRID);
    let run = env.cli(&["console", &env.ctid(), "tty13"]);
    assert_eq!(run.code, code(ExitCode::Usage), "{run:?}");
    assert!(run.stderr.contains("\"tty13\""), "{}", run.stderr);
    let run = env.cli(&["console", &env.ctid(), "--escape", "^1"]);
    assert_eq!(run.code, code(ExitCode::Usage), "{run:?}");
    assert!(run.stderr.contains("invalid escape"), "{}", run.stderr);
}

#[test]
fn status_without_driver() {
    require!(HYBRID);
    let env = Env::new("status", HYBRID);
    assert_eq!(env.cli(&["deny", &env.ctid(), "--tty", "console"]).code, 0);
    let run = env.cli(&["status"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("cgroup v1 devices: "), "{}", run.stdout);
    assert!(run.stdout.contains("cgroup v2: "), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("cgroup /{} ", env.name)), "{}", run.stdout);
    assert!(run.stdout.contains("attached"), "{}", run.stdout);
}
