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
    /// The console password's argon2 hash (PHC string); no console log-in without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_phc: Option<String>,
    /// A one-time setup code's argon2 hash: it logs in once, to choose a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_phc: Option<String>,
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
            password_phc: None,
            setup_phc: None,
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

    /// The operator of this name as the operators file holds it now, if it holds one that has
    /// not expired at `now_ms`: a console session of an operator removed, expired or moved to
    /// another desk since the log-in ends with its next request.
    pub fn current(&self, name: &OperatorName, now_ms: i64) -> Option<Operator> {
        let entries = self.entries.read().ok()?;
        let entry = entries.iter().find(|e| &e.name == name)?;
        if entry.expires_ms.is_some_and(|at| now_ms >= at) {
            return None;
        }
        Some(Operator::new(entry.name.clone(), entry.desk))
    }

    /// Sets an operator's console password (at least [`MIN_PASSWORD_CHARS`] characters);
    /// any setup code is spent. False if there is no such operator.
    pub fn set_password(&self, name: &OperatorName, password: &str) -> anyhow::Result<bool> {
        check_password_rules(password)?;
        let phc = hash_secret(password)?;
        self.change(name, |e| {
            e.password_phc = Some(phc);
            e.setup_phc = None;
        })
    }

    /// Gives an operator a new one-time setup code (and no password until they choose one).
    /// Returns the code, shown only now; `None` if there is no such operator.
    pub fn issue_setup_code(&self, name: &OperatorName) -> anyhow::Result<Option<String>> {
        let code = setup_code()?;
        let phc = hash_secret(&code)?;
        let found = self.change(name, |e| {
            e.setup_phc = Some(phc);
            e.password_phc = None;
        })?;
        Ok(found.then_some(code))
    }

    /// Checks a console log-in: the operator's password, or their one-time setup code.
    pub fn check_login(
        &self,
        name: &str,
        secret: &str,
        now_ms: i64,
    ) -> Result<LoggedIn, LoginFailure> {
        let entry = {
            let entries = self.entries.read().map_err(|_| LoginFailure::Unknown)?;
            entries
                .iter()
                .find(|e| e.name.as_str() == name)
                .cloned()
                .ok_or(LoginFailure::Unknown)?
        };
        if entry.expires_ms.is_some_and(|at| now_ms >= at) {
            return Err(LoginFailure::Expired);
        }
        let operator = Operator::new(entry.name.clone(), entry.desk);
        if entry
            .password_phc
            .as_deref()
            .is_some_and(|phc| verify_secret(phc, secret))
        {
            return Ok(LoggedIn {
                operator,
                must_choose_password: false,
            });
        }
        if entry
            .setup_phc
            .as_deref()
            .is_some_and(|phc| verify_secret(phc, secret.trim()))
        {
            return Ok(LoggedIn {
                operator,
                must_choose_password: true,
            });
        }
        if entry.password_phc.is_none() && entry.setup_phc.is_none() {
            return Err(LoginFailure::NoPassword);
        }
        Err(LoginFailure::WrongPassword)
    }

    /// Applies `f` to the named operator's entry and saves; false if there is none.
    fn change(
        &self,
        name: &OperatorName,
        f: impl FnOnce(&mut OperatorEntry),
    ) -> anyhow::Result<bool> {
        let mut entries = self
            .entries
            .write()
            .map_err(|_| anyhow::anyhow!("operators lock poisoned"))?;
        let Some(entry) = entries.iter_mut().find(|e| e.name == *name) else {
            return Ok(false);
        };
        f(entry);
        self.save(&entries)?;
        Ok(true)
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

/// The shortest console password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A password the console refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password has at most 128 characters")]
    TooLong,
}

pub fn check_password_rules(password: &str) -> Result<(), PasswordProblem> {
    match password.chars().count() {
        n if n < MIN_PASSWORD_CHARS => Err(PasswordProblem::TooShort),
        n if n > 128 => Err(PasswordProblem::TooLong),
        _ => Ok(()),
    }
}

/// A console log-in that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    pub operator: Operator,
    /// Logged in with the one-time setup code: a password must be chosen first.
    pub must_choose_password: bool,
}

/// Why a console log-in failed (the console tells staff only "wrong name or password").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginFailure {
    #[error("no operator of that name")]
    Unknown,
    #[error("the operator's access expired")]
    Expired,
    #[error("the operator has no console password or setup code")]
    NoPassword,
    #[error("wrong password")]
    WrongPassword,
}

/// An argon2id hash (PHC string) of a secret, with a fresh random salt.
fn hash_secret(secret: &str) -> anyhow::Result<String> {
    use argon2::PasswordHasher;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for a salt: {e}"))?;
    let salt = argon2::password_hash::SaltString::encode_b64(&salt)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

fn verify_secret(phc: &str, secret: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::password_hash::PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// A one-time setup code: 12 characters from an alphabet without look-alikes, in groups of
/// four (`K7QM-3XPA-9HDW`).
fn setup_code() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a code: {e}"))?;
    let mut code = String::with_capacity(14);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
    }
    Ok(code)
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

    #[test]
    fn console_passwords_and_setup_codes() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("operators.json");
        let ops = Operators::open(&path).expect("open");
        let name = OperatorName::new("reg1").expect("valid");
        ops.add(name.clone(), DeskRole::Registration, 1)
            .expect("add");
        assert_eq!(
            ops.check_login("reg1", "anything", 2),
            Err(LoginFailure::NoPassword)
        );
        assert_eq!(
            ops.current(&name, 2),
            Some(Operator::new(name.clone(), DeskRole::Registration))
        );
        let code = ops
            .issue_setup_code(&name)
            .expect("code")
            .expect("operator exists");
        let first = ops.check_login("reg1", &code, 2).expect("the code logs in");
        assert!(first.must_choose_password);
        assert!(ops.set_password(&name, "short").is_err());
        assert!(ops.set_password(&name, "correct horse").expect("set"));
        assert_eq!(
            ops.check_login("reg1", &code, 3),
            Err(LoginFailure::WrongPassword),
            "the setup code is spent once a password is chosen"
        );
        let again = Operators::open(&path).expect("reopen");
        let ok = again.check_login("reg1", "correct horse", 3).expect("ok");
        assert_eq!(ok.operator.desk, DeskRole::Registration);
        assert!(!ok.must_choose_password);
        assert_eq!(
            again.check_login("nobody", "correct horse", 3),
            Err(LoginFailure::Unknown)
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("correct horse") && !text.contains(&code));
        assert!(text.contains("$argon2id$"), "{text}");
    }
}
