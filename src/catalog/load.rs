//! Reading catalog sources: a folder, a YAML file (following relative `Location` targets), or catalog API JSON.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};
use serde_json::Value;
use serde_json::value::RawValue;

use super::diagnostics::{
    CatalogError, CatalogWarning, Io, JsonSyntax, LocationLoop, Site, SkippedFile, TargetIsFolder,
    TargetNotFollowed, TargetNotFound, TargetOutsideRoot, YamlSyntax,
};
use super::yaml::{self, Seg};

/// One file (or text) the catalog came from.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub name: Arc<str>,
    pub text: Arc<String>,
    /// Where each node of the file's YAML is, read once for the first diagnostic that asks.
    nodes: std::sync::OnceLock<Option<yaml::NodeIndex>>,
}

/// Where a document sits in its file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DocPos {
    Yaml {
        index: usize,
        start_char: usize,
        end_char: usize,
        line: usize,
    },
    Json {
        start_byte: usize,
        line: usize,
    },
}

impl DocPos {
    pub fn line(&self) -> usize {
        match self {
            DocPos::Yaml { line, .. } | DocPos::Json { line, .. } => *line,
        }
    }
}

/// A parsed document, not yet validated.
#[derive(Debug)]
pub(crate) struct RawDoc {
    pub file: usize,
    pub value: Value,
    pub pos: DocPos,
}

/// Everything read so far, with the problems found on the way.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    pub files: Vec<SourceFile>,
    pub docs: Vec<RawDoc>,
    pub errors: Vec<CatalogError>,
    pub warnings: Vec<CatalogWarning>,
    visited: HashSet<PathBuf>,
}

impl Sources {
    /// Where the node at `path` of a document is, for a diagnostic.
    pub fn site(&self, file: usize, pos: DocPos, path: &[Seg<'_>], entity: Option<String>) -> Site {
        let Some(f) = self.files.get(file) else {
            return Site {
                entity,
                ..Site::default()
            };
        };
        let text = f.text.as_str();
        let (start, len, line) = match pos {
            DocPos::Yaml {
                index,
                start_char,
                end_char,
                line,
            } => {
                let found = f
                    .nodes
                    .get_or_init(|| yaml::index_nodes(text))
                    .as_ref()
                    .and_then(|nodes| nodes.get(index, path));
                let (s, e, l) = found.unwrap_or((
                    start_char,
                    (start_char + 1).min(end_char.max(start_char + 1)),
                    line,
                ));
                let sb = yaml::char_to_byte(text, s);
                let eb = yaml::char_to_byte(text, e);
                (sb, eb.saturating_sub(sb), l)
            }
            DocPos::Json { start_byte, line } => (start_byte, 1, line),
        };
        let len = len.min(text.len().saturating_sub(start));
        Site {
            file: f.name.to_string(),
            line,
            entity,
            src: Some(NamedSource::new(&f.name, f.text.clone())),
            span: Some(SourceSpan::new(start.into(), len)),
        }
    }

    fn file_site(&self, file: usize, start_char: usize, end_char: usize, line: usize) -> Site {
        let Some(f) = self.files.get(file) else {
            return Site::default();
        };
        let text = f.text.as_str();
        let sb = yaml::char_to_byte(text, start_char).min(text.len());
        let eb = yaml::char_to_byte(text, end_char).min(text.len());
        Site {
            file: f.name.to_string(),
            line,
            entity: None,
            src: Some(NamedSource::new(&f.name, f.text.clone())),
            span: Some(SourceSpan::new(sb.into(), eb.saturating_sub(sb))),
        }
    }

    fn add_file(&mut self, name: &str, text: String) -> usize {
        self.files.push(SourceFile {
            name: Arc::from(name),
            text: Arc::new(text),
            nodes: std::sync::OnceLock::new(),
        });
        self.files.len() - 1
    }

    /// Adds YAML text; returns the file's index and how many documents it gave.
    pub fn add_yaml(&mut self, name: &str, text: String, skip_non_entities: bool) -> Option<usize> {
        let file = self.add_file(name, text);
        let text = self
            .files
            .get(file)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        match yaml::parse_documents(&text) {
            Ok(docs) => {
                if skip_non_entities
                    && !docs.is_empty()
                    && docs.iter().all(|d| !looks_like_entity(&d.value))
                {
                    let site = self.file_site(file, 0, 0, 1);
                    self.warnings
                        .push(CatalogWarning::SkippedFile(Box::new(SkippedFile::at(
                            site,
                            "it holds no catalog entities (no document has `apiVersion` or `kind`)"
                                .into(),
                        ))));
                    return None;
                }
                for d in docs {
                    let pos = DocPos::Yaml {
                        index: d.index,
                        start_char: d.start_char,
                        end_char: d.end_char,
                        line: d.line,
                    };
                    self.docs.push(RawDoc {
                        file,
                        value: d.value,
                        pos,
                    });
                }
                Some(file)
            }
            Err(e) => {
                let site = self.file_site(file, e.start_char, e.end_char, e.line);
                self.errors
                    .push(CatalogError::YamlSyntax(Box::new(YamlSyntax::at(
                        site, e.message,
                    ))));
                None
            }
        }
    }

    /// Adds the JSON array that `GET /api/catalog/entities` returns.
    pub fn add_api_json(&mut self, name: &str, text: String) {
        let file = self.add_file(name, text);
        let text = self
            .files
            .get(file)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        let items: Vec<&RawValue> = match serde_json::from_str(&text) {
            Ok(items) => items,
            Err(e) => {
                let (line, col) = (e.line(), e.column());
                let byte = line_col_to_byte(&text, line, col);
                let mut site = self.file_site(file, 0, 0, line);
                site.span = Some(SourceSpan::new(byte.into(), 0));
                let reason = if e.is_data() {
                    "expected an array of entities".to_string()
                } else {
                    e.to_string()
                };
                self.errors
                    .push(CatalogError::JsonSyntax(Box::new(JsonSyntax::at(
                        site, reason,
                    ))));
                return;
            }
        };
        let base = text.as_ptr() as usize;
        let mut line = 1usize;
        let mut scanned = 0usize;
        for item in items {
            let start_byte = (item.get().as_ptr() as usize)
                .saturating_sub(base)
                .min(text.len());
            line += text
                .get(scanned..start_byte)
                .map_or(0, |s| s.bytes().filter(|b| *b == b'\n').count());
            scanned = start_byte;
            let pos = DocPos::Json { start_byte, line };
            match serde_json::from_str::<Value>(item.get()) {
                Ok(mut value) => {
                    strip_server_fields(&mut value);
                    self.docs.push(RawDoc { file, value, pos });
                }
                Err(e) => {
                    let site = self.site(file, pos, &[], None);
                    self.errors
                        .push(CatalogError::JsonSyntax(Box::new(JsonSyntax::at(
                            site,
                            e.to_string(),
                        ))));
                }
            }
        }
    }

    /// Loads a folder, a YAML file or an API JSON file, following Locations.
    pub fn add_path(&mut self, path: &Path) {
        if path.is_dir() {
            let root = canonical(path);
            let mut found = Walked::default();
            if let Err(e) = walk(path, &root, &mut found) {
                self.io_error(path, &e);
                return;
            }
            let special = found
                .special
                .iter()
                .map(|f| (f, "it is not a regular file (a FIFO, a socket or a device)"));
            let outside = found
                .outside
                .iter()
                .map(|f| (f, "it is a link that leads out of the catalog folder"));
            let mut skipped: Vec<(&PathBuf, &str)> = special.chain(outside).collect();
            skipped.sort();
            for (f, why) in skipped {
                let site = Site {
                    file: f.display().to_string(),
                    ..Site::default()
                };
                self.warnings
                    .push(CatalogWarning::SkippedFile(Box::new(SkippedFile::at(
                        site,
                        why.into(),
                    ))));
            }
            found.files.sort();
            for f in found.files {
                self.follow(&f, &root, Vec::new(), true);
            }
            return;
        }
        let looks_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if looks_json {
            match std::fs::read_to_string(path).map(crate::input::without_bom) {
                Ok(text) if text.trim_start().starts_with('[') => {
                    self.add_api_json(&path.display().to_string(), text)
                }
                Ok(text) => {
                    self.add_yaml(&path.display().to_string(), text, false);
                }
                Err(e) => self.io_error(path, &e),
            }
            return;
        }
        let root = path.parent().map_or_else(|| PathBuf::from("."), canonical);
        self.follow(path, &root, Vec::new(), false);
    }

    fn io_error(&mut self, path: &Path, e: &std::io::Error) {
        let site = Site {
            file: path.display().to_string(),
            ..Site::default()
        };
        self.errors.push(CatalogError::Io(Box::new(Io::at(
            site,
            path.display().to_string(),
            e.to_string(),
        ))));
    }

    /// Loads `path` (once) and, depth first, the relative targets of its Locations.
    fn follow(&mut self, path: &Path, root: &Path, chain: Vec<PathBuf>, from_walk: bool) {
        let key = canonical(path);
        if !self.visited.insert(key.clone()) {
            return;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return self.io_error(path, &e),
        };
        let first_doc = self.docs.len();
        let Some(file) = self.add_yaml(&path.display().to_string(), text, from_walk) else {
            return;
        };
        let mut chain = chain;
        chain.push(key);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let targets: Vec<(DocPos, usize, String, bool)> = self
            .docs
            .get(first_doc..)
            .unwrap_or_default()
            .iter()
            .filter(|d| is_location(&d.value))
            .flat_map(|d| {
                location_targets(&d.value)
                    .into_iter()
                    .map(move |(i, t, many)| (d.pos, i, t, many))
            })
            .collect();
        for (pos, i, target, many) in targets {
            let seg = if many {
                vec![Seg::Key("spec"), Seg::Key("targets"), Seg::Item(i)]
            } else {
                vec![Seg::Key("spec"), Seg::Key("target")]
            };
            if let Some(reason) = not_followed(&target) {
                let site = self.site(file, pos, &seg, None);
                self.warnings
                    .push(CatalogWarning::TargetNotFollowed(Box::new(
                        TargetNotFollowed::at(site, target, reason.into()),
                    )));
                continue;
            }
            let next = normalize(&dir.join(&target));
            let next_key = canonical(&next);
            if !next.exists() {
                let site = self.site(file, pos, &seg, None);
                self.errors
                    .push(CatalogError::TargetNotFound(Box::new(TargetNotFound::at(
                        site, target,
                    ))));
                continue;
            }
            if next.is_dir() {
                let site = self.site(file, pos, &seg, None);
                self.errors
                    .push(CatalogError::TargetIsFolder(Box::new(TargetIsFolder::at(
                        site, target,
                    ))));
                continue;
            }
            if std::fs::metadata(&next).is_ok_and(|m| !m.is_file()) {
                // A FIFO, a socket or a device: reading it could block forever.
                let site = self.site(file, pos, &seg, None);
                self.warnings
                    .push(CatalogWarning::TargetNotFollowed(Box::new(
                        TargetNotFollowed::at(site, target, "it is not a regular file".into()),
                    )));
                continue;
            }
            if !next_key.starts_with(root) {
                let site = self.site(file, pos, &seg, None);
                let root = root.display().to_string();
                self.errors.push(CatalogError::TargetOutsideRoot(Box::new(
                    TargetOutsideRoot::at(site, target, root),
                )));
                continue;
            }
            if let Some(at) = chain.iter().position(|c| *c == next_key) {
                let mut names: Vec<String> = chain
                    .get(at..)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| format!("`{}`", p.display()))
                    .collect();
                names.push(format!("`{}`", next_key.display()));
                let site = self.site(file, pos, &seg, None);
                self.errors
                    .push(CatalogError::LocationLoop(Box::new(LocationLoop::at(
                        site,
                        names.join(" -> "),
                    ))));
                continue;
            }
            self.follow(&next, root, chain.clone(), false);
        }
    }
}

/// Why a Location target is not followed, if it is not.
fn not_followed(target: &str) -> Option<&'static str> {
    if target.contains("://") || target.starts_with("url:") {
        Some("only relative file targets are followed")
    } else if Path::new(target).is_absolute() {
        Some("absolute paths are not followed")
    } else if target.contains(['*', '?', '[']) {
        Some("glob patterns are not supported")
    } else {
        None
    }
}

fn looks_like_entity(v: &Value) -> bool {
    v.as_object()
        .is_none_or(|m| m.contains_key("apiVersion") || m.contains_key("kind"))
}

pub(crate) fn is_location(v: &Value) -> bool {
    v.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.eq_ignore_ascii_case("location"))
}

/// `(index, target, from the targets list)` of a Location's string targets.
pub(crate) fn location_targets(v: &Value) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    let spec = v.get("spec");
    if let Some(t) = spec.and_then(|s| s.get("target")).and_then(Value::as_str) {
        out.push((0, t.to_string(), false));
    }
    if let Some(ts) = spec
        .and_then(|s| s.get("targets"))
        .and_then(Value::as_array)
    {
        out.extend(
            ts.iter()
                .enumerate()
                .filter_map(|(i, t)| t.as_str().map(|t| (i, t.to_string(), true))),
        );
    }
    out
}

/// Removes what the catalog server adds (relations, status, uid, etag, generation): the model recomputes or ignores them.
fn strip_server_fields(v: &mut Value) {
    if let Some(m) = v.as_object_mut() {
        m.shift_remove("relations");
        m.shift_remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["uid", "etag", "generation"] {
                meta.shift_remove(k);
            }
        }
    }
}

/// What a walk of a catalog folder found: its YAML files, and YAML names that are no regular
/// file (a FIFO, a socket, a device), which are not read.
#[derive(Default)]
struct Walked {
    files: Vec<PathBuf>,
    special: Vec<PathBuf>,
    /// Links that lead out of the catalog folder, which are not followed.
    outside: Vec<PathBuf>,
    /// The folders walked so far, resolved: a link back to one of them is not walked again.
    seen: std::collections::HashSet<PathBuf>,
}

/// Collects the YAML files under `dir`, following links to folders inside `root` once each (a
/// link that leads back up, or out of the folder, would walk forever or walk the disk).
fn walk(dir: &Path, root: &Path, found: &mut Walked) -> std::io::Result<()> {
    found.seen.insert(canonical(dir));
    // In name order, so that a folder reached both directly and through a link is always walked
    // (and named in diagnostics) the same way.
    let mut entries = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<PathBuf>>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        let meta = std::fs::metadata(&path);
        if meta.as_ref().is_ok_and(std::fs::Metadata::is_dir) {
            let resolved = canonical(&path);
            if !resolved.starts_with(root) {
                found.outside.push(path);
            } else if !found.seen.contains(&resolved) {
                walk(&path, root, found)?;
            }
            continue;
        }
        let yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        match meta {
            _ if !yaml => {}
            Ok(m) if !m.is_file() => found.special.push(path),
            // A link to a file outside the folder, as a Location target may not lead out of it.
            Ok(_) if !canonical(&path).starts_with(root) => found.outside.push(path),
            // A file, or a name that cannot be looked at (a dangling link): read, which says why
            // it cannot be.
            _ => found.files.push(path),
        }
    }
    Ok(())
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| normalize(p))
}

/// Resolves `.` and `..` without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn line_col_to_byte(text: &str, line: usize, col: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + col.saturating_sub(1)).min(text.len())
}
