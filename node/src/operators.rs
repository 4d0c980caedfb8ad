//! The people who may use a node's desk API: each operator has a name, a desk role and a
//! bearer token. Only the token's SHA-256 is kept (in `operators.json` in the data directory,
//! written atomically); the token itself is shown once, when the operator is added.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use anyhow::Context;
use lifeline_core::{DeskRole, Operator, OperatorName};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorEntry {
    pub name: OperatorName,
    pub desk: DeskRole,
    pub token_sha256: String,
    pub created_ms: i64,
}

/// The operators of one node.
#[derive(Debug)]
pub struct Operators {
    path: PathBuf,
    entries: RwLock<Vec<OperatorEntry>>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random bearer token (256 bits, hex).
pub fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    Ok(hex::encode(bytes))
}

impl Operators {
    /// Loads the operators file, or starts empty if there is none.
    pub fn open(path: &Path) -> anyhow::Result<Operators> {
        let entries = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a valid operators file", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Operators {
            path: path.to_path_buf(),
            entries: RwLock::new(entries),
        })
    }

    /// Adds (or replaces the token of) an operator. Returns the new token, shown only now.
    pub fn add(&self, name: OperatorName, desk: DeskRole, now_ms: i64) -> anyhow::Result<String> {
        let token = new_token()?;
        let mut entries = self
            .entries
            .write()
            .map_err(|_| anyhow::anyhow!("operators lock poisoned"))?;
        entries.retain(|e| e.name != name);
        entries.push(OperatorEntry {
            name,
            desk,
            token_sha256: hash(&token),
            created_ms: now_ms,
        });
        self.save(&entries)?;
        Ok(token)
    }

    pub fn list(&self) -> Vec<OperatorEntry> {
        self.entries.read().map(|e| e.clone()).unwrap_or_default()
    }

    /// The operator a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<Operator> {
        let h = hash(token);
        let entries = self.entries.read().ok()?;
        entries
            .iter()
            .find(|e| e.token_sha256 == h)
            .map(|e| Operator::new(e.name.clone(), e.desk))
    }

    fn save(&self, entries: &[OperatorEntry]) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        serde_json::to_writer_pretty(&mut tmp, entries)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path)
            .with_context(|| format!("cannot replace {}", self.path.display()))?;
        Ok(())
    }
}

/// Writes a secret file readable by its owner only.
pub fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_and_survive_reopen() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("operators.json");
        let ops = Operators::open(&path).expect("open");
        let name = OperatorName::new("cashier1").expect("valid");
        let token = ops.add(name.clone(), DeskRole::Cashier, 1).expect("add");
        assert_eq!(
            ops.authenticate(&token).map(|o| o.desk),
            Some(DeskRole::Cashier)
        );
        assert!(ops.authenticate("wrong").is_none());
        let again = Operators::open(&path).expect("reopen");
        assert_eq!(again.authenticate(&token).map(|o| o.name), Some(name));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&token), "the token itself is never stored");
    }
}
