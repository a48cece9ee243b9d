//! Checks that `include/vtty_abi.h` and `src/abi.rs` describe the same ABI: a C
//! program built from the header prints every size, offset and constant, and
//! each must equal the Rust value.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use vtty_common::abi::*;

const PROGRAM: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include "vtty_abi.h"
#define SIZE(t) printf("size %s %zu\n", #t, sizeof(struct t))
#define OFF(t, f) printf("offset %s.%s %zu\n", #t, #f, offsetof(struct t, f))
#define VAL(c) printf("value %s %llu\n", #c, (unsigned long long)(c))
int main(void) {
    SIZE(vtty_register); OFF(vtty_register, pidfd); OFF(vtty_register, flags);
    OFF(vtty_register, nsid); OFF(vtty_register, name);
    SIZE(vtty_container); OFF(vtty_container, nsid);
    SIZE(vtty_attach); OFF(vtty_attach, nsid); OFF(vtty_attach, index);
    OFF(vtty_attach, flags); OFF(vtty_attach, stall_timeout_ms); OFF(vtty_attach, reserved);
    SIZE(vtty_hangup); OFF(vtty_hangup, nsid); OFF(vtty_hangup, index); OFF(vtty_hangup, reserved);
    SIZE(vtty_terminal_info); OFF(vtty_terminal_info, flags); OFF(vtty_terminal_info, open_count);
    OFF(vtty_terminal_info, written); OFF(vtty_terminal_info, delivered);
    OFF(vtty_terminal_info, dropped); OFF(vtty_terminal_info, input_dropped);
    SIZE(vtty_container_info); OFF(vtty_container_info, nsid); OFF(vtty_container_info, init_pid);
    OFF(vtty_container_info, state); OFF(vtty_container_info, name);
    OFF(vtty_container_info, terminals);
    SIZE(vtty_list); OFF(vtty_list, entries); OFF(vtty_list, capacity); OFF(vtty_list, count);
    SIZE(vtty_winsize); OFF(vtty_winsize, rows); OFF(vtty_winsize, cols);
    OFF(vtty_winsize, xpixel); OFF(vtty_winsize, ypixel);
    VAL(VTTY_TERMINALS); VAL(VTTY_NAME_LEN); VAL(VTTY_INDEX_ALL);
    VAL(VTTY_STALL_TIMEOUT_DEFAULT_MS); VAL(VTTY_ATTACH_TAKEOVER);
    VAL(VTTY_ATTACH_STALL_TIMEOUT); VAL(VTTY_ATTACH_FLAGS_ALL);
    VAL(VTTY_STATE_REGISTERED); VAL(VTTY_STATE_FENCED); VAL(VTTY_TERM_INSTALLED);
    VAL(VTTY_TERM_ATTACHED); VAL(VTTY_TERM_STALLED); VAL(VTTY_IOC_MAGIC);
    VAL(VTTY_IOC_REGISTER); VAL(VTTY_IOC_UNREGISTER); VAL(VTTY_IOC_ATTACH);
    VAL(VTTY_IOC_HANGUP); VAL(VTTY_IOC_LIST); VAL(VTTY_ATTACH_IOC_SETWINSZ);
    return 0;
}
"#;

/// The C program's output, built and run once: the tests run in parallel threads,
/// and a binary being rewritten cannot be executed ("Text file busy").
fn c_values() -> &'static BTreeMap<String, u64> {
    static VALUES: OnceLock<BTreeMap<String, u64>> = OnceLock::new();
    VALUES.get_or_init(build_and_run)
}

/// Builds and runs the C program; returns its lines as a map from name to number.
fn build_and_run() -> BTreeMap<String, u64> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("abi_header");
    std::fs::create_dir_all(&dir).expect("create the test's temporary directory");
    let source = dir.join("abi.c");
    let binary = dir.join("abi");
    std::fs::write(&source, PROGRAM).expect("write the C program");
    let status = Command::new("cc")
        .arg("-I")
        .arg(root.join("include"))
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .status()
        .expect("run cc (install gcc)");
    assert!(status.success(), "cc failed to build the header check");
    let output = Command::new(&binary).output().expect("run the header check");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .expect("ASCII output")
        .lines()
        .map(|line| {
            let mut fields = line.split_whitespace();
            let kind = fields.next().expect("kind");
            let name = fields.next().expect("name");
            let value = fields.next().expect("value").parse().expect("number");
            (format!("{kind} {name}"), value)
        })
        .collect()
}

macro_rules! expect_eq {
    ($c:expr, $key:expr, $rust:expr) => {
        assert_eq!($c.get($key).copied(), Some($rust as u64), "{} differs between C and Rust", $key);
    };
}

#[test]
fn header_matches_rust_layout() {
    let c = c_values();
    expect_eq!(c, "size vtty_register", size_of::<vtty_register>());
    expect_eq!(c, "offset vtty_register.pidfd", offset_of!(vtty_register, pidfd));
    expect_eq!(c, "offset vtty_register.flags", offset_of!(vtty_register, flags));
    expect_eq!(c, "offset vtty_register.nsid", offset_of!(vtty_register, nsid));
    expect_eq!(c, "offset vtty_register.name", offset_of!(vtty_register, name));
    expect_eq!(c, "size vtty_container", size_of::<vtty_container>());
    expect_eq!(c, "offset vtty_container.nsid", offset_of!(vtty_container, nsid));
    expect_eq!(c, "size vtty_attach", size_of::<vtty_attach>());
    expect_eq!(c, "offset vtty_attach.nsid", offset_of!(vtty_attach, nsid));
    expect_eq!(c, "offset vtty_attach.index", offset_of!(vtty_attach, index));
    expect_eq!(c, "offset vtty_attach.flags", offset_of!(vtty_attach, flags));
    expect_eq!(c, "offset vtty_attach.stall_timeout_ms", offset_of!(vtty_attach, stall_timeout_ms));
    expect_eq!(c, "offset vtty_attach.reserved", offset_of!(vtty_attach, reserved));
    expect_eq!(c, "size vtty_hangup", size_of::<vtty_hangup>());
    expect_eq!(c, "offset vtty_hangup.nsid", offset_of!(vtty_hangup, nsid));
    expect_eq!(c, "offset vtty_hangup.index", offset_of!(vtty_hangup, index));
    expect_eq!(c, "offset vtty_hangup.reserved", offset_of!(vtty_hangup, reserved));
    expect_eq!(c, "size vtty_terminal_info", size_of::<vtty_terminal_info>());
    expect_eq!(c, "offset vtty_terminal_info.flags", offset_of!(vtty_terminal_info, flags));
    expect_eq!(c, "offset vtty_terminal_info.open_count", offset_of!(vtty_terminal_info, open_count));
    expect_eq!(c, "offset vtty_terminal_info.written", offset_of!(vtty_terminal_info, written));
    expect_eq!(c, "offset vtty_terminal_info.delivered", offset_of!(vtty_terminal_info, delivered));
    expect_eq!(c, "offset vtty_terminal_info.dropped", offset_of!(vtty_terminal_info, dropped));
    expect_eq!(c, "offset vtty_terminal_info.input_dropped", offset_of!(vtty_terminal_info, input_dropped));
    expect_eq!(c, "size vtty_container_info", size_of::<vtty_container_info>());
    expect_eq!(c, "offset vtty_container_info.nsid", offset_of!(vtty_container_info, nsid));
    expect_eq!(c, "offset vtty_container_info.init_pid", offset_of!(vtty_container_info, init_pid));
    expect_eq!(c, "offset vtty_container_info.state", offset_of!(vtty_container_info, state));
    expect_eq!(c, "offset vtty_container_info.name", offset_of!(vtty_container_info, name));
    expect_eq!(c, "offset vtty_container_info.terminals", offset_of!(vtty_container_info, terminals));
    expect_eq!(c, "size vtty_list", size_of::<vtty_list>());
    expect_eq!(c, "offset vtty_list.entries", offset_of!(vtty_list, entries));
    expect_eq!(c, "offset vtty_list.capacity", offset_of!(vtty_list, capacity));
    expect_eq!(c, "offset vtty_list.count", offset_of!(vtty_list, count));
    expect_eq!(c, "size vtty_winsize", size_of::<vtty_winsize>());
    expect_eq!(c, "offset vtty_winsize.rows", offset_of!(vtty_winsize, rows));
    expect_eq!(c, "offset vtty_winsize.cols", offset_of!(vtty_winsize, cols));
    expect_eq!(c, "offset vtty_winsize.xpixel", offset_of!(vtty_winsize, xpixel));
    expect_eq!(c, "offset vtty_winsize.ypixel", offset_of!(vtty_winsize, ypixel));
}

#[test]
fn header_matches_rust_constants() {
    let c = c_values();
    expect_eq!(c, "value VTTY_TERMINALS", VTTY_TERMINALS);
    expect_eq!(c, "value VTTY_NAME_LEN", VTTY_NAME_LEN);
    expect_eq!(c, "value VTTY_INDEX_ALL", VTTY_INDEX_ALL);
    expect_eq!(c, "value VTTY_STALL_TIMEOUT_DEFAULT_MS", VTTY_STALL_TIMEOUT_DEFAULT_MS);
    expect_eq!(c, "value VTTY_ATTACH_TAKEOVER", VTTY_ATTACH_TAKEOVER);
    expect_eq!(c, "value VTTY_ATTACH_STALL_TIMEOUT", VTTY_ATTACH_STALL_TIMEOUT);
    expect_eq!(c, "value VTTY_ATTACH_FLAGS_ALL", VTTY_ATTACH_FLAGS_ALL);
    expect_eq!(c, "value VTTY_STATE_REGISTERED", VTTY_STATE_REGISTERED);
    expect_eq!(c, "value VTTY_STATE_FENCED", VTTY_STATE_FENCED);
    expect_eq!(c, "value VTTY_TERM_INSTALLED", VTTY_TERM_INSTALLED);
    expect_eq!(c, "value VTTY_TERM_ATTACHED", VTTY_TERM_ATTACHED);
    expect_eq!(c, "value VTTY_TERM_STALLED", VTTY_TERM_STALLED);
    expect_eq!(c, "value VTTY_IOC_MAGIC", VTTY_IOC_MAGIC);
    expect_eq!(c, "value VTTY_IOC_REGISTER", VTTY_IOC_REGISTER);
    expect_eq!(c, "value VTTY_IOC_UNREGISTER", VTTY_IOC_UNREGISTER);
    expect_eq!(c, "value VTTY_IOC_ATTACH", VTTY_IOC_ATTACH);
    expect_eq!(c, "value VTTY_IOC_HANGUP", VTTY_IOC_HANGUP);
    expect_eq!(c, "value VTTY_IOC_LIST", VTTY_IOC_LIST);
    expect_eq!(c, "value VTTY_ATTACH_IOC_SETWINSZ", VTTY_ATTACH_IOC_SETWINSZ);
}
