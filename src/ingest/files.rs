//! Finding the files to ingest on the server's disk, and keeping a caller inside the directories it may read.

use super::extract::FileType;
use std::path::{Path, PathBuf};

/// Which files of a directory to take.
#[derive(Clone, Debug)]
pub struct Walk {
    pub recursive: bool,
    /// Extensions to take (without the dot, any case); empty: every supported type.
    pub extensions: Vec<String>,
    pub max_files: usize,
}

/// Why files could not be listed or may not be read.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "{path} is outside the directories this client may read from ({allowed}); over HTTP, set MCP_DOCUMENT_ROOTS to the directories remote clients may ingest from"
    )]
    Outside { path: String, allowed: String },
    #[error("{path} is not a directory")]
    NotADirectory { path: String },
}

fn unreadable(path: &Path, error: impl std::fmt::Display) -> FilesError {
    FilesError::Unreadable { path: path.display().to_string(), reason: error.to_string() }
}

/// Whether `path` (resolved, links followed) lies inside one of `roots`; the resolved path when it does.
/// `roots` of `None` means any path (a local client reading its own user's files).
pub fn confine(path: &Path, roots: Option<&[PathBuf]>) -> Result<PathBuf, FilesError> {
    let resolved = path.canonicalize().map_err(|e| unreadable(path, e))?;
    let Some(roots) = roots else { return Ok(resolved) };
    let inside = roots.iter().filter_map(|root| root.canonicalize().ok()).any(|root| resolved.starts_with(&root));
    if inside {
        Ok(resolved)
    } else {
        let allowed = if roots.is_empty() {
            "none are configured".to_string()
        } else {
            roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
        };
        Err(FilesError::Outside { path: path.display().to_string(), allowed })
    }
}

/// Whether a file name has an extension the walk takes.
fn wanted(path: &Path, walk: &Walk) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(file_type) = FileType::from_name(name) else { return false };
    if walk.extensions.is_empty() {
        return true;
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    walk.extensions.iter().any(|e| {
        let e = e.trim().trim_start_matches('.').to_ascii_lowercase();
        e == extension || e == file_type.extension()
    })
}

/// The supported files of `dir` (and its subdirectories when recursive), sorted by path, at most
/// `max_files`; hidden files and directories are skipped, and links are not followed out of `dir`.
pub fn list(dir: &Path, walk: &Walk) -> Result<Vec<PathBuf>, FilesError> {
    if !dir.is_dir() {
        return Err(FilesError::NotADirectory { path: dir.display().to_string() });
    }
    let root = dir.canonicalize().map_err(|e| unreadable(dir, e))?;
    let mut found = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| unreadable(&current, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| unreadable(&current, e))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(resolved) = path.canonicalize() else { continue };
            if !resolved.starts_with(&root) {
                continue;
            }
            if resolved.is_dir() {
                if walk.recursive {
                    pending.push(path);
                }
            } else if resolved.is_file() && wanted(&path, walk) {
                found.push(path);
            }
        }
    }
    found.sort();
    found.truncate(walk.max_files);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(recursive: bool, extensions: &[&str]) -> Walk {
        Walk { recursive, extensions: extensions.iter().map(|e| e.to_string()).collect(), max_files: 100 }
    }

    #[test]
    fn lists_supported_files_sorted_and_recurses_only_when_asked() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["b.md", "a.txt", "c.exe", ".hidden.md", "sub/d.pdf", "sub/e.MD"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "x").expect("write");
        }
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            files
                .iter()
                .map(|f| f.strip_prefix(dir.path().canonicalize().unwrap()).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(names(list(dir.path(), &walk(false, &[])).expect("list")), ["a.txt", "b.md"]);
        assert_eq!(
            names(list(dir.path(), &walk(true, &[])).expect("list")),
            ["a.txt", "b.md", "sub/d.pdf", "sub/e.MD"]
        );
        assert_eq!(names(list(dir.path(), &walk(true, &["md"])).expect("list")), ["b.md", "sub/e.MD"]);
        let capped = Walk { max_files: 1, ..walk(true, &[]) };
        assert_eq!(list(dir.path(), &capped).expect("list").len(), 1);
    }

    #[test]
    fn confinement_follows_links_and_names_the_roots() {
        let dir = tempfile::tempdir().expect("temp dir");
        let allowed = dir.path().join("allowed");
        std::fs::create_dir_all(&allowed).expect("mkdir");
        std::fs::write(dir.path().join("secret.txt"), "x").expect("write");
        std::fs::write(allowed.join("ok.txt"), "x").expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), allowed.join("link.txt")).expect("link");
        let roots = [allowed.clone()];
        assert!(confine(&allowed.join("ok.txt"), Some(&roots)).is_ok());
        assert!(confine(&allowed.join("../secret.txt"), Some(&roots)).is_err());
        let error = confine(&allowed.join("link.txt"), Some(&roots)).expect_err("a link out is outside");
        assert!(error.to_string().contains("MCP_DOCUMENT_ROOTS"), "{error}");
        let none: [PathBuf; 0] = [];
        assert!(confine(&allowed.join("ok.txt"), Some(&none)).expect_err("no roots").to_string().contains("none"));
        assert!(confine(&dir.path().join("secret.txt"), None).is_ok(), "a local client reads its own files");
    }
}
