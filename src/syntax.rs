//! Command syntax lines (`ALERT.RANGE key start end [REV] [COUNT n] ...`), the one source of
//! truth for a command's arguments: docs/commands.md shows the same lines (a test keeps them
//! equal), and this parser turns each into the argument tree `COMMAND DOCS` serves and
//! redis-cli's hints read.
//!
//! The notation is redis.io's: UPPERCASE words are tokens, lowercase words are arguments,
//! `[...]` is optional, `a [a ...]` and `[TOKEN a ...]` repeat, `a | b` is one of.

/// What `COMMAND DOCS` calls an argument's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    String,
    Integer,
    Key,
    PureToken,
    OneOf,
    Block,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgNode {
    pub name: String,
    pub kind: ArgKind,
    pub token: Option<String>,
    pub optional: bool,
    pub multiple: bool,
    pub multiple_token: bool,
    /// Index of the key spec a key argument belongs to.
    pub key_spec: Option<usize>,
    pub children: Vec<ArgNode>,
}

impl ArgNode {
    fn new(name: &str, kind: ArgKind) -> ArgNode {
        ArgNode {
            name: name.to_string(),
            kind,
            token: None,
            optional: false,
            multiple: false,
            multiple_token: false,
            key_spec: None,
            children: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Word(String),
    Group(Vec<Item>),
    Repeat,
    Or,
}

fn tokenize(s: &str) -> Result<Vec<Item>, String> {
    fn group(
        words: &mut std::iter::Peekable<std::vec::IntoIter<String>>,
    ) -> Result<Vec<Item>, String> {
        let mut out = Vec::new();
        while let Some(w) = words.next() {
            match w.as_str() {
                "[" => out.push(Item::Group(group(words)?)),
                "]" => return Ok(out),
                "..." => out.push(Item::Repeat),
                "|" => out.push(Item::Or),
                _ => out.push(Item::Word(w)),
            }
        }
        Ok(out)
    }
    let spaced = s.replace('[', " [ ").replace(']', " ] ");
    let words: Vec<String> = spaced.split_whitespace().map(str::to_string).collect();
    let depth = words.iter().try_fold(0i32, |d, w| {
        let d = d + i32::from(w == "[") - i32::from(w == "]");
        (d >= 0).then_some(d)
    });
    if depth != Some(0) {
        return Err(format!("unbalanced brackets in '{s}'"));
    }
    let mut it = words.into_iter().peekable();
    group(&mut it)
}

fn is_token(w: &str) -> bool {
    w.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && w.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// How an argument's type is chosen: the command's key arguments by name, numbers by name.
pub struct Kinds<'a> {
    /// (argument name, key spec index) of the command's declared keys.
    pub keys: &'a [(&'a str, usize)],
}

impl Kinds<'_> {
    fn arg(&self, name: &str) -> ArgNode {
        if let Some((_, spec)) = self.keys.iter().find(|(k, _)| *k == name) {
            let mut a = ArgNode::new(name, ArgKind::Key);
            a.key_spec = Some(*spec);
            return a;
        }
        let kind = match name {
            "ms" | "n" | "count" | "pct" | "window_ms" => ArgKind::Integer,
            _ => ArgKind::String,
        };
        ArgNode::new(name, kind)
    }
}

/// Parses a whole syntax line; the first word is the command name. Returns the arguments
/// after it.
pub fn parse(line: &str, kinds: &Kinds) -> Result<Vec<ArgNode>, String> {
    let items = tokenize(line)?;
    let Some((Item::Word(_), rest)) = items.split_first() else {
        return Err(format!("'{line}' does not start with the command name"));
    };
    seq(rest, kinds, false)
}

/// A sequence of items, with `|` alternatives and `...` repeats resolved.
fn seq(items: &[Item], kinds: &Kinds, in_group: bool) -> Result<Vec<ArgNode>, String> {
    let mut out: Vec<ArgNode> = Vec::new();
    // `a | b`: the node after a `|` joins the one before it as alternatives.
    let mut or_next = false;
    let mut i = 0;
    while i < items.len() {
        let before = out.len();
        match &items[i] {
            Item::Word(w) if is_token(w) => {
                // A token takes the plain arguments that follow it.
                let mut j = i + 1;
                let mut args = Vec::new();
                while let Some(Item::Word(a)) = items.get(j) {
                    if is_token(a) {
                        break;
                    }
                    args.push(kinds.arg(a));
                    j += 1;
                }
                // `TOKEN a [a ...]`: the argument repeats.
                if let (Some(last), Some(Item::Group(g))) = (args.last_mut(), items.get(j)) {
                    if repeats(g, &last.name) {
                        last.multiple = true;
                        j += 1;
                    }
                }
                // `[... TOKEN x ...]`: the token repeats with each value.
                let repeat = matches!(items.get(j), Some(Item::Repeat));
                if repeat {
                    j += 1;
                }
                // Inside a group, nested groups after the token's arguments belong to it:
                // `[EVICT t [MAX n]]`.
                let mut nested = Vec::new();
                while let (true, Some(Item::Group(g))) = (in_group, items.get(j)) {
                    let mut inner = seq(g, kinds, true)?;
                    for n in &mut inner {
                        n.optional = true;
                    }
                    nested.extend(inner);
                    j += 1;
                }
                let mut node = if args.is_empty() && nested.is_empty() {
                    ArgNode::new(&w.to_ascii_lowercase(), ArgKind::PureToken)
                } else if args.len() == 1 && nested.is_empty() {
                    args.pop()
                        .unwrap_or_else(|| ArgNode::new(w, ArgKind::String))
                } else {
                    let mut b = ArgNode::new(&w.to_ascii_lowercase(), ArgKind::Block);
                    b.children = args;
                    b.children.extend(nested);
                    b
                };
                node.token = Some(w.clone());
                if repeat {
                    node.multiple = true;
                    node.multiple_token = true;
                }
                out.push(node);
                i = j;
            }
            Item::Word(w) => {
                out.push(kinds.arg(w));
                i += 1;
            }
            Item::Group(g) => {
                // `a b [a b ...]`: the arguments before repeat.
                let names: Vec<String> = g
                    .iter()
                    .filter_map(|x| match x {
                        Item::Word(w) => Some(w.clone()),
                        _ => None,
                    })
                    .collect();
                let is_repeat = g.last() == Some(&Item::Repeat)
                    && !names.is_empty()
                    && out.len() >= names.len()
                    && names.iter().all(|n| !is_token(n))
                    && out[out.len() - names.len()..]
                        .iter()
                        .zip(&names)
                        .all(|(a, n)| a.name == *n && a.token.is_none());
                if is_repeat {
                    let tail = out.split_off(out.len() - names.len());
                    let mut node = if tail.len() == 1 {
                        tail.into_iter()
                            .next()
                            .unwrap_or_else(|| ArgNode::new("x", ArgKind::String))
                    } else {
                        let mut b = ArgNode::new(&names.join("_"), ArgKind::Block);
                        b.children = tail;
                        b
                    };
                    node.multiple = true;
                    out.push(node);
                } else {
                    let inner = seq(g, kinds, true)?;
                    let mut node = as_one(inner, g)?;
                    node.optional = true;
                    out.push(node);
                }
                i += 1;
            }
            Item::Repeat => return Err("'...' in an unexpected place".into()),
            Item::Or => {
                if out.is_empty() || or_next {
                    return Err("'|' in an unexpected place".into());
                }
                or_next = true;
                i += 1;
                continue;
            }
        }
        if or_next && out.len() == before + 1 && before > 0 {
            let (Some(b), Some(a)) = (out.pop(), out.pop()) else {
                return Err("'|' without two alternatives".into());
            };
            let mut node = if a.kind == ArgKind::OneOf && a.token.is_none() && !a.optional {
                a
            } else {
                let mut o = ArgNode::new("", ArgKind::OneOf);
                o.children.push(a);
                o
            };
            node.children.push(b);
            node.name = node
                .children
                .iter()
                .map(|c| {
                    c.token
                        .as_deref()
                        .map_or(c.name.clone(), str::to_ascii_lowercase)
                })
                .collect::<Vec<_>>()
                .join("_");
            out.push(node);
            or_next = false;
        }
    }
    if or_next {
        return Err("'|' at the end".into());
    }
    Ok(out)
}

/// `[a ...]` where `a` is `name`.
fn repeats(g: &[Item], name: &str) -> bool {
    matches!(g, [Item::Word(w), Item::Repeat] if w == name)
}

/// Several nodes as one: a block unless there is just one.
fn as_one(mut nodes: Vec<ArgNode>, items: &[Item]) -> Result<ArgNode, String> {
    match nodes.len() {
        0 => Err(format!("empty group {items:?}")),
        1 => Ok(nodes.remove(0)),
        _ => {
            let name = nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join("_");
            let mut b = ArgNode::new(&name, ArgKind::Block);
            b.children = nodes;
            Ok(b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str, keys: &[(&str, usize)]) -> Vec<ArgNode> {
        parse(line, &Kinds { keys }).unwrap()
    }

    #[test]
    fn range_options() {
        let args = p(
            "ALERT.RANGE key start end [REV] [COUNT n] [LABEL name=value ...]",
            &[("key", 0)],
        );
        let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["key", "start", "end", "rev", "n", "name=value"]);
        assert_eq!(args[0].kind, ArgKind::Key);
        assert_eq!(args[3].kind, ArgKind::PureToken);
        assert!(args[3].optional);
        assert_eq!(args[4].token.as_deref(), Some("COUNT"));
        assert_eq!(args[4].kind, ArgKind::Integer);
        assert!(args[5].multiple && args[5].multiple_token && args[5].optional);
    }

    #[test]
    fn repeats_blocks_and_alternatives() {
        let args = p(
            "LRU.TOUCH tracker key size [key size ...]",
            &[("tracker", 0)],
        );
        assert_eq!(args.len(), 2);
        assert_eq!(args[1].kind, ArgKind::Block);
        assert!(args[1].multiple);
        assert_eq!(args[1].children.len(), 2);
        assert_eq!(
            args[1].children[0].kind,
            ArgKind::String,
            "tracked keys are not declared"
        );

        let args = p("ALERT.GET key id [id ...]", &[("key", 0)]);
        assert_eq!(args.len(), 2);
        assert!(args[1].multiple && !args[1].optional);

        let args = p("ALERT.TRIM key MAXLEN n | MINTS ms", &[("key", 0)]);
        assert_eq!(args[1].kind, ArgKind::OneOf);
        assert_eq!(args[1].children[0].token.as_deref(), Some("MAXLEN"));

        let args = p(
            "QUOTA.INCR key amount [EVICT tracker [MAX n]] [DRYRUN]",
            &[("key", 0), ("tracker", 1)],
        );
        let evict = &args[2];
        assert_eq!((evict.kind, evict.optional), (ArgKind::Block, true));
        assert_eq!(evict.children[0].key_spec, Some(1));
        assert_eq!(evict.children[1].token.as_deref(), Some("MAX"));
        assert!(evict.children[1].optional);

        let args = p(
            "QUOTA.SET key LIMIT amount [ALERTS stream AT pct [pct ...]]",
            &[("key", 0), ("stream", 1)],
        );
        let alerts = &args[2];
        assert_eq!(alerts.children[1].token.as_deref(), Some("AT"));
        assert!(alerts.children[1].multiple);
        let args = p("ALERT.CREATE key [RATELIMIT n window_ms]", &[("key", 0)]);
        assert_eq!(args[1].kind, ArgKind::Block);
    }

    #[test]
    fn bad_lines() {
        let k = Kinds { keys: &[] };
        assert!(parse("X key [a", &k).is_err());
        assert!(parse("X key a]", &k).is_err());
        assert!(parse("X ...", &k).is_err());
        assert!(parse("", &k).is_err());
    }
}
