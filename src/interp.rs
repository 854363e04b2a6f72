//! The reference evaluator over the IR, with explanations: the oracle every other host is tested against.
//!
//! It implements DESIGN §7 directly on the [`Program`]: routing (§7.2), target resolution, the
//! principal binding (§7.6), and the rule order of §7.1 with the error rules of §7.3. Strings are
//! compared as bytes, exactly as the module compares them.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use crate::input::Request;
use crate::ir::entities::Related;
use crate::ir::{EntityIdx, Expr, ExprId, Program, Route, RuleIdx, Seg, Target, TemplatePart};
use crate::syntax::ast::Span;
use crate::wasm::abi::{Decision, Outcome, SlotValue};

/// How far expressions may nest before evaluation gives up (an error, never a stack overflow).
const MAX_DEPTH: u32 = 512;

/// The value of a rule's condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    /// The condition erred; the span is of the sub-expression that erred, with why.
    Err(Span, String),
}

/// One rule that was considered, in evaluation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub rule: RuleIdx,
    pub truth: Truth,
    /// The sub-expression whose value decided the condition's value (`None` when unconditional).
    pub decided_by: Option<Span>,
    /// Whether this rule decided the request.
    pub decisive: bool,
}

/// Why a request was decided as it was.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Explanation {
    pub route: Option<u32>,
    /// `kind:namespace/name` of the resolved target.
    pub target: Option<String>,
    /// `kind:namespace/name` of the bound principal.
    pub principal: Option<String>,
    pub steps: Vec<Step>,
}

/// Decides a request.
pub fn decide(p: &Program, req: &Request) -> Decision {
    run(p, req, None)
}

/// Decides a request and says why.
pub fn explain(p: &Program, req: &Request) -> (Decision, Explanation) {
    let mut ex = Explanation::default();
    let d = run(p, req, Some(&mut ex));
    (d, ex)
}

/// A runtime value.
#[derive(Debug, Clone)]
enum V<'a> {
    Bool(bool),
    Int(i64),
    Str(Cow<'a, [u8]>),
    Set(Cow<'a, [String]>),
    Ip(u128),
    Cidr(u128, u8),
    Entity(EntityIdx),
}

/// Why an expression erred, and where.
#[derive(Debug, Clone)]
struct Fault {
    span: Span,
    why: String,
}

type R<'a> = Result<V<'a>, Fault>;

/// The state of one evaluation.
struct Env<'a> {
    p: &'a Program,
    slots: Vec<Option<SlotValue>>,
    params: Vec<Vec<u8>>,
    target: Option<EntityIdx>,
    principal: Option<EntityIdx>,
}

fn run(p: &Program, req: &Request, mut ex: Option<&mut Explanation>) -> Decision {
    // §3: a request whose encoding does not fit the module's input is `bad_input`, undecided.
    if crate::wasm::abi::encoded_len(&p.slots, req) > crate::wasm::INPUT_CAPACITY as usize {
        return Decision {
            outcome: Outcome::BadInput,
            rule: None,
        };
    }
    let slots = crate::wasm::abi::slot_values(&p.slots, req);
    let string_slot = |i: usize| match slots.get(i) {
        Some(Some(SlotValue::String(s))) => Some(s.clone()),
        _ => None,
    };
    let (Some(method), Some(host), Some(path)) = (string_slot(0), string_slot(1), string_slot(2))
    else {
        return Decision {
            outcome: Outcome::BadInput,
            rule: None,
        };
    };
    let Some((route_idx, route, params)) = pick_route(p, &method, &host, path.as_bytes()) else {
        return Decision {
            outcome: Outcome::NoRoute,
            rule: None,
        };
    };
    if let Some(ex) = ex.as_deref_mut() {
        ex.route = Some(route_idx);
    }
    let target = match &route.target {
        None => None,
        Some(Target::Fixed(e)) => Some(*e),
        Some(Target::Template {
            parts, candidates, ..
        }) => {
            let mut name = Vec::new();
            for part in parts {
                match part {
                    TemplatePart::Lit(s) => name.extend_from_slice(s.as_bytes()),
                    TemplatePart::Param(i) => name
                        .extend_from_slice(params.get(*i as usize).map_or(&[][..], Vec::as_slice)),
                }
            }
            name.make_ascii_lowercase();
            match candidates.binary_search_by(|(n, _)| n.as_bytes().cmp(&name[..])) {
                Ok(i) => candidates.get(i).map(|(_, e)| *e),
                Err(_) => {
                    return Decision {
                        outcome: Outcome::UnknownTarget,
                        rule: None,
                    };
                }
            }
        }
    };
    let principal = bind(p, &slots);
    if let Some(ex) = ex.as_deref_mut() {
        let name =
            |e: Option<EntityIdx>| e.and_then(|e| p.entities.get(e)).map(|i| i.r#ref.clone());
        ex.target = name(target);
        ex.principal = name(principal);
    }
    let env = Env {
        p,
        slots,
        params,
        target,
        principal,
    };
    let record = |ex: &mut Option<&mut Explanation>,
                  rule: RuleIdx,
                  truth: &Truth,
                  by: Option<Span>,
                  decisive: bool| {
        if let Some(ex) = ex.as_deref_mut() {
            ex.steps.push(Step {
                rule,
                truth: truth.clone(),
                decided_by: by,
                decisive,
            });
        }
    };
    for rule in p.top_denies.iter().chain(&route.denies) {
        let (truth, by) = env.rule_truth(*rule);
        let decisive = truth != Truth::False;
        record(&mut ex, *rule, &truth, by, decisive);
        if decisive {
            return Decision {
                outcome: Outcome::Deny,
                rule: Some(rule.0),
            };
        }
    }
    for rule in &route.requires {
        let (truth, by) = env.rule_truth(*rule);
        let decisive = truth != Truth::True;
        record(&mut ex, *rule, &truth, by, decisive);
        if decisive {
            return Decision {
                outcome: Outcome::Require,
                rule: Some(rule.0),
            };
        }
    }
    for rule in &route.allows {
        let (truth, by) = env.rule_truth(*rule);
        let decisive = truth == Truth::True;
        record(&mut ex, *rule, &truth, by, decisive);
        if decisive {
            return Decision {
                outcome: Outcome::Allow,
                rule: Some(rule.0),
            };
        }
    }
    Decision {
        outcome: Outcome::Default,
        rule: None,
    }
}

/// The route that decides a request (§7.2) with its decoded params.
pub fn pick_route<'p>(
    p: &'p Program,
    method: &str,
    host: &str,
    path: &[u8],
) -> Option<(u32, &'p Route, Vec<Vec<u8>>)> {
    let segs = split_path(path);
    for idx in &p.route_order {
        let Some(route) = p.routes.get(*idx as usize) else {
            continue;
        };
        if !route.methods.includes(method) {
            continue;
        }
        if let Some(h) = &route.host
            && !h.as_bytes().eq_ignore_ascii_case(host.as_bytes())
        {
            continue;
        }
        if let Some(params) = match_path(route, &segs) {
            return Some((*idx, route, params));
        }
    }
    None
}

/// Splits a pathname into segments after its leading `/`: `/` is none, `/a/` is `a`, ``.
pub fn split_path(path: &[u8]) -> Vec<&[u8]> {
    let rest = path.strip_prefix(b"/").unwrap_or(path);
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(|b| *b == b'/').collect()
}

fn match_path(route: &Route, segs: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    if segs.len() < route.segments.len() || (!route.star && segs.len() != route.segments.len()) {
        return None;
    }
    let mut params = vec![Vec::new(); route.params.len()];
    for (pat, seg) in route.segments.iter().zip(segs) {
        match pat {
            Seg::Lit(l) => {
                if l.as_bytes() != *seg {
                    return None;
                }
            }
            Seg::Param(i) => {
                if seg.is_empty() {
                    return None;
                }
                if let Some(slot) = params.get_mut(*i as usize) {
                    *slot = percent_decode(seg);
                }
            }
        }
    }
    Some(params)
}

/// Decodes `%XX` (two hex digits); anything else is kept as it is.
pub fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|x| hex(*x)),
                s.get(i + 2).and_then(|x| hex(*x)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// The principal a request's claims bind (§7.6).
fn bind(p: &Program, slots: &[Option<SlotValue>]) -> Option<EntityIdx> {
    let try_binding = |b: &crate::ir::Binding| match slots.get(b.claim.0 as usize) {
        Some(Some(SlotValue::String(s))) => b.lookup(s),
        _ => None,
    };
    p.principal
        .as_ref()
        .and_then(try_binding)
        .or_else(|| p.service.as_ref().and_then(try_binding))
}

/// Whole-string glob: `*` any run, `?` one character (one UTF-8 sequence), all else literal.
pub fn glob(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        match pattern.get(pi) {
            Some(b'*') => {
                pi += 1;
                backtrack = Some((pi, si));
                continue;
            }
            Some(&pc) if si < subject.len() => {
                let step = char_len(subject, si);
                if pc == b'?' {
                    pi += 1;
                    si += step;
                    continue;
                }
                if subject.get(si) == Some(&pc) {
                    pi += 1;
                    si += 1;
                    continue;
                }
            }
            None if si >= subject.len() => return true,
            _ => {}
        }
        match backtrack {
            Some((bp, bs)) if bs < subject.len() => {
                let next = bs + char_len(subject, bs);
                backtrack = Some((bp, next));
                pi = bp;
                si = next;
            }
            _ => return false,
        }
    }
}

/// The length of the character at `i`: its byte and the continuation bytes (`10xxxxxx`) after
/// it. In UTF-8 text that is one sequence; on any other bytes (a percent-decoded `{param}` may hold
/// them) it is what the module's `NextChar` steps over, so that both engines read `?` alike.
pub fn char_len(s: &[u8], i: usize) -> usize {
    let continuations = s
        .get(i + 1..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| **b & 0xC0 == 0x80)
        .count();
    1 + continuations
}

impl<'a> Env<'a> {
    fn rule_truth(&self, rule: RuleIdx) -> (Truth, Option<Span>) {
        let Some(cond) = self.p.rule(rule).and_then(|r| r.cond) else {
            return (Truth::True, None);
        };
        match self.eval(cond, 0) {
            Ok(V::Bool(true)) => (Truth::True, Some(self.decider(cond, 0))),
            Ok(V::Bool(false)) => (Truth::False, Some(self.decider(cond, 0))),
            Ok(_) => (Truth::Err(self.p.span(cond), "not a bool".into()), None),
            Err(f) => (Truth::Err(f.span, f.why.clone()), Some(f.span)),
        }
    }

    /// The operand that decided a bool's value.
    fn decider(&self, id: ExprId, depth: u32) -> Span {
        if depth > MAX_DEPTH {
            return self.p.span(id);
        }
        match self.p.expr(id) {
            Some(Expr::And(a, b)) => match self.eval(*a, 0) {
                Ok(V::Bool(false)) => self.decider(*a, depth + 1),
                _ => self.decider(*b, depth + 1),
            },
            Some(Expr::Or(a, b)) => match self.eval(*a, 0) {
                Ok(V::Bool(true)) => self.decider(*a, depth + 1),
                _ => self.decider(*b, depth + 1),
            },
            _ => self.p.span(id),
        }
    }

    fn fault(&self, id: ExprId, why: impl Into<String>) -> Fault {
        Fault {
            span: self.p.span(id),
            why: why.into(),
        }
    }

    fn eval(&self, id: ExprId, depth: u32) -> R<'a> {
        if depth > MAX_DEPTH {
            return Err(self.fault(id, "expression nested too deeply"));
        }
        let d = depth + 1;
        let Some(e) = self.p.expr(id) else {
            return Err(self.fault(id, "internal error: missing expression"));
        };
        Ok(match e {
            Expr::Bool(b) => V::Bool(*b),
            Expr::Int(i) => V::Int(*i),
            Expr::Str(s) => V::Str(Cow::Borrowed(s.as_bytes())),
            Expr::StrList(l) => V::Set(Cow::Borrowed(l.as_slice())),
            Expr::Cidr(addr, prefix) => {
                // An IPv4 network may also be written unmapped, with a prefix over 32 bits.
                let prefix = if addr.is_ipv4() {
                    prefix.saturating_add(96)
                } else {
                    *prefix
                };
                V::Cidr(ip_bits(*addr), prefix)
            }
            Expr::Slot(s) => match self.slots.get(s.0 as usize) {
                Some(Some(v)) => match v {
                    SlotValue::String(s) => V::Str(Cow::Owned(s.as_bytes().to_vec())),
                    SlotValue::Set(items) => V::Set(Cow::Owned(items.clone())),
                    SlotValue::Int(i) => V::Int(*i),
                    SlotValue::Bool(b) => V::Bool(*b),
                    SlotValue::Ip(ip) => V::Ip(u128::from(*ip)),
                },
                _ => {
                    let name = self.p.slot(*s).map_or("a value", |s| s.name.as_str());
                    return Err(self.fault(id, format!("`{name}` is absent")));
                }
            },
            Expr::Has(s) => V::Bool(matches!(self.slots.get(s.0 as usize), Some(Some(_)))),
            Expr::Param(i) => V::Str(Cow::Owned(
                self.params.get(*i as usize).cloned().unwrap_or_default(),
            )),
            Expr::Target => match self.target {
                Some(t) => V::Entity(t),
                None => return Err(self.fault(id, "the route has no target")),
            },
            Expr::Principal => match self.principal {
                Some(p) => V::Entity(p),
                None => return Err(self.fault(id, "no principal is bound")),
            },
            Expr::Entity(e) => V::Entity(*e),
            Expr::Field(e, f) => {
                let ent = self.entity(*e, d)?;
                match self.p.entities.value(ent, *f) {
                    Some(v) => V::Str(Cow::Owned(v.as_bytes().to_vec())),
                    None => {
                        let r = self
                            .p
                            .entities
                            .get(ent)
                            .map_or("the entity", |i| i.r#ref.as_str());
                        let key = self
                            .p
                            .entities
                            .fields
                            .get(f.0 as usize)
                            .map(|k| k.describe())
                            .unwrap_or_default();
                        return Err(self.fault(id, format!("`{r}` has no `{key}`")));
                    }
                }
            }
            Expr::Related(e, rel) => {
                let ent = self.entity(*e, d)?;
                match self.p.entities.related(ent, *rel) {
                    Related::To(t) => V::Entity(t),
                    Related::Absent | Related::Dangling => {
                        let r = self
                            .p
                            .entities
                            .get(ent)
                            .map_or("the entity", |i| i.r#ref.as_str());
                        return Err(self.fault(
                            id,
                            format!("`{r}` has no {rel:?} in the catalog").to_lowercase(),
                        ));
                    }
                }
            }
            Expr::Eq(a, b) => V::Bool(self.equal(*a, *b, d)?),
            Expr::Ne(a, b) => V::Bool(!self.equal(*a, *b, d)?),
            Expr::Lt(a, b) => V::Bool(self.int(*a, d)? < self.int(*b, d)?),
            Expr::Le(a, b) => V::Bool(self.int(*a, d)? <= self.int(*b, d)?),
            Expr::Gt(a, b) => V::Bool(self.int(*a, d)? > self.int(*b, d)?),
            Expr::Ge(a, b) => V::Bool(self.int(*a, d)? >= self.int(*b, d)?),
            Expr::SetHas { set, elem } => {
                let s = self.eval(*set, d)?;
                let x = self.str(*elem, d)?;
                match s {
                    V::Set(items) => V::Bool(items.iter().any(|i| i.as_bytes() == &x[..])),
                    _ => return Err(self.fault(*set, "not a set")),
                }
            }
            Expr::StrContains { haystack, needle } => {
                let h = self.str(*haystack, d)?;
                let n = self.str(*needle, d)?;
                V::Bool(n.is_empty() || h.windows(n.len()).any(|w| w == &n[..]))
            }
            Expr::StartsWith(a, b) => {
                let (s, x) = (self.str(*a, d)?, self.str(*b, d)?);
                V::Bool(s.starts_with(&x))
            }
            Expr::EndsWith(a, b) => {
                let (s, x) = (self.str(*a, d)?, self.str(*b, d)?);
                V::Bool(s.ends_with(&x))
            }
            Expr::Matches(a, b) => {
                let (s, pat) = (self.str(*a, d)?, self.str(*b, d)?);
                V::Bool(glob(&pat, &s))
            }
            Expr::IpIn(a, b) => {
                let ip = match self.eval(*a, d)? {
                    V::Ip(ip) => ip,
                    _ => return Err(self.fault(*a, "not an ip")),
                };
                match self.eval(*b, d)? {
                    V::Cidr(net, prefix) => {
                        let mask = if prefix == 0 {
                            0
                        } else {
                            u128::MAX << (128 - u32::from(prefix.min(128)))
                        };
                        V::Bool(ip & mask == net & mask)
                    }
                    _ => return Err(self.fault(*b, "not an ip range")),
                }
            }
            Expr::InGroup { member, group } => {
                let (m, g) = (self.entity(*member, d)?, self.entity(*group, d)?);
                V::Bool(self.p.entities.in_group(m, g))
            }
            Expr::Owns { owner, owned } => {
                let (o, e) = (self.entity(*owner, d)?, self.entity(*owned, d)?);
                V::Bool(self.p.entities.owns(o, e))
            }
            Expr::PartOf { part, whole } => {
                let (a, b) = (self.entity(*part, d)?, self.entity(*whole, d)?);
                V::Bool(self.p.entities.part_of(a, b))
            }
            Expr::Add(a, b) => V::Int(self.int(*a, d)?.wrapping_add(self.int(*b, d)?)),
            Expr::Sub(a, b) => V::Int(self.int(*a, d)?.wrapping_sub(self.int(*b, d)?)),
            Expr::And(a, b) => {
                if !self.bool(*a, d)? {
                    V::Bool(false)
                } else {
                    V::Bool(self.bool(*b, d)?)
                }
            }
            Expr::Or(a, b) => {
                if self.bool(*a, d)? {
                    V::Bool(true)
                } else {
                    V::Bool(self.bool(*b, d)?)
                }
            }
            Expr::Not(a) => V::Bool(!self.bool(*a, d)?),
        })
    }

    fn bool(&self, id: ExprId, d: u32) -> Result<bool, Fault> {
        match self.eval(id, d)? {
            V::Bool(b) => Ok(b),
            _ => Err(self.fault(id, "not a bool")),
        }
    }

    fn int(&self, id: ExprId, d: u32) -> Result<i64, Fault> {
        match self.eval(id, d)? {
            V::Int(i) => Ok(i),
            _ => Err(self.fault(id, "not a number")),
        }
    }

    fn str(&self, id: ExprId, d: u32) -> Result<Cow<'a, [u8]>, Fault> {
        match self.eval(id, d)? {
            V::Str(s) => Ok(s),
            _ => Err(self.fault(id, "not a string")),
        }
    }

    fn entity(&self, id: ExprId, d: u32) -> Result<EntityIdx, Fault> {
        match self.eval(id, d)? {
            V::Entity(e) => Ok(e),
            _ => Err(self.fault(id, "not an entity")),
        }
    }

    fn equal(&self, a: ExprId, b: ExprId, d: u32) -> Result<bool, Fault> {
        let (x, y) = (self.eval(a, d)?, self.eval(b, d)?);
        Ok(match (x, y) {
            (V::Bool(x), V::Bool(y)) => x == y,
            (V::Int(x), V::Int(y)) => x == y,
            (V::Str(x), V::Str(y)) => x == y,
            (V::Entity(x), V::Entity(y)) => x == y,
            (V::Ip(x), V::Ip(y)) => x == y,
            _ => return Err(self.fault(a, "values of different types")),
        })
    }
}

fn ip_bits(ip: std::net::IpAddr) -> u128 {
    let v6: Ipv6Addr = crate::wasm::abi::ip16(ip);
    u128::from(v6)
}
