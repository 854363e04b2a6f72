//! IR optimiser passes: route ordering (most specific first), constant folding and boolean simplification.

use std::cmp::Ordering;

use super::{Expr, ExprId, Program, Route, Seg};

/// Route indices ordered most specific first (DESIGN §7.2): the first route in this order whose
/// methods, host and path match a request is the one that decides it.
///
/// Paths compare segment by segment, literal before `{param}`; a pattern that ends there comes
/// before one that goes on with `*`. Only on a tie does a host-bound route come before an any-host one.
pub fn route_order(routes: &[Route]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..routes.len() as u32).collect();
    order.sort_by(
        |a, b| match (routes.get(*a as usize), routes.get(*b as usize)) {
            (Some(x), Some(y)) => compare(x, y).then(a.cmp(b)),
            _ => a.cmp(b),
        },
    );
    order
}

/// Rank of each position of a pattern: literal 0, param 1, end 2, star 3.
fn ranks(r: &Route) -> Vec<u8> {
    let mut v: Vec<u8> = r
        .segments
        .iter()
        .map(|s| match s {
            Seg::Lit(_) => 0,
            Seg::Param(_) => 1,
        })
        .collect();
    v.push(if r.star { 3 } else { 2 });
    v
}

fn compare(a: &Route, b: &Route) -> Ordering {
    ranks(a)
        .cmp(&ranks(b))
        .then_with(|| b.host.is_some().cmp(&a.host.is_some()))
}

/// The constant truth value of an expression, when it has one whatever the request.
pub fn folds_to(p: &Program, id: ExprId) -> Option<bool> {
    fold_bool(p, id, 0)
}

fn fold_bool(p: &Program, id: ExprId, depth: u32) -> Option<bool> {
    if depth > 256 {
        return None;
    }
    let d = depth + 1;
    match p.expr(id)? {
        Expr::Bool(b) => Some(*b),
        Expr::Not(a) => fold_bool(p, *a, d).map(|b| !b),
        Expr::And(a, b) => match fold_bool(p, *a, d) {
            Some(false) => Some(false),
            Some(true) => fold_bool(p, *b, d),
            None => None,
        },
        Expr::Or(a, b) => match fold_bool(p, *a, d) {
            Some(true) => Some(true),
            Some(false) => fold_bool(p, *b, d),
            None => None,
        },
        Expr::Eq(a, b) | Expr::Ne(a, b) => {
            let eq = match (p.expr(*a)?, p.expr(*b)?) {
                (Expr::Str(x), Expr::Str(y)) => x == y,
                (Expr::Int(x), Expr::Int(y)) => x == y,
                (Expr::Bool(x), Expr::Bool(y)) => x == y,
                (Expr::Entity(x), Expr::Entity(y)) => x == y,
                _ => return None,
            };
            Some(if matches!(p.expr(id)?, Expr::Eq(..)) {
                eq
            } else {
                !eq
            })
        }
        Expr::Lt(a, b) | Expr::Le(a, b) | Expr::Gt(a, b) | Expr::Ge(a, b) => {
            let (Expr::Int(x), Expr::Int(y)) = (p.expr(*a)?, p.expr(*b)?) else {
                return None;
            };
            Some(match p.expr(id)? {
                Expr::Lt(..) => x < y,
                Expr::Le(..) => x <= y,
                Expr::Gt(..) => x > y,
                _ => x >= y,
            })
        }
        Expr::SetHas { set, elem } => match (p.expr(*set)?, p.expr(*elem)?) {
            (Expr::StrList(l), Expr::Str(s)) => Some(l.contains(s)),
            _ => None,
        },
        _ => None,
    }
}

/// Folds constant sub-expressions in place: `true and E` → `E`, `false or E` → `E`, constant
/// comparisons → their value. Folding never removes an expression that can err on the left of a
/// short-circuit, so the semantics of §7.3 are kept.
pub fn fold(p: &mut Program) {
    for i in 0..p.exprs.len() {
        let id = ExprId(i as u32);
        let replacement = match p.expr(id) {
            Some(Expr::And(a, b)) => match fold_bool(p, *a, 0) {
                Some(false) => Some(Expr::Bool(false)),
                Some(true) => p.expr(*b).cloned(),
                None => None,
            },
            Some(Expr::Or(a, b)) => match fold_bool(p, *a, 0) {
                Some(true) => Some(Expr::Bool(true)),
                Some(false) => p.expr(*b).cloned(),
                None => None,
            },
            Some(
                Expr::Not(_)
                | Expr::Eq(..)
                | Expr::Ne(..)
                | Expr::Lt(..)
                | Expr::Le(..)
                | Expr::Gt(..)
                | Expr::Ge(..)
                | Expr::SetHas { .. },
            ) => fold_bool(p, id, 0).map(Expr::Bool),
            _ => None,
        };
        if let (Some(r), Some(slot)) = (replacement, p.exprs.get_mut(i)) {
            *slot = r;
        }
    }
}
