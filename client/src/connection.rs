//! The connection to Redis: one multiplexed connection, made on first use and made again after
//! a failure that may have broken it; every call bounded by a timeout, so that a server that
//! accepts connections but does not answer counts as unavailable.

use crate::error::Error;
use redis::aio::MultiplexedConnection;
use redis::{Cmd, Pipeline, Value};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::timeout;

pub(crate) struct Connection {
    client: redis::Client,
    slot: Mutex<Option<MultiplexedConnection>>,
    connect_timeout: Duration,
    command_timeout: Duration,
}

impl Connection {
    pub fn new(
        url: &str,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Connection, Error> {
        let client =
            redis::Client::open(url).map_err(|e| Error::Config(format!("url '{url}': {e}")))?;
        Ok(Connection {
            client,
            slot: Mutex::new(None),
            connect_timeout,
            command_timeout,
        })
    }

    async fn get(&self) -> Result<MultiplexedConnection, Error> {
        let mut slot = self.slot.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let connect = self.client.get_multiplexed_async_connection();
        let c = timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| Error::Unavailable("connect timed out".into()))??;
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
}
