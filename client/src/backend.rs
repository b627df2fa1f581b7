//! Where commands go: one server, or a Redis Cluster (by the slot of each command's key).
//!
//! The fallback state is kept per *lane*: a single server is one lane (0); in a cluster each
//! slot is a lane, so that the writes for a slot whose node cannot be reached fall back (and
//! replay in order) while the other slots go on writing to Redis.

use crate::cluster::{slot_of, Cluster, Send};
use crate::config::Config;
use crate::connection::Connection;
use crate::error::Error;
use redis::{Cmd, IntoConnectionInfo, Value};
use std::collections::HashSet;
use std::time::Duration;

pub(crate) enum Backend {
    Single(Box<Connection>),
    Cluster(Cluster),
}

impl Backend {
    pub fn open(config: &Config) -> Result<Backend, Error> {
        if config.cluster {
            let seeds: Vec<String> = std::iter::once(config.url.clone())
                .chain(config.seeds.iter().cloned())
                .collect();
            return Ok(Backend::Cluster(Cluster::new(
                &seeds,
                config.connect_timeout,
                config.command_timeout,
            )?));
        }
        let url = config.url.as_str();
        let info = url
            .into_connection_info()
            .map_err(|e| Error::Config(format!("url '{url}': {e}")))?;
        Ok(Backend::Single(Box::new(Connection::new(
            info,
            config.connect_timeout,
            config.command_timeout,
        )?)))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Backend::Cluster(_))
    }

    /// The lane of a key: its slot in a cluster, 0 on a single server.
    pub fn lane(&self, key: &str) -> u16 {
        match self {
            Backend::Single(_) => 0,
            Backend::Cluster(_) => slot_of(key),
        }
    }

    /// One command for `key`. Error replies come back as values.
    pub async fn call(&self, key: &str, c: &Cmd) -> Result<Value, Error> {
        match self {
            Backend::Single(conn) => conn.call(c).await,
            Backend::Cluster(cluster) => cluster.call(key, c, Send::Normal).await,
        }
    }

    /// A command that may block on the server, on a connection of its own, within `limit`.
    pub async fn blocking_call(&self, key: &str, c: &Cmd, limit: Duration) -> Result<Value, Error> {
        match self {
            Backend::Single(conn) => conn.blocking_call(c, limit, false).await,
            Backend::Cluster(cluster) => cluster.call(key, c, Send::Blocking(limit)).await,
        }
    }

    /// Commands for their keys, pipelined (one pipeline per node in a cluster): one result
    /// per command, in order.
    pub async fn send(&self, cmds: &[(&str, Cmd)], limit: Duration) -> Vec<Result<Value, Error>> {
        match self {
            Backend::Single(conn) => {
                let mut pipe = redis::pipe();
                for (_, c) in cmds {
                    pipe.add_command(c.clone());
                }
                match conn.pipeline(&pipe, cmds.len(), limit).await {
                    Ok(values) => values.into_iter().map(Ok).collect(),
                    Err(e) => {
                        let why = e.to_string();
                        cmds.iter()
                            .map(|_| Err(Error::Unavailable(why.clone())))
                            .collect()
                    }
                }
            }
            Backend::Cluster(cluster) => cluster.send(cmds, limit).await,
        }
    }

    /// A reply that is a redirect (MOVED / ASK, in a cluster), followed; other replies as
    /// they are.
    pub async fn follow(&self, key: &str, c: &Cmd, v: Value) -> Result<Value, Error> {
        match (self, &v) {
            (Backend::Cluster(cluster), Value::ServerError(e))
                if matches!(e.code(), "MOVED" | "ASK") =>
            {
                cluster.follow(key, c, &v).await
            }
            _ => Ok(v),
        }
    }

    /// Of `lanes`, those that Redis serves now with the module loaded.
    pub async fn check(&self, lanes: &[u16]) -> HashSet<u16> {
        match self {
            Backend::Single(conn) => match conn.module_loaded().await {
                Ok(()) => lanes.iter().copied().collect(),
                Err(_) => HashSet::new(),
            },
            Backend::Cluster(cluster) => cluster.check(lanes).await,
        }
    }

    /// A cluster node is marked down (the probe checks it until it answers).
    pub fn any_down(&self) -> bool {
        match self {
            Backend::Single(_) => false,
            Backend::Cluster(cluster) => cluster.any_down(),
        }
    }
}
