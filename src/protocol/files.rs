//! Every file the oracle opens, and every folder it walks, goes through here.
//!
//! The rules, for files it has never seen in unattended runs:
//!
//! - **Regular files only.** A path is resolved (symlinks followed) and its type checked before
//!   it is opened: a FIFO, socket, character or block device (`/dev/zero`) or a directory where
//!   a file is expected is refused with an error naming the path and its type, and is never
//!   opened (so a FIFO with no writer cannot block). On Linux the file is also opened with
//!   `O_NONBLOCK` and its type checked again on the open handle, so a path swapped for a FIFO
//!   in between cannot block either.
//! - **Bounded reads.** Every read goes through `take(limit + 1)`: a file that grows while it
//!   is read, or whose reported size is wrong, is refused at its limit, never read further.
//! - **Paths inside files stay inside.** An array or gradient named inside a case or results
//!   file is resolved against that file's folder after resolving symlinks (`canonicalize`) and
//!   refused unless it is still inside that folder.
//! - **Folder walks** list regular files only, never follow a symlink to a folder (so `a -> .`
//!   neither loops nor counts a file twice), never open a FIFO or a device, and match
//!   extensions case-insensitively (`B.JSON` is a JSON file).
//! - **Text** must be UTF-8; a byte-order mark is named as such, and invalid UTF-8 is reported
//!   with its byte offset ([`read_text`]; JSON parsed from its reader by [`super::json`] gets
//!   serde_json's line and column).

use crate::spec::error::UflError;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

pub(crate) fn io_err(path: &Path, message: impl std::fmt::Display) -> UflError {
    UflError::Io {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// What a file system entry is, in words, for a refusal.
pub fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_file() {
        return "a regular file";
    }
    if t.is_dir() {
        return "a directory";
    }
    if t.is_symlink() {
        return "a symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    "not a regular file"
}

/// Opens `path` for reading if, after resolving symlinks, it is a regular file; returns the
/// handle and the size it reports.
pub fn open_regular(path: &Path) -> Result<(File, u64), UflError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    if !meta.is_file() {
        return Err(UflError::NotRegularFile {
            path: path.display().to_string(),
            kind: kind_of(&meta),
        });
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| io_err(path, e))?;
    let meta = file.metadata().map_err(|e| io_err(path, e))?;
    if !meta.is_file() {
        return Err(UflError::NotRegularFile {
            path: path.display().to_string(),
            kind: kind_of(&meta),
        });
    }
    Ok((file, meta.len()))
}

/// Reads a regular file of at most `limit` bytes whole, refusing it at the limit whatever size
/// it reports.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, UflError> {
    let (file, size) = open_regular(path)?;
    let too_large = |n: u64| UflError::FileTooLarge {
        path: path.display().to_string(),
        bytes: n,
        limit,
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, UflError> {
    text_from(read_bounded(path, limit)?, &path.display().to_string())
}

/// The refusal of a text file that starts with a UTF-8 byte-order mark.
pub fn bom_error(source: &str) -> UflError {
    UflError::Json {
        context: source.to_string(),
        message: "the file starts with a UTF-8 byte-order mark (EF BB BF); \
                  JSON text must not (save it without one)"
            .into(),
    }
}

/// Checks that `bytes` are UTF-8 text without a byte-order mark.
pub fn text_from(bytes: Vec<u8>, source: &str) -> Result<String, UflError> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(bom_error(source));
    }
    String::from_utf8(bytes).map_err(|e| UflError::Json {
        context: source.to_string(),
        message: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Resolves `relative`, named inside a file whose folder is `base`, to a path that is still
/// inside `base` once every symlink is resolved.
pub fn resolve_inside(base: &Path, relative: &str) -> Result<PathBuf, String> {
    let rel = Path::new(relative);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "`{}` must be a path inside the file's folder",
            shorten(relative)
        ));
    }
    let base_dir = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let root = base_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", base_dir.display()))?;
    let joined = base_dir.join(rel);
    let resolved = joined
        .canonicalize()
        .map_err(|e| format!("{}: {e}", joined.display()))?;
    if !resolved.starts_with(&root) {
        return Err(format!(
            "`{}` resolves to {}, outside the file's folder {}",
            shorten(relative),
            resolved.display(),
            root.display()
        ));
    }
    Ok(resolved)
}

/// `text` cut to at most 200 characters, for echoing a name or id from a file.
pub fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX).collect();
    format!("{head}… ({} characters)", text.chars().count())
}

/// True when `path`'s extension is `ext`, in any case.
pub fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// What a folder walk found: the regular files with the extension asked for, sorted, and every
/// other entry it passed over with the reason (symlinks to folders, FIFOs, devices, sockets).
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, String)>,
    /// (device, inode) of every file listed, so a file reached twice through links is listed
    /// once.
    seen: std::collections::HashSet<(u64, u64)>,
}

#[cfg(unix)]
fn seen_before(meta: &Metadata, seen: &mut std::collections::HashSet<(u64, u64)>) -> bool {
    use std::os::unix::fs::MetadataExt;
    !seen.insert((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn seen_before(_meta: &Metadata, _seen: &mut std::collections::HashSet<(u64, u64)>) -> bool {
    false
}

/// Lists the regular files under `dir` (recursively) whose extension is `ext` (any case).
/// Symlinks to regular files are taken; symlinks to folders are not followed; anything that is
/// not a regular file is never opened and is listed as skipped.
pub fn walk(dir: &Path, ext: &str) -> Result<Walk, UflError> {
    let mut out = Walk::default();
    walk_into(dir, ext, &mut out)?;
    Ok(out)
}

fn walk_into(dir: &Path, ext: &str, out: &mut Walk) -> Result<(), UflError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| io_err(dir, e))?;
    entries.sort();
    for path in entries {
        let link = std::fs::symlink_metadata(&path).map_err(|e| io_err(&path, e))?;
        if link.is_dir() {
            walk_into(&path, ext, out)?;
            continue;
        }
        let meta = if link.file_type().is_symlink() {
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    out.skipped
                        .push((path, "a symbolic link to a folder (not followed)".into()));
                    continue;
                }
                Ok(m) => m,
                Err(e) => {
                    if has_extension(&path, ext) {
                        out.skipped
                            .push((path, format!("a symbolic link that cannot be read: {e}")));
                    }
                    continue;
                }
            }
        } else {
            link
        };
        if !has_extension(&path, ext) {
            continue;
        }
        if meta.is_file() {
            if seen_before(&meta, &mut out.seen) {
                out.skipped
                    .push((path, "the same file as one already listed (a link)".into()));
            } else {
                out.files.push(path);
            }
        } else {
            let kind = kind_of(&meta);
            out.skipped
                .push((path, format!("{kind}, not a regular file (not opened)")));
        }
    }
    Ok(())
}
