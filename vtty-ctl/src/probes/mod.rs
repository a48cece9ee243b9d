//! Loads the eBPF probes on the driver's tracepoints, or reuses pinned ones, and
//! reads their counters and events.
