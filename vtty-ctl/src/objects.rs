//! The eBPF objects built from `vtty-ebpf` by this crate's build script.

/// Tracepoint probes: per-terminal counters and the lifecycle ring buffer.
pub static PROBES: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vtty-probes"));

/// cgroup v2 device gate: default-allow, gating the vtty device set through a map.
pub static DEVICE_GATE: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vtty-device-gate"));

/// The bench's self-test: counts a kernel tracepoint, proving aya works in the guest.
pub static SELFTEST: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vtty-selftest"));
