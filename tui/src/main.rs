//! `vtty-top`: live dashboard of every container's consoles.

fn main() {}
