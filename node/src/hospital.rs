//! A whole local hospital of real daemons on loopback: a CA and certificates, one config and
//! data directory per node, each node a `lifeline daemon` child process. Used by `lifeline
//! demo` and by the scenario tests; nodes can be killed (SIGKILL), stopped (SIGTERM) and
//! started again on the same files.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lifeline_core::{DeskRole, NodeName, NodeRole, OperatorName};
use lifeline_sync::identity::{self, NodeIdentity};

use crate::api::admin::{AddedOperator, NewOperator};
use crate::api::status::StatusReport;
use crate::client::Client;
use crate::config::{
    ApiSection, Config, HospitalSection, LogFormat, LogSection, MetricsSection, NetworkSection,
    NodeSection, PeerSection, RetentionSection, Thresholds, TlsSection,
};

/// One node of the hospital.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub role: NodeRole,
    pub desks: Vec<DeskRole>,
    /// Names of the nodes it dials.
    pub peers: Vec<String>,
}

impl NodeSpec {
    pub fn new(name: &str, role: NodeRole, desks: &[DeskRole], peers: &[&str]) -> Self {
        NodeSpec {
            name: name.to_owned(),
            role,
            desks: desks.to_vec(),
            peers: peers.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

#[derive(Debug)]
struct NodeHandle {
    config: Config,
    config_path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

impl NodeHandle {
    /// Writes the node's config file from `config` (after a change before start).
    fn save_config(&self) -> anyhow::Result<()> {
        std::fs::write(&self.config_path, toml::to_string(&self.config)?)?;
        Ok(())
    }
}

/// A running local hospital. Dropping it kills every daemon it started.
#[derive(Debug)]
pub struct Hospital {
    dir: PathBuf,
    bin: PathBuf,
    nodes: BTreeMap<String, NodeHandle>,
    tokens: Mutex<BTreeMap<(String, String), String>>,
}

/// Ports for the nodes' listeners, taken below the kernel's ephemeral range.
///
/// A port the kernel hands out for `bind(0)` comes from the ephemeral range, the same range
/// every outgoing connection's local port comes from: between choosing it here and the daemon
/// binding it, a client connection on the machine (a desk's HTTP request, PostgreSQL's) can take
/// it, and the daemon then fails with "address in use". Below that range only explicit binds
/// take ports, and this process walks its own sequence through them from a start that differs
/// per process, each port checked free for both UDP and TCP.
struct PortPicker {
    next: u16,
    low: u16,
    high: u16,
}

impl PortPicker {
    fn new() -> PortPicker {
        const FLOOR: u16 = 10_000;
        let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32_768);
        let high = ephemeral_low.max(FLOOR + 1_000);
        let span = u32::from(high - FLOOR);
        let seed = std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
        let start = FLOOR + u16::try_from(seed % span).unwrap_or(0);
        PortPicker {
            next: start,
            low: FLOOR,
            high,
        }
    }

    /// The next port free for both UDP and TCP on 127.0.0.1.
    fn take(&mut self) -> anyhow::Result<u16> {
        for _ in self.low..self.high {
            let port = self.next;
            self.next = if port + 1 >= self.high {
                self.low
            } else {
                port + 1
            };
            let free = UdpSocket::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port)).is_ok();
            if free {
                return Ok(port);
            }
        }
        bail!(
            "no free port on 127.0.0.1 between {} and {}",
            self.low,
            self.high
        )
    }
}

/// One picker per process: tests in one binary create hospitals one after another and must not
/// be handed the ports of a hospital still running.
static PORTS: Mutex<Option<PortPicker>> = Mutex::new(None);

/// A port free on 127.0.0.1 for both UDP and TCP, below the ephemeral range (see [`PortPicker`]).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let mut picker = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    picker.get_or_insert_with(PortPicker::new).take()
}

impl Hospital {
    /// Creates the CA, the certificates and the configs under `dir`; starts nothing.
    pub fn create(
        bin: &Path,
        dir: &Path,
        specs: &[NodeSpec],
        thresholds: Thresholds,
    ) -> anyhow::Result<Hospital> {
        let pki = dir.join("pki");
        std::fs::create_dir_all(&pki)?;
        identity::init_ca(&pki)?;
        let mut ports = BTreeMap::new();
        for spec in specs {
            ports.insert(spec.name.clone(), (free_port()?, free_port()?));
        }
        let mut nodes = BTreeMap::new();
        for spec in specs {
            let name = NodeName::new(spec.name.clone())?;
            let id = NodeIdentity::new(name.clone(), spec.role, spec.desks.clone());
            let files = identity::issue(&pki, &id, 30)?;
            let (quic, api) = ports[&spec.name];
            let mut peers = Vec::new();
            for p in &spec.peers {
                let other = specs
                    .iter()
                    .find(|s| &s.name == p)
                    .with_context(|| format!("{} lists unknown peer {p}", spec.name))?;
                peers.push(PeerSection {
                    name: NodeName::new(p.clone())?,
                    role: other.role,
                    addr: SocketAddr::from(([127, 0, 0, 1], ports[p].0)),
                });
            }
            let config = Config {
                hospital: HospitalSection::default(),
                node: NodeSection {
                    name,
                    role: spec.role,
                    desks: spec.desks.clone(),
                    data_dir: dir.join(&spec.name),
                },
                network: NetworkSection {
                    listen: SocketAddr::from(([127, 0, 0, 1], quic)),
                    ..NetworkSection::default()
                },
                peers,
                tls: TlsSection {
                    ca: files.ca,
                    cert: files.cert,
                    key: files.key,
                },
                api: ApiSection {
                    listen: SocketAddr::from(([127, 0, 0, 1], api)),
                },
                thresholds: thresholds.clone(),
                log: LogSection {
                    format: LogFormat::Human,
                    level: "info".into(),
                },
                retention: RetentionSection::default(),
                metrics: MetricsSection::default(),
                his: None,
            };
            config.check()?;
            let config_path = dir.join(format!("{}.toml", spec.name));
            std::fs::write(&config_path, toml::to_string(&config)?)?;
            nodes.insert(
                spec.name.clone(),
                NodeHandle {
                    log_path: dir.join(format!("{}.log", spec.name)),
                    config,
                    config_path,
                    child: None,
                },
            );
        }
        Ok(Hospital {
            dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
            nodes,
            tokens: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn node(&self, name: &str) -> anyhow::Result<&NodeHandle> {
        self.nodes
            .get(name)
            .with_context(|| format!("no node {name} in this hospital"))
    }

    fn node_mut(&mut self, name: &str) -> anyhow::Result<&mut NodeHandle> {
        self.nodes
            .get_mut(name)
            .with_context(|| format!("no node {name} in this hospital"))
    }

    pub fn config(&self, name: &str) -> anyhow::Result<&Config> {
        Ok(&self.node(name)?.config)
    }

    pub fn config_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        Ok(self.node(name)?.config_path.clone())
    }

    pub fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Points `node`'s peer entry for `peer` at another address (a proxy), before start.
    pub fn set_peer_addr(
        &mut self,
        node: &str,
        peer: &str,
        addr: SocketAddr,
    ) -> anyhow::Result<()> {
        let handle = self.node_mut(node)?;
        for p in &mut handle.config.peers {
            if p.name.as_str() == peer {
                p.addr = addr;
            }
        }
        handle.save_config()
    }

    /// Moves `node`'s data directory (its store and ready file; its log stays in the
    /// hospital's directory) to `dir`, before its first start: a benchmark puts a node that
    /// would be another PC on a disk of its own.
    pub fn set_data_dir(&mut self, node: &str, dir: &Path) -> anyhow::Result<()> {
        let handle = self.node_mut(node)?;
        if handle.child.is_some() {
            bail!("{node} is running: its data directory cannot move");
        }
        handle.config.node.data_dir = dir.to_path_buf();
        handle.config.check()?;
        handle.save_config()
    }

    /// Gives a server node an HIS bridge (`[his]`), before start.
    pub fn set_his(
        &mut self,
        node: &str,
        his: crate::his::settings::HisSection,
    ) -> anyhow::Result<()> {
        let handle = self.node_mut(node)?;
        handle.config.his = Some(his);
        handle.config.check()?;
        handle.save_config()
    }

    /// Starts a node's daemon and waits until it is ready.
    pub fn start(&mut self, name: &str) -> anyhow::Result<()> {
        self.start_niced(name, 0)
    }

    /// Starts a node's daemon `nice` steps below this process (through `nice`, so that every
    /// thread of the daemon inherits it) and waits until it is ready. A benchmark runs a node
    /// that would be another PC in a hospital this way, so that on one machine it takes only
    /// the CPU the nodes measured leave.
    pub fn start_niced(&mut self, name: &str, nice: u8) -> anyhow::Result<()> {
        let bin = self.bin.clone();
        let handle = self.node_mut(name)?;
        if handle.child.is_some() {
            bail!("{name} is already running");
        }
        let ready = handle.config.node.data_dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&handle.log_path)?;
        let mut command = if nice == 0 {
            Command::new(&bin)
        } else {
            let mut niced = Command::new("nice");
            niced.arg("-n").arg(nice.to_string()).arg(&bin);
            niced
        };
        let child = command
            .arg("daemon")
            .arg("--config")
            .arg(&handle.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        handle.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ready.exists() {
                return Ok(());
            }
            if let Some(child) = handle.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                handle.child = None;
                let log = std::fs::read_to_string(&handle.log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                bail!(
                    "{name} exited during start ({status}): {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            if Instant::now() > deadline {
                bail!("{name} did not become ready within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn start_all(&mut self) -> anyhow::Result<()> {
        for name in self.names() {
            self.start(&name)?;
        }
        Ok(())
    }

    pub fn is_running(&self, name: &str) -> bool {
        self.nodes.get(name).is_some_and(|h| h.child.is_some())
    }

    /// SIGKILL: the node dies mid-whatever, as in a power cut.
    pub fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let handle = self.node_mut(name)?;
        if let Some(mut child) = handle.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self, name: &str) -> anyhow::Result<()> {
        let handle = self.node_mut(name)?;
        if let Some(mut child) = handle.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    child.kill()?;
                    child.wait()?;
                    bail!("{name} did not stop within 15 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// The node's API as the administrator.
    pub fn admin(&self, name: &str) -> anyhow::Result<Client> {
        Client::for_config(self.config(name)?)
    }

    /// The node's API as an operator of a desk (created on first use).
    pub fn desk(&self, name: &str, desk: DeskRole) -> anyhow::Result<Client> {
        let key = (name.to_owned(), desk.name().to_owned());
        if let Some(token) = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned()) {
            return Ok(self.admin(name)?.with_token(&token));
        }
        let admin = self.admin(name)?;
        let body = NewOperator {
            name: OperatorName::new(format!("{}-{}", desk.name(), name.to_lowercase()))?,
            desk,
            valid_for_s: None,
            password: None,
        };
        let added: AddedOperator = admin.post("/admin/operators", &body)?;
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(key, added.token.clone());
        }
        Ok(admin.with_token(&added.token))
    }

    /// The process id of a running node's daemon.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.nodes.get(name)?.child.as_ref().map(|c| c.id())
    }

    pub fn status(&self, name: &str) -> anyhow::Result<StatusReport> {
        self.admin(name)?.get("/admin/status")
    }

    pub fn store_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        Ok(self.config(name)?.store_path())
    }

    /// Waits until `f` holds (checked every 100 ms), or fails naming `what`.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Hospital) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last_err = None;
        while Instant::now() < deadline {
            match f(self) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last_err = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        match last_err {
            Some(e) => Err(e.context(format!("timed out waiting for {what}"))),
            None => bail!("timed out waiting for {what}"),
        }
    }
}

impl Drop for Hospital {
    fn drop(&mut self) {
        for handle in self.nodes.values_mut() {
            if let Some(mut child) = handle.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
