use super::*;
use crate::alert::doc::parse_document;

fn doc(s: &str) -> Document<'_> {
    parse_document(s.as_bytes(), 0).unwrap()
}

fn settings() -> Settings {
    Settings {
        retention_ms: 0,
        maxlen: 0,
        dedup_ms: 1000,
        ratelimit_n: 0,
        ratelimit_window_ms: 0,
        ..Settings::default()
    }
}

fn add(s: &mut Stream, d: &str, ts: u64) -> Outcome {
    s.add(doc(d), Some(ts), None, ts).unwrap().outcome
}

#[test]
fn ids_count_up_within_a_millisecond() {
    let mut s = Stream::new(Settings {
        dedup_ms: 0,
        ..settings()
    });
    assert_eq!(add(&mut s, "{}", 5), Outcome::Added(AlertId::new(5, 0)));
    assert_eq!(add(&mut s, "{}", 5), Outcome::Added(AlertId::new(5, 1)));
    assert_eq!(add(&mut s, "{}", 3), Outcome::Added(AlertId::new(3, 0)));
    let ids: Vec<_> = s.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(ids, ["3-0", "5-0", "5-1"]);
    // As a Redis stream after XDEL: the newest millisecond's IDs are not given out again,
    // deleted or trimmed; the stream's last ID stays.
    assert!(s.remove(&AlertId::new(5, 1)));
    assert_eq!(add(&mut s, "{}", 5), Outcome::Added(AlertId::new(5, 2)));
    assert_eq!(s.trim_maxlen(0), 3);
    assert_eq!(add(&mut s, "{}", 5), Outcome::Added(AlertId::new(5, 3)));
    assert_eq!(s.last_id(), Some(AlertId::new(5, 3)));
    // An explicit ID past it moves it on; one below it does not move it back.
    s.add(doc("{}"), None, Some(AlertId::new(5, 9)), 5).unwrap();
    s.add(doc("{}"), None, Some(AlertId::new(4, 7)), 5).unwrap();
    assert_eq!(add(&mut s, "{}", 5), Outcome::Added(AlertId::new(5, 10)));
    // A late alert, at an older millisecond, goes past what is held there.
    assert_eq!(add(&mut s, "{}", 4), Outcome::Added(AlertId::new(4, 8)));
}

#[test]
fn duplicates_fold_within_the_window_both_ways() {
    let mut s = Stream::new(settings());
    let d = r#"{"source":"a","labels":{"x":"1"}}"#;
    assert_eq!(
        add(&mut s, d, 10_000),
        Outcome::Added(AlertId::new(10_000, 0))
    );
    assert_eq!(
        add(&mut s, d, 11_000),
        Outcome::Duplicate(AlertId::new(10_000, 0), 2)
    );
    // A late one within the window of last_seen (11_000) folds too; last_seen keeps the later.
    assert_eq!(
        add(&mut s, d, 10_500),
        Outcome::Duplicate(AlertId::new(10_000, 0), 3)
    );
    assert_eq!(s.get(&AlertId::new(10_000, 0)).unwrap().last_seen, 11_000);
    // Outside the window: a new alert.
    assert_eq!(
        add(&mut s, d, 12_001),
        Outcome::Added(AlertId::new(12_001, 0))
    );
    // Empty fingerprint never folds.
    let never = r#"{"fingerprint":""}"#;
    assert!(matches!(add(&mut s, never, 20_000), Outcome::Added(_)));
    assert!(matches!(add(&mut s, never, 20_000), Outcome::Added(_)));
}

#[test]
fn resolved_alerts_are_not_dedup_targets_but_acked_are() {
    let mut s = Stream::new(settings());
    let d = r#"{"source":"a"}"#;
    let Outcome::Added(id) = add(&mut s, d, 100) else {
        panic!()
    };
    assert!(s.ack(&id));
    assert!(!s.ack(&id));
    assert_eq!(add(&mut s, d, 200), Outcome::Duplicate(id, 2));
    assert_eq!(s.get(&id).unwrap().status, Status::Acked);
    assert!(s.resolve(&id));
    assert!(!s.resolve(&id));
    assert!(!s.ack(&id), "ack does not reopen a resolved alert");
    assert!(matches!(add(&mut s, d, 300), Outcome::Added(_)));
}

#[test]
fn explicit_fingerprints_compare_text() {
    let mut s = Stream::new(settings());
    assert!(matches!(
        add(&mut s, r#"{"fingerprint":"disk-full"}"#, 1),
        Outcome::Added(_)
    ));
    assert!(matches!(
        add(&mut s, r#"{"fingerprint":"disk-full","source":"other"}"#, 2),
        Outcome::Duplicate(_, 2)
    ));
    assert!(matches!(
        add(&mut s, r#"{"fingerprint":"disk-ful"}"#, 3),
        Outcome::Added(_)
    ));
}

#[test]
fn explicit_id_is_idempotent_also_when_folded() {
    let mut s = Stream::new(settings());
    let d = r#"{"source":"a"}"#;
    let id1 = AlertId::new(100, 7);
    let r = s.add(doc(d), None, Some(id1), 100).unwrap();
    assert_eq!(r.outcome, Outcome::Added(id1));
    let id2 = AlertId::new(150, 9);
    let r = s.add(doc(d), None, Some(id2), 150).unwrap();
    assert_eq!(r.outcome, Outcome::Duplicate(id1, 2));
    // Replays of both answer exists, and change nothing.
    let r = s.add(doc(d), None, Some(id1), 150).unwrap();
    assert_eq!(r.outcome, Outcome::Exists(id1, 2));
    let r = s.add(doc(d), None, Some(id2), 150).unwrap();
    assert_eq!(r.outcome, Outcome::Exists(id1, 2));
    assert_eq!(s.get(&id1).unwrap().count, 2);
    assert_eq!(
        s.add(doc(d), Some(99), Some(id1), 150),
        Err(AlertError::TsMismatch)
    );
    // Once the holder is gone, the alias is forgotten.
    assert!(s.remove(&id1));
    let r = s.add(doc(d), None, Some(id2), 150).unwrap();
    assert_eq!(r.outcome, Outcome::Added(id2));
}

#[test]
fn expired_by_retention_and_behind_a_full_stream() {
    let mut s = Stream::new(Settings {
        retention_ms: 1000,
        maxlen: 2,
        dedup_ms: 0,
        ..settings()
    });
    assert_eq!(
        s.add(doc("{}"), Some(10), None, 5000).unwrap().outcome,
        Outcome::Expired
    );
    assert!(matches!(add(&mut s, "{}", 5000), Outcome::Added(_)));
    assert!(matches!(add(&mut s, "{}", 5001), Outcome::Added(_)));
    // Full: older than everything held is expired; newer pushes the oldest out.
    assert_eq!(
        s.add(doc("{}"), Some(4999), None, 5001).unwrap().outcome,
        Outcome::Expired
    );
    let r = s.add(doc("{}"), Some(5002), None, 5002).unwrap();
    assert_eq!(r.trimmed, 1);
    assert_eq!(s.first_ts(), Some(5001));
    // Retention trims on the next write.
    let r = s.add(doc("{}"), Some(6500), None, 6500).unwrap();
    assert_eq!(r.trimmed, 2);
    assert_eq!(s.len(), 1);
    assert_eq!(s.stats.expired, 2);
}

#[test]
fn rate_limit_by_source_with_retry_after() {
    let mut s = Stream::new(Settings {
        dedup_ms: 0,
        ratelimit_n: 2,
        ratelimit_window_ms: 1000,
        ..settings()
    });
    let a = r#"{"source":"a"}"#;
    assert!(matches!(add(&mut s, a, 1000), Outcome::Added(_)));
    assert!(matches!(add(&mut s, a, 1400), Outcome::Added(_)));
    // Window (600, 1600] holds both; the one at 1000 leaves at 2000 -> d = 2000 - 1600 = 400.
    assert_eq!(add(&mut s, a, 1600), Outcome::Limited(400));
    assert!(matches!(
        add(&mut s, r#"{"source":"b"}"#, 1600),
        Outcome::Added(_)
    ));
    assert!(matches!(add(&mut s, a, 2000), Outcome::Added(_)));
    // Exactly at retry_after the alert passes.
    let mut t = s.clone();
    assert!(matches!(add(&mut t, a, 2000), Outcome::Limited(_)));
    assert_eq!(add(&mut t, a, 2399), Outcome::Limited(1));
    assert!(matches!(add(&mut t, a, 2400), Outcome::Added(_)));
}

#[test]
fn retry_after_with_alerts_ahead_in_time() {
    let mut s = Stream::new(Settings {
        dedup_ms: 0,
        ratelimit_n: 1,
        ratelimit_window_ms: 100,
        ..settings()
    });
    let a = r#"{"source":"a"}"#;
    assert!(matches!(add(&mut s, a, 1000), Outcome::Added(_)));
    assert!(matches!(add(&mut s, a, 1150), Outcome::Added(_)));
    // At 1050 the window holds 1000; at 1100 (d=50) it is empty... until 1150 enters at d=100.
    assert_eq!(add(&mut s, a, 1050), Outcome::Limited(50));
    // Brute force agrees for every ts around.
    for ts in 950..1400 {
        if let Outcome::Limited(d) = s.clone().add(doc(a), Some(ts), None, ts).unwrap().outcome {
            for e in 1..d {
                let o = s
                    .clone()
                    .add(doc(a), Some(ts + e), None, ts + e)
                    .unwrap()
                    .outcome;
                assert!(matches!(o, Outcome::Limited(_)), "ts {ts} d {e}");
            }
            let o = s
                .clone()
                .add(doc(a), Some(ts + d), None, ts + d)
                .unwrap()
                .outcome;
            assert!(matches!(o, Outcome::Added(_)), "ts {ts} d {d}");
        }
    }
}

#[test]
fn range_filters_and_directions() {
    let mut s = Stream::new(Settings {
        dedup_ms: 0,
        ..settings()
    });
    let docs = [
        r#"{"severity":"low","source":"a","type":"cpu","labels":{"h":"1"}}"#,
        r#"{"severity":"high","source":"b","type":"disk","labels":{"h":"2"}}"#,
        r#"{"severity":"critical","source":"a","type":"disk","labels":{"h":"1","z":"x=y"}}"#,
        r#"{"severity":"medium","source":"b","type":"cpu"}"#,
    ];
    for (i, d) in docs.iter().enumerate() {
        add(&mut s, d, 100 + i as u64);
    }
    let ts = |q: &RangeQuery| -> Vec<u64> { s.range(q).iter().map(|(id, _)| id.ts).collect() };
    let mut q = RangeQuery::all();
    assert_eq!(ts(&q), [100, 101, 102, 103]);
    q.rev = true;
    assert_eq!(ts(&q), [103, 102, 101, 100]);
    q.count = Some(2);
    assert_eq!(ts(&q), [103, 102]);
    q = RangeQuery::all();
    q.min_severity = Some(Severity::High);
    assert_eq!(ts(&q), [101, 102]);
    q.source = Some("a".into());
    assert_eq!(ts(&q), [102]);
    q = RangeQuery::all();
    q.kind = Some("cpu".into());
    assert_eq!(ts(&q), [100, 103]);
    q = RangeQuery::all();
    q.labels = vec![("h".into(), "1".into()), ("z".into(), "x=y".into())];
    assert_eq!(ts(&q), [102]);
    q = RangeQuery::all();
    q.source = Some("nobody".into());
    assert!(ts(&q).is_empty());
    q = RangeQuery::all();
    q.start = AlertId::new(101, 0);
    q.end = AlertId::new(102, u64::MAX);
    assert_eq!(ts(&q), [101, 102]);
    q.rev = true;
    assert_eq!(ts(&q), [102, 101]);
    q.start = AlertId::new(103, 0);
    assert!(ts(&q).is_empty());
}

#[test]
fn render_adds_server_fields() {
    let mut s = Stream::new(Settings {
        dedup_ms: 0,
        ..settings()
    });
    let Outcome::Added(id) = add(&mut s, r#"{"a":1}"#, 7) else {
        panic!()
    };
    let out = s.render(&id, s.get(&id).unwrap());
    assert_eq!(
        out,
        r#"{"a":1,"id":"7-0","ts":7,"status":"active","count":1,"last_seen":7}"#
    );
    let Outcome::Added(id) = add(&mut s, "{}", 8) else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(&s.render(&id, s.get(&id).unwrap())).unwrap();
    assert_eq!(v["id"], "8-0");
}

#[test]
fn sweep_bound_stops_at_a_timestamp_boundary() {
    let mut s = Stream::new(Settings {
        retention_ms: 100,
        dedup_ms: 0,
        ..settings()
    });
    for ts in [1, 1, 1, 2, 3, 500] {
        s.add(doc("{}"), Some(ts), None, 3).unwrap();
    }
    assert_eq!(s.sweep_bound(550, 2), Some(2));
    assert_eq!(s.trim_before(2, usize::MAX), 3);
    assert_eq!(s.sweep_bound(550, 100), Some(450));
    assert_eq!(
        s.sweep_bound(560, 100)
            .map(|b| s.clone().trim_before(b, usize::MAX)),
        Some(2)
    );
    assert_eq!(s.sweep_bound(599, 100), Some(499));
}

#[test]
fn settings_changes_trim_and_rebuild_indexes() {
    let mut s = Stream::new(Settings {
        dedup_ms: 0,
        ..settings()
    });
    for ts in 0..10 {
        add(&mut s, r#"{"source":"a"}"#, ts);
    }
    let new = Settings {
        maxlen: 5,
        dedup_ms: 100,
        ratelimit_n: 5,
        ratelimit_window_ms: 100,
        ..s.settings
    };
    assert_eq!(s.set_settings(new, 10), Ok(5));
    assert_eq!(
        add(&mut s, r#"{"source":"a"}"#, 10),
        Outcome::Duplicate(AlertId::new(9, 0), 2)
    );
    assert!(s
        .set_settings(
            Settings {
                ratelimit_n: 1,
                ratelimit_window_ms: 0,
                ..new
            },
            10
        )
        .is_err());
}

#[test]
fn memory_estimate_counts_documents() {
    let mut s = Stream::new(settings());
    let base = s.memory_usage();
    for ts in 0..1000 {
        let d = format!(
            r#"{{"source":"s","type":"t{}","fingerprint":"","pad":"{}"}}"#,
            ts % 10,
            "x".repeat(250)
        );
        s.add(doc(&d), Some(ts), None, ts).unwrap();
    }
    let per = (s.memory_usage() - base) / 1000;
    assert!((320..520).contains(&per), "{per} bytes per alert");
}

#[test]
fn dedup_matches_a_brute_force_model() {
    // Few fingerprints, timestamps out of order, resolves and deletes: the index must pick the
    // same alert as a scan over all alerts would.
    let mut s = Stream::new(Settings {
        dedup_ms: 50,
        ..settings()
    });
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for _ in 0..5000 {
        let ts = 1000 + rnd(2000);
        let fp = rnd(3);
        match rnd(10) {
            0 => {
                let ids: Vec<AlertId> = s.iter().map(|(id, _)| *id).collect();
                if !ids.is_empty() {
                    s.resolve(&ids[rnd(ids.len() as u64) as usize]);
                }
            }
            1 => {
                let ids: Vec<AlertId> = s.iter().map(|(id, _)| *id).collect();
                if !ids.is_empty() {
                    s.remove(&ids[rnd(ids.len() as u64) as usize]);
                }
            }
            _ => {
                let d = format!(r#"{{"fingerprint":"fp-{fp}"}}"#);
                let want = s
                    .iter()
                    .filter(|(_, a)| {
                        a.status != Status::Resolved
                            && ts.abs_diff(a.last_seen) <= 50
                            && doc::explicit_fingerprint(&s.stored(a)).as_deref()
                                == Some(&*format!("fp-{fp}"))
                    })
                    .map(|(id, a)| (a.last_seen, *id))
                    .max()
                    .map(|(_, id)| id);
                let got = s.add(doc(&d), Some(ts), None, ts).unwrap().outcome;
                match want {
                    Some(id) => assert!(
                        matches!(got, Outcome::Duplicate(t, _) if t == id),
                        "{got:?} want {id}"
                    ),
                    None => assert!(matches!(got, Outcome::Added(_)), "{got:?}"),
                }
            }
        }
    }
    assert!(s.len() > 100);
}

#[test]
fn recurring_fingerprint_stays_cheap() {
    // 20,000 unresolved alerts of one fingerprint, each outside the previous one's window.
    let mut s = Stream::new(Settings {
        dedup_ms: 10,
        ..settings()
    });
    let d = r#"{"source":"a"}"#;
    for i in 0..20_000u64 {
        assert!(matches!(add(&mut s, d, i * 100), Outcome::Added(_)));
    }
    // A late duplicate finds the one alert within its window.
    assert_eq!(
        add(&mut s, d, 50_005),
        Outcome::Duplicate(AlertId::new(50_000, 0), 2)
    );
}

fn read_all(s: &Stream, after: u64, silenced: bool) -> (u64, Vec<(u64, String)>) {
    let r = s
        .read(&ReadQuery {
            after,
            count: 100,
            filter: Filter::default(),
            with_silenced: silenced,
            max_examined: usize::MAX,
        })
        .unwrap();
    (
        r.next,
        r.items
            .iter()
            .map(|(rev, id, _)| (*rev, id.to_string()))
            .collect(),
    )
}

#[test]
fn every_change_takes_a_revision_and_reads_coalesce() {
    let mut s = Stream::new(settings());
    let d = r#"{"source":"a"}"#;
    add(&mut s, d, 100); // rev 1
    add(&mut s, r#"{"source":"b"}"#, 100); // rev 2
    assert_eq!(s.revision(), 2);
    assert_eq!(
        read_all(&s, 0, false),
        (2, vec![(1, "100-0".into()), (2, "100-1".into())])
    );
    // A duplicate, an ACK and a RESOLVE each move the alert to the end of the feed.
    add(&mut s, d, 200); // 100-0 -> rev 3
    assert!(s.ack(&AlertId::new(100, 0))); // rev 4
    assert!(!s.ack(&AlertId::new(100, 0)), "no change, no revision");
    assert_eq!(s.revision(), 4);
    assert_eq!(read_all(&s, 2, false), (4, vec![(4, "100-0".into())]));
    assert!(s.resolve(&AlertId::new(100, 1))); // rev 5
    assert_eq!(
        read_all(&s, 0, false),
        (5, vec![(4, "100-0".into()), (5, "100-1".into())])
    );
    // Removed alerts are not returned; the revision does not move back.
    assert!(s.remove(&AlertId::new(100, 0)));
    assert_eq!(read_all(&s, 0, false), (5, vec![(5, "100-1".into())]));
    assert_eq!(read_all(&s, 5, false), (5, vec![]));
    let ahead = s.read(&ReadQuery {
        after: 6,
        count: 1,
        filter: Filter::default(),
        with_silenced: false,
        max_examined: 10,
    });
    assert_eq!(ahead.err(), Some(AlertError::CursorAhead));
}

#[test]
fn filtered_reads_advance_past_what_they_skip() {
    let mut s = Stream::new(settings());
    add(&mut s, r#"{"severity":"low","fingerprint":""}"#, 1);
    add(&mut s, r#"{"severity":"high","fingerprint":""}"#, 2);
    add(&mut s, r#"{"severity":"low","fingerprint":""}"#, 3);
    let q = |after, count| ReadQuery {
        after,
        count,
        filter: Filter {
            min_severity: Some(Severity::High),
            ..Filter::default()
        },
        with_silenced: false,
        max_examined: usize::MAX,
    };
    let r = s.read(&q(0, 100)).unwrap();
    assert_eq!(r.next, 3, "past the low one after the match");
    assert_eq!(r.items.len(), 1);
    let r = s.read(&q(0, 1)).unwrap();
    assert_eq!(
        r.next, 2,
        "stops at the last returned when COUNT is reached"
    );
    let capped = s
        .read(&ReadQuery {
            max_examined: 1,
            ..q(0, 100)
        })
        .unwrap();
    assert_eq!((capped.next, capped.items.len()), (1, 0));
}

#[test]
fn a_floor_moves_the_next_change_past_it_once() {
    let mut s = Stream::new(settings());
    // Revision 1.
    add(&mut s, r#"{"source":"a"}"#, 100);
    // A floor at or below the revision is no floor.
    assert!(!s.set_floor(1));
    assert!(!s.take_floor());
    // A floor no change used is dropped: the revision stays, the next change counts from it.
    assert!(s.set_floor(1000));
    assert!(!s.ack(&AlertId::new(999, 0)));
    assert!(!s.take_floor());
    assert_eq!(s.revision(), 1);
    assert!(s.ack(&AlertId::new(100, 0)));
    assert_eq!(s.revision(), 2);
    // The first change of a command with a floor takes the one after it; the next ones count on.
    assert!(s.set_floor(1000));
    add(&mut s, r#"{"source":"b"}"#, 100); // rev 1001
    assert!(s.resolve(&AlertId::new(100, 0))); // rev 1002
    assert!(s.take_floor());
    assert!(!s.take_floor());
    assert_eq!(s.revision(), 1002);
    assert_eq!(
        read_all(&s, 2, false),
        (1002, vec![(1001, "100-1".into()), (1002, "100-0".into())])
    );
    // A cursor between the old revision and the floor reads every change made since.
    assert_eq!(read_all(&s, 5, false).1.len(), 2);
    // Raising never lowers.
    s.raise_revision(7);
    assert_eq!(s.revision(), 1002);
    s.raise_revision(2000);
    assert_eq!(s.revision(), 2000);
    assert_eq!(read_all(&s, 1002, false), (1002, vec![]));
}

#[test]
fn silences_hide_from_the_feed_and_their_end_re_revisions() {
    let mut s = Stream::new(settings());
    add(&mut s, r#"{"source":"db","fingerprint":""}"#, 1); // rev 1
    add(&mut s, r#"{"source":"web","fingerprint":""}"#, 2); // rev 2
    let db = Filter {
        source: Some("db".into()),
        ..Filter::default()
    };
    let id1 = s.silence(1000, db.clone(), None, None).unwrap();
    let id2 = s.silence(2000, db, Some("twice".into()), None).unwrap();
    assert_eq!((id1, id2), (1, 2));
    assert_eq!(read_all(&s, 0, false).1, vec![(2, "2-0".into())]);
    assert_eq!(read_all(&s, 0, true).1.len(), 2, "WITHSILENCED");
    let covered: Vec<u64> = s.silences().map(|x| s.covered(x)).collect();
    assert_eq!(covered, [1, 1]);
    // Still covered by the second: no new revision.
    assert_eq!(s.unsilence(id1), Some(0));
    assert_eq!(s.revision(), 2);
    assert_eq!(s.ended_silences(1999), Vec::<u64>::new());
    assert_eq!(s.ended_silences(2000), vec![id2]);
    assert_eq!(s.unsilence(id2), Some(1));
    assert_eq!(read_all(&s, 2, false), (3, vec![(3, "1-0".into())]));
    assert_eq!(s.unsilence(id2), None);
    // IDs are not reused.
    let m = Filter {
        kind: Some("x".into()),
        ..Filter::default()
    };
    assert_eq!(s.silence(5, m.clone(), None, None), Ok(3));
    assert_eq!(
        s.silence(5, m.clone(), None, Some(3)),
        Err(AlertError::SilenceExists(3))
    );
    for _ in 1..MAX_SILENCES {
        s.silence(5, m.clone(), None, None).unwrap();
    }
    assert_eq!(
        s.silence(5, m, None, None),
        Err(AlertError::TooManySilences)
    );
}

#[test]
fn resolved_alerts_stay_resolved_when_a_silence_ends() {
    let mut s = Stream::new(settings());
    add(&mut s, r#"{"source":"db","fingerprint":""}"#, 1);
    let m = Filter {
        source: Some("db".into()),
        ..Filter::default()
    };
    let id = s.silence(10, m, None, None).unwrap();
    assert!(s.resolve(&AlertId::new(1, 0)));
    let rev = s.revision();
    assert_eq!(s.unsilence(id), Some(0));
    assert_eq!(s.revision(), rev);
}

#[test]
fn autoresolve_finds_stale_alerts_oldest_first() {
    let mut s = Stream::new(Settings {
        autoresolve_ms: 100,
        ..settings()
    });
    add(&mut s, r#"{"source":"a"}"#, 1000);
    add(&mut s, r#"{"source":"b"}"#, 1050);
    add(&mut s, r#"{"source":"a"}"#, 1080); // folds: a's last_seen 1080
    assert_eq!(s.next_autoresolve(), Some(1151));
    assert_eq!(s.autoresolve_due(1150, 10), vec![]);
    assert_eq!(s.autoresolve_due(1151, 10), vec![AlertId::new(1050, 0)]);
    assert_eq!(
        s.autoresolve_due(2000, 10),
        vec![AlertId::new(1050, 0), AlertId::new(1000, 0)]
    );
    assert_eq!(s.autoresolve_due(2000, 1).len(), 1, "bounded");
    assert!(s.resolve(&AlertId::new(1050, 0)));
    assert_eq!(s.autoresolve_due(2000, 10), vec![AlertId::new(1000, 0)]);
    // Turning it off drops the index; on again rebuilds it.
    s.set_settings(settings(), 2000).unwrap();
    assert_eq!(s.autoresolve_due(2000, 10), vec![]);
    s.set_settings(
        Settings {
            autoresolve_ms: 100,
            ..settings()
        },
        2000,
    )
    .unwrap();
    assert_eq!(s.autoresolve_due(2000, 10), vec![AlertId::new(1000, 0)]);
}

#[test]
fn folded_ids_are_remembered_within_the_id_memory_only() {
    let mut s = Stream::new(Settings {
        dedup_ms: 1_000_000,
        id_memory_ms: 1000,
        ..settings()
    });
    let d = r#"{"source":"a"}"#;
    let holder = AlertId::new(100, 0);
    s.add(doc(d), None, Some(holder), 100).unwrap();
    for i in 1..=100u64 {
        let r = s.add(doc(d), None, Some(AlertId::new(100 + i, 1)), 100 + i);
        assert!(matches!(r.unwrap().outcome, Outcome::Duplicate(..)));
    }
    assert_eq!(s.remembered_ids(), 100);
    let replay = |s: &mut Stream, now| {
        s.add(doc(d), None, Some(AlertId::new(150, 1)), now)
            .unwrap()
            .outcome
    };
    assert_eq!(replay(&mut s, 1150), Outcome::Exists(holder, 101));
    // Past ts + memory, the ID is no longer remembered: the replay folds again.
    assert!(matches!(replay(&mut s, 1151), Outcome::Duplicate(..)));
    // ADDs forget old IDs as they pass; all of them are gone after enough calls.
    for i in 0..20 {
        s.add(doc(d), Some(5000 + i), None, 5000 + i).unwrap();
    }
    assert_eq!(s.remembered_ids(), 0);
    // Removing an alert drops its own folded IDs.
    s.add(doc(d), None, Some(AlertId::new(6000, 9)), 6000)
        .unwrap();
    assert_eq!(s.remembered_ids(), 1);
    assert!(s.remove(&holder));
    assert_eq!(s.remembered_ids(), 0);
}

#[test]
fn groups_count_by_field() {
    let mut s = Stream::new(settings());
    for (t, d) in [
        (
            1,
            r#"{"severity":"high","source":"a","type":"disk","labels":{"h":"1"}}"#,
        ),
        (
            2,
            r#"{"severity":"HIGH","source":"a","type":"disk","labels":{"h":"1"}}"#,
        ),
        (3, r#"{"severity":"low","source":"b","type":"cpu"}"#),
        (
            4,
            r#"{"severity":"low","source":"","type":"cpu","labels":{"h":"2"}}"#,
        ),
    ] {
        add(&mut s, d, t);
    }
    let q = RangeQuery::all();
    let by = |b: GroupBy| -> Vec<(Option<String>, u64, u64, u64)> {
        s.groups(&q, &b)
            .into_iter()
            .map(|g| (g.value, g.alerts, g.occurrences, g.newest_ts))
            .collect()
    };
    assert_eq!(
        by(GroupBy::Severity),
        vec![
            (Some("high".into()), 1, 2, 1),
            (Some("low".into()), 2, 2, 4)
        ]
    );
    assert_eq!(
        by(GroupBy::Source),
        vec![
            (Some("".into()), 1, 1, 4),
            (Some("a".into()), 1, 2, 1),
            (Some("b".into()), 1, 1, 3)
        ]
    );
    assert_eq!(
        by(GroupBy::Label("h".into())),
        vec![
            (None, 1, 1, 3),
            (Some("1".into()), 1, 2, 1),
            (Some("2".into()), 1, 1, 4)
        ]
    );
    let mut q2 = RangeQuery::all();
    q2.start = AlertId::new(3, 0);
    q2.kind = Some("cpu".into());
    let g = s.groups(&q2, &GroupBy::Type);
    assert_eq!(g.len(), 1);
    assert_eq!((g[0].alerts, g[0].newest_ts), (2, 4));
}

#[test]
fn indexed_filters_answer_as_a_walk_of_the_range() {
    let mut s = Stream::new(Settings {
        dedup_ms: 0,
        ..settings()
    });
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let sevs = ["info", "low", "medium", "high", "critical"];
    let mut ids = Vec::new();
    for i in 0..3000u64 {
        let r = next();
        // Every fourth label value is written with its "v" escaped (\u0076): its text does
        // not hold the value, and the quick text test must let it through to the parser.
        let h = (r >> 16) % 3;
        let h = if i % 4 == 0 {
            format!("\\u0076{h}")
        } else {
            format!("v{h}")
        };
        let d = format!(
            r#"{{"severity":"{}","source":"s{}","type":"t{}","labels":{{"h":"{h}"}}}}"#,
            sevs[(r % 5) as usize],
            r % 7,
            (r >> 8) % 5,
        );
        let ts = 1000 + i / 3 + (r >> 24) % 50;
        if let Outcome::Added(id) = s.add(doc(&d), Some(ts), None, ts).unwrap().outcome {
            ids.push(id);
        }
    }
    for (i, id) in ids.iter().enumerate() {
        match i % 11 {
            0 => {
                s.remove(id);
            }
            1 => {
                s.ack(id);
            }
            2 => {
                s.resolve(id);
            }
            _ => {}
        }
    }
    s.trim_before(1100, usize::MAX);
    let brute = |q: &RangeQuery| -> Vec<AlertId> {
        // Every document parsed: no quick test on this side.
        let f = q.filter().without_doc();
        let kind_of = |a: &Alert| doc::fields(&s.document(a)).kind.map(|k| k.to_string());
        let mut all: Vec<AlertId> = s
            .iter()
            .filter(|(id, a)| {
                **id >= q.start
                    && **id <= q.end
                    && s.matches(&f, a)
                    && q.kind
                        .as_ref()
                        .is_none_or(|k| kind_of(a).as_ref() == Some(k))
                    && filter::labels_match_parsed(&q.labels, &doc::fields(&s.stored(a)))
            })
            .map(|(id, _)| *id)
            .collect();
        if q.rev {
            all.reverse();
        }
        all.truncate(q.count.unwrap_or(usize::MAX));
        all
    };
    for _ in 0..2000 {
        let r = next();
        let mut q = RangeQuery::all();
        if r % 3 == 0 {
            q.start = AlertId::new(1000 + (r >> 4) % 1100, 0);
        }
        if r % 5 == 0 {
            q.end = AlertId::new(1000 + (r >> 12) % 1100, u64::MAX);
        }
        q.rev = r & 64 != 0;
        q.count = (r & 128 != 0).then_some(((r >> 20) % 30) as usize);
        if r & 256 != 0 {
            q.source = Some(format!("s{}", (r >> 24) % 8));
        }
        if r & 512 != 0 {
            q.kind = Some(format!("t{}", (r >> 28) % 6));
        }
        if r & 1024 != 0 {
            q.min_severity = Severity::parse(sevs[((r >> 32) % 5) as usize]);
        }
        if r & 2048 != 0 {
            q.status = Status::from_u64((r >> 36) % 3);
        }
        if r & 4096 != 0 {
            q.labels.push(("h".into(), format!("v{}", (r >> 40) % 4)));
        }
        let got: Vec<AlertId> = s.range(&q).into_iter().map(|(id, _)| id).collect();
        assert_eq!(got, brute(&q), "{q:?}");
    }
}

#[test]
fn an_alert_entry_stays_small() {
    // The document behind one pointer, the count in 4 bytes, the layout byte in what was
    // padding: 48 bytes, and 64 with its ID in the chunk (BENCHMARKS.md, memory per alert).
    assert_eq!(std::mem::size_of::<Alert>(), 48);
}

#[test]
fn counts_past_u32_are_kept_whole() {
    let mut s = Stream::new(settings());
    let id = AlertId::new(10, 0);
    let big = u64::from(u32::MAX) - 1;
    s.import(
        id,
        doc(r#"{"source":"a"}"#),
        Status::Active,
        big,
        10,
        &[],
        None,
    )
    .unwrap();
    for (ts, want) in [(11, big + 1), (12, big + 2), (13, big + 3)] {
        assert_eq!(
            add(&mut s, r#"{"source":"a"}"#, ts),
            Outcome::Duplicate(id, want)
        );
        let a = s.get(&id).unwrap();
        assert_eq!(s.count_of(&id, a), want);
        let v: serde_json::Value = serde_json::from_str(&s.render(&id, a)).unwrap();
        assert_eq!(v["count"], want);
    }
    let id2 = AlertId::new(20, 0);
    s.import(
        id2,
        doc(r#"{"source":"b"}"#),
        Status::Active,
        u64::MAX,
        20,
        &[],
        None,
    )
    .unwrap();
    assert_eq!(s.count_of(&id2, s.get(&id2).unwrap()), u64::MAX);
    assert_eq!(
        add(&mut s, r#"{"source":"b"}"#, 21),
        Outcome::Duplicate(id2, u64::MAX)
    );
    assert_eq!(s.big_counts.len(), 2);
    assert!(s.remove(&id) && s.remove(&id2));
    assert!(
        s.big_counts.is_empty(),
        "a removed alert's count goes with it"
    );
}

#[test]
fn silences_ended_together_re_revision_what_ending_them_one_by_one_does() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut s = Stream::new(Settings {
        dedup_ms: 0,
        ..settings()
    });
    for i in 0..600u64 {
        let r = next();
        let d = format!(
            r#"{{"severity":"{}","source":"s{}","labels":{{"g":"{}"}},"fingerprint":""}}"#,
            ["low", "high", "critical"][(r % 3) as usize],
            r % 4,
            r % 5
        );
        add(&mut s, &d, i + 1);
        if r % 9 == 0 {
            assert!(s.resolve(&AlertId::new(i + 1, 0)));
        }
    }
    let mut ids = Vec::new();
    for i in 0..30u64 {
        let r = next();
        let mut m = Filter::default();
        match r % 3 {
            0 => m.source = Some(format!("s{}", i % 4)),
            1 => m.labels.push(("g".into(), format!("{}", i % 5))),
            _ => m.min_severity = Some(Severity::from_u8(3 + (i % 2) as u8)),
        }
        ids.push(s.silence(1000, m, None, None).unwrap());
    }
    let (mut total, mut most) = (0, 0);
    for round in 0..6 {
        // Some of the silences, some twice, and one the stream does not hold.
        let mut ending: Vec<u64> = ids.iter().copied().filter(|_| next() % 3 == 0).collect();
        ending.extend(ending.first().copied());
        ending.push(10_000 + round);
        let (mut one, mut all) = (s.clone(), s.clone());
        let before = s.revision();
        let mut bumped_one = 0;
        for id in &ending {
            bumped_one += one.unsilence(*id).unwrap_or(0);
        }
        let (ended, bumped) = all.unsilence_all(&ending);
        let held: Vec<u64> = ending
            .iter()
            .copied()
            .filter(|id| s.silences().any(|x| x.id == *id))
            .collect::<std::collections::BTreeSet<u64>>()
            .into_iter()
            .collect();
        assert_eq!(ended, held.len() as u64);
        // The same alerts come back (each once, with one new revision), in ID order.
        let changed = |t: &Stream| -> Vec<AlertId> {
            let mut v: Vec<(u64, AlertId)> = t
                .iter()
                .filter(|(_, a)| a.rev > before)
                .map(|(id, a)| (a.rev, *id))
                .collect();
            v.sort();
            v.into_iter().map(|(_, id)| id).collect()
        };
        let mut by_id = changed(&all);
        assert!(by_id.windows(2).all(|w| w[0] < w[1]), "in ID order");
        assert_eq!(all.revision() - before, bumped);
        by_id.sort();
        let mut from_one = changed(&one);
        from_one.sort();
        assert_eq!(by_id, from_one, "round {round}");
        assert!(bumped <= bumped_one);
        total += bumped;
        most = most.max(ended);
        s = all;
        ids.retain(|id| !held.contains(id));
    }
    // Not vacuous: alerts came back, and some round ended several silences together.
    assert!(total > 0 && most >= 2, "{total} {most}");
}

#[test]
fn folded_ids_forgotten_in_any_order_leave_their_alert_holding_the_rest() {
    let mut s = Stream::new(Settings {
        dedup_ms: 1_000_000,
        id_memory_ms: 1000,
        ..settings()
    });
    let d = r#"{"source":"a"}"#;
    let holder = AlertId::new(100, 0);
    s.add(doc(d), None, Some(holder), 100).unwrap();
    // Folded newest first, oldest first, then alternately: the id memory forgets them oldest
    // first, wherever they are in the alert's list.
    let mut ts: Vec<u64> = (1..=60).rev().collect();
    ts.extend(61..=120);
    ts.extend((121..=180).flat_map(|t| [t, 361 - t]).take(60));
    for t in &ts {
        let r = s.add(doc(d), None, Some(AlertId::new(100 + t, 1)), 100 + t);
        assert!(matches!(r.unwrap().outcome, Outcome::Duplicate(..)), "{t}");
    }
    let folded = s.remembered_ids();
    assert_eq!(folded, ts.len());
    // Forget the 40 oldest (ts up to 140), one at a time: not the first 40 folded.
    let mut forgotten = 0;
    while s.remembered_ids() > folded - 40 {
        forgotten += s.expire_aliases(140 + 1000 + 1, 1);
        assert!(forgotten <= 40);
    }
    assert!(s.aliases().all(|(a, h)| a.ts > 140 && *h == holder));
    let held: usize = s.held.values().map(list_bytes).sum();
    assert_eq!(s.held_bytes, held, "the lists' bytes, kept as they change");
    // The alert still holds exactly the others: removing it forgets every one.
    assert!(s.remove(&holder));
    assert_eq!(s.remembered_ids(), 0);
    assert_eq!(s.held_bytes, 0);
}

#[test]
fn a_silence_entry_is_counted_as_the_docs_say() {
    // docs/commands.md, "Memory layout": 256 bytes a silence in its map.
    assert_eq!(2 * size_of::<(u64, Silence)>(), 256);
}

#[test]
fn read_leaves_out_what_any_silence_covers_with_few_or_many_silences() {
    let mut s = Stream::new(Settings {
        dedup_ms: 0,
        ..settings()
    });
    for i in 0..90u64 {
        let d = format!(
            r#"{{"source":"s{}","labels":{{"g":"{}","h":"h{}"}},"fingerprint":""}}"#,
            i % 3,
            i % 7,
            i % 5
        );
        add(&mut s, &d, i + 1);
    }
    // Label silences added one at a time: matched one by one up to the index's threshold,
    // indexed past it; what READ leaves out is what some silence covers, each time.
    for i in 0..12u64 {
        let mut m = Filter::default();
        match i % 3 {
            0 => m.labels.push(("g".into(), format!("{}", i % 7))),
            1 => {
                m.labels.push(("h".into(), format!("h{}", i % 5)));
                m.source = Some(format!("s{}", i % 3));
            }
            _ => m.labels.push(("nowhere".into(), "x".into())),
        }
        s.silence(1000, m, None, None).unwrap();
        let shown: Vec<String> = read_all(&s, 0, false)
            .1
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let want: Vec<String> = s
            .iter()
            .filter(|(_, a)| !s.silences().any(|x| s.matches(&x.matchers, a)))
            .map(|(id, _)| id.to_string())
            .collect();
        assert_eq!(shown, want, "{} silences", i + 1);
    }
    assert!(s.silence_count() >= crate::alert::cover::LABEL_FILTERS_INDEXED);
}
