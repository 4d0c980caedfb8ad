//! The people who may use a node's desk API: each operator has a name, a desk role, a bearer
//! token and optionally an expiry. Only the token's SHA-256 is kept (in `operators.json` in
//! the data directory, written atomically); the token itself is shown once, when the
//! operator is added. The file is a JSON list of objects whose later fields all have
//! defaults, so fields can be added (passwords, log-ins) without breaking older files.

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
    /// When the token stops working (ms since the epoch); never when absent.
    #[serde(default)]
    pub expires_ms: Option<i64>,
    /// The operator who added this one (absent for the built-in administrator).
    #[serde(default)]
    pub added_by: Option<OperatorName>,
}

/// The built-in administrator, for the CLI on this machine (its token is `admin.token` in
/// the data directory); no one else may take its name.
pub const BUILT_IN_ADMIN: &str = "admin";

/// The operator the CLI acts as, whose token is in `admin.token`.
pub fn admin_name() -> OperatorName {
    OperatorName::new(BUILT_IN_ADMIN).expect("\"admin\" is a valid operator name")
}

/// Why a token does not let a request in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("unknown token")]
    Unknown,
    #[error("the token of {name} expired; ask the information department for a new one")]
    Expired { name: OperatorName },
}

/// A new operator as the information department asks for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub name: OperatorName,
    pub desk: DeskRole,
    pub expires_ms: Option<i64>,
    pub added_by: Option<OperatorName>,
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

    /// Adds (or replaces the token of) an operator whose token never expires. Returns the new
    /// token, shown only now.
    pub fn add(&self, name: OperatorName, desk: DeskRole, now_ms: i64) -> anyhow::Result<String> {
        self.add_entry(
            NewEntry {
                name,
                desk,
                expires_ms: None,
                added_by: None,
            },
            now_ms,
        )
    }

    /// Adds (or replaces the token of) an operator. Returns the new token, shown only now.
    pub fn add_entry(&self, new: NewEntry, now_ms: i64) -> anyhow::Result<String> {
        let token = new_token()?;
        let mut entries = self
            .entries
            .write()
            .map_err(|_| anyhow::anyhow!("operators lock poisoned"))?;
        entries.retain(|e| e.name != new.name);
        entries.push(OperatorEntry {
            name: new.name,
            desk: new.desk,
            token_sha256: hash(&token),
            created_ms: now_ms,
            expires_ms: new.expires_ms,
            added_by: new.added_by,
        });
        self.save(&entries)?;
        Ok(token)
    }

    /// Removes an operator: its token stops working at once. False if there was none.
    pub fn remove(&self, name: &OperatorName) -> anyhow::Result<bool> {
        let mut entries = self
            .entries
            .write()
            .map_err(|_| anyhow::anyhow!("operators lock poisoned"))?;
        let before = entries.len();
        entries.retain(|e| e.name != *name);
        if entries.len() == before {
            return Ok(false);
        }
        self.save(&entries)?;
        Ok(true)
    }

    pub fn list(&self) -> Vec<OperatorEntry> {
        self.entries.read().map(|e| e.clone()).unwrap_or_default()
    }

    /// The operator a bearer token belongs to, if its token has not expired at `now_ms`.
    pub fn authenticate(&self, token: &str, now_ms: i64) -> Result<Operator, AuthFailure> {
        let h = hash(token);
        let entries = self.entries.read().map_err(|_| AuthFailure::Unknown)?;
        let entry = entries
            .iter()
            .find(|e| e.token_sha256 == h)
            .ok_or(AuthFailure::Unknown)?;
        if entry.expires_ms.is_some_and(|at| now_ms >= at) {
            return Err(AuthFailure::Expired {
                name: entry.name.clone(),
            });
        }
        Ok(Operator::new(entry.name.clone(), entry.desk))
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
            ops.authenticate(&token, 2).map(|o| o.desk),
            Ok(DeskRole::Cashier)
        );
        assert_eq!(ops.authenticate("wrong", 2), Err(AuthFailure::Unknown));
        let again = Operators::open(&path).expect("reopen");
        assert_eq!(again.authenticate(&token, 2).map(|o| o.name), Ok(name));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&token), "the token itself is never stored");
    }

    #[test]
    fn tokens_expire_and_removed_operators_are_out() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("operators.json");
        let ops = Operators::open(&path).expect("open");
        let name = OperatorName::new("temp1").expect("valid");
        let token = ops
            .add_entry(
                NewEntry {
                    name: name.clone(),
                    desk: DeskRole::Registration,
                    expires_ms: Some(100),
                    added_by: Some(OperatorName::new("admin").expect("valid")),
                },
                1,
            )
            .expect("add");
        assert!(ops.authenticate(&token, 99).is_ok());
        assert_eq!(
            ops.authenticate(&token, 100),
            Err(AuthFailure::Expired { name: name.clone() })
        );
        assert!(ops.remove(&name).expect("remove"));
        assert!(!ops.remove(&name).expect("remove"));
        assert_eq!(ops.authenticate(&token, 50), Err(AuthFailure::Unknown));
        // An operators file written before expiry existed still reads.
        std::fs::write(
            &path,
            r#"[{"name":"old1","desk":"cashier","token_sha256":"00","created_ms":1}]"#,
        )
        .expect("write");
        let old = Operators::open(&path).expect("an older file opens");
        assert_eq!(old.list()[0].expires_ms, None);
    }
}
