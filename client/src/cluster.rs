//! Speaking to a Redis Cluster: the slot map (from `CLUSTER SLOTS`), one [`Connection`] per
//! primary, MOVED and ASK followed, the topology read again after a redirect or a failure.
//!
//! Each node is reached on its own: a node that does not answer holds up only the calls for
//! its slots. A node whose connection failed is marked down, and calls for its slots fail at
//! once (and fall back) until the probe finds it answering again or the topology gives its
//! slots to another node (a failover). The `redis` crate's `cluster-async` connection is not
//! used for this reason: its one driver task stops serving every node while it reconnects to
//! one.

use crate::connection::Connection;
use crate::error::Error;
use redis::{Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex as SyncMutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

pub(crate) const SLOTS: usize = 16384;

/// Redirects followed for one command before it counts as unavailable.
const MAX_REDIRECTS: usize = 5;

/// A command answered `TRYAGAIN` (a multi-key command while its slot moves, some keys on each
/// node) is sent again after this wait, doubled each time up to `TRYAGAIN_WAIT_MAX`, for at
/// most the command timeout in all: a slot settles in milliseconds, and what TRYAGAIN answered
/// changed nothing.
const TRYAGAIN_WAIT_FIRST: Duration = Duration::from_millis(2);
const TRYAGAIN_WAIT_MAX: Duration = Duration::from_millis(100);

fn is_tryagain(v: &Value) -> bool {
    matches!(v, Value::ServerError(e) if e.code() == "TRYAGAIN")
}

/// The topology is read again at most this often in the background.
const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// After a topology read that no node answered, a call for a slot of no known owner fails at
/// once (its write falls back) for this long, rather than pay a read's timeout for each new
/// slot; so does the probe's check of the slots waiting in fallback (it reads the topology
/// again once this has passed).
const UNREACHABLE_PAUSE: Duration = Duration::from_secs(1);

/// The slot of a key (its hash tag's, if it has one), as the cluster computes it.
pub(crate) fn slot_of(key: &str) -> u16 {
    redis::cluster_routing::get_slot(key.as_bytes())
}

struct Node {
    conn: Connection,
    /// Its last call failed to reach it (refused, dropped, timed out).
    down: AtomicBool,
}

struct Shared {
    seeds: Vec<String>,
    /// Credentials, database and protocol of the first seed, for every node.
    template: ConnectionInfo,
    nodes: SyncMutex<HashMap<String, Arc<Node>>>,
    /// The primary serving each slot, as last read.
    slots: RwLock<Vec<Option<Arc<str>>>>,
    refresh: Mutex<()>,
    /// Counts completed topology reads (a caller that waited for one skips its own).
    generation: AtomicU64,
    last_refresh: SyncMutex<Option<Instant>>,
    /// When a topology read last got no answer from any node (None once one answers).
    unanswered: SyncMutex<Option<Instant>>,
    connect_timeout: Duration,
    command_timeout: Duration,
}

/// A Redis Cluster, reached through its seed nodes.
#[derive(Clone)]
pub(crate) struct Cluster {
    shared: Arc<Shared>,
}

/// How one command is sent.
#[derive(Clone, Copy)]
pub(crate) enum Send {
    Normal,
    /// On a connection of its own, within this limit (a blocking read).
    Blocking(Duration),
}

/// Where a redirect reply sends a command: `(slot, address, ask)`.
fn redirect(v: &Value) -> Option<(u16, String, bool)> {
    let Value::ServerError(e) = v else {
        return None;
    };
    let ask = match e.code() {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    let mut words = e.details()?.split_ascii_whitespace();
    let slot = words.next()?.parse().ok()?;
    let addr = words.next()?.to_owned();
    Some((slot, addr, ask))
}

/// `host:port` of a seed URL.
fn addr_of(info: &ConnectionInfo) -> Result<String, Error> {
    match &info.addr {
        ConnectionAddr::Tcp(host, port) => Ok(format!("{host}:{port}")),
        ConnectionAddr::TcpTls { host, port, .. } => Ok(format!("{host}:{port}")),
        ConnectionAddr::Unix(p) => Err(Error::Config(format!(
            "cluster seed {}: a cluster is reached over TCP",
            p.display()
        ))),
    }
}

impl Cluster {
    pub fn new(
        seeds: &[String],
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Cluster, Error> {
        let mut infos = Vec::new();
        for url in seeds {
            let info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| Error::Config(format!("url '{url}': {e}")))?;
            infos.push(info);
        }
        let Some(template) = infos.first().cloned() else {
            return Err(Error::Config(
                "a cluster needs at least one seed URL".into(),
            ));
        };
        let seeds = infos.iter().map(addr_of).collect::<Result<_, _>>()?;
        Ok(Cluster {
            shared: Arc::new(Shared {
                seeds,
                template,
                nodes: SyncMutex::new(HashMap::new()),
                slots: RwLock::new(vec![None; SLOTS]),
                refresh: Mutex::new(()),
                generation: AtomicU64::new(0),
                last_refresh: SyncMutex::new(None),
                unanswered: SyncMutex::new(None),
                connect_timeout,
                command_timeout,
            }),
        })
    }

    fn node(&self, addr: &str) -> Result<Arc<Node>, Error> {
        let s = &self.shared;
        let mut nodes = s.nodes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = nodes.get(addr) {
            return Ok(n.clone());
        }
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| Error::Protocol(format!("node address '{addr}'")))?;
        let mut info = s.template.clone();
        info.addr = match &info.addr {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host.to_owned(), port),
        };
        let node = Arc::new(Node {
            conn: Connection::new(info, s.connect_timeout, s.command_timeout)?,
            down: AtomicBool::new(false),
        });
        nodes.insert(addr.to_owned(), node.clone());
        Ok(node)
    }

    fn owner(&self, slot: u16) -> Option<Arc<str>> {
        let slots = self.shared.slots.read().unwrap_or_else(|e| e.into_inner());
        slots.get(slot as usize).cloned().flatten()
    }

    /// The primary of `slot`, reading the topology first if it is not known.
    async fn owner_or_refresh(&self, slot: u16) -> Result<Arc<str>, Error> {
        if let Some(a) = self.owner(slot) {
            return Ok(a);
        }
        let unanswered = *self
            .shared
            .unanswered
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if unanswered.is_some_and(|t| t.elapsed() < UNREACHABLE_PAUSE) {
            return Err(Error::Unavailable(format!(
                "no cluster node answered; slot {slot} has no known owner"
            )));
        }
        self.refresh(self.shared.generation.load(Relaxed)).await;
        self.owner(slot).ok_or_else(|| {
            Error::Unavailable(format!("no reachable cluster node serves slot {slot}"))
        })
    }

    /// Any node marked down.
    pub fn any_down(&self) -> bool {
        let nodes = self.shared.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.values().any(|n| n.down.load(Relaxed))
    }

    /// Reads the topology from the first node that answers `CLUSTER SLOTS` (all known nodes
    /// and seeds are asked at once), unless a read completed since `seen` (the generation the
    /// caller saw).
    async fn refresh(&self, seen: u64) {
        let s = &self.shared;
        let _one = s.refresh.lock().await;
        if s.generation.load(Relaxed) != seen {
            return;
        }
        let mut candidates: Vec<String> = {
            let slots = s.slots.read().unwrap_or_else(|e| e.into_inner());
            slots.iter().flatten().map(|a| a.to_string()).collect()
        };
        candidates.extend(s.seeds.iter().cloned());
        candidates.sort();
        candidates.dedup();
        let mut asks = JoinSet::new();
        for addr in candidates {
            let Ok(node) = self.node(&addr) else { continue };
            asks.spawn(async move {
                let mut c = redis::cmd("CLUSTER");
                c.arg("SLOTS");
                let v = node.conn.call(&c).await;
                (addr, v)
            });
        }
        let mut map = None;
        while let Some(done) = asks.join_next().await {
            let Ok((addr, Ok(v))) = done else { continue };
            let host = addr.rsplit_once(':').map_or("", |(h, _)| h).to_owned();
            if let Some(m) = parse_slots(v, &host) {
                map = Some(m);
                break;
            }
        }
        // The others are dropped unanswered.
        drop(asks);
        *s.unanswered.lock().unwrap_or_else(|e| e.into_inner()) = map.is_none().then(Instant::now);
        if let Some(map) = map {
            let live: HashSet<Arc<str>> = map.iter().flatten().cloned().collect();
            *s.slots.write().unwrap_or_else(|e| e.into_inner()) = map;
            // Nodes that serve nothing now are forgotten (and no longer count as down).
            let mut nodes = s.nodes.lock().unwrap_or_else(|e| e.into_inner());
            nodes.retain(|addr, _| live.contains(addr.as_str()) || s.seeds.contains(addr));
        }
        *s.last_refresh.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        s.generation.fetch_add(1, Relaxed);
    }

    /// Reads the topology again in the background (after a redirect or a failure), at most
    /// once per [`REFRESH_EVERY`].
    fn refresh_soon(&self) {
        let s = &self.shared;
        {
            let mut last = s.last_refresh.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < REFRESH_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let seen = s.generation.load(Relaxed);
        let me = self.clone();
        tokio::spawn(async move { me.refresh(seen).await });
    }

    fn set_owner(&self, slot: u16, addr: &str) {
        let mut slots = self.shared.slots.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get_mut(slot as usize) {
            *s = Some(Arc::from(addr));
        }
    }

    /// One command for `key`, following MOVED and ASK. Error replies come back as values;
    /// `Err(Unavailable)` when the node serving the key cannot be reached.
    pub async fn call(&self, key: &str, c: &Cmd, how: Send) -> Result<Value, Error> {
        self.call_retrying(slot_of(key), c, how, None).await
    }

    /// `call_from`, sent again from the slot's owner while it answers `TRYAGAIN` (within
    /// the command timeout); the last answer, `TRYAGAIN` included, once that is spent.
    async fn call_retrying(
        &self,
        slot: u16,
        c: &Cmd,
        how: Send,
        to: Option<(Arc<str>, bool)>,
    ) -> Result<Value, Error> {
        let mut v = self.call_from(slot, c, how, to).await?;
        let (mut waited, mut wait) = (Duration::ZERO, TRYAGAIN_WAIT_FIRST);
        while is_tryagain(&v) && waited + wait <= self.shared.command_timeout {
            tokio::time::sleep(wait).await;
            waited += wait;
            wait = (wait * 2).min(TRYAGAIN_WAIT_MAX);
            v = self.call_from(slot, c, how, None).await?;
        }
        Ok(v)
    }

    /// A command that was answered with a redirect (`first`), sent where it points.
    pub async fn follow(&self, key: &str, c: &Cmd, first: &Value) -> Result<Value, Error> {
        let slot = slot_of(key);
        let to = redirect(first).map(|(_, addr, ask)| {
            if !ask {
                self.set_owner(slot, &addr);
                self.refresh_soon();
            }
            (Arc::<str>::from(addr), ask)
        });
        self.call_retrying(slot, c, Send::Normal, to).await
    }

    async fn call_from(
        &self,
        slot: u16,
        c: &Cmd,
        how: Send,
        mut to: Option<(Arc<str>, bool)>,
    ) -> Result<Value, Error> {
        for _ in 0..MAX_REDIRECTS {
            let (addr, ask) = match &to {
                Some((a, ask)) => (a.clone(), *ask),
                None => (self.owner_or_refresh(slot).await?, false),
            };
            let node = self.node(&addr)?;
            if to.is_none() && node.down.load(Relaxed) {
                return Err(Error::Unavailable(format!("cluster node {addr} is down")));
            }
            let res = match how {
                Send::Normal if ask => {
                    let mut pipe = redis::pipe();
                    pipe.cmd("ASKING").add_command(c.clone());
                    let limit = node.conn.command_timeout();
                    node.conn
                        .pipeline(&pipe, 2, limit)
                        .await
                        .map(|mut v| v.pop().unwrap_or(Value::Nil))
                }
                Send::Normal => node.conn.call(c).await,
                Send::Blocking(limit) => node.conn.blocking_call(c, limit, ask).await,
            };
            let v = match res {
                Ok(v) => v,
                Err(e) => {
                    if e.is_unavailable() {
                        node.down.store(true, Relaxed);
                        self.refresh_soon();
                    }
                    return Err(e);
                }
            };
            node.down.store(false, Relaxed);
            match redirect(&v) {
                Some((moved_slot, to_addr, ask)) => {
                    if !ask {
                        self.set_owner(moved_slot, &to_addr);
                        self.refresh_soon();
                    }
                    to = Some((Arc::from(to_addr), ask));
                }
                None => return Ok(v),
            }
        }
        Err(Error::Unavailable(format!(
            "slot {slot}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// Sends commands, each for its key, in one pipeline per node (all at once): one result
    /// per command, in order. Redirect replies come back as values (see [`Cluster::follow`]);
    /// the commands for a node that cannot be reached, or is down, are `Err(Unavailable)`.
    pub async fn send(&self, cmds: &[(&str, Cmd)], limit: Duration) -> Vec<Result<Value, Error>> {
        let mut out: Vec<Option<Result<Value, Error>>> = (0..cmds.len()).map(|_| None).collect();
        let mut by_node: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        for (i, (key, _)) in cmds.iter().enumerate() {
            match self.owner_or_refresh(slot_of(key)).await {
                Ok(addr) => by_node.entry(addr).or_default().push(i),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        let mut sends = JoinSet::new();
        for (addr, idx) in by_node {
            let node = match self.node(&addr) {
                Ok(n) => n,
                Err(e) => {
                    for i in idx {
                        out[i] = Some(Err(Error::Unavailable(e.to_string())));
                    }
                    continue;
                }
            };
            if node.down.load(Relaxed) {
                for i in idx {
                    out[i] = Some(Err(Error::Unavailable(format!(
                        "cluster node {addr} is down"
                    ))));
                }
                continue;
            }
            let mut pipe = redis::pipe();
            for i in &idx {
                pipe.add_command(cmds[*i].1.clone());
            }
            sends.spawn(async move {
                let res = node.conn.pipeline(&pipe, idx.len(), limit).await;
                match &res {
                    Err(e) if e.is_unavailable() => node.down.store(true, Relaxed),
                    _ => node.down.store(false, Relaxed),
                }
                (idx, res)
            });
        }
        let mut failed = false;
        while let Some(done) = sends.join_next().await {
            let Ok((idx, res)) = done else { continue };
            match res {
                Ok(values) => {
                    for (i, v) in idx.into_iter().zip(values) {
                        out[i] = Some(Ok(v));
                    }
                }
                Err(e) => {
                    failed = true;
                    let why = e.to_string();
                    for i in idx {
                        out[i] = Some(Err(Error::Unavailable(why.clone())));
                    }
                }
            }
        }
        if failed {
            self.refresh_soon();
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Unavailable("not sent".into()))))
            .collect()
    }

    /// Of `slots`, those whose primary answers with the module loaded (`COMMAND INFO
    /// ALERT.ADD`), asking every primary concerned, and every node marked down, at once. A
    /// node that answers is no longer down; when one that serves a slot does not, the
    /// topology is read again (a replica may have taken its slots) and the new ones asked.
    pub async fn check(&self, slots: &[u16]) -> HashSet<u16> {
        let mut answered: HashMap<Arc<str>, bool> = HashMap::new();
        for round in 0..2 {
            let mut owners: HashMap<u16, Arc<str>> = HashMap::new();
            for s in slots {
                // With no node answering (a map never loaded), the first slot of no known owner
                // reads the topology and the others fail at once (`UNREACHABLE_PAUSE`).
                let owner = match round {
                    0 => self.owner_or_refresh(*s).await.ok(),
                    _ => self.owner(*s),
                };
                if let Some(a) = owner {
                    owners.insert(*s, a);
                }
            }
            let mut ask: HashSet<Arc<str>> = owners.values().cloned().collect();
            if round == 0 {
                let nodes = self.shared.nodes.lock().unwrap_or_else(|e| e.into_inner());
                ask.extend(
                    nodes
                        .iter()
                        .filter(|(_, n)| n.down.load(Relaxed))
                        .map(|(a, _)| Arc::from(a.as_str())),
                );
            }
            ask.retain(|a| !answered.contains_key(a));
            let mut pings = JoinSet::new();
            for addr in ask {
                let Ok(node) = self.node(&addr) else { continue };
                pings.spawn(async move {
                    let ok = node.conn.module_loaded().await;
                    match &ok {
                        Err(e) if e.is_unavailable() => node.down.store(true, Relaxed),
                        _ => node.down.store(false, Relaxed),
                    }
                    (addr, ok.is_ok())
                });
            }
            while let Some(done) = pings.join_next().await {
                if let Ok((addr, ok)) = done {
                    answered.insert(addr, ok);
                }
            }
            let ok: HashSet<u16> = owners
                .iter()
                .filter(|(_, a)| answered.get(*a).copied().unwrap_or(false))
                .map(|(s, _)| *s)
                .collect();
            if round == 1 || ok.len() == slots.len() {
                return ok;
            }
            self.refresh(self.shared.generation.load(Relaxed)).await;
        }
        HashSet::new()
    }
}

/// A `CLUSTER SLOTS` reply as the primary of each slot; `host` stands for a node that gives
/// no host of its own.
fn parse_slots(v: Value, host: &str) -> Option<Vec<Option<Arc<str>>>> {
    let Value::Array(ranges) = v else {
        return None;
    };
    let mut map: Vec<Option<Arc<str>>> = vec![None; SLOTS];
    let mut any = false;
    for range in ranges {
        let Value::Array(items) = range else { continue };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(primary))) =
            (items.first(), items.get(1), items.get(2))
        else {
            continue;
        };
        let node_host = match primary.first() {
            Some(Value::BulkString(b)) if !b.is_empty() => String::from_utf8_lossy(b).into_owned(),
            Some(Value::BulkString(_)) | Some(Value::Nil) => host.to_owned(),
            _ => continue,
        };
        if node_host == "?" {
            continue;
        }
        let Some(Value::Int(port)) = primary.get(1) else {
            continue;
        };
        let addr: Arc<str> = Arc::from(format!("{node_host}:{port}"));
        let (start, end) = (*start.max(&0) as usize, (*end as usize).min(SLOTS - 1));
        for slot in map.iter_mut().take(end + 1).skip(start) {
            *slot = Some(addr.clone());
        }
        any = true;
    }
    any.then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn slots_and_redirects_parse() {
        let v = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(7000), bulk("id")]),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(7003), bulk("id2")]),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                Value::Array(vec![bulk(""), Value::Int(7001)]),
            ]),
        ]);
        let map = parse_slots(v, "10.0.0.9").unwrap();
        assert_eq!(map[0].as_deref(), Some("127.0.0.1:7000"));
        assert_eq!(map[5460].as_deref(), Some("127.0.0.1:7000"));
        assert_eq!(map[5461].as_deref(), Some("10.0.0.9:7001"));
        assert_eq!(map[16383].as_deref(), Some("10.0.0.9:7001"));
        let moved = redis::parse_redis_value(b"-MOVED 3999 127.0.0.1:6381\r\n").unwrap();
        assert_eq!(
            redirect(&moved),
            Some((3999, "127.0.0.1:6381".into(), false))
        );
        assert_eq!(redirect(&Value::Okay), None);
        assert_eq!(slot_of("tenant:{t1}:alerts"), slot_of("{t1}"));
        assert_eq!(slot_of("foo"), 12182);
    }
}
