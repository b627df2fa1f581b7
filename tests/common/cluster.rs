//! A real Redis Cluster for the tests: 3 primaries and 3 replicas of redis-server with the module
//! loaded, on free loopback ports, each in its own temporary directory, joined by
//! `redis-cli --cluster create ... --cluster-replicas 1`. Every process is stopped by its own
//! id when the `Cluster` drops (a node killed by a test is restarted on its port and directory).
//!
//! Included with `#[path = "common/cluster.rs"] mod cluster;` beside `mod common;`.
#![allow(dead_code)]

use crate::common::{call, module_path, server_binary, temp_dir};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a primary may be unreachable before its replica takes over: short, so a failover
/// test waits seconds, not the default 15.
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// One cluster node: its port (the bus port is port + 10000), its directory (nodes.conf and the
/// log), and its process.
pub struct Node {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

/// A port free for both the node and its cluster bus.
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = l.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port < 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port pair for a cluster node");
}

impl Node {
    fn start() -> Node {
        let dir = temp_dir("cluster-node");
        for _ in 0..5 {
            let mut node = Node {
                port: free_port_pair(),
                dir: dir.clone(),
                child: None,
            };
            if node.spawn() {
                return node;
            }
            // A dropped Node removes its directory: keep it, with the logs of this try, for
            // the next (the tries after a first failure had found no directory and failed at
            // once, leaving an empty log).
            node.dir = PathBuf::new();
        }
        panic!(
            "a cluster node did not start; log:\n{}\n{}",
            std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
        );
    }

    /// Starts the process on this node's port and directory; false if it did not answer.
    fn spawn(&mut self) -> bool {
        let child = Command::new(server_binary())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--logfile", "redis.log", "--daemonize", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "local"])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .arg("--loadmodule")
            .arg(module_path())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join("stderr.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return false;
            }
            if let Ok(mut c) = self.try_client() {
                if call(&mut c, &["PING"]).is_ok() {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn try_client(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(5))
    }

    /// A plain connection to this node (no redirects followed).
    pub fn client(&self) -> redis::Connection {
        self.try_client().expect("connect to a cluster node")
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again on its port and directory (its nodes.conf brings it back
    /// into the cluster).
    pub fn restart(&mut self) {
        self.kill();
        assert!(self.spawn(), "node {} did not restart", self.port);
    }

    /// This node's cluster id.
    pub fn id(&self) -> String {
        let id: String =
            redis::from_redis_value(&call(&mut self.client(), &["CLUSTER", "MYID"]).unwrap())
                .unwrap();
        id
    }

    /// A field of `CLUSTER INFO`.
    pub fn cluster_info(&self, field: &str) -> Option<String> {
        let mut c = self.try_client().ok()?;
        let text: String =
            redis::from_redis_value(&call(&mut c, &["CLUSTER", "INFO"]).ok()?).ok()?;
        let prefix = format!("{field}:");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(|v| v.trim().to_string())
    }

    /// `INFO errorstats` as error code -> count (MOVED, ASK, TRYAGAIN, ...).
    pub fn error_stats(&self) -> HashMap<String, u64> {
        let mut c = self.client();
        let text: String =
            redis::from_redis_value(&call(&mut c, &["INFO", "errorstats"]).unwrap()).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("errorstat_"))
            .filter_map(|l| {
                let (code, rest) = l.split_once(':')?;
                let count = rest.strip_prefix("count=")?.trim().parse().ok()?;
                Some((code.to_string(), count))
            })
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What `CLUSTER NODES` says of one node.
#[derive(Debug, Clone)]
pub struct NodeLine {
    pub id: String,
    pub port: u16,
    pub primary: bool,
    /// The primary's id, for a replica.
    pub primary_id: Option<String>,
    pub failed: bool,
    /// Slot ranges, inclusive.
    pub slots: Vec<(u16, u16)>,
}

pub fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let port = f[1].split('@').next()?.rsplit(':').next()?.parse().ok()?;
            let slots = f[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|v| (v, v)),
                })
                .collect();
            Some(NodeLine {
                id: f[0].to_string(),
                port,
                primary: f[2].contains("master"),
                primary_id: (f[3] != "-").then(|| f[3].to_string()),
                failed: f[2].contains("fail") && !f[2].contains("fail?"),
                slots,
            })
        })
        .collect()
}

/// One cluster at a time per test binary: a node that a test killed (a failover) is still
/// known to its cluster, whose nodes keep calling its address; a node of the next cluster
/// started on that port (free again) was drawn into the old cluster on Valkey 9, and two tests
/// found nodes of another cluster in their topology.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A cluster of 3 primaries, each with 1 replica.
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Held while the cluster runs (dropped after the nodes stopped).
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    pub fn start() -> Cluster {
        // A test that panicked with the lock held poisons it; the lock itself is still good.
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let nodes: Vec<Node> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6).map(|_| s.spawn(Node::start)).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let cluster = Cluster { nodes, _turn: turn };
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create");
        for n in &cluster.nodes {
            cmd.arg(n.addr());
        }
        cmd.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = run_bounded(cmd, Duration::from_secs(60));
        assert!(
            out.contains("[OK] All 16384 slots covered"),
            "redis-cli --cluster create failed:\n{out}"
        );
        cluster.wait_healthy(Duration::from_secs(30));
        cluster
    }

    /// Waits until every running node says cluster_state:ok, agrees on who owns every slot,
    /// and every replica's link to its primary is up.
    pub fn wait_healthy(&self, limit: Duration) {
        let start = Instant::now();
        loop {
            if self.is_healthy() {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "the cluster did not become healthy: {:?}",
                self.nodes
                    .iter()
                    .filter(|n| n.is_running())
                    .map(|n| (n.port, n.cluster_info("cluster_state")))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn is_healthy(&self) -> bool {
        let running: Vec<&Node> = self.nodes.iter().filter(|n| n.is_running()).collect();
        let mut views = Vec::new();
        for n in &running {
            if n.cluster_info("cluster_state").as_deref() != Some("ok") {
                return false;
            }
            let Ok(mut c) = n.try_client() else {
                return false;
            };
            let role = crate::common::info_field(&mut c, "replication", "role");
            if role.as_deref() == Some("slave")
                && crate::common::info_field(&mut c, "replication", "master_link_status").as_deref()
                    != Some("up")
            {
                return false;
            }
            let mut owners: Vec<(u16, u16, u16)> = self
                .topology_of(n)
                .into_iter()
                .filter(|l| l.primary && !l.failed)
                .flat_map(|l| l.slots.into_iter().map(move |(a, b)| (a, b, l.port)))
                .collect();
            owners.sort();
            views.push(owners);
        }
        views.windows(2).all(|w| w[0] == w[1])
            && views.first().is_some_and(|v| {
                v.iter()
                    .map(|(a, b, _)| (b - a) as usize + 1)
                    .sum::<usize>()
                    == 16384
            })
    }

    fn topology_of(&self, node: &Node) -> Vec<NodeLine> {
        let Ok(mut c) = node.try_client() else {
            return Vec::new();
        };
        let text: redis::RedisResult<String> =
            call(&mut c, &["CLUSTER", "NODES"]).and_then(|v| redis::from_redis_value(&v));
        match text {
            Ok(text) => parse_nodes(&text),
            Err(_) => Vec::new(),
        }
    }

    /// The topology as the first running node sees it.
    pub fn topology(&self) -> Vec<NodeLine> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.is_running())
            .expect("a running node");
        self.topology_of(node)
    }

    pub fn node(&self, port: u16) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .expect("a node of this cluster")
    }

    pub fn node_mut(&mut self, port: u16) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster")
    }

    /// The primary serving `slot`.
    pub fn primary_of_slot(&self, slot: u16) -> &Node {
        let line = self
            .topology()
            .into_iter()
            .find(|l| l.primary && l.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .expect("a primary serves the slot");
        self.node(line.port)
    }

    /// The replicas of the primary with this port.
    pub fn replicas_of(&self, primary_port: u16) -> Vec<&Node> {
        let topo = self.topology();
        let Some(id) = topo
            .iter()
            .find(|l| l.port == primary_port)
            .map(|l| l.id.clone())
        else {
            return Vec::new();
        };
        topo.iter()
            .filter(|l| l.primary_id.as_deref() == Some(id.as_str()))
            .map(|l| self.node(l.port))
            .collect()
    }

    /// A primary other than the one on `port` (where to move a slot).
    pub fn other_primary(&self, port: u16) -> &Node {
        self.primaries()
            .into_iter()
            .find(|n| n.port != port)
            .expect("a cluster of several primaries")
    }

    pub fn primaries(&self) -> Vec<&Node> {
        self.topology()
            .into_iter()
            .filter(|l| l.primary && !l.failed && !l.slots.is_empty())
            .map(|l| self.node(l.port))
            .collect()
    }

    pub fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .map(Node::url)
            .collect()
    }

    /// The `redis` crate's cluster client, retrying TRYAGAIN after a few ms instead of its
    /// default 1.28 s (a slot being resharded answers TRYAGAIN for a moment).
    pub fn client(&self) -> redis::cluster::ClusterConnection {
        redis::cluster::ClusterClientBuilder::new(self.seeds())
            .retries(40)
            .min_retry_wait(2)
            .max_retry_wait(50)
            .retry_wait_formula(2, 2)
            .connection_timeout(Duration::from_secs(5))
            .response_timeout(Duration::from_secs(10))
            .build()
            .expect("a cluster client")
            .get_connection()
            .expect("connect to the cluster")
    }

    /// Error replies by code (MOVED, ASK, TRYAGAIN, ...) summed over the running nodes.
    pub fn error_stats(&self) -> HashMap<String, u64> {
        let mut sum = HashMap::new();
        for n in self.nodes.iter().filter(|n| n.is_running()) {
            for (code, count) in n.error_stats() {
                *sum.entry(code).or_insert(0) += count;
            }
        }
        sum
    }

    /// `redis-cli --cluster reshard`: moves `slots` slots (the lowest the source has) from one
    /// primary to another, key by key with MIGRATE, as operators do.
    pub fn reshard(&self, from: &Node, to: &Node, slots: usize) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["--cluster", "reshard", &from.addr()])
            .args(["--cluster-from", &from.id(), "--cluster-to", &to.id()])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
            .args(["--cluster-pipeline", "2"]);
        let out = run_bounded(cmd, Duration::from_secs(60));
        assert!(
            out.contains("Moving slot") && !out.contains("[ERR]"),
            "reshard failed:\n{out}"
        );
        out
    }
}

/// Starts moving `slot` from `source` to `target` (IMPORTING there, MIGRATING here).
pub fn start_move(slot: u16, source: &Node, target: &Node) {
    let slot = slot.to_string();
    call(
        &mut target.client(),
        &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &source.id()],
    )
    .unwrap();
    call(
        &mut source.client(),
        &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &target.id()],
    )
    .unwrap();
}

/// Ends the move of `slot`: every primary gives it to `owner`.
pub fn end_move(cluster: &Cluster, slot: u16, owner: &Node) {
    let (slot, id) = (slot.to_string(), owner.id());
    for node in cluster.primaries() {
        call(
            &mut node.client(),
            &["CLUSTER", "SETSLOT", &slot, "NODE", &id],
        )
        .unwrap();
    }
}

/// MIGRATE of `keys` from `source` to `target`.
pub fn migrate(source: &Node, target: &Node, keys: &[&str]) {
    let port = target.port.to_string();
    let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
    args.extend_from_slice(keys);
    call(&mut source.client(), &args).unwrap();
}

/// Runs a redis-cli command, killing it (by its own pid) if it overruns; returns its output.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> String {
    let dir = temp_dir("redis-cli");
    let out_path = dir.join("out");
    let out = std::fs::File::create(&out_path).expect("an output file");
    let err = out.try_clone().expect("an output file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("redis-cli on PATH");
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    text
}

/// CRC16 (XMODEM) of the hash tag or the key, mod 16384: the slot Redis Cluster gives a key.
pub fn key_slot(key: &str) -> u16 {
    let b = key.as_bytes();
    let tagged = b.iter().position(|&c| c == b'{').and_then(|open| {
        let close = b[open + 1..].iter().position(|&c| c == b'}')?;
        (close > 0).then(|| &b[open + 1..open + 1 + close])
    });
    let data = tagged.unwrap_or(b);
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Each Node stops its own process by pid.
        self.nodes.clear();
    }
}
