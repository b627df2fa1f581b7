//! The repository stands on its own: every relative link of its Markdown pages leads to a file
//! inside it, and no file sends the reader to the `shared` directory beside the repository that
//! only the developers' machines have (issue 9: a clone has no such path).

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .expect("the repository")
}

/// Files of the repository, without build output and VCS data.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // file_type() does not follow symlinks: a link to a directory is not walked.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if !matches!(name.as_ref(), ".git" | "target" | "run" | "node_modules") {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// The targets of the inline links `[text](target)` of a Markdown text, outside code blocks.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            match after.find(')') {
                Some(end) => {
                    targets.push(after[..end].trim().to_string());
                    rest = &after[end..];
                }
                None => break,
            }
        }
    }
    targets
}

#[test]
fn markdown_links_stay_inside_the_repository() {
    let root = repo();
    let mut all = Vec::new();
    files(&root, &mut all);
    let pages: Vec<&PathBuf> = all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    assert!(pages.len() >= 5, "Markdown pages found: {pages:?}");
    let mut broken = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(page).unwrap_or_default();
        for target in link_targets(&text) {
            if target.is_empty()
                || target.starts_with('#')
                || target.contains("://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let file_part = target.split('#').next().unwrap_or_default();
            let resolved = page.parent().expect("a directory").join(file_part);
            let inside = resolved
                .canonicalize()
                .map(|p| p.starts_with(&root))
                .unwrap_or(false);
            if !inside {
                broken.push(format!(
                    "{}: ({target})",
                    page.strip_prefix(&root).unwrap_or(page).display()
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing inside the repository:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_file_refers_to_the_shared_directory() {
    let root = repo();
    let mut all = Vec::new();
    files(&root, &mut all);
    let needle = ["..", "shared"].join("/");
    let offenders: Vec<String> = all
        .iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|bytes| String::from_utf8_lossy(&bytes).contains(&needle))
                .unwrap_or(false)
        })
        .map(|p| p.strip_prefix(&root).unwrap_or(p).display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "files that refer to {needle}, which a clone does not have: {offenders:?}"
    );
}

#[test]
fn link_targets_are_read_outside_code_blocks() {
    let md = "see [a](docs/a.md#x) and [b](https://x.y)\n```\n[c](nope.md)\n```\n[d](e.md)";
    assert_eq!(link_targets(md), ["docs/a.md#x", "https://x.y", "e.md"]);
}
