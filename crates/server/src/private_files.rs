//! Files only the owner can read. The data directory holds the SQLite database, the chat
//! logging spool, the chat-token key and chat logs written as files: the server creates it,
//! and every directory under it, with mode 0700, and every file in it with mode 0600, whatever
//! the process's umask. SQLite gives a database's `-wal` and `-shm` files the database file's
//! own mode, so the database file is made here ([`create_file`]) before SQLite opens it.
//!
//! An existing data directory is not changed (it may be a mounted volume an operator set up):
//! [`warn_if_shared`] says at start-up when other users can reach it.
//!
//! On systems without Unix modes these are the plain `std::fs` calls.

use std::io;
use std::path::Path;

/// Mode of the directories the server creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files the server creates.
pub const FILE_MODE: u32 = 0o600;

/// `create_dir_all`, each directory it makes with mode 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(path)
}

/// Options that create a missing file with mode 0600 (add `write`, `append`, … as needed).
pub fn open_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// Creates `path` empty with mode 0600 if it does not exist; an existing file is left as it is.
pub fn create_file(path: &Path) -> io::Result<()> {
    open_options()
        .append(true)
        .create(true)
        .open(path)
        .map(drop)
}

/// Writes `contents` to a new or truncated file created with mode 0600.
pub fn write(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    open_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?
        .write_all(contents)
}

/// Logs a warning naming `dir` and its mode when its group or other users have any access to
/// it (and so, depending on the files' own modes, to the database, the spool and the keys).
pub fn warn_if_shared(dir: &Path) {
    if let Some(mode) = shared_mode(dir) {
        tracing::warn!(
            path = %dir.display(),
            mode = %format!("{mode:04o}"),
            "the data directory {} has mode {mode:04o}: other local users may read the \
             database, the chat logging spool and the chat-token key in it. Run \
             `chmod 700 {}` (the server creates new data directories with mode 0700)",
            dir.display(),
            dir.display(),
        );
    }
}

/// The permission bits of `dir` when they give its group or others any access.
#[cfg(unix)]
fn shared_mode(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn shared_mode(_dir: &Path) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn what_is_created_is_the_owners_only() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a/b");
        create_dir_all(&nested).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        create_file(&nested.join("db")).unwrap();
        write(&nested.join("w"), b"x").unwrap();
        assert_eq!(mode(&nested.join("db")), 0o600);
        assert_eq!(mode(&nested.join("w")), 0o600);
        assert_eq!(shared_mode(&nested), None);
        std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(shared_mode(&nested), Some(0o750));
    }
}
