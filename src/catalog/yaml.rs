//! YAML text to JSON documents with their positions, built straight from saphyr's event stream.

use std::borrow::Cow;

use saphyr::Scalar;
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

/// How many nodes alias expansion may copy in one file (guards against "billion laughs").
const ALIAS_BUDGET: usize = 1_000_000;

/// Files bigger than this are not re-parsed to point a diagnostic at one field.
const LOCATE_LIMIT: usize = 1 << 20;

/// One YAML document of a file, as JSON.
#[derive(Debug)]
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
#[derive(Debug, Clone)]
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

fn scalar_value(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Cow<'_, saphyr::Tag>>,
) -> Value {
    let fallback = || Value::String(text.to_string());
    match Scalar::parse_from_cow_and_metadata(text.clone(), style, tag) {
        Some(Scalar::Null) => Value::Null,
        Some(Scalar::Boolean(b)) => Value::Bool(b),
        Some(Scalar::Integer(i)) => Value::Number(i.into()),
        Some(Scalar::FloatingPoint(f)) => {
            Number::from_f64(f.into_inner()).map_or_else(fallback, Value::Number)
        }
        Some(Scalar::String(s)) => Value::String(s.into_owned()),
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

/// Parses every document of `text`; empty documents are skipped.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<YamlDoc>, YamlError> {
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
                            if map.contains_key(&k) {
                                return Err(err_at(format!("duplicate key `{k}`"), key_span));
                            }
                            map.insert(k, v);
                        }
                        (Value::Object(map), anchor)
                    }
                    Some(Frame::Seq { items, anchor }) => (Value::Array(items), anchor),
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
    Ok(docs)
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

/// Finds the span (character offsets and line) of the node at `path` in document `doc_index`.
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
