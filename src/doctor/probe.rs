//! File-system probes shared by the checks.

use std::path::{Path, PathBuf};

/// Where a folder that must be writable stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Writable {
    /// It exists and a file could be created in it.
    Exists,
    /// It does not exist yet; it can be created in this existing folder.
    CanCreateIn(PathBuf),
}

/// Whether files can be created in `dir`, or, when it does not exist yet, whether it
/// can be created (as respawn would, with `create_dir_all`). Creates and removes a
/// temporary file; leaves nothing behind. `Err` says why not, in words.
pub fn writable(dir: &Path) -> Result<Writable, String> {
    // A relative path's ancestors end at "": walk those of the absolute path instead.
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let dir = absolute.as_path();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => probe(dir).map(|()| Writable::Exists),
        Ok(_) => Err(format!("{} is a file, not a folder", dir.display())),
        Err(_) => {
            // Missing, or a path through a file: find the nearest thing that exists.
            let existing = dir
                .ancestors()
                .skip(1)
                .find_map(|a| std::fs::metadata(a).ok().map(|m| (a, m)));
            match existing {
                Some((a, m)) if m.is_dir() => probe(a).map(|()| Writable::CanCreateIn(a.into())),
                Some((a, _)) => Err(format!(
                    "{} is a file, so {} cannot be created",
                    a.display(),
                    dir.display()
                )),
                None => Err(format!(
                    "nothing of {} exists, not even its drive or root",
                    dir.display()
                )),
            }
        }
    }
}

fn probe(dir: &Path) -> Result<(), String> {
    tempfile::Builder::new()
        .prefix(".respawn-doctor-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_missing_and_blocked_folders() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(writable(dir.path()), Ok(Writable::Exists));
        assert_eq!(
            writable(&dir.path().join("a/b")),
            Ok(Writable::CanCreateIn(dir.path().to_path_buf()))
        );
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(writable(&file).unwrap_err().contains("is a file"));
        let err = writable(&file.join("state")).unwrap_err();
        assert!(err.contains("cannot be created"), "{err}");
        // Nothing was left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Relative paths are taken from the current folder.
        assert!(matches!(
            writable(Path::new("no-such-dir-here")),
            Ok(Writable::CanCreateIn(_))
        ));
    }
}
