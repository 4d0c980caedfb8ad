//! A throwaway PostgreSQL cluster with the reference HIS in it, for `lifeline demo`, the
//! benchmarks and the tests: `initdb` and `pg_ctl` from Debian's package in a temporary
//! directory, on a free loopback port, run as `nobody` when we are root (PostgreSQL refuses
//! to run as root). It can be stopped and started again (the HIS "going down"), and it is
//! stopped and removed when dropped.
//!
//! The reference schema and its deterministic seed (`data/his/`) are built into the binary.
//! The bridge connects as `lifeline`, a role that may read the HIS's tables and write only
//! its interface tables (yj_*), with a password.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::time::UtcOffset;

/// The reference HIS schema.
pub const SCHEMA_SQL: &str = include_str!("../../../data/his/schema.sql");
/// Its deterministic seed data (`-v patients=N -v visits=N -v drugs=N`).
pub const SEED_SQL: &str = include_str!("../../../data/his/seed.sql");

/// What the bridge's role may do: read the HIS, write its interface tables.
const ROLE_SQL: &str = "
CREATE ROLE lifeline LOGIN PASSWORD :'pw';
GRANT USAGE ON SCHEMA his TO lifeline;
GRANT SELECT ON ALL TABLES IN SCHEMA his TO lifeline;
GRANT INSERT, UPDATE ON his.yj_patient, his.yj_registration, his.yj_prescription, his.yj_charge TO lifeline;
";

/// How to install PostgreSQL where it is missing.
pub const INSTALL_HINT: &str = "PostgreSQL was not found: install Debian's package (apt-get install -y postgresql), or set LIFELINE_PG_BIN to the directory holding initdb and pg_ctl";

/// The directory holding `initdb`, `pg_ctl` and `psql`: `$LIFELINE_PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin`, or `pg_config --bindir`.
pub fn find_bin() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LIFELINE_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
        bail!("LIFELINE_PG_BIN={} holds no initdb", dir.display());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let v = e.file_name().to_str()?.parse().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    bail!(INSTALL_HINT)
}

/// Whether this process runs as root (PostgreSQL's server must then run as someone else).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Whether every directory from `/` to `dir` lets others through (the `x` bit for others).
fn traversable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    dir.ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

fn checked(what: &str, out: Output) -> anyhow::Result<Output> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(out)
}

/// A PostgreSQL cluster in a temporary directory.
#[derive(Debug)]
pub struct Cluster {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// The unprivileged user the server runs as, when we are root.
    run_as: Option<&'static str>,
    superuser_password: String,
    running: bool,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap_or_default();
    hex::encode(bytes)
}

impl Cluster {
    /// `initdb` in a new temporary directory (under `parent`, or the system's), then starts
    /// the server on a free loopback port.
    ///
    /// Run as root, the server runs as `nobody`, who must be able to reach its directory: a
    /// `parent` that others cannot traverse is replaced by `/tmp`.
    pub fn create(parent: Option<&Path>) -> anyhow::Result<Cluster> {
        let bin = find_bin()?;
        let run_as = running_as_root().then_some("nobody");
        let default = std::env::temp_dir();
        let parent = parent.unwrap_or(&default);
        let parent = if run_as.is_some() && !traversable(parent) {
            Path::new("/tmp")
        } else {
            parent
        };
        let dir = tempfile::Builder::new()
            .prefix("lifeline-his-")
            .tempdir_in(parent)?;
        let mut cluster = Cluster {
            dir,
            bin,
            port: crate::hospital::free_port()?,
            run_as,
            superuser_password: random_hex(),
            running: false,
        };
        if let Some(user) = run_as {
            checked(
                "chown",
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{user}:"))
                    .arg(cluster.dir.path())
                    .output()?,
            )?;
        }
        let pwfile = cluster.dir.path().join("superuser.pw");
        std::fs::write(&pwfile, format!("{}\n", cluster.superuser_password))?;
        if let Some(user) = run_as {
            let _ = Command::new("chown").arg(user).arg(&pwfile).status();
        }
        let data = cluster.data_dir();
        let out = cluster
            .server_command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .context("cannot run initdb")?;
        checked("initdb", out)?;
        let _ = std::fs::remove_file(&pwfile);
        // A hospital's HIS keeps local time: its server runs in the hospital's zone (China's,
        // Lifeline's default), not the test machine's, so that `current_date` and
        // `localtimestamp` are the hospital's day and clock at any hour of the machine's.
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .context("cannot open postgresql.conf")?;
        writeln!(conf, "timezone = '{}'", UtcOffset::CHINA.posix_zone())?;
        drop(conf);
        cluster.start()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A command of the server's (initdb, pg_ctl), as the unprivileged user when root.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c.current_dir(self.dir.path());
                c
            }
            None => Command::new(path),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start(&mut self) -> anyhow::Result<()> {
        if self.running {
            return Ok(());
        }
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            .output()
            .context("cannot run pg_ctl")?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            bail!(
                "PostgreSQL did not start: {}\n{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
            );
        }
        self.running = true;
        Ok(())
    }

    /// Stops the server (fast shutdown: connections are cut, as when the HIS goes down).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if !self.running {
            return Ok(());
        }
        let out = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .stdin(Stdio::null())
            .output()
            .context("cannot run pg_ctl")?;
        checked("pg_ctl stop", out)?;
        self.running = false;
        Ok(())
    }

    /// `psql` as the superuser over TCP, stopping at the first error.
    fn psql(&self, db: &str) -> Command {
        let mut c = Command::new(self.bin.join("psql"));
        c.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ])
        .arg("-p")
        .arg(self.port.to_string())
        .arg("-d")
        .arg(db)
        .env("PGPASSWORD", &self.superuser_password)
        .stdin(Stdio::piped());
        c
    }

    /// Runs SQL text (with psql's variables) in a database as the superuser.
    pub fn run_sql(&self, db: &str, sql: &str, vars: &[(&str, String)]) -> anyhow::Result<String> {
        use std::io::Write;
        let mut cmd = self.psql(db);
        for (k, v) in vars {
            cmd.arg("-v").arg(format!("{k}={v}"));
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .arg("-f")
            .arg("-")
            .spawn()
            .context("cannot run psql")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(sql.as_bytes())?;
        }
        let out = checked("psql", child.wait_with_output()?)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// One value of a query, as text (`psql -At`).
    pub fn query_one(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let out = self
            .psql(db)
            .args(["-A", "-t", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .context("cannot run psql")?;
        Ok(String::from_utf8_lossy(&checked("psql", out)?.stdout)
            .trim()
            .to_owned())
    }

    /// Creates database `db`.
    pub fn create_db(&self, db: &str) -> anyhow::Result<()> {
        self.run_sql("postgres", &format!("CREATE DATABASE \"{db}\";"), &[])
            .map(drop)
    }

    /// The reference HIS in database `his`: schema, seed (`patients`, `visits` today,
    /// `drugs`) and the bridge's role. Returns the role's password.
    pub fn load_reference(&self, patients: u64, visits: u64, drugs: u64) -> anyhow::Result<String> {
        self.create_db("his")?;
        self.run_sql("his", SCHEMA_SQL, &[])?;
        self.run_sql(
            "his",
            SEED_SQL,
            &[
                ("patients", patients.to_string()),
                ("visits", visits.to_string()),
                ("drugs", drugs.to_string()),
            ],
        )?;
        let password = random_hex();
        self.run_sql("his", ROLE_SQL, &[("pw", password.clone())])?;
        Ok(password)
    }

    /// The superuser's password (over TCP; local connections are trusted).
    pub fn superuser_password(&self) -> &str {
        &self.superuser_password
    }

    /// The URL the bridge connects with, as `user` to `db` (no password: it goes in a file).
    pub fn url(&self, user: &str, db: &str) -> String {
        format!("postgresql://{user}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .server_command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "immediate", "-w", "-t", "30", "stop"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
