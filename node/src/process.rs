//! What a Lifeline process sets for itself before it starts work.

/// Turns transparent huge pages off for this process. mimalloc asks the kernel for them, and
/// each first touch of one then zeroes 2 MiB: a sixth of the machine's CPU while a central
/// freshly restarted took an outage's records (bench/README, "failover"), and most of a desk
/// write's p99 in the store benchmark. The `lifeline` binary calls it first; so does
/// `lifeline-bench`, whose in-process stores and meshes must cost what the daemon's do. A
/// refusal only leaves the kernel's default.
pub fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

#[cfg(test)]
mod tests {
    /// The setting holds for the process (and its threads started afterwards): the kernel
    /// reports it in `/proc/self/status`.
    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_are_off_after_the_call() {
        super::without_huge_pages();
        let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
        let line = status
            .lines()
            .find(|l| l.starts_with("THP_enabled:"))
            .expect("a kernel that reports THP_enabled");
        assert!(line.ends_with('0'), "{line}");
    }
}
