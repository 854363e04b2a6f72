//! The stable text form of the IR (`build --emit ir`): what the optimiser left, readable and diffable.

use std::fmt::Write as _;

use super::entities::Related;
use super::{Expr, ExprId, Methods, Program, Seg, Target, TemplatePart};

/// Renders a program as text; the same program always gives the same text.
pub fn render(p: &Program) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "policy {}{}",
        p.name,
        p.version
            .map(|v| format!(" version {v}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "source {}\ncatalog {}", p.source_hash, p.catalog_hash);
    out.push_str("\nslots\n");
    for (i, s) in p.slots.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {i:>3} {} {}{}",
            s.name,
            s.ty.manifest_name(),
            if s.optional { "?" } else { "" }
        );
    }
    if !p.entities.list.is_empty() {
        out.push_str("\nentities\n");
        for (i, e) in p.entities.list.iter().enumerate() {
            let mut facts = Vec::new();
            match e.owner {
                Related::To(o) => facts.push(format!("owner=e{}", o.0)),
                Related::Dangling => facts.push("owner=dangling".into()),
                Related::Absent => {}
            }
            match e.system {
                Related::To(o) => facts.push(format!("system=e{}", o.0)),
                Related::Dangling => facts.push("system=dangling".into()),
                Related::Absent => {}
            }
            let list = |v: &[super::EntityIdx]| {
                v.iter()
                    .map(|e| format!("e{}", e.0))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            if !e.direct_groups.is_empty() {
                facts.push(format!("member_of=[{}]", list(&e.direct_groups)));
            }
            if !e.groups.is_empty() {
                facts.push(format!("in=[{}]", list(&e.groups)));
            }
            if !e.part_of.is_empty() {
                facts.push(format!("part_of=[{}]", list(&e.part_of)));
            }
            let _ = writeln!(
                out,
                "  e{i:<3} {}{}{}",
                e.r#ref,
                if facts.is_empty() { "" } else { " " },
                facts.join(" ")
            );
        }
    }
    if !p.entities.fields.is_empty() {
        out.push_str("\nfields\n");
        for (i, f) in p.entities.fields.iter().enumerate() {
            let values: Vec<String> = p
                .entities
                .values
                .get(i)
                .map(|col| {
                    col.iter()
                        .enumerate()
                        .filter_map(|(e, v)| v.as_ref().map(|v| format!("e{e}={v:?}")))
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(out, "  f{i} {}: {}", f.describe(), values.join(" "));
        }
    }
    for (what, b) in [("principal", &p.principal), ("service", &p.service)] {
        if let Some(b) = b {
            let _ = writeln!(
                out,
                "\n{what} = {} where {} == {}{}: {} keys{}",
                b.kind,
                b.field_text,
                slot_name(p, b.claim.0),
                if b.ascii_case_insensitive {
                    " (ASCII case-insensitive)"
                } else {
                    ""
                },
                b.table.len(),
                if b.ambiguous.is_empty() {
                    String::new()
                } else {
                    format!(", {} shared values bind no one", b.ambiguous.len())
                }
            );
        }
    }
    out.push_str("\nroutes, most specific first\n");
    for (rank, idx) in p.route_order.iter().enumerate() {
        let Some(r) = p.routes.get(*idx as usize) else {
            continue;
        };
        let methods = match &r.methods {
            Methods::Any => "ANY".to_string(),
            Methods::List(m) => m.join("|"),
        };
        let path: Vec<String> = r
            .segments
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => l.clone(),
                Seg::Param(i) => format!(
                    "{{{}}}",
                    r.params.get(*i as usize).map_or("?", String::as_str)
                ),
            })
            .chain(r.star.then(|| "*".to_string()))
            .collect();
        let target = match &r.target {
            None => String::new(),
            Some(Target::Fixed(e)) => format!(" -> e{}", e.0),
            Some(Target::Template {
                kind,
                namespace,
                parts,
                candidates,
            }) => {
                let name: String = parts
                    .iter()
                    .map(|p| match p {
                        TemplatePart::Lit(l) => l.clone(),
                        TemplatePart::Param(i) => format!(
                            "{{{}}}",
                            r.params.get(*i as usize).map_or("?", String::as_str)
                        ),
                    })
                    .collect();
                format!(
                    " -> {kind}:{namespace}/{name} ({} candidates)",
                    candidates.len()
                )
            }
        };
        let _ = writeln!(
            out,
            "  {rank:>3}. route {idx} {methods} {}/{}{target}",
            r.host.as_deref().unwrap_or("*"),
            path.join("/")
        );
    }
    out.push_str("\nrules\n");
    for (i, rule) in p.rules.iter().enumerate() {
        let cond = rule
            .cond
            .map_or_else(|| "true".to_string(), |c| expr(p, c, 0));
        let _ = writeln!(
            out,
            "  {i:>3} {} {} [{}] route={}: {cond}",
            rule.effect.as_str(),
            rule.name,
            rule.source,
            rule.route
                .map_or_else(|| "-".to_string(), |r| r.to_string())
        );
    }
    out
}

fn slot_name(p: &Program, i: u32) -> String {
    p.slots
        .get(i as usize)
        .map_or_else(|| format!("slot{i}"), |s| s.name.clone())
}

fn expr(p: &Program, id: ExprId, depth: u32) -> String {
    if depth > 64 {
        return "…".into();
    }
    let d = depth + 1;
    let e = |x: &ExprId| expr(p, *x, d);
    let Some(node) = p.expr(id) else {
        return "?".into();
    };
    match node {
        Expr::Bool(b) => b.to_string(),
        Expr::Int(i) => i.to_string(),
        Expr::Str(s) => format!("{s:?}"),
        Expr::StrList(l) => format!("{l:?}"),
        Expr::Cidr(a, n) => format!("cidr({a}/{n})"),
        Expr::Slot(s) => slot_name(p, s.0),
        Expr::Has(s) => format!("has({})", slot_name(p, s.0)),
        Expr::Param(i) => format!("param{i}"),
        Expr::Target => "target".into(),
        Expr::Principal => "principal".into(),
        Expr::Entity(x) => p
            .entities
            .get(*x)
            .map_or_else(|| format!("e{}", x.0), |i| i.r#ref.clone()),
        Expr::Field(x, f) => format!(
            "{}.{}",
            e(x),
            p.entities
                .fields
                .get(f.0 as usize)
                .map_or_else(|| format!("f{}", f.0), |k| k.describe())
        ),
        Expr::Related(x, rel) => format!("{}.{}", e(x), format!("{rel:?}").to_lowercase()),
        Expr::Eq(a, b) => format!("({} == {})", e(a), e(b)),
        Expr::Ne(a, b) => format!("({} != {})", e(a), e(b)),
        Expr::Lt(a, b) => format!("({} < {})", e(a), e(b)),
        Expr::Le(a, b) => format!("({} <= {})", e(a), e(b)),
        Expr::Gt(a, b) => format!("({} > {})", e(a), e(b)),
        Expr::Ge(a, b) => format!("({} >= {})", e(a), e(b)),
        Expr::SetHas { set, elem } => format!("({} in {})", e(elem), e(set)),
        Expr::StrContains { haystack, needle } => {
            format!("({} contains {})", e(haystack), e(needle))
        }
        Expr::StartsWith(a, b) => format!("({} starts_with {})", e(a), e(b)),
        Expr::EndsWith(a, b) => format!("({} ends_with {})", e(a), e(b)),
        Expr::Matches(a, b) => format!("({} matches {})", e(a), e(b)),
        Expr::IpIn(a, b) => format!("({} in {})", e(a), e(b)),
        Expr::InGroup { member, group } => format!("({} in_group {})", e(member), e(group)),
        Expr::Owns { owner, owned } => format!("({} owns {})", e(owner), e(owned)),
        Expr::PartOf { part, whole } => format!("({} part_of {})", e(part), e(whole)),
        Expr::Add(a, b) => format!("({} + {})", e(a), e(b)),
        Expr::Sub(a, b) => format!("({} - {})", e(a), e(b)),
        Expr::And(a, b) => format!("({} and {})", e(a), e(b)),
        Expr::Or(a, b) => format!("({} or {})", e(a), e(b)),
        Expr::Not(a) => format!("not {}", e(a)),
    }
}
