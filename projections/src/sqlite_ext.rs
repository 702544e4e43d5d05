//! Registration of the sqlite-vec extension with SQLite: the one place this crate uses `unsafe` (the
//! workspace's other is the binary's malloc arena limit, `src/malloc.rs`).
#![allow(unsafe_code)]

use std::sync::Once;

static REGISTER: Once = Once::new();

/// Makes every SQLite connection opened after this call in this process load sqlite-vec. Idempotent.
pub fn register_sqlite_vec() {
    REGISTER.call_once(|| {
        // SAFETY: `sqlite3_vec_init` is the extension entry point with the signature SQLite expects of an
        // auto-extension (db, error message, API routines); sqlite-vec's documentation registers it this way.
        // It is registered once, before any connection of this process is opened by this crate.
        unsafe {
            let init: unsafe extern "C" fn() = sqlite_vec::sqlite3_vec_init;
            #[allow(clippy::missing_transmute_annotations)]
            rusqlite::ffi::sqlite3_auto_extension(Some(std::mem::transmute(init as *const ())));
        }
    });
}
