//! How the daemon asks the C allocator to hand memory back: without this, RSS grows with
//! the number of threads that ever allocated and with the largest body ever freed.
//!
//! glibc's malloc gives each thread that allocates under contention an arena of its own (up
//! to 8 per core), and each arena keeps what it once held; connection threads come and go,
//! so the arenas pile up. And its mmap threshold is dynamic: after a large block (a 2 MB
//! body) is freed, blocks up to that size come from the heap instead of `mmap`, where a
//! freed one stays in the process. Both are set here, once, as the daemon starts, so that a
//! daemon run by hand behaves like the one under systemd: two arenas, and bodies of 256 KiB
//! or more always mapped (and unmapped when the last snapshot holding them goes).
//!
//! What a big refresh or render frees in the middle of an arena (a full read of 30 days of
//! decisions, a rebuilt document) stays in the process too: malloc only gives back the top
//! of a heap. [`release`] hands every free page back; the daemon runs it after each new
//! snapshot, i.e. only after work that changed something.

/// Applies the settings above (glibc only; other allocators are left alone).
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters, under the allocator's own lock;
        // it takes no pointers.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        }
    }
}

/// Hands the free pages of every arena back to the system (glibc's `malloc_trim`).
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim works under the allocator's own locks and takes no pointers.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
