//! Shared parts of the vtty eBPF objects.
#![no_std]

/// BPF programs cannot unwind; the verifier rejects any path that reaches here.
#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
