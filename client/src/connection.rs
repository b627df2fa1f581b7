//! A connection to one Redis server: one multiplexed connection, made on first use and made
//! again after a failure that may have broken it; every call bounded by a timeout, so that a
//! server that accepts connections but does not answer counts as unavailable. Blocking reads
//! (`ALERT.READ ... BLOCK`) get connections of their own: a blocked command holds up every
//! command queued behind it on its connection.

use crate::commands as cmd;
use crate::error::{Error, CANNOT_CONNECT};
use redis::aio::MultiplexedConnection;
use redis::{Cmd, ConnectionInfo, Pipeline, Value};
use std::sync::Mutex as SyncMutex;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::timeout;

/// Idle connections kept for blocking reads, per server.
const IDLE_BLOCKING: usize = 4;

pub(crate) struct Connection {
    client: redis::Client,
    slot: Mutex<Option<MultiplexedConnection>>,
    /// Connections for blocking reads, returned here only by a read that ran to its end.
    idle: SyncMutex<Vec<MultiplexedConnection>>,
    connect_timeout: Duration,
    command_timeout: Duration,
}

impl Connection {
    pub fn new(
        info: ConnectionInfo,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Connection, Error> {
        let shown = info.addr.to_string();
        let client =
            redis::Client::open(info).map_err(|e| Error::Config(format!("'{shown}': {e}")))?;
        Ok(Connection {
            client,
            slot: Mutex::new(None),
            idle: SyncMutex::new(Vec::new()),
            connect_timeout,
            command_timeout,
        })
    }

    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    async fn connect(&self) -> Result<MultiplexedConnection, Error> {
        let connect = self.client.get_multiplexed_async_connection();
        match timeout(self.connect_timeout, connect).await {
            Err(_) => Err(Error::Unavailable(format!("{CANNOT_CONNECT}: timed out"))),
            // Nothing was sent: say so (`Error::not_applied`).
            Ok(Err(e)) => Err(match Error::from(e) {
                Error::Unavailable(why) => Error::Unavailable(format!("{CANNOT_CONNECT}: {why}")),
                other => other,
            }),
            Ok(Ok(c)) => Ok(c),
        }
    }

    async fn get(&self) -> Result<MultiplexedConnection, Error> {
        let mut slot = self.slot.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = self.connect().await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn forget(&self) {
        *self.slot.lock().await = None;
    }

    /// Forgets the connection after a failure that may have broken it (anything but an error
    /// reply, which proves the connection works).
    async fn failed(&self, e: redis::RedisError) -> Error {
        if e.code().is_none() {
            self.forget().await;
        }
        e.into()
    }

    /// One command, within the command timeout. Error replies come back as values.
    pub async fn call(&self, c: &Cmd) -> Result<Value, Error> {
        let mut conn = self.get().await?;
        match timeout(self.command_timeout, conn.send_packed_command(c)).await {
            Err(_) => {
                self.forget().await;
                Err(Error::Unavailable("command timed out".into()))
            }
            Ok(Err(e)) => Err(self.failed(e).await),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Redis answers and the module is loaded (`COMMAND INFO` answers nil for an unknown
    /// command): what the probe asks of a server before it replays to it.
    pub async fn module_loaded(&self) -> Result<(), Error> {
        let info = self
            .call(&cmd::command_info("ALERT.ADD"))
            .await
            .and_then(cmd::checked);
        match info {
            Ok(Value::Array(items)) if items.first().is_none_or(|v| *v == Value::Nil) => {
                Err(Error::Unavailable("the vigil module is not loaded".into()))
            }
            Err(e) if e.is_unavailable() => Err(e),
            // A user without the right to COMMAND: the replay itself will tell.
            _ => Ok(()),
        }
    }

    /// The `count` commands of a pipeline, within `limit`; one value per command, error
    /// replies included.
    pub async fn pipeline(
        &self,
        pipe: &Pipeline,
        count: usize,
        limit: Duration,
    ) -> Result<Vec<Value>, Error> {
        let mut conn = self.get().await?;
        match timeout(limit, conn.send_packed_commands(pipe, 0, count)).await {
            Err(_) => {
                self.forget().await;
                Err(Error::Unavailable("pipeline timed out".into()))
            }
            Ok(Err(e)) => Err(self.failed(e).await),
            Ok(Ok(values)) => Ok(values),
        }
    }

    /// A command that may block on the server (`ALERT.READ ... BLOCK ms`), on a connection of
    /// its own, within `limit` (the block time plus the command timeout); `asking` sends
    /// `ASKING` before it (a cluster's ASK redirect).
    pub async fn blocking_call(
        &self,
        c: &Cmd,
        limit: Duration,
        asking: bool,
    ) -> Result<Value, Error> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        // A caller that stops waiting drops `conn` with the read still pending on it: only a
        // read that ran to its end gives its connection back.
        let sent = if asking {
            let mut pipe = redis::pipe();
            pipe.cmd("ASKING").add_command(c.clone());
            let replies = timeout(limit, conn.send_packed_commands(&pipe, 0, 2)).await;
            replies.map(|r| r.map(|mut v| v.pop().unwrap_or(Value::Nil)))
        } else {
            timeout(limit, conn.send_packed_command(c)).await
        };
        match sent {
            Err(_) => Err(Error::Unavailable("blocking read timed out".into())),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(v)) => {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < IDLE_BLOCKING {
                    idle.push(conn);
                }
                Ok(v)
            }
        }
    }
}
