//! The bodies of the fuzz targets in `fuzz/` (issue #17): each takes the fuzzer's bytes, drives one surface
//! that reads untrusted input and checks its invariants, panicking on a violation. cargo-fuzz runs them under
//! libFuzzer on nightly (`fuzz/fuzz_targets/*.rs` are one line each); the smoke test below runs them on
//! stable over the committed seeds and regressions (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`),
//! so `cargo test` exercises the harness code without a nightly toolchain. FUZZING.md says what each covers.
//!
//! Compiled for tests and with the `fuzzing` feature only; not part of the service's API.

mod event_decode;
mod http_json;
mod original_import;
mod relay_lines;
mod scratch;
mod time_expr;

pub use event_decode::event_decode;
pub use http_json::http_json;
pub use original_import::original_import;
pub use relay_lines::relay_lines;
pub use time_expr::time_expr;

/// Reads the fuzzer's bytes as small values, one after the other; past the end every read gives zero, so
/// any input decodes.
pub(crate) struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    /// Up to `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// A length byte, then that many bytes, as text.
    pub(crate) fn text(&mut self) -> String {
        let n = usize::from(self.byte());
        String::from_utf8_lossy(self.take(n)).into_owned()
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The files of `fuzz/<kind>/<target>/`, sorted; none when the folder does not exist.
    fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind).join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Runs `body` over every seed and regression of `target`, naming the file that fails.
    fn run(target: &str, body: fn(&[u8])) {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ has no seed");
        for path in seeds.iter().chain(&inputs("regressions", target)) {
            let data = std::fs::read(path).expect("read a fuzz input");
            let name = path.display().to_string();
            if std::panic::catch_unwind(|| body(&data)).is_err() {
                panic!("{target} fails on {name}");
            }
        }
    }

    #[test]
    fn event_decode_runs_clean_on_its_seeds_and_regressions() {
        run("event_decode", super::event_decode);
    }

    #[test]
    fn time_expr_runs_clean_on_its_seeds_and_regressions() {
        run("time_expr", super::time_expr);
    }

    #[test]
    fn http_json_runs_clean_on_its_seeds_and_regressions() {
        run("http_json", super::http_json);
    }

    #[test]
    fn relay_lines_runs_clean_on_its_seeds_and_regressions() {
        run("relay_lines", super::relay_lines);
    }

    #[test]
    fn original_import_runs_clean_on_its_seeds_and_regressions() {
        run("original_import", super::original_import);
    }
}
