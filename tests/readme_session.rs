//! README.md's "A first session" gives the replies it shows. Every fenced block of README.md that
//! starts with a `127.0.0.1:6379>` prompt line is a redis-cli session; the blocks run in order,
//! one command at a time through `redis-cli --no-raw`, against one fresh server, and each
//! command's output must be the reply lines the README shows under it. Alert IDs, 13-digit
//! ms timestamps and 16-digit change-feed cursors (the server's clock) are masked on both sides.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

const PROMPT: &str = "127.0.0.1:6379> ";

/// One command of a README session and the reply lines shown under it.
#[derive(Debug)]
struct Step {
    line_no: usize,
    command: String,
    reply: Vec<String>,
}

/// The sessions of a Markdown text: fenced blocks whose first line is a prompt line.
fn sessions(markdown: &str) -> Vec<Vec<Step>> {
    let mut blocks: Vec<Vec<(usize, &str)>> = Vec::new();
    let mut current: Option<Vec<(usize, &str)>> = None;
    for (i, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push((i + 1, line));
        }
    }
    blocks
        .into_iter()
        .filter(|b| b.first().is_some_and(|(_, l)| l.starts_with(PROMPT)))
        .map(|block| {
            let mut steps: Vec<Step> = Vec::new();
            for (line_no, line) in block {
                match line.strip_prefix(PROMPT) {
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
            steps
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

/// What `redis-cli --no-raw` prints for one command (stdout, then stderr).
fn run_cli(port: u16, args: &[String]) -> Vec<String> {
    let out = Command::new("redis-cli")
        .arg("--no-raw")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli on PATH (make test installs redis-tools)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines().map(str::to_string).collect()
}

#[test]
fn readme_first_session_gives_the_replies_it_shows() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let sessions = sessions(&readme);
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
        let got = run_cli(server.port, &args);
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
    let s = sessions(md);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].len(), 2);
    assert_eq!(s[0][0].command, "PING");
    assert_eq!(s[0][0].reply, ["PONG"]);
    assert_eq!(s[0][1].reply, ["(nil)"]);
}
