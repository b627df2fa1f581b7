//! The redis-cli sessions of the documentation give the replies they show.
//!
//! README.md's "A first session": every fenced block of README.md that starts with a
//! `127.0.0.1:6379>` prompt line is a redis-cli session; the blocks run in order, one command
//! at a time through `redis-cli --no-raw`, against one fresh server, and each command's output
//! must be the reply lines the README shows under it. Alert IDs, 13-digit ms timestamps and
//! 16-digit change-feed cursors (the server's clock) are masked on both sides.
//!
//! docs/commands.md says every example on the page "was run ... in the order shown, starting
//! from an empty database; the output is what redis-cli printed": its `redis>` sessions run the
//! same way, in order, on one fresh server. There the server's clock is not masked but mapped:
//! a cursor or a time (ms) the page shows stands for the one the server gave in its place, so
//! that a later command that quotes it (`AFTER <cursor>`, `UNTIL <ms>`) is sent with the
//! server's, and every other number, memory figures included, must be as shown. A read with
//! `BLOCK 0` whose reply the page shows in the next block runs in the background while the
//! commands after it run; a block introduced as run under `redis-cli -3` runs under RESP3; the
//! keyspace events block runs with a subscriber, whose output is the block after it.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

const PROMPT: &str = "127.0.0.1:6379> ";

/// One command of a session and the reply lines shown under it.
#[derive(Debug)]
struct Step {
    line_no: usize,
    command: String,
    reply: Vec<String>,
}

/// A fenced block of a Markdown page.
#[derive(Debug)]
enum Fence {
    /// A redis-cli session (its first line a prompt line), with what the prose just before it
    /// says of how it ran: under `redis-cli -3`, or with a subscriber `PSUBSCRIBE '<pattern>'`.
    Session {
        steps: Vec<Step>,
        resp3: bool,
        subscribe: Option<String>,
    },
    /// Any other block: its lines.
    Text { line_no: usize, lines: Vec<String> },
}

/// The fenced blocks of a Markdown text; sessions are the blocks whose first line starts with
/// `prompt`.
fn fences(markdown: &str, prompt: &str) -> Vec<Fence> {
    let mut out = Vec::new();
    // The prose since the last block, and the block being read (its first line number).
    let mut prose: Vec<&str> = Vec::new();
    let mut current: Option<(usize, Vec<(usize, &str)>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match (&mut current, fence) {
            (None, true) => current = Some((i + 2, Vec::new())),
            (None, false) => prose.push(line),
            (Some(block), false) => block.1.push((i + 1, line)),
            (Some(_), true) => {
                let (line_no, body) = current.take().expect("a block");
                let before = prose.join("\n");
                prose.clear();
                if !body.first().is_some_and(|(_, l)| l.starts_with(prompt)) {
                    let lines = body.iter().map(|(_, l)| l.to_string()).collect();
                    out.push(Fence::Text { line_no, lines });
                    continue;
                }
                let mut steps: Vec<Step> = Vec::new();
                for (line_no, line) in body {
                    match line.strip_prefix(prompt) {
                        Some(command) => steps.push(Step {
                            line_no,
                            command: command.to_string(),
                            reply: Vec::new(),
                        }),
                        None => steps
                            .last_mut()
                            .expect("a block that starts with a prompt")
                            .reply
                            .push(line.to_string()),
                    }
                }
                let subscribe = before.split_once("PSUBSCRIBE '").and_then(|(_, rest)| {
                    rest.split_once('\'')
                        .map(|(pattern, _)| pattern.to_string())
                });
                out.push(Fence::Session {
                    steps,
                    resp3: before.contains("redis-cli -3"),
                    subscribe,
                });
            }
        }
    }
    out
}

/// The sessions of a Markdown text whose prompt is `prompt`.
fn sessions(markdown: &str, prompt: &str) -> Vec<Vec<Step>> {
    fences(markdown, prompt)
        .into_iter()
        .filter_map(|f| match f {
            Fence::Session { steps, .. } => Some(steps),
            Fence::Text { .. } => None,
        })
        .collect()
}

/// Splits a command line into arguments as a POSIX shell would: blanks separate words,
/// '...' is literal, "..." keeps its text but `\` escapes `"`, `\`, `$` and `` ` `` in it, and
/// `\` outside quotes escapes the next character.
fn shell_split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed ' in {line}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed \" in {line}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed \" in {line}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("a trailing \\ in {line}")),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Replaces alert IDs (`<13 digits>-<digits>`) by `<id>`, other runs of exactly 13 digits
/// (ms timestamps of these years) by `<ms>`, and runs of exactly 16 digits (ALERT.READ cursors:
/// a new stream's revisions start at the clock in microseconds) by `<cursor>`.
fn mask(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            let ch = text[i..].chars().next().expect("a char");
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i - start == 16 {
            out.push_str("<cursor>");
            continue;
        }
        if i - start != 13 {
            out.push_str(&text[start..i]);
            continue;
        }
        let seq_start = i + 1;
        let mut seq_end = seq_start;
        while seq_end < b.len() && b[seq_end].is_ascii_digit() {
            seq_end += 1;
        }
        if i < b.len() && b[i] == b'-' && seq_end > seq_start {
            out.push_str("<id>");
            i = seq_end;
        } else {
            out.push_str("<ms>");
        }
    }
    out
}

/// `redis-cli --no-raw -p <port>`, under RESP3 with `resp3`.
fn cli(port: u16, resp3: bool) -> Command {
    let mut c = Command::new("redis-cli");
    c.arg("--no-raw").arg("-p").arg(port.to_string());
    if resp3 {
        c.arg("-3");
    }
    c
}

/// The lines of what redis-cli printed (stdout, then stderr), without the `(2.08s)` line it
/// prints after a blocking command that waited.
fn printed(out: &std::process::Output) -> Vec<String> {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| {
            let t = l.trim();
            !(t.starts_with('(') && t.ends_with("s)") && t[1..t.len() - 2].parse::<f64>().is_ok())
        })
        .map(str::to_string)
        .collect()
}

/// What `redis-cli --no-raw` prints for one command.
fn run_cli(port: u16, args: &[String], resp3: bool) -> Vec<String> {
    let out = cli(port, resp3)
        .args(args)
        .output()
        .expect("redis-cli on PATH (make test installs redis-tools)");
    printed(&out)
}

/// The runs of digits of a line, and the text between them.
fn numbers(line: &str) -> (Vec<&str>, Vec<&str>) {
    let (mut text, mut nums) = (Vec::new(), Vec::new());
    let b = line.as_bytes();
    let (mut i, mut start) = (0, 0);
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let from = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            text.push(&line[start..from]);
            nums.push(&line[from..i]);
            start = i;
        } else {
            i += 1;
        }
    }
    text.push(&line[start..]);
    (text, nums)
}

/// A change-feed cursor: 16 digits (a new stream's revisions start at the clock in µs).
fn is_cursor(n: &str) -> bool {
    n.len() == 16
}

/// A time of the server's clock in ms: 13 digits from 2025 on, but for the far future the page
/// gives as a constant (2100-01-01).
fn is_clock(n: &str) -> bool {
    n.len() == 13 && n >= "1750000000000" && n != "4102444800000"
}

/// What the page's cursors and clock times stand for in this run. A cursor maps to the one the
/// server printed in its place; a later cursor of the same stream keeps its distance to the
/// first one mapped (revisions count changes). A time maps to the server's, and one the
/// server never printed (`UNTIL` an hour later) keeps its distance to the last one mapped.
#[derive(Default)]
struct Clock {
    cursors: std::collections::HashMap<String, String>,
    /// Per key: the server's cursor minus the page's.
    shift: std::collections::HashMap<String, i128>,
    times: std::collections::HashMap<String, String>,
    last_time: Option<(i128, i128)>,
}

impl Clock {
    /// The command with the page's cursors and times replaced by this run's.
    fn command(&mut self, line: &str, key: &str) -> String {
        let (text, nums) = numbers(line);
        let mut out = String::new();
        for (i, n) in nums.iter().enumerate() {
            out.push_str(text[i]);
            let mapped = if is_cursor(n) {
                self.cursors.get(*n).cloned().or_else(|| {
                    let shift = self.shift.get(key)?;
                    Some((n.parse::<i128>().ok()? + shift).to_string())
                })
            } else if is_clock(n) {
                self.times.get(*n).cloned().or_else(|| {
                    let (page, server) = self.last_time?;
                    Some((n.parse::<i128>().ok()? - page + server).to_string())
                })
            } else {
                None
            };
            out.push_str(mapped.as_deref().unwrap_or(n));
        }
        out.push_str(text[nums.len()]);
        out
    }

    /// Whether the server's line says what the page's does, learning what the page's cursors
    /// and times stand for; a description of the first difference if not.
    fn same(&mut self, page: &str, server: &str, key: &str) -> Result<(), String> {
        let ((pt, pn), (st, sn)) = (numbers(page), numbers(server));
        if pt != st || pn.len() != sn.len() {
            return Err("text differs".into());
        }
        for (p, s) in pn.iter().zip(&sn) {
            if p == s {
                continue;
            }
            let (pv, sv) = (p.parse::<i128>().unwrap(), s.parse::<i128>().unwrap());
            if is_cursor(p) && is_cursor(s) {
                let want = self
                    .cursors
                    .get(*p)
                    .cloned()
                    .or_else(|| self.shift.get(key).map(|d| (pv + d).to_string()));
                match want {
                    Some(w) if w != *s => {
                        return Err(format!("cursor {p} stands for {w} here, not {s}"));
                    }
                    Some(_) => {}
                    None => {
                        self.shift.insert(key.to_string(), sv - pv);
                    }
                }
                self.cursors.insert(p.to_string(), s.to_string());
            } else if is_clock(p) && is_clock(s) {
                if let Some(w) = self.times.get(*p) {
                    if w != s {
                        return Err(format!("time {p} stands for {w} here, not {s}"));
                    }
                }
                self.times.insert(p.to_string(), s.to_string());
                self.last_time = Some((pv, sv));
            } else {
                return Err(format!("{p} where the server printed {s}"));
            }
        }
        Ok(())
    }

    /// Whether the server printed what the page shows, line for line.
    fn replies(&mut self, page: &[String], server: &[String], key: &str) -> Result<(), String> {
        if page.len() != server.len() {
            return Err(format!(
                "{} lines shown, {} printed",
                page.len(),
                server.len()
            ));
        }
        for (i, (p, s)) in page.iter().zip(server).enumerate() {
            self.same(p, s, key)
                .map_err(|e| format!("line {}: {e}", i + 1))?;
        }
        Ok(())
    }
}

/// A redis-cli subscribed with PSUBSCRIBE, whose lines a thread collects as they come.
struct Subscriber {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Subscriber {
    fn start(port: u16, pattern: &str) -> Subscriber {
        let mut child = cli(port, false)
            .arg("PSUBSCRIBE")
            .arg(pattern)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-cli");
        let out = child.stdout.take().expect("its stdout");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        wait_for(
            port,
            "PUBSUB",
            "NUMPAT",
            "the subscriber's PSUBSCRIBE",
            || child.try_wait().ok().flatten().is_some(),
        );
        Subscriber {
            child,
            lines,
            reader,
        }
    }

    /// What it printed once it printed `n` lines (or 10 s passed), then stopped.
    fn finish(mut self, n: usize) -> Vec<String> {
        let start = std::time::Instant::now();
        while self.lines.lock().unwrap().len() < n
            && start.elapsed() < std::time::Duration::from_secs(10)
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Anything more it was about to print.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.reader.join();
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

/// A child process, waited for up to `limit` (then killed): what it printed.
fn finish(mut child: std::process::Child, limit: std::time::Duration) -> Vec<String> {
    let start = std::time::Instant::now();
    while child.try_wait().ok().flatten().is_none() && start.elapsed() < limit {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    printed(&child.wait_with_output().expect("the child's output"))
}

#[test]
fn readme_first_session_gives_the_replies_it_shows() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let sessions = sessions(&readme, PROMPT);
    let commands: usize = sessions.iter().map(Vec::len).sum();
    assert!(
        sessions.len() >= 2 && commands >= 10,
        "README.md should hold the first session's redis-cli blocks (found {} blocks, {commands} \
         commands)",
        sessions.len()
    );

    let server = Server::start();
    let mut failures = Vec::new();
    for step in sessions.iter().flatten() {
        let args = shell_split(&step.command)
            .unwrap_or_else(|e| panic!("README.md:{}: {e}", step.line_no));
        assert!(
            !step.reply.is_empty(),
            "README.md:{}: no reply shown",
            step.line_no
        );
        let got = run_cli(server.port, &args, false);
        let want: Vec<String> = step.reply.iter().map(|l| mask(l)).collect();
        let got_masked: Vec<String> = got.iter().map(|l| mask(l)).collect();
        if want != got_masked {
            failures.push(format!(
                "README.md:{}: {PROMPT}{}\n  README shows:\n    {}\n  redis-cli printed:\n    {}",
                step.line_no,
                step.command,
                step.reply.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "README.md's session differs from what the server answers (IDs and ms times masked):\n{}",
        failures.join("\n")
    );
}

/// Waits (up to 10 s) until `what` shows on the server: `PUBSUB NUMPAT` above 0 for a pattern
/// subscriber, `INFO clients`' `blocked_clients` above 0 for a blocked read.
/// Also returns once `ended` says the process has ended (a read that did not block: its
/// output then shows what differs).
fn wait_for(port: u16, command: &str, arg: &str, what: &str, mut ended: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(10) {
        if ended() {
            return;
        }
        let out = run_cli(port, &[command.to_string(), arg.to_string()], false);
        let count = match command {
            "INFO" => out
                .iter()
                .find_map(|l| l.strip_prefix("blocked_clients:"))
                .and_then(|n| n.trim().parse::<u64>().ok()),
            _ => out
                .first()
                .and_then(|l| l.trim_start_matches("(integer) ").parse::<u64>().ok()),
        };
        if count.is_some_and(|n| n > 0) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{what} did not show on the server within 10 s");
}

/// The key a command names first (its second word), whose cursors shift together.
fn key_of(args: &[String]) -> &str {
    args.get(1).map_or("", String::as_str)
}

#[test]
fn commands_page_examples_give_the_replies_they_show() {
    const PAGE: &str = "docs/commands.md";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE);
    let page = std::fs::read_to_string(&path).expect(PAGE);
    let fences = fences(&page, "redis> ");
    let commands: usize = fences
        .iter()
        .map(|f| match f {
            Fence::Session { steps, .. } => steps.len(),
            Fence::Text { .. } => 0,
        })
        .sum();
    assert!(
        commands >= 150,
        "{PAGE}: only {commands} example commands found"
    );

    let server = Server::start();
    let port = server.port;
    let wait = std::time::Duration::from_secs(15);
    let mut clock = Clock::default();
    let mut failures = Vec::new();
    let mut check = |clock: &mut Clock,
                     line_no: usize,
                     what: &str,
                     page: &[String],
                     got: &[String],
                     key: &str| {
        if let Err(e) = clock.replies(page, got, key) {
            failures.push(format!(
                "{PAGE}:{line_no}: {what}: {e}\n  the page shows:\n    {}\n  redis-cli printed:\n    {}",
                page.join("\n    "),
                got.join("\n    ")
            ));
        }
    };
    // A read with BLOCK 0 waiting in the background (the command, its key), and a subscriber.
    let mut blocked: Option<(std::process::Child, String, String)> = None;
    let mut subscriber: Option<Subscriber> = None;
    for fence in fences {
        match fence {
            Fence::Text { line_no, lines } => {
                if let Some((child, command, key)) = blocked.take() {
                    let got = finish(child, wait);
                    check(&mut clock, line_no, &command, &lines, &got, &key);
                } else if lines
                    .first()
                    .is_some_and(|l| l.starts_with("Reading messages"))
                {
                    let got = subscriber
                        .take()
                        .expect("a subscriber started for this block")
                        .finish(lines.len());
                    check(&mut clock, line_no, "the subscriber", &lines, &got, "");
                    let off = ["CONFIG", "SET", "notify-keyspace-events", ""];
                    run_cli(port, &off.map(String::from), false);
                }
            }
            Fence::Session {
                steps,
                resp3,
                subscribe,
            } => {
                if let Some(pattern) = subscribe {
                    let events = ["CONFIG", "SET", "notify-keyspace-events", "Kd"];
                    run_cli(port, &events.map(String::from), false);
                    subscriber = Some(Subscriber::start(port, &pattern));
                }
                for step in steps {
                    let first = shell_split(&step.command)
                        .unwrap_or_else(|e| panic!("{PAGE}:{}: {e}", step.line_no));
                    let key = key_of(&first).to_string();
                    let args = shell_split(&clock.command(&step.command, &key))
                        .unwrap_or_else(|e| panic!("{PAGE}:{}: {e}", step.line_no));
                    let blocks = args
                        .windows(2)
                        .any(|w| w[0].eq_ignore_ascii_case("BLOCK") && w[1] == "0");
                    if blocks && step.reply.is_empty() {
                        let mut child = cli(port, resp3)
                            .args(&args)
                            .stdout(std::process::Stdio::piped())
                            .stderr(std::process::Stdio::piped())
                            .spawn()
                            .expect("redis-cli");
                        wait_for(port, "INFO", "clients", "the blocked read", || {
                            child.try_wait().ok().flatten().is_some()
                        });
                        blocked = Some((child, step.command.clone(), key));
                        continue;
                    }
                    let got = run_cli(port, &args, resp3);
                    check(
                        &mut clock,
                        step.line_no,
                        &step.command,
                        &step.reply,
                        &got,
                        &key,
                    );
                }
            }
        }
    }
    assert!(
        blocked.is_none() && subscriber.is_none(),
        "a background read or subscriber never had its output block"
    );
    assert!(
        failures.is_empty(),
        "{PAGE}'s examples differ from what the server answers (cursors and clock times mapped):\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_clock_maps_cursors_and_times_and_checks_the_rest() {
    let mut c = Clock::default();
    // The first cursor of a key sets its shift; later ones keep their distance.
    assert!(c
        .same(r#"1) "1796213261453001""#, r#"1) "1800000000000001""#, "s")
        .is_ok());
    assert_eq!(
        c.command("ALERT.READ s AFTER 1796213261453003", "s"),
        "ALERT.READ s AFTER 1800000000000003"
    );
    assert!(c
        .same(r#""1796213261453004""#, r#""1800000000000005""#, "s")
        .is_err());
    // Times map, and one never printed keeps its distance to the last one mapped.
    assert!(c
        .same("(integer) 1796213043794", "(integer) 1800000000100", "t")
        .is_ok());
    assert_eq!(c.command("UNTIL 1796216643794", "t"), "UNTIL 1800003600100");
    // Every other number must be as shown; so must the text.
    assert!(c.same("(integer) 744", "(integer) 480", "").is_err());
    assert!(c.same(r#"1) "added""#, r#"1) "limited""#, "").is_err());
    assert!(c
        .same(
            "2) (integer) 4102444800000",
            "2) (integer) 4102444800001",
            ""
        )
        .is_err());
}

#[test]
fn blocks_say_how_they_ran() {
    let md = "Under RESP3 (`redis-cli -3`):\n\n```\nredis> PING\nPONG\n```\nWith \
              `PSUBSCRIBE '__keyspace@0__:a:*'` open:\n```\nredis> DEL a\n(integer) 0\n```\n\
              ```\nReading messages...\n```\n";
    let f = fences(md, "redis> ");
    assert_eq!(f.len(), 3);
    assert!(matches!(
        &f[0],
        Fence::Session {
            resp3: true,
            subscribe: None,
            ..
        }
    ));
    assert!(
        matches!(&f[1], Fence::Session { resp3: false, subscribe: Some(p), .. } if p == "__keyspace@0__:a:*")
    );
    assert!(matches!(&f[2], Fence::Text { lines, .. } if lines[0] == "Reading messages..."));
    assert_eq!(
        printed(
            &std::process::Command::new("printf")
                .arg("1) \"a\"\n(2.08s)\n")
                .output()
                .unwrap()
        ),
        [r#"1) "a""#]
    );
}

#[test]
fn shell_split_handles_quotes_like_a_shell() {
    let split = |s: &str| shell_split(s).unwrap();
    assert_eq!(split("  GET  a  "), ["GET", "a"]);
    assert_eq!(
        split(r#"ALERT.ADD k '{"a":"b c"}' TS 1"#),
        ["ALERT.ADD", "k", r#"{"a":"b c"}"#, "TS", "1"]
    );
    assert_eq!(
        split(r#"SET k "say \"hi\" \n""#),
        ["SET", "k", "say \"hi\" \\n"]
    );
    assert_eq!(split(r"SET k a\ b''c"), ["SET", "k", "a bc"]);
    assert_eq!(split("SET k ''"), ["SET", "k", ""]);
    assert!(shell_split("SET k 'open").is_err());
    assert!(shell_split("SET k \"open").is_err());
}

#[test]
fn mask_hides_ids_ms_times_and_cursors_only() {
    assert_eq!(
        mask(r#"2) "1795328517679-0" {"id":"1795328517679-12","ts":1795328517679}"#),
        r#"2) "<id>" {"id":"<id>","ts":<ms>}"#
    );
    assert_eq!(
        mask(r#"1) "1795328517671003" 2) 1) 1) "1795328517671003""#),
        r#"1) "<cursor>" 2) 1) 1) "<cursor>""#
    );
    assert_eq!(mask("17953285176710031"), "17953285176710031");
    assert_eq!(
        mask("3) (integer) 1 \"400\" 12345678901234 é"),
        "3) (integer) 1 \"400\" 12345678901234 é"
    );
}

#[test]
fn sessions_are_read_from_prompt_blocks_only() {
    let md = "text\n```\n$ make run\n```\n```\n127.0.0.1:6379> PING\nPONG\n127.0.0.1:6379> \
              GET a\n(nil)\n```\n";
    let s = sessions(md, PROMPT);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].len(), 2);
    assert_eq!(s[0][0].command, "PING");
    assert_eq!(s[0][0].reply, ["PONG"]);
    assert_eq!(s[0][1].reply, ["(nil)"]);
}
