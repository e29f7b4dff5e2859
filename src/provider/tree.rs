//! Copying a release source tree: files, directories, symlinks and permission
//! bits, without following links.
//!
//! This is blocking filesystem work; the releases provider runs it inside
//! `spawn_blocking` and owns where the copy goes (a temp directory renamed
//! into place afterwards).

use std::path::{Path, PathBuf};

use super::{ProviderError, io_error as io};

/// Copies the directory `from` to `to`, which must not exist yet.
///
/// Symlinks are recreated as they are (their targets are not followed, so a
/// link to `../shared` stays one). Directory permissions are applied last,
/// children first, so a read-only directory still receives its contents.
/// Anything that is not a file, directory or symlink (a socket, a FIFO) is an
/// error rather than silently left out of the release.
pub(super) fn copy_tree(from: &Path, to: &Path) -> Result<(), ProviderError> {
    let mut pending = vec![(from.to_owned(), to.to_owned())];
    let mut directories: Vec<(PathBuf, std::fs::Permissions)> = Vec::new();
    while let Some((source, target)) = pending.pop() {
        let metadata = fs_err::metadata(&source).map_err(io("read the release source", &source))?;
        fs_err::create_dir(&target).map_err(io("create the release directory", &target))?;
        directories.push((target.clone(), metadata.permissions()));
        for entry in fs_err::read_dir(&source).map_err(io("list the release source", &source))? {
            let entry = entry.map_err(io("list the release source", &source))?;
            let path = entry.path();
            let destination = target.join(entry.file_name());
            let kind = entry
                .file_type()
                .map_err(io("read the release source", &path))?;
            if kind.is_dir() {
                pending.push((path, destination));
            } else if kind.is_symlink() {
                let link = fs_err::read_link(&path).map_err(io("read the symlink", &path))?;
                symlink(&link, &destination).map_err(io("create the symlink", &destination))?;
            } else if kind.is_file() {
                // `copy` carries the permission bits over with the contents.
                fs_err::copy(&path, &destination).map_err(io("copy the file", &path))?;
            } else {
                return Err(ProviderError::Io {
                    action: "copy",
                    path,
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "not a regular file, directory or symlink; remove it from the release source",
                    ),
                });
            }
        }
    }
    for (directory, permissions) in directories.into_iter().rev() {
        fs_err::set_permissions(&directory, permissions)
            .map_err(io("set the permissions of", &directory))?;
    }
    Ok(())
}

/// Creates a symlink at `link` pointing at `target` (taken literally).
#[cfg(unix)]
pub(super) fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    fs_err::os::unix::fs::symlink(target, link)
}

/// Creates a symlink at `link` pointing at `target` (taken literally).
#[cfg(windows)]
pub(super) fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    fs_err::os::windows::fs::symlink_dir(target, link)
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn copies_files_directories_symlinks_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        fs_err::create_dir_all(source.join("bin/deep")).unwrap();
        fs_err::write(source.join("index.html"), "hello").unwrap();
        fs_err::write(source.join("bin/run.sh"), "#!/bin/sh\n").unwrap();
        fs_err::set_permissions(
            source.join("bin/run.sh"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        fs_err::write(source.join("bin/deep/data"), "42").unwrap();
        symlink(Path::new("bin/run.sh"), &source.join("run")).unwrap();
        symlink(Path::new("/nonexistent/target"), &source.join("dangling")).unwrap();
        fs_err::create_dir(source.join("locked")).unwrap();
        fs_err::write(source.join("locked/inside"), "x").unwrap();
        fs_err::set_permissions(
            source.join("locked"),
            std::fs::Permissions::from_mode(0o555),
        )
        .unwrap();

        let target = dir.path().join("copy");
        copy_tree(&source, &target).unwrap();

        assert_eq!(
            fs_err::read_to_string(target.join("index.html")).unwrap(),
            "hello"
        );
        assert_eq!(
            fs_err::read_to_string(target.join("bin/deep/data")).unwrap(),
            "42"
        );
        let mode = fs_err::metadata(target.join("bin/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750);
        assert_eq!(
            fs_err::read_link(target.join("run")).unwrap(),
            Path::new("bin/run.sh")
        );
        assert_eq!(
            fs_err::read_link(target.join("dangling")).unwrap(),
            Path::new("/nonexistent/target")
        );
        assert_eq!(
            fs_err::read_to_string(target.join("locked/inside")).unwrap(),
            "x"
        );
        let mode = fs_err::metadata(target.join("locked"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o555);

        // Let the temp dir clean up.
        for locked in [source.join("locked"), target.join("locked")] {
            fs_err::set_permissions(locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn refuses_an_existing_target_and_a_missing_source() {
        let dir = tempfile::tempdir().unwrap();
        let error = copy_tree(&dir.path().join("missing"), &dir.path().join("copy")).unwrap_err();
        assert!(
            matches!(
                error,
                ProviderError::Io {
                    action: "read the release source",
                    ..
                }
            ),
            "{error:?}"
        );
        fs_err::create_dir(dir.path().join("source")).unwrap();
        let error = copy_tree(&dir.path().join("source"), dir.path()).unwrap_err();
        assert!(
            matches!(
                error,
                ProviderError::Io {
                    action: "create the release directory",
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
