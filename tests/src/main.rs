//! `vtty-guest-tests`: scenarios that run inside the guest VM.

fn main() {}
