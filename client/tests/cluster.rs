//! The client on a real Redis Cluster (3 primaries, 3 replicas: tests/common/cluster.rs): typed
//! calls for tenants on every shard, a reshard under writes (MOVED/ASK followed), and a shard
//! made unreachable (its primary and replica stopped with SIGSTOP) while writes go on: the
//! writes for its slots fall back and are replayed once it is back, the others go to Redis all
//! along, and every write ends up in the cluster exactly once.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/cluster.rs"]
mod harness;
mod support;

use harness::{key_slot, Cluster};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{server_pid, Stopped};
use vigil_client::*;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn config(cluster: &Cluster, journal: &std::path::Path) -> Config {
    Config::cluster(cluster.seeds())
        .journal_dir(journal)
        .command_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300))
        .probe_interval(Duration::from_millis(50))
}

/// The port of the primary serving `key`.
fn primary_of(cluster: &Cluster, key: &str) -> u16 {
    cluster.primary_of_slot(key_slot(key)).port
}

/// The `seq` field of every alert of `key`, read through the cluster.
fn seqs(conn: &mut redis::cluster::ClusterConnection, key: &str) -> Vec<u64> {
    let v: redis::Value = redis::cmd("ALERT.RANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(conn)
        .expect("ALERT.RANGE through the cluster");
    common::alerts(v)
        .iter()
        .map(|a| a["seq"].as_u64().expect("a seq field"))
        .collect()
}

fn each_once(found: &[u64], n: u64) -> Result<(), String> {
    let mut sorted = found.to_vec();
    sorted.sort_unstable();
    let want: Vec<u64> = (0..n).collect();
    if sorted == want {
        Ok(())
    } else {
        Err(format!("{} found of {n}: {:?}", found.len(), &sorted))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_calls_go_to_every_shard_and_follow_a_reshard() {
    support::init();
    let cluster = Cluster::start();
    let dir = support::TempDir::new("client-cluster-typed");
    let c = Client::open(config(&cluster, &dir.join("journal")))
        .await
        .unwrap();

    // Tenants on every shard.
    let tenants: Vec<String> = (0..24).map(|i| format!("tenant:{{t{i}}}")).collect();
    let shards: HashSet<u16> = tenants
        .iter()
        .map(|t| primary_of(&cluster, &format!("{t}:alerts")))
        .collect();
    assert_eq!(shards.len(), 3, "the tenants span the three primaries");
    let until = now_ms() + 3_600_000;
    for t in &tenants {
        let key = format!("{t}:alerts");
        let disk = c
            .add(&key, r#"{"severity":"high","source":"db","type":"disk"}"#)
            .await
            .unwrap();
        assert_eq!(disk.store, Store::Redis);
        c.add(&key, r#"{"severity":"low","source":"web","type":"slow"}"#)
            .await
            .unwrap();
        assert_eq!(c.ack(&key, &[disk.id]).await.unwrap(), 1);
        let all = c.range(&key, &RangeQuery::all()).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(c.info(&key).await.unwrap().length, 2);
        let feed = c
            .read(&key, &Cursor::start(), &ReadOptions::new())
            .await
            .unwrap();
        assert_eq!(feed.changes.len(), 2);
        let sid = c
            .silence(&key, until, &Matchers::new().source("web"), None)
            .await
            .unwrap();
        assert_eq!(c.silences(&key).await.unwrap()[0].id, sid);
        let groups = c
            .groups(
                &key,
                Bound::Min,
                Bound::Max,
                &GroupBy::Status,
                &Filters::new(),
            )
            .await
            .unwrap();
        assert_eq!(groups.len(), 2);
        let q = format!("{t}:quota");
        c.quota_set(&q, Amount::from(10), None).await.unwrap();
        let used = c
            .quota_incr(&q, "2.5".parse().unwrap(), &IncrOptions::default())
            .await
            .unwrap();
        assert_eq!(used.usage.to_string(), "2.5");
        let tracker = format!("{t}:lru");
        let item = format!("{t}:item");
        let mut conn = cluster.client();
        let _: () = redis::cmd("SET")
            .arg(&item)
            .arg("v")
            .query(&mut conn)
            .unwrap();
        assert_eq!(
            c.lru_touch(&tracker, &[(&item, Amount::from(3))])
                .await
                .unwrap(),
            1
        );
    }
    // A blocking read on one shard holds up no call to another.
    let first = format!("{}:alerts", tenants[0]);
    let reader = c.clone();
    let blocked = tokio::spawn(async move {
        let o = ReadOptions::new().block(Duration::from_secs(5));
        reader.read(&first, &Cursor::now(), &o).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for t in &tenants[1..] {
        c.range(&format!("{t}:alerts"), &RangeQuery::all())
            .await
            .unwrap();
    }
    let woke = format!("{}:alerts", tenants[0]);
    let late = c.add(&woke, r#"{"source":"late"}"#).await.unwrap().id;
    assert_eq!(blocked.await.unwrap().unwrap().changes[0].alert.id, late);

    // A reshard while the client writes: the slot's tenant keeps writing to Redis (MOVED and
    // ASK followed), and every write is there once.
    let topo = cluster.topology();
    let from = topo
        .iter()
        .find(|l| l.primary && !l.slots.is_empty())
        .expect("a primary");
    let to = topo
        .iter()
        .find(|l| l.primary && l.port != from.port && !l.slots.is_empty())
        .expect("another primary");
    let lowest = from.slots.iter().map(|(a, _)| *a).min().unwrap();
    let moving = (0..100_000)
        .map(|i| format!("tenant:{{m{i}}}:alerts"))
        .find(|k| (lowest..lowest + 8).contains(&key_slot(k)))
        .expect("a key in the slots that move");
    let writer = c.clone();
    let key = moving.clone();
    let writes = tokio::spawn(async move {
        let mut stores = Vec::new();
        for i in 0..600u64 {
            let doc = format!(r#"{{"source":"move","fingerprint":"m{i}","seq":{i}}}"#);
            stores.push(writer.add(&key, &doc).await.unwrap().store);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        stores
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (from_node, to_node) = (cluster.node(from.port), cluster.node(to.port));
    let out = tokio::task::block_in_place(|| cluster.reshard(from_node, to_node, 8));
    let stores = writes.await.unwrap();
    assert!(c.flush(Duration::from_secs(20)).await.unwrap());
    let redirects = cluster.error_stats();
    let moved = redirects.get("MOVED").copied().unwrap_or(0);
    let ask = redirects.get("ASK").copied().unwrap_or(0);
    let fell_back = stores.iter().filter(|s| **s != Store::Redis).count();
    println!(
        "reshard: 8 slots moved ({} keys) while 600 writes went on; MOVED {moved}, ASK {ask}; {fell_back} writes fell back",
        out.matches("Moving slot").count()
    );
    assert_eq!(primary_of(&cluster, &moving), to.port, "the slot moved");
    assert!(moved > 0, "the client was redirected");
    let mut conn = cluster.client();
    each_once(&seqs(&mut conn, &moving), 600).unwrap();
    assert_eq!(c.metrics().rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_shard_falls_back_alone_and_is_replayed_exactly_once() {
    support::init();
    let cluster = Cluster::start();
    // Without this, the healthy shards refuse every command (CLUSTERDOWN) once one is down.
    for n in &cluster.nodes {
        common::call(
            &mut n.client(),
            &["CONFIG", "SET", "cluster-require-full-coverage", "no"],
        )
        .unwrap();
    }
    let dir = support::TempDir::new("client-cluster-outage");
    let c = Client::open(config(&cluster, &dir.join("journal")))
        .await
        .unwrap();
    let keys: Vec<String> = (0..30).map(|i| format!("tenant:{{t{i}}}:alerts")).collect();
    let owner: HashMap<&str, u16> = keys
        .iter()
        .map(|k| (k.as_str(), primary_of(&cluster, k)))
        .collect();
    let victim = owner[keys[0].as_str()];
    let victim_keys: HashSet<&str> = keys
        .iter()
        .filter(|k| owner[k.as_str()] == victim)
        .map(String::as_str)
        .collect();
    let victim_slots: HashSet<u16> = victim_keys.iter().map(|k| key_slot(k)).collect();
    let doc = |i: u64| format!(r#"{{"source":"s","fingerprint":"f{i}","seq":{i}}}"#);
    let mut next: BTreeMap<&str, u64> = keys.iter().map(|k| (k.as_str(), 0)).collect();
    for k in &keys {
        let n = next.get_mut(k.as_str()).unwrap();
        assert_eq!(c.add(k, &doc(*n)).await.unwrap().store, Store::Redis);
        *n += 1;
    }

    // The victim's primary and its replica stop answering (no failover: both are stopped).
    let mut shard = vec![cluster.node(victim)];
    shard.extend(cluster.replicas_of(victim));
    let stopped = Stopped::stop(shard.iter().map(|n| server_pid(&mut n.client())).collect());
    let start = Instant::now();
    let mut healthy = (0u64, 0u64);
    let mut down = (0u64, 0u64);
    let mut slowest_healthy = Duration::ZERO;
    let mut rounds = 0;
    while start.elapsed() < Duration::from_secs(3) {
        rounds += 1;
        for k in &keys {
            let n = next.get_mut(k.as_str()).unwrap();
            let t = Instant::now();
            let reply = c.add(k, &doc(*n)).await.unwrap();
            *n += 1;
            if victim_keys.contains(k.as_str()) {
                down.0 += 1;
                down.1 += u64::from(reply.store == Store::File);
            } else {
                healthy.0 += 1;
                healthy.1 += u64::from(reply.store == Store::Redis);
                slowest_healthy = slowest_healthy.max(t.elapsed());
            }
        }
    }
    let m = c.metrics();
    println!(
        "shard outage: {rounds} rounds in {:?}; other shards {}/{} writes to Redis (slowest {:?}); stopped shard {}/{} writes to the journal; {} slots in fallback, mode {}",
        start.elapsed(),
        healthy.1,
        healthy.0,
        slowest_healthy,
        down.1,
        down.0,
        m.fallback_slots,
        m.mode
    );
    assert_eq!(
        healthy.1, healthy.0,
        "every write for the other shards went to Redis"
    );
    assert_eq!(
        down.1, down.0,
        "every write for the stopped shard fell back"
    );
    assert_eq!(m.fallback_slots, victim_slots.len() as u64);
    assert_eq!(m.mode, Store::File);
    assert_eq!(m.pending, down.0);
    // Reads of the stopped shard's keys answer from the journal; the others from Redis.
    let k0 = keys[0].as_str();
    assert_eq!(
        c.range(k0, &RangeQuery::all()).await.unwrap().len() as u64,
        next[k0] - 1
    );

    // A second shard stops too, takes writes in the journal behind the first one's, and comes
    // back first: its writes replay past the first shard's (which still wait), and its slots
    // go back to Redis while the first shard is still down.
    let second = keys
        .iter()
        .map(|k| owner[k.as_str()])
        .find(|p| *p != victim)
        .expect("a second shard");
    let second_keys: Vec<&str> = keys
        .iter()
        .filter(|k| owner[k.as_str()] == second)
        .map(String::as_str)
        .collect();
    let mut shard2 = vec![cluster.node(second)];
    shard2.extend(cluster.replicas_of(second));
    let stopped2 = Stopped::stop(shard2.iter().map(|n| server_pid(&mut n.client())).collect());
    let mut journaled = down.0;
    for k in &keys {
        let n = next.get_mut(k.as_str()).unwrap();
        let reply = c.add(k, &doc(*n)).await.unwrap();
        *n += 1;
        let on_stopped = victim_keys.contains(k.as_str()) || second_keys.contains(&k.as_str());
        assert_eq!(reply.store == Store::File, on_stopped, "{k}");
        journaled += u64::from(on_stopped);
    }
    drop(stopped2);
    let back2 = Instant::now();
    while c.metrics().fallback_slots > victim_slots.len() as u64 {
        assert!(
            back2.elapsed() < Duration::from_secs(30),
            "the second shard's slots did not leave fallback"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let m = c.metrics();
    println!(
        "second shard back after {:?}: its {} writes replayed past the first shard's {} still waiting",
        back2.elapsed(),
        m.replayed,
        m.pending
    );
    assert_eq!(
        m.pending,
        down.0 + victim_keys.len() as u64,
        "the first shard's writes still wait"
    );
    for k in &second_keys {
        let n = next.get_mut(k).unwrap();
        assert_eq!(c.add(k, &doc(*n)).await.unwrap().store, Store::Redis);
        *n += 1;
    }

    drop(stopped);
    let back = Instant::now();
    assert!(c.flush(Duration::from_secs(60)).await.unwrap());
    let m = c.metrics();
    println!(
        "shard back: {} writes replayed in {:?}; rejected {}",
        m.replayed,
        back.elapsed(),
        m.rejected
    );
    assert_eq!(m.replayed, journaled);
    assert_eq!((m.rejected, m.pending, m.fallback_slots), (0, 0, 0));
    let mut conn = cluster.client();
    for k in &keys {
        each_once(&seqs(&mut conn, k), next[k.as_str()]).unwrap_or_else(|e| panic!("{k}: {e}"));
    }
}

/// A client that starts while no node answers never loaded its slot map. Writes for new slots
/// fall back without each paying a topology read's timeout, and the probe's pass over the
/// waiting slots reads the topology once, not once per slot: once the cluster answers, every
/// write is replayed, exactly once. Before, 40 writes to 40 slots took a timeout each (12 s),
/// and so did each pass of the probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_saw_the_cluster_pays_no_timeout_per_slot() {
    support::init();
    let cluster = Cluster::start();
    let stopped = Stopped::stop(
        cluster
            .nodes
            .iter()
            .map(|n| server_pid(&mut n.client()))
            .collect(),
    );
    let dir = support::TempDir::new("client-cluster-never-seen");
    let timeout = Duration::from_millis(300);
    let c = Client::open(config(&cluster, &dir.join("journal")))
        .await
        .unwrap();
    let keys: Vec<String> = (0..40).map(|i| format!("tenant:{{n{i}}}:alerts")).collect();
    let slots: HashSet<u16> = keys.iter().map(|k| key_slot(k)).collect();
    assert_eq!(slots.len(), keys.len());
    let start = Instant::now();
    for k in &keys {
        let r = c.add(k, r#"{"source":"s"}"#).await.unwrap();
        assert_eq!(r.store, Store::File, "{k}");
    }
    let writes = start.elapsed();
    // Let the probe make passes over the 40 waiting slots while nothing answers.
    let before = c.metrics().probe_failures;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let passes = c.metrics().probe_failures - before;
    println!(
        "no node answering: 40 writes to 40 slots in {writes:?}; {passes} probe passes in 3 s"
    );
    assert!(
        writes < timeout * 10,
        "40 writes took {writes:?}: a timeout ({timeout:?}) each"
    );
    assert!(
        passes >= 2,
        "{passes} probe passes in 3 s: a timeout per slot"
    );
    let m = c.metrics();
    assert_eq!(
        (m.pending, m.replayed),
        (40, 0),
        "nothing reached a stopped cluster"
    );

    let back = Instant::now();
    drop(stopped);
    assert!(c.flush(Duration::from_secs(60)).await.unwrap());
    println!("replayed in {:?}", back.elapsed());
    let m = c.metrics();
    assert_eq!((m.replayed, m.rejected, m.pending), (40, 0, 0));
    let mut conn = cluster.client();
    for k in &keys {
        let v: Vec<String> = redis::cmd("ALERT.RANGE")
            .arg(k)
            .arg("-")
            .arg("+")
            .query(&mut conn)
            .unwrap();
        assert_eq!(v.len(), 1, "{k}");
    }
}

/// A call the module answers `TRYAGAIN` while its slot moves (LRU.TOUCH of a tracker that
/// arrived before its key) is sent again until the slot settles, within the command timeout:
/// the caller gets the answer, not an error. Before, the first TRYAGAIN came back as
/// `Error::Unavailable` within a millisecond, however soon the slot settled (found by an
/// audit: 67 failed LRU.TOUCH calls during one slot's MIGRATE).
#[tokio::test(flavor = "multi_thread")]
async fn a_call_answered_tryagain_is_sent_again_until_the_slot_settles() {
    support::init();
    let cluster = Cluster::start();
    let dir = support::TempDir::new("cluster-tryagain");
    let (tracker, obj) = ("m:{a1}:lru", "m:{a1}:obj");
    let slot = key_slot(tracker);
    let source = cluster.primary_of_slot(slot);
    let target = cluster.other_primary(source.port);
    let mut sc = source.client();
    common::call(&mut sc, &["SET", obj, "v"]).unwrap();
    common::call(&mut sc, &["LRU.TOUCH", tracker, obj, "1"]).unwrap();
    let c = Client::open(config(&cluster, &dir.join("journal")))
        .await
        .unwrap();
    // The tracker moves, its key not yet: the importing node answers TRYAGAIN.
    harness::start_move(slot, source, target);
    harness::migrate(source, target, &[tracker]);
    let touch = {
        let c = c.clone();
        tokio::spawn(async move { c.lru_touch(tracker, &[(obj, Amount::from_int(2))]).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::task::block_in_place(|| {
        harness::migrate(source, target, &[obj]);
        harness::end_move(&cluster, slot, target);
    });
    let touched = touch.await.unwrap();
    assert!(touched.is_ok(), "{touched:?}");
    let info = c.lru_info(tracker).await.unwrap();
    assert_eq!(info.total, Amount::from_int(2));
}
