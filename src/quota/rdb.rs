//! How a quota persists: the `vigil-quo` type (its encoding lives in the core,
//! `vigil_core::quota::codec`), and the commands that rebuild a quota, shared by replication
//! and AOF rewrite.

use crate::argv::Argv;
use crate::ffi::rdb::RdbIo;
use crate::ffi::types::{methods, Emit, Persisted};
use crate::stats::{self, QUOTA_KEYS};
use redis_module::native_types::RedisType;
use vigil_core::amount::Amount;
use vigil_core::codec::DecodeError;
use vigil_core::quota::codec::{self, ENC_LATEST};
use vigil_core::quota::thresholds::State;
use vigil_core::quota::Quota;

pub static QUOTA_TYPE: RedisType = RedisType::new("vigil-quo", ENC_LATEST, methods::<Quota>());

/// A limit as an argument: the amount, or -1 for none.
pub fn limit_arg(limit: Option<Amount>) -> String {
    limit.map_or("-1".to_string(), |l| l.to_string())
}

/// `QUOTA.SET key LIMIT l [WINDOW ms] [ALERTS stream AT pct ... [RAISED pct id|- ...]]
/// [NOW t]`: the quota's whole configuration, with what each threshold raised (a reached
/// threshold whose alert was not stored is `-`). Usage is not in it.
pub fn set_argv(q: &Quota, now: Option<u64>) -> Argv {
    let mut argv = Argv::new(c"QUOTA.SET");
    argv.arg("LIMIT").arg(limit_arg(q.limit));
    if let Some(w) = q.window_ms() {
        argv.opt("WINDOW", w);
    }
    if let Some(t) = &q.thresholds {
        argv.arg("ALERTS").arg(t.stream()).arg("AT");
        for th in t.iter() {
            argv.num(th.pct);
        }
        for th in t.iter() {
            if let State::Reached(alert) = th.state {
                argv.arg("RAISED").num(th.pct);
                match alert {
                    Some(id) => argv.num(id),
                    None => argv.arg("-"),
                };
            }
        }
    }
    if let Some(now) = now {
        argv.opt("NOW", now);
    }
    argv
}

/// `QUOTA.INCR key amount [LIMIT l] FORCE [NOW t]`: an applied amount as the effect it was.
pub fn forced_incr_argv(amount: Amount, limit: Option<Option<Amount>>, now: Option<u64>) -> Argv {
    let mut argv = Argv::new(c"QUOTA.INCR");
    argv.num(amount);
    if let Some(l) = limit {
        argv.arg("LIMIT").arg(limit_arg(l));
    }
    argv.arg("FORCE");
    if let Some(now) = now {
        argv.opt("NOW", now);
    }
    argv
}

impl Persisted for Quota {
    const NAME: &'static str = "vigil-quo quota";

    fn redis_type() -> &'static RedisType {
        &QUOTA_TYPE
    }

    fn save(&self, io: &mut RdbIo) {
        codec::encode(self, io)
    }

    fn load(io: &mut RdbIo, encver: i32) -> Result<Self, DecodeError> {
        codec::decode(io, encver)
    }

    /// `QUOTA.SET` with the configuration and thresholds, then one forced `QUOTA.INCR` per bucket at its time
    /// (or one for the cumulative usage).
    fn rewrite(&self, emit: &mut Emit) {
        set_argv(self, None).emit(emit);
        let (usage, buckets) = self.parts();
        if let Some(usage) = usage.filter(|u| u.is_positive()) {
            forced_incr_argv(usage, None, None).emit(emit);
        }
        for (start, a) in buckets {
            forced_incr_argv(a, None, Some(start)).emit(emit);
        }
    }

    fn memory_usage(&self) -> usize {
        Quota::memory_usage(self)
    }

    /// A copy keeps where each threshold stands, not the alerts the original raised: the copy's
    /// writes falling below a threshold must not resolve the original's alert (which its own
    /// usage still calls for). Replicas and the AOF replay the COPY and make the same copy.
    fn copied(&self) -> Self {
        let mut copy = self.clone();
        if let Some(t) = copy.thresholds.as_mut() {
            t.forget_alerts();
        }
        copy
    }

    fn track(&self, sign: i64) {
        stats::adjust(&QUOTA_KEYS, sign);
    }
}
