//! Reports for people: `simulate` and `whatif` as plain-text summaries and `whatif` as a
//! pull-request comment in Markdown.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::Verdict;
use super::simulate::{SimulateReport, UnreadableEntry};
use super::whatif::{Change, WhatifReport};

/// How many changes the Markdown comment lists in full (the rest are counted).
const MARKDOWN_LISTED: usize = 200;
/// How many groups the Markdown summary table shows.
const MARKDOWN_GROUPS: usize = 50;
/// How many sample requests the Markdown comment shows.
const MARKDOWN_SAMPLES: usize = 5;
/// How many principals a group names before `+N more`.
const GROUP_PRINCIPALS: usize = 3;

/// `allow by reader`, `deny by embargo`, `require#1 failed`, `require no_contractors failed`, `no_route`, `invalid_token:expired`.
pub fn verdict_short(v: &Verdict) -> String {
    match (&v.rule, v.outcome.as_str()) {
        (Some(r), "allow") => format!("allow by {r}"),
        (Some(r), "deny") => format!("deny by {r}"),
        (Some(r), "require") if r.starts_with("require#") => format!("{r} failed"),
        (Some(r), "require") => format!("require {r} failed"),
        (Some(r), o) => format!("{o} by {r}"),
        (None, o) => o.to_string(),
    }
}

fn percent(n: u64, of: u64) -> String {
    if of == 0 {
        return "-".into();
    }
    format!("{:.1}%", n as f64 * 100.0 / of as f64)
}

fn counts_table(out: &mut String, title: &str, counts: &BTreeMap<String, u64>, of: u64) {
    let _ = writeln!(out, "\n{title}");
    if counts.is_empty() {
        let _ = writeln!(out, "  (none)");
        return;
    }
    let width = counts.keys().map(String::len).max().unwrap_or(0);
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (name, n) in rows {
        let _ = writeln!(out, "  {name:<width$}  {n:>9}  {:>6}", percent(*n, of));
    }
}

fn unreadable_text(out: &mut String, count: u64, listed: &[UnreadableEntry]) {
    if count == 0 {
        return;
    }
    let _ = writeln!(out, "\nunreadable lines ({count})");
    for u in listed {
        let _ = writeln!(out, "  line {:<8} {}", u.line, u.error);
    }
    if count > listed.len() as u64 {
        let _ = writeln!(out, "  ... and {} more", count - listed.len() as u64);
    }
}

/// The `simulate` summary as plain text.
pub fn simulate_text(r: &SimulateReport) -> String {
    let mut out = String::new();
    let decided = r.allow + r.deny;
    let _ = writeln!(out, "{} lines", r.total);
    let _ = writeln!(
        out,
        "  allow       {:>9}  {:>6}",
        r.allow,
        percent(r.allow, decided)
    );
    let _ = writeln!(
        out,
        "  deny        {:>9}  {:>6}",
        r.deny,
        percent(r.deny, decided)
    );
    let _ = writeln!(out, "  unreadable  {:>9}", r.unreadable_lines);
    counts_table(&mut out, "by outcome", &r.by_outcome, decided);
    counts_table(&mut out, "by rule", &r.by_rule, decided);
    unreadable_text(&mut out, r.unreadable_lines, &r.unreadable);
    out
}

fn change_line(c: &Change) -> String {
    format!(
        "  line {:<6} {} {}  [{}]  {} -> {}",
        c.line,
        c.method,
        c.url,
        c.principal.as_deref().unwrap_or("no valid token"),
        verdict_short(&c.base),
        verdict_short(&c.head)
    )
}

/// The `whatif` summary as plain text: the counts, then every change and move.
pub fn whatif_text(r: &WhatifReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} lines: {} changed ({} allow -> deny, {} deny -> allow), {} rule changes, {} unchanged, {} unreadable",
        r.total,
        r.changed,
        r.allow_to_deny,
        r.deny_to_allow,
        r.rule_changes,
        r.unchanged,
        r.unreadable_lines
    );
    if !r.changes.is_empty() {
        let _ = writeln!(out, "\ndecision changes ({})", r.changes.len());
        for c in &r.changes {
            let _ = writeln!(out, "{}", change_line(c));
        }
    }
    if !r.moved.is_empty() {
        let _ = writeln!(out, "\nsame decision, other rule ({})", r.moved.len());
        for c in &r.moved {
            let _ = writeln!(out, "{}", change_line(c));
        }
    }
    unreadable_text(&mut out, r.unreadable_lines, &r.unreadable);
    out
}

/// Text as it may be shown anywhere in Markdown: newlines flattened, and characters that would
/// reorder or hide the text around them (bidirectional controls, other control characters)
/// written as `\u{…}`.
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Plain text in a table cell: Markdown's escapes for `\` and `|`.
fn cell(s: &str) -> String {
    visible(s).replace('\\', "\\\\").replace('|', "\\|")
}

/// Inline code holding `s` as it is, whatever backticks it holds: fenced by one backtick more than
/// its longest run of them, so that nothing in it ends the span and becomes markup.
fn code(s: &str) -> String {
    let s = visible(s);
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    if longest == 0 {
        format!("{fence}{s}{fence}")
    } else {
        // Spaced, so that a backtick opening or closing `s` is not taken for the fence.
        format!("{fence} {s} {fence}")
    }
}

/// [`code`] in a table cell, where a `|` would end the cell (GitHub reads `\|` as `|` there,
/// code spans included).
fn code_cell(s: &str) -> String {
    code(s).replace('|', "\\|")
}

fn arrow(c: &Change) -> &'static str {
    if c.head.is_allow() {
        "deny → allow"
    } else if c.base.is_allow() {
        "allow → deny"
    } else {
        "deny → deny"
    }
}

fn changes_table(out: &mut String, list: &[Change]) {
    let _ = writeln!(out, "| line | request | principal | base | head |");
    let _ = writeln!(out, "|---:|---|---|---|---|");
    for c in list.iter().take(MARKDOWN_LISTED) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            c.line,
            code_cell(&format!("{} {}", c.method, c.url)),
            // As code: a principal is what a token says, never markup for the comment.
            c.principal
                .as_deref()
                .map(code_cell)
                .unwrap_or_else(|| "—".into()),
            code_cell(&verdict_short(&c.base)),
            code_cell(&verdict_short(&c.head))
        );
    }
    if list.len() > MARKDOWN_LISTED {
        let _ = writeln!(
            out,
            "\n… and {} more (run `edgeward whatif --format json` for all).",
            list.len() - MARKDOWN_LISTED
        );
    }
}

/// The `whatif` report as a pull-request comment: a summary line, the decision changes grouped by
/// route and rule with their principals, a few sample requests, and the details folded away.
pub fn whatif_markdown(r: &WhatifReport, base: &str, head: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### edgeward what-if: {} → {}\n",
        code(base),
        code(head)
    );
    let verdict = if r.changed == 0 {
        "**No request changes decision.**".to_string()
    } else {
        format!(
            "**{} request{} change{} decision**: {} allow → deny, {} deny → allow.",
            r.changed,
            if r.changed == 1 { "" } else { "s" },
            if r.changed == 1 { "s" } else { "" },
            r.allow_to_deny,
            r.deny_to_allow
        )
    };
    let _ = writeln!(
        out,
        "{verdict} {} keep their decision under another rule; {} unchanged; {} unreadable line{} (of {} lines replayed).\n",
        r.rule_changes,
        r.unchanged.saturating_sub(r.rule_changes),
        r.unreadable_lines,
        if r.unreadable_lines == 1 { "" } else { "s" },
        r.total
    );

    if !r.changes.is_empty() {
        // (route, base, head) -> (count, principals)
        let mut groups: BTreeMap<(String, String, String), (u64, BTreeSet<String>)> =
            BTreeMap::new();
        for c in &r.changes {
            let route = c.route.clone().unwrap_or_else(|| "(no route)".into());
            let g = groups
                .entry((route, verdict_short(&c.base), verdict_short(&c.head)))
                .or_default();
            g.0 += 1;
            g.1.insert(c.principal.clone().unwrap_or_else(|| "—".into()));
        }
        let mut rows: Vec<_> = groups.into_iter().collect();
        // Newly allowed first (what a reviewer must see), then the largest groups.
        let opens = |h: &str| !h.starts_with("allow");
        rows.sort_by(|a, b| {
            opens(&a.0.2)
                .cmp(&opens(&b.0.2))
                .then(b.1.0.cmp(&a.1.0))
                .then(a.0.cmp(&b.0))
        });
        let _ = writeln!(out, "| route | base | head | principals | requests |");
        let _ = writeln!(out, "|---|---|---|---|---:|");
        for ((route, b, h), (n, principals)) in rows.iter().take(MARKDOWN_GROUPS) {
            let mut names: Vec<String> = principals
                .iter()
                .take(GROUP_PRINCIPALS)
                .map(|p| if p == "—" { p.clone() } else { code_cell(p) })
                .collect();
            if principals.len() > GROUP_PRINCIPALS {
                names.push(format!("+{} more", principals.len() - GROUP_PRINCIPALS));
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {n} |",
                code_cell(route),
                code_cell(b),
                code_cell(h),
                names.join(", ")
            );
        }
        if rows.len() > MARKDOWN_GROUPS {
            let _ = writeln!(out, "\n… and {} more groups.", rows.len() - MARKDOWN_GROUPS);
        }
        let _ = writeln!(out, "\nSample requests:\n");
        for c in r.changes.iter().take(MARKDOWN_SAMPLES) {
            let _ = writeln!(
                out,
                "- line {}: {} as {} — {}: {} → {}",
                c.line,
                code(&format!("{} {}", c.method, c.url)),
                c.principal
                    .as_deref()
                    .map(code)
                    .unwrap_or_else(|| "no valid token".into()),
                arrow(c),
                code(&verdict_short(&c.base)),
                code(&verdict_short(&c.head))
            );
        }
        let _ = writeln!(
            out,
            "\n<details><summary>All {} decision changes</summary>\n",
            r.changes.len()
        );
        changes_table(&mut out, &r.changes);
        let _ = writeln!(out, "\n</details>");
    }
    if !r.moved.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>{} requests keep their decision under another rule</summary>\n",
            r.moved.len()
        );
        changes_table(&mut out, &r.moved);
        let _ = writeln!(out, "\n</details>");
    }
    if r.unreadable_lines > 0 {
        let _ = writeln!(
            out,
            "\n<details><summary>{} unreadable lines</summary>\n",
            r.unreadable_lines
        );
        let _ = writeln!(out, "| line | why |\n|---:|---|");
        for u in r.unreadable.iter().take(MARKDOWN_LISTED) {
            let _ = writeln!(out, "| {} | {} |", u.line, cell(&u.error));
        }
        let _ = writeln!(out, "\n</details>");
    }
    out
}
