//! docs/commands.md and the server describe the same commands (issue 9: `COMMAND DOCS` for
//! every command, kept equal to the reference). For every `## NAME` section of the page:
//! `COMMAND DOCS name` answers with summary, since and complexity; the argument tree it returns,
//! rendered back to a syntax line, is the line of the section's code block; since, complexity,
//! command flags and key spec flags of the section's header line match `COMMAND DOCS` and
//! `COMMAND INFO`. And the module's commands (`COMMAND LIST FILTERBY MODULE vigil`) are exactly
//! the page's sections.
//!
//! The renderer writes the notation src/syntax.rs reads: tokens as declared (uppercase),
//! `[...]` for optional, `a [a ...]` for multiple, `TOKEN a ...` for multiple_token (inside
//! its optional brackets: `[LABEL name=value ...]`), a block as its parts, `a | b` for oneof.

mod common;
use common::*;

use redis::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// One command section of docs/commands.md.
#[derive(Debug)]
struct Section {
    name: String,
    line_no: usize,
    /// The single line of the code block after the heading.
    syntax: Result<String, String>,
    /// The paragraph after the code block (`**Available since:** ... · **Key spec:** ...`),
    /// joined into one line.
    header: String,
}

fn is_command_name(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    [a, b]
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_uppercase()))
}

/// The sections whose heading is `## NAME`, with the code block and the paragraph after it.
fn sections(markdown: &str) -> Vec<Section> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.strip_prefix("## ") else {
            continue;
        };
        let name = name.trim_end();
        if !is_command_name(name) {
            continue;
        }
        let mut j = i + 1;
        let skip_blank = |j: &mut usize| {
            while lines.get(*j).is_some_and(|l| l.trim().is_empty()) {
                *j += 1;
            }
        };
        skip_blank(&mut j);
        let syntax = if lines.get(j).map(|l| l.trim_end()) == Some("```")
            && lines.get(j + 2).map(|l| l.trim_end()) == Some("```")
        {
            let s = lines[j + 1].to_string();
            j += 3;
            Ok(s)
        } else {
            Err(format!(
                "line {}: `## {name}` is not followed by a code block of one line",
                i + 1
            ))
        };
        skip_blank(&mut j);
        let mut header = Vec::new();
        while let Some(l) = lines.get(j).filter(|l| !l.trim().is_empty()) {
            header.push(l.trim());
            j += 1;
        }
        out.push(Section {
            name: name.to_string(),
            line_no: i + 1,
            syntax,
            header: header.join(" "),
        });
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) | Value::Set(a) => a.clone(),
        Value::Nil => Vec::new(),
        other => panic!("not an array: {other:?}"),
    }
}

/// A RESP2 field/value array or a RESP3 map, as pairs.
fn pairs(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (text(k), v.clone())).collect(),
        Value::Array(a) => a.chunks(2).map(|p| (text(&p[0]), p[1].clone())).collect(),
        other => panic!("not a map: {other:?}"),
    }
}

fn field(pairs: &[(String, Value)], name: &str) -> Option<Value> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// One argument of `COMMAND DOCS`.
#[derive(Debug)]
struct Arg {
    name: String,
    kind: String,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    multiple_token: bool,
    children: Vec<Arg>,
}

fn arg(v: &Value) -> Arg {
    let p = pairs(v);
    let flags: Vec<String> = field(&p, "flags")
        .map(|f| items(&f).iter().map(text).collect())
        .unwrap_or_default();
    Arg {
        name: field(&p, "name").map(|v| text(&v)).unwrap_or_default(),
        kind: field(&p, "type").map(|v| text(&v)).unwrap_or_default(),
        token: field(&p, "token").map(|v| text(&v)),
        optional: flags.iter().any(|f| f == "optional"),
        multiple: flags.iter().any(|f| f == "multiple"),
        multiple_token: flags.iter().any(|f| f == "multiple_token"),
        children: field(&p, "arguments")
            .map(|a| items(&a).iter().map(arg).collect())
            .unwrap_or_default(),
    }
}

/// The argument without its optional brackets and repetition.
fn body(a: &Arg, with_token: bool) -> String {
    let parts = match a.kind.as_str() {
        "pure-token" => return a.token.clone().unwrap_or_else(|| a.name.to_uppercase()),
        "block" => a.children.iter().map(render).collect::<Vec<_>>().join(" "),
        "oneof" => a
            .children
            .iter()
            .map(render)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => a.name.clone(),
    };
    match (&a.token, with_token) {
        (Some(t), true) => format!("{t} {parts}"),
        _ => parts,
    }
}

/// An argument in the notation of the syntax lines.
fn render(a: &Arg) -> String {
    let mut s = body(a, true);
    if a.multiple_token {
        // `TOKEN a ...`: the token comes again with every value.
        s.push_str(" ...");
    } else if a.multiple {
        // `a [a ...]`, `TOKEN a [a ...]`: the value repeats, not the token.
        s = format!("{s} [{} ...]", body(a, false));
    }
    if a.optional {
        s = format!("[{s}]");
    }
    s
}

/// The `**Label:** value` part of a section's header line, up to the next ` · **`.
fn header_part<'a>(header: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|label| {
        let at = header.find(label)?;
        let rest = &header[at + label.len()..];
        Some(rest.split(" · **").next().unwrap_or(rest).trim())
    })
}

/// The `code` spans of a Markdown text.
fn code_spans(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// `O(log N + M)` of `O(log N + M) for M alerts visited`.
fn leading_complexity(s: &str) -> &str {
    let Some(start) = s.find("O(") else {
        return s;
    };
    let mut depth = 0;
    for (i, c) in s[start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[start..=start + i];
                }
            }
            _ => {}
        }
    }
    s
}

const KEY_SPEC_FLAGS: [&str; 11] = [
    "RO",
    "RW",
    "OW",
    "RM",
    "ACCESS",
    "UPDATE",
    "INSERT",
    "DELETE",
    "NOT_KEY",
    "INCOMPLETE",
    "VARIABLE_FLAGS",
];

/// The key spec flags named in a header's `**Key spec:**` part, one entry per key spec.
fn documented_key_specs(header: &str) -> Option<Vec<String>> {
    let part = header_part(header, &["**Key spec:**", "**Key specs:**"])?;
    Some(
        code_spans(part)
            .into_iter()
            .filter(|c| {
                !c.is_empty()
                    && c.split(' ')
                        .all(|w| KEY_SPEC_FLAGS.contains(&w.to_ascii_uppercase().as_str()))
            })
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    )
}

fn read_docs() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/commands.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_documented_command_answers_command_docs_with_its_syntax_line() {
    let docs = read_docs();
    let sections = sections(&docs);
    assert!(
        !sections.is_empty(),
        "docs/commands.md: no `## NAME` command section found"
    );
    let s = Server::start();
    let mut c = s.client();
    let mut problems = Vec::new();
    for sec in &sections {
        let at = format!("docs/commands.md line {} ({})", sec.line_no, sec.name);
        let syntax = match &sec.syntax {
            Ok(line) => line,
            Err(e) => {
                problems.push(e.clone());
                continue;
            }
        };
        let name = sec.name.to_ascii_lowercase();
        let reply = call(&mut c, &["COMMAND", "DOCS", &name]).expect("COMMAND DOCS");
        let reply = pairs(&reply);
        let Some((_, docs)) = reply.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name)) else {
            problems.push(format!("{at}: COMMAND DOCS {name} knows no such command"));
            continue;
        };
        let docs = pairs(docs);
        let server_text = |f: &str| field(&docs, f).map(|v| text(&v)).unwrap_or_default();
        for f in ["summary", "since", "complexity"] {
            if server_text(f).trim().is_empty() {
                problems.push(format!("{at}: COMMAND DOCS {name} has no {f}"));
            }
        }

        let args: Vec<Arg> = field(&docs, "arguments")
            .map(|a| items(&a).iter().map(arg).collect())
            .unwrap_or_default();
        let rendered = std::iter::once(sec.name.clone())
            .chain(args.iter().map(render))
            .collect::<Vec<_>>()
            .join(" ");
        if rendered != *syntax {
            problems.push(format!(
                "{at}: the documented syntax line differs from the server's argument tree\n    \
                 docs:   {syntax}\n    server: {rendered}"
            ));
        }

        // The header line: since, complexity, flags, key specs.
        let header = &sec.header;
        if !header.starts_with("**Available since:**") {
            problems.push(format!(
                "{at}: the code block is not followed by the `**Available since:** ...` line"
            ));
            continue;
        }
        let since = header_part(header, &["**Available since:**"]).unwrap_or_default();
        if since.split_whitespace().next() != Some(server_text("since").as_str()) {
            problems.push(format!(
                "{at}: since '{since}', the server says '{}'",
                server_text("since")
            ));
        }
        let complexity = header_part(header, &["**Time complexity:**"]).unwrap_or_default();
        let server_complexity = server_text("complexity");
        let leading = leading_complexity(&server_complexity);
        if !complexity.starts_with(leading) {
            problems.push(format!(
                "{at}: time complexity '{complexity}' does not start with the server's \
                 '{leading}' ('{server_complexity}')"
            ));
        }

        let info = call(&mut c, &["COMMAND", "INFO", &name]).expect("COMMAND INFO");
        let info = items(&items(&info)[0]);
        let server_flags: BTreeSet<String> = items(&info[2])
            .iter()
            .map(text)
            .filter(|f| f != "module")
            .collect();
        let documented_flags: BTreeSet<String> =
            code_spans(header_part(header, &["**Flags:**"]).unwrap_or_default())
                .into_iter()
                // COMMAND INFO shows the module flag getkeys-api as movablekeys.
                .map(|f| {
                    if f == "getkeys-api" {
                        "movablekeys".to_string()
                    } else {
                        f
                    }
                })
                .collect();
        if documented_flags != server_flags {
            problems.push(format!(
                "{at}: flags {documented_flags:?}, COMMAND INFO says {server_flags:?}"
            ));
        }
        let server_specs: Vec<String> = items(&info[8])
            .iter()
            .map(|spec| {
                let flags = field(&pairs(spec), "flags").expect("key spec flags");
                items(&flags)
                    .iter()
                    .map(|f| text(f).to_ascii_uppercase())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        match documented_key_specs(header) {
            None => problems.push(format!(
                "{at}: no `**Key spec:**` in the header line (COMMAND INFO: {server_specs:?})"
            )),
            Some(documented) if documented != server_specs => problems.push(format!(
                "{at}: key specs {documented:?}, COMMAND INFO says {server_specs:?}"
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_module_commands_are_exactly_the_documented_ones() {
    let docs = read_docs();
    let mut documented = BTreeSet::new();
    let mut twice = Vec::new();
    for sec in sections(&docs) {
        if !documented.insert(sec.name.to_ascii_lowercase()) {
            twice.push(sec.name);
        }
    }
    assert!(twice.is_empty(), "sections given twice: {twice:?}");

    let s = Server::start();
    let mut c = s.client();
    let listed = call(&mut c, &["COMMAND", "LIST", "FILTERBY", "MODULE", "vigil"])
        .expect("COMMAND LIST FILTERBY MODULE");
    let served: BTreeSet<String> = items(&listed).iter().map(text).collect();
    assert!(
        served.iter().all(|n| ["alert.", "quota.", "lru."]
            .iter()
            .any(|p| n.starts_with(p))),
        "{served:?}"
    );
    let undocumented: Vec<&String> = served.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "commands without a `## NAME` section in docs/commands.md: {undocumented:?}; \
         sections of commands the server does not know: {unknown:?}"
    );
}

/// `MODULE LIST`'s `ver` is the crate's release (major * 10000 + minor * 100 + patch), as
/// docs/commands.md says, and no command or option is documented as added by a later one.
#[test]
fn module_list_shows_the_release_and_no_since_is_later() {
    let release: Vec<i64> = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse().expect("a numeric version"))
        .collect();
    let encoded = release[0] * 10000 + release[1] * 100 + release[2];
    let s = Server::start();
    let mut c = s.client();
    let modules = call(&mut c, &["MODULE", "LIST"]).expect("MODULE LIST");
    let vigil = items(&modules)
        .iter()
        .map(|m| {
            let fields = items(m);
            let field = |name: &str| {
                fields
                    .chunks(2)
                    .find(|kv| text(&kv[0]) == name)
                    .map(|kv| kv[1].clone())
            };
            (field("name").map(|v| text(&v)), field("ver"))
        })
        .find(|(name, _)| name.as_deref() == Some("vigil"))
        .expect("vigil in MODULE LIST");
    assert_eq!(vigil.1, Some(Value::Int(encoded)), "{modules:?}");
    let docs = read_docs();
    for (no, line) in docs.lines().enumerate() {
        for part in line.split("since:** ").skip(1) {
            let v: Vec<i64> = part
                .split(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
                .next()
                .unwrap_or("")
                .split('.')
                .filter_map(|p| p.parse().ok())
                .collect();
            if v.len() == 3 {
                assert!(
                    v <= release,
                    "docs/commands.md:{}: since {v:?} is later than {release:?}",
                    no + 1
                );
            }
        }
    }
}

#[test]
fn the_renderer_reads_the_notation() {
    let opt = |name: &str, kind: &str, token: Option<&str>| Arg {
        name: name.into(),
        kind: kind.into(),
        token: token.map(str::to_string),
        optional: true,
        multiple: false,
        multiple_token: false,
        children: Vec::new(),
    };
    let mut max = opt("n", "integer", Some("MAX"));
    let mut evict = opt("evict", "block", Some("EVICT"));
    let mut tracker = opt("tracker", "key", None);
    tracker.optional = false;
    evict.children = vec![tracker, max];
    assert_eq!(render(&evict), "[EVICT tracker [MAX n]]");
    max = opt("pct", "integer", Some("AT"));
    max.optional = false;
    max.multiple = true;
    assert_eq!(render(&max), "AT pct [pct ...]");
    let mut label = opt("name=value", "string", Some("LABEL"));
    label.multiple = true;
    label.multiple_token = true;
    assert_eq!(render(&label), "[LABEL name=value ...]");
    let mut one = opt("a_b", "oneof", None);
    one.children = vec![
        opt("a", "pure-token", Some("A")),
        opt("b", "pure-token", Some("B")),
    ];
    for c in &mut one.children {
        c.optional = false;
    }
    assert_eq!(render(&one), "[A | B]");
    assert_eq!(leading_complexity("O(log N + M) for M"), "O(log N + M)");
}
