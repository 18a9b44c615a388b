//! Writing output files without harming the user's files.
//!
//! Two rules: an output is never written over an input of the same run ([`check_not_input`]),
//! and an output appears only complete ([`write_atomic`]): it is written to a temporary file
//! in the same folder, flushed, and renamed into place at the end. A run that fails on the
//! way leaves the old file exactly as it was and removes its temporary file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Whether two paths name the same existing file (through links, `./`, `..` or hard links).
pub fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ca), Ok(cb)) = (std::fs::canonicalize(a), std::fs::canonicalize(b)) else {
        return false;
    };
    if ca == cb {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(&ca), std::fs::metadata(&cb)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    false
}

/// Refuses an output path that is one of the run's inputs. `what` names the output option
/// (`--steps-csv`) in the message.
pub fn check_not_input(output: &Path, inputs: &[&Path], what: &str) -> Result<(), String> {
    match inputs.iter().find(|i| same_file(output, i)) {
        Some(input) => Err(format!(
            "{what} {} is an input of this run ({}): choose another file name",
            output.display(),
            input.display()
        )),
        None => Ok(()),
    }
}

/// The temporary file `path` is written to before it is renamed into place:
/// `.NAME.partial-PID` in the same folder (so the rename cannot cross file systems).
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Where the output of a run that failed goes instead of `path`: `NAME.partial.EXT` beside it
/// (`steps.csv` → `steps.partial.csv`), so a failed run never replaces a good file.
pub fn failed_sibling(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}.partial.{}", ext.to_string_lossy()),
        None => format!("{stem}.partial"),
    };
    path.with_file_name(name)
}

/// Writes `path` atomically: `write` fills a temporary file next to it, which replaces `path`
/// only when `write` succeeded and the data reached the disk. On failure the temporary file
/// is removed and `path` is untouched.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = partial_path(path);
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut out = io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic`] for bytes already in memory.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nodelab-output-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = temp_dir("fail");
        let path = dir.join("out.csv");
        std::fs::write(&path, "old").expect("write");
        let err = write_atomic(&path, |w| {
            w.write_all(b"half of the new")?;
            Err(io::Error::other("disk on fire"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
        assert!(!partial_path(&path).exists());
        write_bytes(&path, b"new").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_output_goes_beside_the_requested_file() {
        let p = Path::new("out/steps.csv");
        assert_eq!(failed_sibling(p), Path::new("out/steps.partial.csv"));
        assert_eq!(
            failed_sibling(Path::new("steps")),
            Path::new("steps.partial")
        );
    }

    #[test]
    fn an_input_is_recognised_under_another_spelling() {
        let dir = temp_dir("same");
        let path = dir.join("p.toml");
        std::fs::write(&path, "x").expect("write");
        let other = dir.join(".").join("p.toml");
        assert!(same_file(&path, &other));
        assert!(check_not_input(&other, &[&path], "--out").is_err());
        assert!(check_not_input(&dir.join("q.csv"), &[&path], "--out").is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
