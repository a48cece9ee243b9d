//! Builds the eBPF programs of `vtty-ebpf` for `bpfel-unknown-none` with the nightly
//! toolchain (aya-build runs `cargo +nightly build -Z build-std=core`) and leaves the
//! object in `$OUT_DIR/vtty-ebpf`, where the loader embeds it.
//!
//! Needs `bpf-linker` on `PATH`; `cargo xtask setup` installs it.
//! `AYA_EBPF_TOOLCHAIN` overrides the toolchain (for example `nightly-2026-11-01`).

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=AYA_EBPF_TOOLCHAIN");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../vtty-ebpf");
    let toolchain_name = std::env::var("AYA_EBPF_TOOLCHAIN").ok();
    let toolchain = match toolchain_name.as_deref() {
        Some(name) => aya_build::Toolchain::Custom(name),
        None => aya_build::Toolchain::Nightly,
    };
    let package = aya_build::Package {
        name: "vtty-ebpf",
        root_dir: root,
        ..Default::default()
    };
    aya_build::build_ebpf([package], toolchain)?;
    Ok(())
}
