//! The C allocator's arenas: the one place this crate uses `unsafe`.
//!
//! glibc's malloc gives each thread that contends for it an arena of its own, up to eight per core, and memory
//! freed in one arena is reused only by the threads on that arena. A server whose blocking threads come and
//! go (every read model query runs on one) spreads a burst's memory over many arenas and keeps it resident:
//! a 10 MiB document upload peaked at 439 MiB with the default arenas and at 370 and 401 MiB with two
//! (BENCHMARKS.md, "Document ingestion"). Two arenas are kept unless the user chose a number.
#![allow(unsafe_code)]

/// Arenas allowed to glibc's malloc (`M_ARENA_MAX`) unless `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` says otherwise.
pub const ARENAS: i32 = 2;

/// Limits malloc's arenas to [`ARENAS`]. Call it first in `main`, before any thread is started: glibc fixes the
/// limit when it first needs a second arena. Does nothing where the C library is not glibc, or when the user set
/// the limit through the environment (which glibc has applied already).
pub fn limit_arenas() {
    let chosen = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|tunables| tunables.contains("arena_max"));
    if chosen {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes a malloc parameter, under malloc's own lock; M_ARENA_MAX takes an int,
    // and a refusal (return 0) leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
