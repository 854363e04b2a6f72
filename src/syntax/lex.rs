//! A tiny lexical scanner over raw source text: comments, strings, brackets and tokens,
//! used by error reporting, the nesting guard and the formatter (never by parsing itself).

use super::ast::Span;

/// A `//` comment: its span (from the slashes to the end of the line, newline excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Comment {
    pub span: Span,
    /// Only whitespace precedes it on its line.
    pub own_line: bool,
}

/// What the scanner saw at one byte: code, or the inside of a string or a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Code,
    Str,
    Comment,
}

/// Walks `source` from `from`, calling `f(offset, byte)` for every byte that is code
/// (outside strings and comments). Strings end at an unescaped `"` or at the end of
/// the line (an unclosed string), comments at the end of the line.
fn scan_code(source: &str, from: usize, mut f: impl FnMut(usize, u8) -> bool) {
    let bytes = source.as_bytes();
    let mut mode = Mode::Code;
    let mut i = from;
    while let Some(&b) = bytes.get(i) {
        match mode {
            Mode::Code => {
                if b == b'"' {
                    mode = Mode::Str;
                } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
                    mode = Mode::Comment;
                } else if !f(i, b) {
                    return;
                }
            }
            Mode::Str => {
                if b == b'\\' && bytes.get(i + 1).is_some_and(|&n| n != b'\n') {
                    i += 1;
                } else if b == b'"' || b == b'\n' {
                    mode = Mode::Code;
                }
            }
            Mode::Comment => {
                if b == b'\n' {
                    mode = Mode::Code;
                }
            }
        }
        i += 1;
    }
}

/// Every comment of the file, in order.
pub(super) fn comments(source: &str) -> Vec<Comment> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut mode = Mode::Code;
    let mut i = 0;
    let mut start = 0;
    while let Some(&b) = bytes.get(i) {
        match mode {
            Mode::Code => {
                if b == b'"' {
                    mode = Mode::Str;
                } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
                    mode = Mode::Comment;
                    start = i;
                }
            }
            Mode::Str => {
                if b == b'\\' && bytes.get(i + 1).is_some_and(|&n| n != b'\n') {
                    i += 1;
                } else if b == b'"' || b == b'\n' {
                    mode = Mode::Code;
                }
            }
            Mode::Comment => {
                if b == b'\n' {
                    mode = Mode::Code;
                    out.push(comment(source, start, i));
                }
            }
        }
        i += 1;
    }
    if mode == Mode::Comment {
        out.push(comment(source, start, bytes.len()));
    }
    out
}

fn comment(source: &str, start: usize, end: usize) -> Comment {
    // a `\r` before the newline is not part of the comment
    let end = if source.as_bytes().get(end.wrapping_sub(1)) == Some(&b'\r') && end > start {
        end - 1
    } else {
        end
    };
    Comment {
        span: Span::new(start, end),
        own_line: line_prefix(source, start).trim().is_empty(),
    }
}

/// The text between the start of the line holding `pos` and `pos`.
pub(super) fn line_prefix(source: &str, pos: usize) -> &str {
    let before = source.get(..pos).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    before.get(line_start..).unwrap_or("")
}

/// Offsets of the opening brackets (`(`, `[`, `{`) that nest deeper than `max`: the
/// first bracket of every excursion beyond the limit.
pub(super) fn too_deep(source: &str, max: usize) -> Vec<usize> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    scan_code(source, 0, |i, b| {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth == max + 1 {
                    out.push(i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        true
    });
    out
}

/// The innermost opening bracket in `from..to` that is not closed before `to`.
pub(super) fn unclosed_opener(source: &str, from: usize, to: usize) -> Option<(usize, u8)> {
    let mut stack: Vec<(usize, u8)> = Vec::new();
    scan_code(source, from, |i, b| {
        if i >= to {
            return false;
        }
        match b {
            b'(' | b'[' | b'{' => stack.push((i, b)),
            b')' | b']' | b'}' => {
                stack.pop();
            }
            _ => {}
        }
        true
    });
    stack.last().copied()
}

/// The end of the string literal starting with the `"` at `pos`, and whether it is closed
/// (strings end at the line's end when unclosed).
pub(super) fn string_end(source: &str, pos: usize) -> (usize, bool) {
    let bytes = source.as_bytes();
    let mut i = pos + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' if bytes.get(i + 1).is_some_and(|&n| n != b'\n') => i += 2,
            b'"' => return (i + 1, true),
            b'\n' => return (trim_cr(source, i), false),
            _ => i += 1,
        }
    }
    (bytes.len(), false)
}

fn trim_cr(source: &str, end: usize) -> usize {
    if end > 0 && source.as_bytes().get(end - 1) == Some(&b'\r') {
        end - 1
    } else {
        end
    }
}

/// Skips whitespace and comments from `pos`.
pub(super) fn skip_trivia(source: &str, mut pos: usize) -> usize {
    let bytes = source.as_bytes();
    loop {
        match bytes.get(pos) {
            Some(b' ' | b'\t' | b'\r' | b'\n') => pos += 1,
            Some(b'/') if bytes.get(pos + 1) == Some(&b'/') => {
                while bytes.get(pos).is_some_and(|&b| b != b'\n') {
                    pos += 1;
                }
            }
            _ => return pos,
        }
    }
}

/// The kind of token found at an error position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    End,
    Word(String),
    Number(String),
    Str { closed: bool },
    Punct(String),
}

impl Found {
    pub(super) fn describe(&self) -> String {
        match self {
            Found::End => "the end of the file".to_string(),
            Found::Word(w) | Found::Number(w) | Found::Punct(w) => format!("`{w}`"),
            Found::Str { .. } => "a string".to_string(),
        }
    }

    /// The same without an article, for labels (`unexpected string`).
    pub(super) fn noun(&self) -> String {
        match self {
            Found::End => "end of file".to_string(),
            Found::Str { .. } => "string".to_string(),
            other => other.describe(),
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The token at `pos` (after skipping whitespace and comments) and its span.
pub(super) fn token_at(source: &str, pos: usize) -> (Found, Span) {
    let pos = skip_trivia(source, pos.min(source.len()));
    let bytes = source.as_bytes();
    let Some(&b) = bytes.get(pos) else {
        return (Found::End, Span::new(source.len(), source.len()));
    };
    let run = |pred: fn(u8) -> bool| {
        let mut end = pos;
        while bytes.get(end).is_some_and(|&c| pred(c)) {
            end += 1;
        }
        end
    };
    let text = |end: usize| source.get(pos..end).unwrap_or("").to_string();
    if b.is_ascii_alphabetic() || b == b'_' {
        let end = run(is_word_byte);
        return (Found::Word(text(end)), Span::new(pos, end));
    }
    if b.is_ascii_digit() {
        let end = run(is_word_byte);
        return (Found::Number(text(end)), Span::new(pos, end));
    }
    if b == b'"' {
        let (end, closed) = string_end(source, pos);
        return (Found::Str { closed }, Span::new(pos, end));
    }
    for two in ["==", "!=", "<=", ">=", "->", "::", "&&", "||", "=>"] {
        if source.get(pos..).is_some_and(|s| s.starts_with(two)) {
            return (Found::Punct(two.to_string()), Span::new(pos, pos + 2));
        }
    }
    let len = source
        .get(pos..)
        .and_then(|s| s.chars().next())
        .map_or(1, char::len_utf8);
    (Found::Punct(text(pos + len)), Span::new(pos, pos + len))
}

/// 1-based line number of `pos`.
pub(super) fn line_of(source: &str, pos: usize) -> usize {
    source
        .get(..pos)
        .unwrap_or(source)
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The `///` doc lines directly above the line where `start` is (only whitespace
/// before `start` on its line), without the slashes and one following space, and the
/// offset where the first of them starts (`start` when there are none).
pub(super) fn docs_above(source: &str, start: usize) -> (Vec<String>, usize) {
    let prefix = line_prefix(source, start);
    if !prefix.trim().is_empty() {
        return (Vec::new(), start);
    }
    let mut docs = Vec::new();
    let mut first = start;
    let mut line_start = start - prefix.len();
    while line_start > 0 {
        let before = source.get(..line_start - 1).unwrap_or("");
        let ls = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.get(ls..).unwrap_or("").trim();
        match line.strip_prefix("///") {
            Some(doc) if !doc.starts_with('/') => {
                let doc = doc.strip_prefix(' ').unwrap_or(doc);
                docs.push(doc.trim_end().to_string());
                let indent = before.get(ls..).unwrap_or("").len()
                    - before.get(ls..).unwrap_or("").trim_start().len();
                first = ls + indent;
            }
            _ => break,
        }
        line_start = ls;
    }
    docs.reverse();
    (docs, first)
}

/// The end of the last token in `start..end`: pest's spans of rules that end with an
/// optional part include the whitespace and comments skipped before trying that part.
pub(super) fn content_end(source: &str, start: usize, end: usize) -> usize {
    let bytes = source.as_bytes();
    let ends_in_space = end > start && bytes.get(end - 1).is_some_and(|b| b.is_ascii_whitespace());
    let has_slashes = source.get(start..end).is_some_and(|s| s.contains("//"));
    if !ends_in_space && !has_slashes {
        return end;
    }
    let mut last = start;
    let mut i = start;
    while i < end {
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < end && bytes.get(i).is_some_and(|&b| b != b'\n') {
                    i += 1;
                }
            }
            b'"' => {
                i = string_end(source, i).0.min(end);
                last = i;
            }
            _ => {
                i += 1;
                last = i;
            }
        }
    }
    last
}
