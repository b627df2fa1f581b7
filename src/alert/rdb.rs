//! How an alert stream persists: the `vigil-alr` type (its encoding lives in the core,
//! `vigil_core::alert::codec`), and the commands that rebuild a stream, shared by replication
//! (CREATE with every setting explicit) and AOF rewrite.

use crate::argv::Argv;
use crate::ffi::rdb::RdbIo;
use crate::ffi::types::{methods, Emit, Persisted};
use crate::stats::{self, ALERTS_HELD, ALERT_KEYS};
use redis_module::native_types::RedisType;
use std::collections::HashMap;
use vigil_core::alert::codec::{self, ENC_LATEST};
use vigil_core::alert::{AlertId, Filter, Settings, Silence, Status, Stream};
use vigil_core::codec::DecodeError;

pub static ALERT_TYPE: RedisType = RedisType::new("vigil-alr", ENC_LATEST, methods::<Stream>());

impl Persisted for Stream {
    const NAME: &'static str = "vigil-alr alert stream";

    fn redis_type() -> &'static RedisType {
        &ALERT_TYPE
    }

    fn save(&self, io: &mut RdbIo) {
        codec::encode(self, io)
    }

    fn load(io: &mut RdbIo, encver: i32) -> Result<Self, DecodeError> {
        codec::decode(io, encver)
    }

    fn digest(&self, out: &mut RdbIo) {
        codec::encode_state(self, out)
    }

    fn rewrite(&self, emit: &mut Emit) {
        let mut create = create_argv(&self.settings);
        create
            .opt("REVISION", self.revision())
            .opt("SILENCEID", self.next_silence_id());
        if let Some(id) = self.last_id() {
            create.opt("LASTID", id);
        }
        create.emit(emit);
        let mut aliases: HashMap<AlertId, Vec<AlertId>> = HashMap::new();
        for (alias, holder) in self.aliases() {
            aliases.entry(*holder).or_default().push(*alias);
        }
        let mut doc = Vec::with_capacity(1024);
        for (id, a) in self.iter() {
            let folded = aliases.get(id).map_or(&[][..], Vec::as_slice);
            self.document_into(&mut doc, a);
            import_argv(
                id,
                &doc,
                a.status,
                self.count_of(id, a),
                a.last_seen,
                folded,
                Some(a.rev),
            )
            .emit(emit);
        }
        for s in self.silences() {
            silence_argv(s).emit(emit);
        }
    }

    fn memory_usage(&self) -> usize {
        Stream::memory_usage(self)
    }

    fn free_effort(&self) -> usize {
        self.len().max(1)
    }

    fn track(&self, sign: i64) {
        stats::adjust(&ALERT_KEYS, sign);
        stats::adjust(&ALERTS_HELD, sign * self.len() as i64);
    }
}

/// The settings as options, every one explicit (a replica's or a reloading server's configs
/// may differ).
pub fn settings_args(argv: &mut Argv, s: &Settings) {
    argv.opt("RETENTION", s.retention_ms)
        .opt("MAXLEN", s.maxlen)
        .opt("DEDUP", s.dedup_ms)
        .opt("RATELIMIT", s.ratelimit_n)
        .num(s.ratelimit_window_ms)
        .opt("AUTORESOLVE", s.autoresolve_ms)
        .opt("IDMEMORY", s.id_memory_ms);
}

/// `ALERT.CREATE key <settings>`.
pub fn create_argv(s: &Settings) -> Argv {
    let mut argv = Argv::new(c"ALERT.CREATE");
    settings_args(&mut argv, s);
    argv
}

/// `ALERT.IMPORT key id doc STATUS st COUNT n LASTSEEN ms [ALIAS id ...] [REV r]`: one alert
/// exactly.
pub fn import_argv(
    id: &AlertId,
    doc: impl AsRef<[u8]>,
    status: Status,
    count: u64,
    last_seen: u64,
    folded: &[AlertId],
    rev: Option<u64>,
) -> Argv {
    let mut argv = Argv::new(c"ALERT.IMPORT");
    argv.num(id)
        .arg(doc.as_ref())
        .arg("STATUS")
        .arg(status.as_str())
        .opt("COUNT", count)
        .opt("LASTSEEN", last_seen);
    for alias in folded {
        argv.opt("ALIAS", alias);
    }
    if let Some(rev) = rev {
        argv.opt("REV", rev);
    }
    argv
}

/// The matchers as options: `[MINSEVERITY sev] [SOURCE src] [TYPE t] [LABEL n=v ...]`.
pub fn matcher_args(argv: &mut Argv, m: &Filter) {
    if let Some(sev) = m.min_severity {
        argv.arg("MINSEVERITY").arg(sev.as_str());
    }
    if let Some(src) = &m.source {
        argv.arg("SOURCE").arg(src);
    }
    if let Some(t) = &m.kind {
        argv.arg("TYPE").arg(t);
    }
    for (n, v) in &m.labels {
        argv.arg("LABEL").arg(format!("{n}={v}"));
    }
}

/// `ALERT.SILENCE key UNTIL ms <matchers> [COMMENT text] ID id`: one silence exactly.
pub fn silence_argv(s: &Silence) -> Argv {
    let mut argv = Argv::new(c"ALERT.SILENCE");
    argv.opt("UNTIL", s.until);
    matcher_args(&mut argv, &s.matchers);
    if let Some(c) = &s.comment {
        argv.arg("COMMENT").arg(c);
    }
    argv.opt("ID", s.id);
    argv
}
