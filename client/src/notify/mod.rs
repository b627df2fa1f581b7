//! `vigil-notify`: the bridge from Vigil's change feed to Alertmanager (the binary is
//! `src/bin/vigil-notify.rs`; this module is its logic, which tests can call).
//!
//! For each stream key, a task reads `ALERT.READ key AFTER <cursor> COUNT n BLOCK ms
//! [filters]` in a loop and posts each batch of changes to Alertmanager's `POST
//! /api/v2/alerts` (see [`alertmanager::alert_json`] for what an alert becomes). **At least
//! once:** the key's cursor file is replaced only after Alertmanager answered 200 for the
//! batch; a failed POST is retried with backoff (0.25 s doubling to 30 s) without reading
//! further, and a restarted bridge reads on from its cursor file. A change may be posted twice
//! (a crash between the POST and the cursor write), which Alertmanager takes as an update of
//! the same alert.
//!
//! Firing alerts are posted with `endsAt` = now + 4 × `repost`, and **re-posted every
//! `repost`** so that they stay firing: each round reads the alerts firing now (the feed from
//! `0` with `STATUS active`, and `acked` unless acked alerts end; the same filters and
//! silences as the feed) and posts them in their current state; an alert posted as firing
//! that is no longer among them (removed by ALERT.DEL, TRIM, retention or MAXLEN, or now
//! silenced) is posted as ended. The alerts posted as firing are kept in the key's firing file
//! (rewritten each round, appended to between rounds), and the first round runs at start, so
//! a restarted bridge takes over the alerts an earlier run posted: it ends those that stopped
//! firing while it was down. While Redis cannot be read, the round re-posts the alerts it
//! knew. A bridge that stops leaves its alerts to end within 4 × `repost`.
//!
//! The HTTP client is [`http`] (plain HTTP/1.1: TLS needs a proxy). With `--metrics`, the
//! bridge's own figures (per key: Redis answering, the last complete re-post round, posts,
//! refusals, failures) are served for Prometheus by [`metrics`].

pub mod alertmanager;
pub mod args;
pub mod http;
pub mod log;
pub mod metrics;
pub mod state;

use crate::client::Client;
use crate::config::Config;
use crate::feed::{Change, Cursor, Filters, ReadOptions};
use crate::types::{Alert, AlertId, Status, Store};
use alertmanager::{Acked, Alertmanager, PostError, Span};
use metrics::{KeyStats, Stats};
use serde_json::Value;
use state::StateDir;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// After a POST of the feed's changes, the feed is read again no sooner than this: the
/// changes made meanwhile are read together, each alert once in its latest state (an alert
/// deduplicated a thousand times a second is one POST a second, not a thousand).
const FEED_POST_GAP: Duration = Duration::from_secs(1);
/// Alerts per read when reading the firing alerts from `0`.
const SCAN_COUNT: u64 = 1000;
/// A firing alert is posted to end after this many re-post intervals (as Prometheus posts its
/// alerts valid for 4 evaluation intervals): a late round or a failed POST does not end it.
const VALIDITY_ROUNDS: u32 = 4;
/// How long one POST may take, connect to last byte.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the bridge does; see [`args::USAGE`] for each setting.
#[derive(Debug, Clone)]
pub struct Options {
    /// Redis URLs (the seeds of a cluster when `cluster`).
    pub redis: Vec<String>,
    pub cluster: bool,
    pub keys: Vec<String>,
    /// Alertmanager's base URL, `http://host:port[/prefix]`.
    pub alertmanager: String,
    pub state_dir: PathBuf,
    /// How long one ALERT.READ waits for a change.
    pub block: Duration,
    /// Alerts per read, posted in one request.
    pub count: u64,
    /// How often firing alerts are posted again.
    pub repost: Duration,
    pub filters: Filters,
    pub with_silenced: bool,
    pub acked: Acked,
    /// Where a key without a cursor file starts.
    pub from: Cursor,
    pub generator_url: String,
    /// Post what the feeds hold now and the firing alerts, then return.
    pub once: bool,
    pub log: tracing::Level,
    /// Where the bridge's own metrics are served (`GET /metrics`); not with `once`.
    pub metrics: Option<SocketAddr>,
}

/// Why the bridge stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyError(pub String);

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotifyError {}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs the bridge: with `once`, until every key's feed is posted up to now (an error if any
/// key failed); otherwise for ever (it returns only if a key's task dies).
pub async fn run(options: Options) -> Result<(), NotifyError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| NotifyError(format!("{what}: {e}"));
    let state = StateDir::open(&options.state_dir).map_err(|e| fail("state directory", &e))?;
    let alertmanager = Alertmanager::new(&options.alertmanager, HTTP_TIMEOUT)
        .map_err(|e| fail("--alertmanager", &e))?;
    let config = if options.cluster {
        Config::cluster(options.redis.clone())
    } else {
        Config::new(options.redis[0].clone())
    };
    let stats = Arc::new(Stats::new(&options.keys, options.repost, now_ms()));
    let listener = match options.metrics.filter(|_| !options.once) {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| fail(&format!("--metrics {addr}"), &e))?,
        ),
        None => None,
    };
    // No journal: the bridge only reads.
    let client = Client::open(config).await.map_err(|e| fail("redis", &e))?;
    tracing::info!(
        keys = ?options.keys,
        alertmanager = %alertmanager.alerts_url(),
        state_dir = %state.dir().display(),
        repost_secs = options.repost.as_secs(),
        metrics = ?listener.as_ref().and_then(|l| l.local_addr().ok()),
        "vigil-notify: starting"
    );
    if let Some(listener) = listener {
        tokio::spawn(metrics::serve(listener, stats.clone()));
    }
    let shared = Arc::new(Shared {
        client,
        alertmanager,
        state,
        options,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for key in shared.options.keys.clone() {
        let Some(key_stats) = stats.key(&key) else {
            continue;
        };
        let mut bridge = Bridge::new(shared.clone(), key, key_stats);
        tasks.spawn(async move {
            let key = bridge.key.clone();
            bridge.start();
            let result = if bridge.shared.options.once {
                bridge.once().await
            } else {
                bridge.follow().await
            };
            result.map_err(|e| format!("{key}: {e}"))
        });
    }
    let mut failed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed.push(e),
            Err(e) => failed.push(format!("a key's task died: {e}")),
        }
        if !shared.options.once {
            // A key that stops being followed is a bridge that no longer does its job.
            break;
        }
    }
    if failed.is_empty() && shared.options.once {
        Ok(())
    } else if failed.is_empty() {
        Err(NotifyError("a key's task ended".into()))
    } else {
        Err(NotifyError(failed.join("; ")))
    }
}

struct Shared {
    client: Client,
    alertmanager: Alertmanager,
    state: StateDir,
    options: Options,
}

/// Exponential backoff between retries.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(BACKOFF_FIRST)
    }

    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        wait
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_FIRST;
    }
}

/// Refused alerts remembered per key, so that a re-post round does not log them again (past
/// it, the set starts over: at worst a line per refused alert again).
const REFUSED_REMEMBERED: usize = 10_000;

/// One stream key followed.
struct Bridge {
    shared: Arc<Shared>,
    key: String,
    /// Where the next read starts.
    cursor: Cursor,
    /// What the cursor file holds.
    stored: Option<Cursor>,
    /// The alerts posted as firing, in the state they were last seen.
    firing: BTreeMap<AlertId, Alert>,
    /// The last read was answered by the client's fallback store (logged once).
    redis_down: bool,
    /// Alerts Alertmanager refused, in the state refused (ID, status, count): each re-post
    /// round posts a firing one again, and only its first refusal is an `error` line.
    refused: std::sync::Mutex<HashSet<String>>,
    /// What `--metrics` shows of this key.
    stats: Arc<KeyStats>,
    /// When the feed's changes were last posted, if the read had fewer than `--count` (the
    /// next read waits for `FEED_POST_GAP`).
    posted_at: Option<Instant>,
}

impl Bridge {
    fn new(shared: Arc<Shared>, key: String, stats: Arc<KeyStats>) -> Bridge {
        Bridge {
            cursor: shared.options.from.clone(),
            shared,
            key,
            stored: None,
            firing: BTreeMap::new(),
            redis_down: false,
            refused: std::sync::Mutex::new(HashSet::new()),
            stats,
            posted_at: None,
        }
    }

    /// Loads the key's cursor file.
    fn start(&mut self) {
        let path = self.shared.state.path_of(&self.key);
        match self.shared.state.load(&self.key) {
            Ok(Some(cursor)) => {
                tracing::info!(key = %self.key, cursor = %cursor, file = %path.display(), "vigil-notify: resuming from the stored cursor");
                self.stored = Some(cursor.clone());
                self.cursor = cursor;
            }
            Ok(None) => {
                tracing::info!(key = %self.key, cursor = %self.cursor, file = %path.display(), "vigil-notify: no cursor file, starting");
            }
            Err(e) => {
                // Reading from 0 posts every alert held again, which Alertmanager takes as
                // updates: nothing is lost.
                tracing::warn!(key = %self.key, error = %e, "vigil-notify: cursor file unreadable, starting from 0");
                self.cursor = Cursor::start();
            }
        }
        // What an earlier run posted as firing: the first round ends those no longer firing
        // (deleted, trimmed or silenced meanwhile, or left out by filters changed since).
        match self.shared.state.load_firing(&self.key) {
            Ok((firing, skipped)) => {
                if !firing.is_empty() || skipped > 0 {
                    tracing::info!(key = %self.key, alerts = firing.len(), skipped_lines = skipped, "vigil-notify: taking over the alerts an earlier run posted as firing");
                }
                self.firing = firing;
                self.stats.firing(self.firing.len());
            }
            Err(e) => {
                // Without it those alerts end at their `endsAt`, as they did before the file.
                tracing::warn!(key = %self.key, error = %e, "vigil-notify: firing file unreadable, ignored");
            }
        }
    }

    fn read_options(&self, block: Option<Duration>) -> ReadOptions {
        let o = &self.shared.options;
        ReadOptions {
            count: Some(o.count),
            block,
            filters: o.filters.clone(),
            with_silenced: o.with_silenced,
        }
    }

    /// How an alert from the feed is posted now.
    fn span_of(&self, alert: &Alert, now: u64) -> Span {
        if self.shared.options.acked.is_firing(alert.status) {
            Span::Firing {
                now_ms: now,
                until_ms: now.saturating_add(self.validity_ms()),
            }
        } else {
            // Resolved (or acked, with --acked resolved): the end is when it was last seen,
            // never later than now.
            Span::Ended {
                at_ms: alert.last_seen.min(now),
            }
        }
    }

    /// Saturating: `Options` may come from a program rather than from `args` (which bounds
    /// `--repost-secs`), and no setting may make the bridge panic.
    fn validity_ms(&self) -> u64 {
        let validity = self.shared.options.repost.saturating_mul(VALIDITY_ROUNDS);
        u64::try_from(validity.as_millis()).unwrap_or(u64::MAX)
    }

    fn render(&self, alert: &Alert, span: Span) -> Value {
        alertmanager::alert_json(&self.key, alert, span, &self.shared.options.generator_url)
    }

    /// Posts `alerts` (made again at each try, so that their times are fresh), `--count` to a
    /// request at most. A chunk that
    /// Alertmanager refuses is sent again one alert at a time; an alert refused on its own is
    /// logged and left out (sending it again would be refused again and hold up the feed).
    async fn post(&self, alerts: &[Value]) -> Result<(), PostError> {
        let am = &self.shared.alertmanager;
        // `--count` alerts a request, a re-post round's too: it bounds the request's size.
        let chunk = usize::try_from(self.shared.options.count)
            .unwrap_or(usize::MAX)
            .max(1);
        for chunk in alerts.chunks(chunk) {
            match am.post(chunk).await {
                Ok(()) => self.stats.posted(chunk.len()),
                Err(PostError::Refused { .. }) if chunk.len() > 1 => {
                    for one in chunk {
                        self.post_alone(one).await?;
                    }
                }
                Err(PostError::Refused { status, body }) => {
                    self.refused(&chunk[0], status, &body);
                }
                Err(e) => {
                    self.stats.post_failed();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn post_alone(&self, alert: &Value) -> Result<(), PostError> {
        match self
            .shared
            .alertmanager
            .post(std::slice::from_ref(alert))
            .await
        {
            Ok(()) => {
                self.stats.posted(1);
                Ok(())
            }
            Err(PostError::Refused { status, body }) => {
                self.refused(alert, status, &body);
                Ok(())
            }
            Err(e) => {
                self.stats.post_failed();
                Err(e)
            }
        }
    }

    fn refused(&self, alert: &Value, status: u16, body: &str) {
        self.stats.refused();
        let id = &alert["labels"]["vigil_id"];
        let state = format!(
            "{id} {} {}",
            alert["annotations"]["vigil_status"], alert["annotations"]["vigil_count"]
        );
        let first = match self.refused.lock() {
            Ok(mut seen) => {
                if seen.len() >= REFUSED_REMEMBERED {
                    seen.clear();
                }
                seen.insert(state)
            }
            Err(_) => true,
        };
        if first {
            tracing::error!(key = %self.key, id = %id, status, reply = body.trim(), alert = %alert, "vigil-notify: Alertmanager refused an alert; it is skipped");
        } else {
            tracing::debug!(key = %self.key, id = %id, status, "vigil-notify: Alertmanager refused an alert again; it is skipped");
        }
    }

    /// Posts a batch of changes until Alertmanager takes it (or, with `retry` false, once),
    /// then notes which alerts are firing.
    async fn deliver(&mut self, changes: &[Change], retry: bool) -> Result<(), PostError> {
        // The alerts this POST may start firing go in the firing file before it is sent: a
        // crash between Alertmanager's 200 and the writes below would otherwise leave one
        // firing there that a restart knows nothing of (the feed does not report a deletion).
        // One that is not posted after all is at worst posted as ended by a later run, which
        // Alertmanager ignores for an alert it does not know.
        let starting: Vec<&Alert> = changes
            .iter()
            .map(|c| &c.alert)
            .filter(|a| {
                self.shared.options.acked.is_firing(a.status) && !self.firing.contains_key(&a.id)
            })
            .collect();
        if let Err(e) = self.shared.state.append_firing(&self.key, &starting, &[]) {
            tracing::error!(key = %self.key, error = %e, "vigil-notify: cannot write the firing file");
        }
        let mut backoff = Backoff::new();
        loop {
            let now = now_ms();
            let alerts: Vec<Value> = changes
                .iter()
                .map(|c| self.render(&c.alert, self.span_of(&c.alert, now)))
                .collect();
            match self.post(&alerts).await {
                Ok(()) => break,
                Err(e) if retry => {
                    let wait = backoff.next();
                    tracing::warn!(key = %self.key, alerts = alerts.len(), error = %e, retry_in_ms = wait.as_millis() as u64, "vigil-notify: POST failed, the cursor stays where it is");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
        tracing::debug!(key = %self.key, alerts = changes.len(), "vigil-notify: posted");
        // The ends once Alertmanager has them (the firing file's starts went in above).
        let mut ended = Vec::new();
        for c in changes {
            if self.shared.options.acked.is_firing(c.alert.status) {
                self.firing.insert(c.alert.id, c.alert.clone());
            } else if self.firing.remove(&c.alert.id).is_some() {
                ended.push(c.alert.id);
            }
        }
        if let Err(e) = self.shared.state.append_firing(&self.key, &[], &ended) {
            tracing::error!(key = %self.key, error = %e, "vigil-notify: cannot write the firing file");
        }
        self.stats.delivered(changes.len());
        self.stats.firing(self.firing.len());
        Ok(())
    }

    /// Moves the cursor and stores it if it changed. A failed write is logged; the next one
    /// catches up (meanwhile a restart would post some changes again).
    fn advance(&mut self, next: Cursor) {
        self.cursor = next;
        if self.stored.as_ref() == Some(&self.cursor) {
            return;
        }
        match self.shared.state.store(&self.key, &self.cursor) {
            Ok(()) => self.stored = Some(self.cursor.clone()),
            Err(e) => {
                tracing::error!(key = %self.key, cursor = %self.cursor, error = %e, "vigil-notify: cannot write the cursor file")
            }
        }
    }

    fn redis_answers(&mut self) {
        if std::mem::take(&mut self.redis_down) {
            tracing::info!(key = %self.key, cursor = %self.cursor, "vigil-notify: redis answers again, reading on from the cursor");
        }
    }

    /// One read and its delivery. Ok(true) when the feed moved (changes, or a cursor further
    /// on), Ok(false) when there was nothing new.
    async fn step(&mut self, block: Option<Duration>, retry: bool) -> Result<bool, String> {
        let client = &self.shared.client;
        let reply = match client
            .read(&self.key, &self.cursor, &self.read_options(block))
            .await
        {
            Ok(reply) => reply,
            Err(e) if e.is_cursor_ahead() => {
                self.stats.read(true, now_ms());
                self.redis_answers();
                // The stream went back (an older copy restored, the key deleted): every alert
                // it holds, in its current state, from 0.
                tracing::warn!(key = %self.key, cursor = %self.cursor, "vigil-notify: cursor ahead of the stream, reading again from 0");
                self.advance(Cursor::start());
                return Ok(true);
            }
            Err(e) => {
                self.stats.read(false, now_ms());
                return Err(format!("ALERT.READ: {e}"));
            }
        };
        self.stats.read(reply.store == Store::Redis, now_ms());
        if reply.store != Store::Redis {
            // The client answers from its fallback store, which holds nothing the bridge
            // wrote (it writes nothing): no change, and no position worth storing. The read
            // waited for Redis to come back (up to `block`): read again at once.
            if !retry {
                return Err("ALERT.READ: redis unavailable".into());
            }
            if !self.redis_down {
                self.redis_down = true;
                tracing::warn!(key = %self.key, cursor = %self.cursor, "vigil-notify: redis unavailable, waiting for it (firing alerts are re-posted meanwhile)");
            }
            return Ok(false);
        }
        self.redis_answers();
        let moved = !reply.changes.is_empty() || reply.next != self.cursor;
        if !reply.changes.is_empty() {
            self.deliver(&reply.changes, retry)
                .await
                .map_err(|e| e.to_string())?;
            // A full batch: more wait, read on at once; else the next changes may gather.
            let full = reply.changes.len() as u64 >= self.shared.options.count;
            self.posted_at = (!full).then(Instant::now);
        }
        self.advance(reply.next);
        Ok(moved)
    }

    /// The alerts firing now, read from Redis: the feed from `0` with each firing status.
    async fn scan(&self) -> Result<BTreeMap<AlertId, Alert>, String> {
        let mut statuses = vec![Status::Active];
        if self.shared.options.acked == Acked::Firing {
            statuses.push(Status::Acked);
        }
        let mut found = BTreeMap::new();
        for status in statuses {
            let mut options = self.read_options(None);
            options.count = Some(SCAN_COUNT);
            options.filters = options.filters.status(status);
            let mut cursor = Cursor::start();
            loop {
                let reply = self.shared.client.read(&self.key, &cursor, &options).await;
                // The round's reads are reads too (`redis_up`, `last_read`): a quiet feed's
                // blocked read may not return for a while.
                let by_redis = matches!(&reply, Ok(r) if r.store == Store::Redis);
                self.stats.read(by_redis, now_ms());
                let reply = reply.map_err(|e| format!("ALERT.READ: {e}"))?;
                if reply.store != Store::Redis {
                    return Err("ALERT.READ: redis unavailable".into());
                }
                let done = reply.changes.is_empty() && reply.next == cursor;
                for c in reply.changes {
                    found.insert(c.alert.id, c.alert);
                }
                if done {
                    break;
                }
                cursor = reply.next;
            }
        }
        Ok(found)
    }

    /// A re-post round: the firing alerts in their current state, and the end of those that
    /// stopped firing without the feed saying so. While Redis cannot be read, the alerts last
    /// known to fire.
    async fn repost(&mut self) -> Result<(), String> {
        let scanned = self.scan().await;
        let now = now_ms();
        let until_ms = now.saturating_add(self.validity_ms());
        let (current, mut alerts) = match scanned {
            Ok(current) => {
                let ended: Vec<Value> = self
                    .firing
                    .values()
                    .filter(|a| !current.contains_key(&a.id))
                    .map(|a| self.render(a, Span::Ended { at_ms: now }))
                    .collect();
                (Some(current), ended)
            }
            Err(e) => {
                tracing::warn!(key = %self.key, error = %e, alerts = self.firing.len(), "vigil-notify: cannot read the firing alerts, re-posting those last known");
                (None, Vec::new())
            }
        };
        let firing = current.as_ref().unwrap_or(&self.firing);
        alerts.extend(firing.values().map(|a| {
            let span = Span::Firing {
                now_ms: now,
                until_ms,
            };
            self.render(a, span)
        }));
        // As a delivery does: the alerts this POST starts firing are in the file before it.
        let starting: Vec<&Alert> = firing
            .values()
            .filter(|a| !self.firing.contains_key(&a.id))
            .collect();
        if let Err(e) = self.shared.state.append_firing(&self.key, &starting, &[]) {
            tracing::error!(key = %self.key, error = %e, "vigil-notify: cannot write the firing file");
        }
        let posted = self.post(&alerts).await;
        if let Some(current) = current {
            match posted {
                Ok(()) => {
                    self.firing = current;
                    self.stats.round_done(now_ms());
                }
                // Keep the ones to end, for the next round to end.
                Err(_) => self.firing.extend(current),
            }
            // What a restart takes over: written once a round, appended to between rounds.
            if let Err(e) = self
                .shared
                .state
                .store_firing(&self.key, self.firing.values())
            {
                tracing::error!(key = %self.key, error = %e, "vigil-notify: cannot write the firing file");
            }
        }
        self.stats.firing(self.firing.len());
        tracing::debug!(key = %self.key, alerts = alerts.len(), "vigil-notify: re-post round");
        posted.map_err(|e| e.to_string())
    }

    /// Follows the key for ever: reads with BLOCK, delivers, and runs a re-post round every
    /// `repost` (the first at once).
    async fn follow(&mut self) -> Result<(), String> {
        let options = &self.shared.options;
        let (block, repost) = (options.block, options.repost);
        let mut next_round = Instant::now();
        let mut read_backoff = Backoff::new();
        loop {
            if Instant::now() >= next_round {
                if let Err(e) = self.repost().await {
                    tracing::warn!(key = %self.key, error = %e, "vigil-notify: re-post round failed, next one in {}s", repost.as_secs());
                }
                next_round = Instant::now() + repost;
            }
            // Changes posted just now: let those made meanwhile gather, so that they go in one
            // request (each alert once, in its latest state), before the next round is due.
            if let Some(at) = self.posted_at.take() {
                let gap = (at + FEED_POST_GAP).min(next_round);
                tokio::time::sleep_until(gap).await;
                continue;
            }
            // Block no longer than the next round is due.
            let wait = block
                .min(next_round.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1));
            match self.step(Some(wait), true).await {
                Ok(_) => read_backoff.reset(),
                Err(e) => {
                    let pause = read_backoff.next();
                    tracing::warn!(key = %self.key, error = %e, retry_in_ms = pause.as_millis() as u64, "vigil-notify: cannot read the feed");
                    tokio::time::sleep(
                        pause
                            .min(next_round.saturating_duration_since(Instant::now()))
                            .max(Duration::from_millis(1)),
                    )
                    .await;
                }
            }
        }
    }

    /// Posts the feed up to now, then the firing alerts; the first failure is the result.
    async fn once(&mut self) -> Result<(), String> {
        while self.step(None, false).await? {}
        self.repost().await?;
        tracing::info!(key = %self.key, cursor = %self.cursor, firing = self.firing.len(), "vigil-notify: done");
        Ok(())
    }
}
