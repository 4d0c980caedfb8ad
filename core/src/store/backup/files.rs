//! File helpers for backups and restores: durable renames, copying with a hash, the
//! `sha256sum` checksum file, and where a restore keeps the store it replaced.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The file a restore keeps the replaced store in.
pub fn before_restore_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".before-restore");
    PathBuf::from(name)
}

/// The checksum file written beside a backup.
pub fn checksum_path(backup: &Path) -> PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

pub(super) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a rename in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(super) fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Hex SHA-256 and length of a file.
pub(super) fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => {
                hasher.update(&buf[..n]);
                len += n as u64;
            }
        }
    }
    Ok((hex::encode(hasher.finalize()), len))
}

/// Which side of a copy failed.
pub(super) enum CopySide {
    Source,
    Destination,
}

/// Copies `from` into `to` (synced), hashing it.
pub(super) fn copy_file(
    from: &Path,
    to: &Path,
    expected_len: u64,
    progress: &dyn Fn(u64, u64),
) -> Result<(String, u64), (CopySide, std::io::Error)> {
    let source = |e| (CopySide::Source, e);
    let destination = |e| (CopySide::Destination, e);
    let mut input = File::open(from).map_err(source)?;
    let out = File::create(to).map_err(destination)?;
    let mut output = BufWriter::with_capacity(1 << 20, out);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    progress(0, expected_len);
    loop {
        let n = input.read(&mut buf).map_err(source)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n]).map_err(destination)?;
        len += n as u64;
        progress(len.min(expected_len), expected_len.max(len));
    }
    let out = output
        .into_inner()
        .map_err(|e| destination(e.into_error()))?;
    out.sync_all().map_err(destination)?;
    Ok((hex::encode(hasher.finalize()), len))
}

/// Keeps `target` as `before` (a hard link, or a copy where links are not possible).
pub(super) fn keep_previous(target: &Path, before: &Path) -> std::io::Result<()> {
    match fs::remove_file(before) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if fs::hard_link(target, before).is_err() {
        fs::copy(target, before)?;
        File::open(before)?.sync_all()?;
    }
    Ok(())
}

/// Writes `<backup>.sha256` in the `sha256sum` format, atomically.
pub(super) fn write_checksum_file(backup: &Path, sha256: &str) -> std::io::Result<()> {
    let path = checksum_path(backup);
    let dir = parent_dir(&path);
    let name = backup
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(".sha256-")
        .tempfile_in(&dir)?;
    writeln!(temp, "{sha256}  {name}")?;
    temp.as_file().sync_all()?;
    temp.persist(&path).map_err(|e| e.error)?;
    sync_dir(&dir)
}

/// The checksum recorded in `<snapshot>.sha256`, if that file exists.
pub(super) fn read_checksum_file(snapshot: &Path) -> std::io::Result<Option<String>> {
    let text = match fs::read_to_string(checksum_path(snapshot)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let sha = text.split_whitespace().next().unwrap_or_default();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a sha256sum line",
        ));
    }
    Ok(Some(sha.to_ascii_lowercase()))
}
