//! The repository's redis.conf (what `make run` starts) loads the module, with AOF on and the
//! module configs set: started here as `make run` does, from a directory laid out like the
//! repository, but on a free port.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn redis_conf_loads_the_module_as_make_run_does() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = temp_dir("conf");
    std::fs::create_dir_all(work.join("run")).unwrap();
    std::os::unix::fs::symlink(root.join("target"), work.join("target")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let mut child = Command::new(server_binary())
        .arg(root.join("redis.conf"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "no",
        ])
        .current_dir(&work)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let start = Instant::now();
    let mut c = loop {
        if let Ok(mut c) = client.get_connection() {
            if call(&mut c, &["PING"]).is_ok() {
                break c;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server with redis.conf did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let get = |c: &mut redis::Connection, name: &str| -> String {
        let v: Vec<String> =
            redis::from_redis_value(&call(c, &["CONFIG", "GET", name]).unwrap()).unwrap();
        v.get(1).cloned().unwrap_or_default()
    };
    assert_eq!(get(&mut c, "appendonly"), "yes");
    assert_eq!(get(&mut c, "appendfsync"), "everysec");
    assert_eq!(get(&mut c, "vigil.alert-max-len"), "10000");
    let v: (String, Option<String>, i64) =
        redis::from_redis_value(&call(&mut c, &["ALERT.ADD", "k", "{}"]).unwrap()).unwrap();
    assert_eq!(v.0, "added");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&work);
}
