//! Span erasure, for comparing ASTs by structure alone (e.g. before and after `fmt`).

use super::ast::{
    Binding, EntityRefLit, Expr, ExprKind, File, Ident, Item, PathSeg, Route, Rule, Span, StrLit,
    TestLine, TypeExpr,
};

/// Sets every span in `file` to `Span::default()`.
pub fn strip_spans(file: &mut File) {
    for item in &mut file.items {
        match item {
            Item::Policy(p) => {
                ident(&mut p.name);
                if let Some((_, s)) = &mut p.version {
                    *s = Span::default();
                }
                p.span = Span::default();
            }
            Item::Use(u) => {
                u.path.iter_mut().for_each(ident);
                u.span = Span::default();
            }
            Item::Claims(c) => {
                for f in &mut c.fields {
                    ident(&mut f.name);
                    ty(&mut f.ty);
                    f.span = Span::default();
                }
                c.span = Span::default();
            }
            Item::Principal(b) | Item::Service(b) => binding(b),
            Item::Role(r) => {
                ident(&mut r.name);
                if let Some(p) = &mut r.param {
                    ident(&mut p.name);
                    ident(&mut p.kind);
                }
                expr(&mut r.body);
                r.span = Span::default();
            }
            Item::Deny(r) => rule(r),
            Item::Host(h) => {
                str_lit(&mut h.host);
                h.routes.iter_mut().for_each(route);
                h.span = Span::default();
            }
            Item::Route(r) => route(r),
            Item::Test(t) => {
                str_lit(&mut t.name);
                for line in &mut t.lines {
                    test_line(line);
                }
                t.span = Span::default();
            }
        }
    }
}

fn ident(i: &mut Ident) {
    i.span = Span::default();
}

fn str_lit(s: &mut StrLit) {
    s.span = Span::default();
}

fn entity_ref(r: &mut EntityRefLit) {
    r.span = Span::default();
}

fn ty(t: &mut TypeExpr) {
    match t {
        TypeExpr::Named(i) => ident(i),
        TypeExpr::Set(inner, s) | TypeExpr::Optional(inner, s) => {
            ty(inner);
            *s = Span::default();
        }
    }
}

fn path_seg(seg: &mut PathSeg) {
    match seg {
        PathSeg::Field(i) => ident(i),
        PathSeg::Index(s) => str_lit(s),
    }
}

fn binding(b: &mut Binding) {
    ident(&mut b.kind);
    b.field.iter_mut().for_each(path_seg);
    b.field_span = Span::default();
    expr(&mut b.value);
    b.span = Span::default();
}

fn route(r: &mut Route) {
    r.methods.iter_mut().for_each(ident);
    str_lit(&mut r.path);
    if let Some(t) = &mut r.target {
        entity_ref(t);
    }
    r.rules.iter_mut().for_each(rule);
    r.span = Span::default();
}

fn rule(r: &mut Rule) {
    if let Some(n) = &mut r.name {
        ident(n);
    }
    if let Some(c) = &mut r.cond {
        expr(c);
    }
    r.span = Span::default();
}

fn test_line(line: &mut TestLine) {
    match line {
        TestLine::Request { method, url, span } => {
            ident(method);
            str_lit(url);
            *span = Span::default();
        }
        TestLine::Claims { fields, span } => {
            for (k, v) in fields {
                ident(k);
                expr(v);
            }
            *span = Span::default();
        }
        TestLine::At { time: s, span }
        | TestLine::Ip { addr: s, span }
        | TestLine::Country { country: s, span } => {
            str_lit(s);
            *span = Span::default();
        }
        TestLine::Expect { outcome, by, span } => {
            ident(outcome);
            if let Some(b) = by {
                ident(b);
            }
            *span = Span::default();
        }
    }
}

fn expr(e: &mut Expr) {
    e.span = Span::default();
    match &mut e.kind {
        ExprKind::Str(_) | ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Duration(..) => {}
        ExprKind::Time(s) | ExprKind::Ip(s) => str_lit(s),
        ExprKind::List(items) => items.iter_mut().for_each(expr),
        ExprKind::EntityRef(r) => entity_ref(r),
        ExprKind::Path(root, segs) => {
            ident(root);
            segs.iter_mut().for_each(path_seg);
        }
        ExprKind::Call(name, args) => {
            ident(name);
            args.iter_mut().for_each(expr);
        }
        ExprKind::Binary(_, l, r) | ExprKind::And(l, r) | ExprKind::Or(l, r) => {
            expr(l);
            expr(r);
        }
        ExprKind::Has(root, field) => {
            expr(root);
            ident(field);
        }
        ExprKind::Not(x) | ExprKind::Paren(x) => expr(x),
    }
}
