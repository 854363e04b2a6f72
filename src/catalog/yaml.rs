//! YAML text to JSON documents with their positions, built straight from saphyr's event stream.

use std::borrow::Cow;

use rayon::prelude::*;
use saphyr::Scalar;
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

/// How many nodes alias expansion may copy in one file (guards against "billion laughs").
const ALIAS_BUDGET: usize = 1_000_000;

/// Files bigger than this are not re-parsed to point a diagnostic at one field.
const LOCATE_LIMIT: usize = 1 << 20;

/// One YAML document of a file, as JSON.
#[derive(Debug, PartialEq)]
pub(crate) struct YamlDoc {
    pub value: Value,
    /// 1-based line of the document's root node.
    pub line: usize,
    /// Character offsets of the root node (saphyr counts characters, not bytes).
    pub start_char: usize,
    pub end_char: usize,
    /// 0-based position of the document in its file.
    pub index: usize,
}

/// Why YAML text could not be read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub message: String,
    pub line: usize,
    pub start_char: usize,
    pub end_char: usize,
}

enum Frame {
    /// Entries are collected first so that the map is built at its exact size (catalogs are big).
    Map {
        entries: Vec<(String, Value, Span)>,
        key: Option<(String, Span)>,
        anchor: usize,
    },
    Seq {
        items: Vec<Value>,
        anchor: usize,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: Vec<(usize, Value)>,
    budget: usize,
    root: Option<Value>,
}

fn err_at(message: String, span: Span) -> YamlError {
    YamlError {
        message,
        line: span.start.line(),
        start_char: span.start.index(),
        end_char: span.end.index().max(span.start.index() + 1),
    }
}

/// The text as a `String` of exactly its length (the scanner grows strings as it reads them, and a
/// catalog keeps hundreds of thousands of them).
fn exact(text: Cow<'_, str>) -> String {
    match text {
        Cow::Owned(s) if s.capacity() > s.len() => s.as_str().to_owned(),
        other => other.into_owned(),
    }
}

fn scalar_value(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Cow<'_, saphyr::Tag>>,
) -> Value {
    // Untagged scalars that can only be strings: quoted ones, and plain ones starting with a
    // letter that starts no null, bool or number of the core schema.
    let plain_string =
        || text.starts_with(|c: char| c.is_ascii_alphabetic() && !"nNtTfF".contains(c));
    if tag.is_none() && (style != ScalarStyle::Plain || plain_string()) {
        return Value::String(exact(text));
    }
    let fallback = || Value::String(text.to_string());
    match Scalar::parse_from_cow_and_metadata(text.clone(), style, tag) {
        Some(Scalar::Null) => Value::Null,
        Some(Scalar::Boolean(b)) => Value::Bool(b),
        Some(Scalar::Integer(i)) => Value::Number(i.into()),
        Some(Scalar::FloatingPoint(f)) => {
            Number::from_f64(f.into_inner()).map_or_else(fallback, Value::Number)
        }
        Some(Scalar::String(s)) => Value::String(exact(s)),
        None => fallback(),
    }
}

fn node_count(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(node_count).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

impl Builder {
    fn insert(
        &mut self,
        value: Value,
        key_text: Option<String>,
        span: Span,
    ) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(value);
                Ok(())
            }
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    let Some(k) = key_text else {
                        return Err(err_at("a mapping key must be a scalar".into(), span));
                    };
                    *key = Some((k, span));
                    Ok(())
                }
                Some((k, key_span)) => {
                    entries.push((k, value, key_span));
                    Ok(())
                }
            },
        }
    }

    fn remember(&mut self, anchor: usize, value: &Value) {
        if anchor != 0 {
            self.anchors.push((anchor, value.clone()));
        }
    }
}

/// Texts at least this big are split at document markers and their parts parsed in parallel.
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// Parses every document of `text`; empty documents are skipped.
///
/// A big text is cut at its `---` lines into parts parsed in parallel, positions shifted back to
/// the whole text's; a text with directives (`%` lines) is parsed whole, and so is one where any
/// part fails, so that errors read exactly as parsing the whole text reports them.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<YamlDoc>, YamlError> {
    parse_in_parts(text, PARALLEL_MIN_BYTES, rayon::current_num_threads() * 4)
}

/// [`parse_documents`], cutting texts of at least `min_bytes` into about `want` parts.
fn parse_in_parts(text: &str, min_bytes: usize, want: usize) -> Result<Vec<YamlDoc>, YamlError> {
    let parts = document_parts(text, min_bytes, want);
    if parts.len() < 2 {
        return parse_whole(text).map(|(docs, _)| docs);
    }
    let parsed: Vec<_> = parts
        .par_iter()
        .map(|&(start, end)| {
            let part = text.get(start..end).unwrap_or_default();
            parse_whole(part).map(|r| (r, line_breaks(part), part.chars().count()))
        })
        .collect();
    let mut docs = Vec::new();
    let (mut lines, mut chars, mut index) = (0, 0, 0);
    for result in parsed {
        let Ok(((part_docs, count), part_lines, part_chars)) = result else {
            return parse_whole(text).map(|(docs, _)| docs);
        };
        docs.extend(part_docs.into_iter().map(|d| YamlDoc {
            line: d.line + lines,
            start_char: d.start_char + chars,
            end_char: d.end_char + chars,
            index: d.index + index,
            value: d.value,
        }));
        lines += part_lines;
        chars += part_chars;
        index += count;
    }
    Ok(docs)
}

/// Byte ranges covering `text`, cut before `---` lines into about `want` parts when the text is at
/// least `min_bytes` long and has no directive; one range otherwise.
fn document_parts(text: &str, min_bytes: usize, want: usize) -> Vec<(usize, usize)> {
    let whole = vec![(0, text.len())];
    let has_directive = text.starts_with('%') || text.contains("\n%");
    if text.len() < min_bytes || want < 2 || has_directive {
        return whole;
    }
    let target = text.len() / want;
    let mut parts = Vec::with_capacity(want + 1);
    let mut start = 0;
    let mut at = 0;
    while let Some(found) = text.get(at..).and_then(|rest| rest.find("\n---")) {
        let marker = at + found + 1;
        at = marker;
        let ends_marker = matches!(
            text.as_bytes().get(marker + 3),
            None | Some(b' ' | b'\t' | b'\n' | b'\r')
        );
        if ends_marker && marker - start >= target {
            parts.push((start, marker));
            start = marker;
        }
    }
    parts.push((start, text.len()));
    parts
}

/// Line breaks as YAML counts them: `\n`, `\r\n` and a lone `\r`.
fn line_breaks(text: &str) -> usize {
    let b = text.as_bytes();
    b.iter()
        .enumerate()
        .filter(|&(i, &c)| c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')))
        .count()
}

/// Parses `text` in one go: its non-empty documents, and how many documents it has in all.
fn parse_whole(text: &str) -> Result<(Vec<YamlDoc>, usize), YamlError> {
    let mut docs = Vec::new();
    let mut b = Builder {
        stack: Vec::new(),
        anchors: Vec::new(),
        budget: ALIAS_BUDGET,
        root: None,
    };
    let mut doc_span: Option<Span> = None;
    let mut index = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let m = e.marker();
            YamlError {
                message: e.info().to_string(),
                line: m.line(),
                start_char: m.index(),
                end_char: m.index() + 1,
            }
        })?;
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_) => {
                b.root = None;
                b.stack.clear();
                b.anchors.clear();
                doc_span = None;
            }
            Event::DocumentEnd => {
                if let (Some(value), Some(span)) = (b.root.take(), doc_span.take())
                    && !value.is_null()
                {
                    docs.push(YamlDoc {
                        value,
                        line: span.start.line(),
                        start_char: span.start.index(),
                        end_char: span.end.index(),
                        index,
                    });
                }
                index += 1;
            }
            Event::Scalar(text, style, anchor, tag) => {
                if b.stack.is_empty() {
                    doc_span = Some(span);
                }
                let wants_key = matches!(b.stack.last(), Some(Frame::Map { key: None, .. }));
                if wants_key && anchor == 0 {
                    // A key is its text; its value as a scalar is never used.
                    b.insert(Value::Null, Some(exact(text)), span)?;
                    continue;
                }
                let key = wants_key.then(|| text.to_string());
                let value = scalar_value(text, style, tag.as_ref());
                b.remember(anchor, &value);
                b.insert(value, key, span)?;
            }
            Event::Alias(id) => {
                if b.stack.is_empty() {
                    doc_span = Some(span);
                }
                let Some(value) = b
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, v)| v.clone())
                else {
                    return Err(err_at("unknown alias".into(), span));
                };
                let n = node_count(&value);
                if n > b.budget {
                    return Err(err_at("aliases expand to too many nodes".into(), span));
                }
                b.budget -= n;
                let key = value.as_str().map(str::to_string);
                b.insert(value, key, span)?;
            }
            Event::MappingStart(anchor, _) => {
                if b.stack.is_empty() {
                    doc_span = Some(span);
                }
                if matches!(b.stack.last(), Some(Frame::Map { key: None, .. })) {
                    return Err(err_at("a mapping key must be a scalar".into(), span));
                }
                b.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    anchor,
                });
            }
            Event::SequenceStart(anchor, _) => {
                if b.stack.is_empty() {
                    doc_span = Some(span);
                }
                if matches!(b.stack.last(), Some(Frame::Map { key: None, .. })) {
                    return Err(err_at("a mapping key must be a scalar".into(), span));
                }
                b.stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, anchor) = match b.stack.pop() {
                    Some(Frame::Map {
                        entries, anchor, ..
                    }) => {
                        let mut map = Map::with_capacity(entries.len());
                        for (k, v, key_span) in entries {
                            match map.entry(k) {
                                serde_json::map::Entry::Vacant(slot) => {
                                    slot.insert(v);
                                }
                                serde_json::map::Entry::Occupied(o) => {
                                    let k = o.key();
                                    return Err(err_at(format!("duplicate key `{k}`"), key_span));
                                }
                            }
                        }
                        (Value::Object(map), anchor)
                    }
                    Some(Frame::Seq { mut items, anchor }) => {
                        items.shrink_to_fit();
                        (Value::Array(items), anchor)
                    }
                    None => return Err(err_at("unbalanced collection".into(), span)),
                };
                if b.stack.is_empty()
                    && let Some(ds) = doc_span.as_mut()
                {
                    ds.end = span.end;
                }
                b.remember(anchor, &value);
                b.insert(value, None, span)?;
            }
        }
    }
    Ok((docs, index))
}

/// One step of a path into a document.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Item(usize),
}

enum Walk {
    Map { key: Option<String>, want_key: bool },
    Seq { next: usize },
}

/// Where every node of a YAML text is (see [`index_nodes`]): by document and path, the span
/// (character offsets and line) of the first node there.
#[derive(Debug, Default)]
pub(crate) struct NodeIndex(std::collections::HashMap<(usize, Vec<String>), (usize, usize, usize)>);

impl NodeIndex {
    /// What [`locate`] finds for `path` in document `doc_index`.
    pub(crate) fn get(&self, doc_index: usize, path: &[Seg<'_>]) -> Option<(usize, usize, usize)> {
        let key: Vec<String> = path
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) => (*k).to_owned(),
                Seg::Item(i) => i.to_string(),
            })
            .collect();
        self.0.get(&(doc_index, key)).copied()
    }
}

/// [`locate`] for every node at once, in one reading of `text`: diagnostics about one file then
/// cost a lookup each, not a reading of the file each. `None` when the text is too long to
/// locate in or does not parse.
pub(crate) fn index_nodes(text: &str) -> Option<NodeIndex> {
    if text.len() > LOCATE_LIMIT {
        return None;
    }
    let mut nodes = NodeIndex::default();
    let mut index = 0usize;
    let mut in_doc = false;
    let mut stack: Vec<Walk> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        match event {
            Event::DocumentStart(_) => {
                in_doc = true;
                stack.clear();
                current.clear();
            }
            Event::DocumentEnd => {
                in_doc = false;
                index += 1;
            }
            Event::StreamEnd => break,
            _ if !in_doc => {}
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                current.pop();
                finish_node(&mut stack, &mut current);
            }
            ev => {
                if let Some(Walk::Map {
                    key,
                    want_key: want @ true,
                }) = stack.last_mut()
                {
                    if let Event::Scalar(k, ..) = &ev {
                        *key = Some(k.to_string());
                    }
                    *want = false;
                    if let Some(last) = current.last_mut() {
                        *last = key.clone().unwrap_or_default();
                    }
                    continue;
                }
                nodes.0.entry((index, current.clone())).or_insert((
                    span.start.index(),
                    span.end.index().max(span.start.index() + 1),
                    span.start.line(),
                ));
                match ev {
                    Event::MappingStart(..) => {
                        stack.push(Walk::Map {
                            key: None,
                            want_key: true,
                        });
                        current.push(String::new());
                    }
                    Event::SequenceStart(..) => {
                        stack.push(Walk::Seq { next: 0 });
                        current.push("0".into());
                    }
                    _ => finish_node(&mut stack, &mut current),
                }
            }
        }
    }
    Some(nodes)
}

/// Finds the span (character offsets and line) of the node at `path` in document `doc_index`.
#[cfg(test)]
pub(crate) fn locate(
    text: &str,
    doc_index: usize,
    path: &[Seg<'_>],
) -> Option<(usize, usize, usize)> {
    if text.len() > LOCATE_LIMIT {
        return None;
    }
    let mut index = 0usize;
    let mut in_doc = false;
    let mut stack: Vec<Walk> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        match event {
            Event::DocumentStart(_) => {
                in_doc = index == doc_index;
                stack.clear();
                current.clear();
            }
            Event::DocumentEnd => {
                if in_doc {
                    return None;
                }
                index += 1;
            }
            Event::StreamEnd => return None,
            _ if !in_doc => {}
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                current.pop();
                finish_node(&mut stack, &mut current);
            }
            ev => {
                // a key of a mapping: remember it, it is not a node of the path
                if let Some(Walk::Map {
                    key,
                    want_key: want @ true,
                }) = stack.last_mut()
                {
                    if let Event::Scalar(k, ..) = &ev {
                        *key = Some(k.to_string());
                    }
                    *want = false;
                    if let Some(last) = current.last_mut() {
                        *last = key.clone().unwrap_or_default();
                    }
                    continue;
                }
                if matches_path(&current, path) {
                    return Some((
                        span.start.index(),
                        span.end.index().max(span.start.index() + 1),
                        span.start.line(),
                    ));
                }
                match ev {
                    Event::MappingStart(..) => {
                        stack.push(Walk::Map {
                            key: None,
                            want_key: true,
                        });
                        current.push(String::new());
                    }
                    Event::SequenceStart(..) => {
                        stack.push(Walk::Seq { next: 0 });
                        current.push("0".into());
                    }
                    _ => finish_node(&mut stack, &mut current),
                }
            }
        }
    }
    None
}

fn finish_node(stack: &mut [Walk], current: &mut [String]) {
    match stack.last_mut() {
        Some(Walk::Map { want_key, .. }) => *want_key = true,
        Some(Walk::Seq { next }) => {
            *next += 1;
            if let Some(last) = current.last_mut() {
                *last = next.to_string();
            }
        }
        None => {}
    }
}

#[cfg(test)]
fn matches_path(current: &[String], path: &[Seg<'_>]) -> bool {
    current.len() == path.len()
        && current.iter().zip(path).all(|(c, p)| match p {
            Seg::Key(k) => c == k,
            Seg::Item(i) => c.parse::<usize>().ok() == Some(*i),
        })
}

/// The byte offset of character `index` of `text`.
pub(crate) fn char_to_byte(text: &str, index: usize) -> usize {
    if text.is_ascii() {
        return index.min(text.len());
    }
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(b, _)| b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// Every way of cutting `text` parses exactly as the whole text does.
    fn same_in_parts(text: &str) {
        let whole = parse_whole(text).map(|(docs, _)| docs);
        for want in 2..7 {
            let parts = document_parts(text, 0, want);
            assert_eq!(
                parse_in_parts(text, 0, want),
                whole,
                "{want} parts {parts:?} of {text:?}"
            );
        }
    }

    fn corpus() -> Vec<String> {
        let mut texts: Vec<String> = [
            "examples/acme/catalog",
            "examples/backstage",
            "../shared/conformance/catalog",
        ]
        .iter()
        .flat_map(|dir| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            std::fs::read_dir(dir).into_iter().flatten().flatten()
        })
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
        let all = texts.join("---\n");
        texts.push(all.replace('\n', "\r\n"));
        texts.push(all);
        texts
    }

    /// The scalar fast path types every scalar as saphyr's core-schema resolution does.
    #[test]
    fn scalars_type_as_the_core_schema_does() {
        let reference = |text: &str, style| match Scalar::parse_from_cow_and_metadata(
            Cow::Borrowed(text),
            style,
            None,
        ) {
            Some(Scalar::Null) => Value::Null,
            Some(Scalar::Boolean(b)) => Value::Bool(b),
            Some(Scalar::Integer(i)) => Value::Number(i.into()),
            Some(Scalar::FloatingPoint(f)) => Number::from_f64(f.into_inner())
                .map_or_else(|| Value::String(text.into()), Value::Number),
            Some(Scalar::String(s)) => Value::String(s.into_owned()),
            None => Value::String(text.into()),
        };
        let words = [
            "",
            "~",
            "null",
            "Null",
            "NULL",
            "nULL",
            "true",
            "True",
            "TRUE",
            "tRue",
            "false",
            "False",
            "FALSE",
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "inf",
            "Infinity",
            "nan",
            "NaN",
            ".inf",
            "-.inf",
            ".nan",
            "e5",
            "E5",
            "i1",
            "x1",
            "0x1f",
            "0o17",
            "+1",
            "-1",
            "1.5",
            "1e3",
            "007",
            "group-1",
            "Group",
            "backstage.io/v1alpha1",
            "a b",
            "é",
        ];
        for w in words {
            for style in [
                ScalarStyle::Plain,
                ScalarStyle::SingleQuoted,
                ScalarStyle::DoubleQuoted,
                ScalarStyle::Literal,
            ] {
                let got = scalar_value(Cow::Owned(w.to_string()), style, None);
                assert_eq!(got, reference(w, style), "{w:?} {style:?}");
            }
        }
    }

    /// The index finds every node where a search of its own finds it.
    #[test]
    fn the_node_index_agrees_with_locating_each_node() {
        let mut checked = 0;
        for text in corpus() {
            let Some(nodes) = index_nodes(&text) else {
                continue;
            };
            for ((doc, path), span) in &nodes.0 {
                let segs: Vec<Seg<'_>> = path
                    .iter()
                    .map(|p| match p.parse::<usize>() {
                        Ok(i) if !p.starts_with('0') || p == "0" => Seg::Item(i),
                        _ => Seg::Key(p),
                    })
                    .collect();
                // a mapping key written as a number is found either way
                let keyed: Vec<Seg<'_>> = path.iter().map(|p| Seg::Key(p)).collect();
                let found = locate(&text, *doc, &segs).or_else(|| locate(&text, *doc, &keyed));
                assert_eq!(found, Some(*span), "{doc} {path:?} in {text:?}");
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn parts_parse_as_the_whole_text() {
        for text in corpus() {
            same_in_parts(&text);
        }
        for text in [
            "a: 1\n---\nb: 2\n---\n---\nc: 3\n",
            "---\na: 1\n--- \nb: 2\n...\n---\nc: [1,\n  2]\n",
            "# only a comment\n---\na: |\n  ---\n  text\n---\nb: 2",
            "a: &x {k: v}\nb: *x\n---\nc: *x\n",
            "--- |\n  block\n---\nplain\n---x: 1\n---\ty: 2\n",
            "a: 1\n---\nb: [unclosed\n---\nc: 3\n",
            "a: 'multi\n---\nline'\n---\nb: 1\n",
            "%YAML 1.2\n---\na: 1\n---\nb: 2\n",
            "k: v\r\n---\r\nk: \u{e9}t\u{e9}\r\n---\r\nk: w\r",
        ] {
            same_in_parts(text);
        }
    }
}
