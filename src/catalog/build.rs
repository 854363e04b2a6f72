//! From validated entities to the closed catalog: the ref index, relations both ways, group closure, hash.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use rayon::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::diagnostics::{
    CatalogError, CatalogWarning, DanglingRef, DuplicateEntity, GroupCycle, InvalidRef, SharedEmail,
};
use super::entity::{Entity, validate};
use super::entity_ref::EntityRef;
use super::kinds::{Kind, RefField, RelationType, ref_fields};
use super::load::Sources;
use super::yaml::Seg;
use super::{Catalog, EntityId, Links, Loaded, Relation};

/// Did-you-mean suggestions are computed for this many dangling refs at most (each scans the catalog).
const SUGGESTION_LIMIT: usize = 200;

pub(crate) fn build(mut sources: Sources) -> Result<Loaded, CatalogError> {
    let docs = std::mem::take(&mut sources.docs);
    let mut errors = std::mem::take(&mut sources.errors);
    let mut warnings = std::mem::take(&mut sources.warnings);
    // Validated in parallel; diagnostics kept in document order.
    let validated: Vec<_> = docs
        .into_par_iter()
        .map(|doc| {
            let (mut errors, mut warnings) = (Vec::new(), Vec::new());
            let entity = validate(doc, &sources, &mut errors, &mut warnings);
            (entity, errors, warnings)
        })
        .collect();
    let mut entities = Vec::with_capacity(validated.len());
    for (entity, doc_errors, doc_warnings) in validated {
        errors.extend(doc_errors);
        warnings.extend(doc_warnings);
        entities.extend(entity);
    }

    let mut index: HashMap<EntityRef, EntityId> = HashMap::with_capacity(entities.len());
    let mut kept: Vec<Entity> = Vec::with_capacity(entities.len());
    for e in entities {
        let r = e.entity_ref();
        if let Some(first) = index.get(&r).and_then(|id| kept.get(id.0 as usize)) {
            // Where the first one's name is, as the error shows the second's.
            let named = sources.site(
                first.file,
                first.pos,
                &[Seg::Key("metadata"), Seg::Key("name")],
                None,
            );
            let first = if named.line > 0 {
                format!("{}:{}", named.file, named.line)
            } else {
                format!("{}:{}", first.source.file, first.source.line)
            };
            let site = sources.site(
                e.file,
                e.pos,
                &[Seg::Key("metadata"), Seg::Key("name")],
                Some(r.to_string()),
            );
            errors.push(CatalogError::DuplicateEntity(Box::new(
                DuplicateEntity::at(site, r.to_string(), first),
            )));
            continue;
        }
        let Ok(n) = u32::try_from(kept.len()) else {
            break;
        };
        index.insert(r, EntityId(n));
        kept.push(e);
    }
    let entities = kept;

    // Every ref of every entity, parsed and looked up in parallel; then booked in order.
    let resolved: Vec<Vec<Found<'_>>> = entities
        .par_iter()
        .map(|e| {
            let Some(spec) = e.raw.get("spec") else {
                return Vec::new();
            };
            let mut found = Vec::new();
            for f in ref_fields(e.builtin) {
                let values: Vec<(Option<usize>, &str)> = match spec.get(f.field) {
                    Some(Value::String(s)) if !f.many => vec![(None, s.as_str())],
                    Some(Value::Array(items)) if f.many => items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.as_str().map(|s| (Some(i), s)))
                        .collect(),
                    _ => {
                        continue;
                    }
                };
                if values.is_empty() {
                    found.push(Found {
                        field: f,
                        item: None,
                        text: "",
                        target: Target::NoValues,
                    });
                }
                for (item, text) in values {
                    let target = match EntityRef::parse(text, f.default_kind, &e.namespace) {
                        Err(err) => Target::Invalid(err.to_string()),
                        Ok(r) => match index.get(&r) {
                            Some(&id) => Target::Found(id),
                            None => Target::Dangling(r),
                        },
                    };
                    found.push(Found {
                        field: f,
                        item,
                        text,
                        target,
                    });
                }
            }
            found
        })
        .collect();

    let mut links: Vec<Links> = vec![Links::default(); entities.len()];
    let mut rels: Vec<Relation> = Vec::new();
    let mut field_counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut dangling = 0usize;
    // Every `spec.parent` / `spec.children` link between groups, where it is written: a group
    // cycle is shown at one of its own links.
    let mut group_links: Vec<GroupLink> = Vec::new();
    for (i, (e, found)) in entities.iter().zip(resolved).enumerate() {
        let Ok(n) = u32::try_from(i) else { break };
        let id = EntityId(n);
        for Found {
            field: f,
            item,
            text,
            target,
        } in found
        {
            let counted = field_counts.entry(f.field).or_default();
            if f.field == "owner"
                && let Some(l) = links.get_mut(i)
            {
                l.has_owner = true;
            }
            let at = |s: &Sources, r: Option<String>| {
                let mut path = vec![Seg::Key("spec"), Seg::Key(f.field)];
                path.extend(item.map(Seg::Item));
                s.site(e.file, e.pos, &path, r)
            };
            let target = match target {
                Target::NoValues => continue,
                Target::Found(target) => target,
                Target::Invalid(err) => {
                    *counted += 1;
                    let site = at(&sources, Some(e.entity_ref().to_string()));
                    let field = format!("spec.{}", f.field);
                    let ir = InvalidRef::at(site, field, text.to_string(), err);
                    errors.push(CatalogError::InvalidRef(Box::new(ir)));
                    continue;
                }
                Target::Dangling(r) => {
                    *counted += 1;
                    dangling += 1;
                    let suggestion = (dangling <= SUGGESTION_LIMIT)
                        .then(|| suggest_in(&entities, &r))
                        .flatten()
                        .map(|s| format!("did you mean `{s}`?"));
                    let site = at(&sources, Some(e.entity_ref().to_string()));
                    let d = DanglingRef {
                        field: format!("spec.{}", f.field),
                        reference: r.to_string(),
                        suggestion,
                        file: site.file,
                        line: site.line,
                        entity: site.entity,
                        src: site.src,
                        span: site.span,
                    };
                    warnings.push(CatalogWarning::DanglingRef(Box::new(d)));
                    continue;
                }
            };
            *counted += 1;
            if e.builtin == Some(Kind::Group) && matches!(f.field, "parent" | "children") {
                group_links.push(GroupLink {
                    from: id,
                    to: target,
                    field: f.field,
                    item,
                });
            }
            rels.push(Relation {
                source: id,
                kind: f.relation,
                target,
            });
            rels.push(Relation {
                source: target,
                kind: f.relation.inverse(),
                target: id,
            });
            if let Some(l) = links.get_mut(i) {
                match f.field {
                    "owner" => l.owner = Some(target),
                    "system" => l.system = Some(target),
                    _ => {}
                }
            }
        }
    }
    let field_counts: BTreeMap<String, usize> = field_counts
        .into_iter()
        .map(|(f, n)| (format!("spec.{f}"), n))
        .collect();
    if !errors.is_empty() {
        return Err(CatalogError::from_list(errors));
    }
    rels.par_sort_unstable();
    rels.dedup();

    let kind_of = |id: EntityId| entities.get(id.0 as usize).and_then(|e| e.builtin);
    let n = entities.len();
    let mut direct: Vec<Vec<EntityId>> = vec![Vec::new(); n];
    let mut parents: Vec<Vec<EntityId>> = vec![Vec::new(); n];
    for r in &rels {
        let (Some(src), Some(dst)) = (kind_of(r.source), kind_of(r.target)) else {
            continue;
        };
        match (r.kind, src, dst) {
            (RelationType::MemberOf, Kind::User, Kind::Group) => direct
                .get_mut(r.source.0 as usize)
                .map(|v| v.push(r.target)),
            (RelationType::ChildOf, Kind::Group, Kind::Group) => parents
                .get_mut(r.source.0 as usize)
                .map(|v| v.push(r.target)),
            (RelationType::PartOf, _, _) => links
                .get_mut(r.source.0 as usize)
                .map(|l| l.part_of.push(r.target)),
            _ => None,
        };
    }
    // ancestors of every group (cycle-safe breadth-first walk), then every user's transitive groups
    let mut closure: Vec<Vec<EntityId>> = vec![Vec::new(); n];
    for (i, p) in parents.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        let mut seen: BTreeSet<EntityId> = BTreeSet::new();
        let mut queue: VecDeque<EntityId> = p.iter().copied().collect();
        while let Some(g) = queue.pop_front() {
            if seen.insert(g) {
                queue.extend(parents.get(g.0 as usize).into_iter().flatten().copied());
            }
        }
        if let Some(c) = closure.get_mut(i) {
            *c = seen.into_iter().collect();
        }
    }
    warn_of_group_cycles(&entities, &closure, &group_links, &sources, &mut warnings);
    for (i, groups) in direct.iter().enumerate() {
        if groups.is_empty() {
            continue;
        }
        let mut all: Vec<EntityId> = groups.clone();
        for g in groups {
            all.extend(closure.get(g.0 as usize).into_iter().flatten().copied());
        }
        all.sort_unstable();
        all.dedup();
        if let Some(c) = closure.get_mut(i) {
            *c = all;
        }
    }

    let mut emails: HashMap<String, Vec<EntityId>> = HashMap::new();
    for (i, e) in entities.iter().enumerate() {
        if e.builtin == Some(Kind::User)
            && let Some(mail) = e
                .field(&["spec", "profile", "email"])
                .and_then(Value::as_str)
            && let Ok(n) = u32::try_from(i)
        {
            emails
                .entry(mail.to_ascii_lowercase())
                .or_default()
                .push(EntityId(n));
        }
    }
    let mut shared: Vec<(&String, &Vec<EntityId>)> =
        emails.iter().filter(|(_, v)| v.len() > 1).collect();
    shared.sort();
    for (mail, ids) in shared {
        let names: Vec<String> = ids
            .iter()
            .filter_map(|id| entities.get(id.0 as usize))
            .map(|e| format!("`{}`", e.entity_ref()))
            .collect();
        if let Some(e) = ids.get(1).and_then(|id| entities.get(id.0 as usize)) {
            let site = sources.site(
                e.file,
                e.pos,
                &[Seg::Key("spec"), Seg::Key("profile"), Seg::Key("email")],
                Some(e.entity_ref().to_string()),
            );
            warnings.push(CatalogWarning::SharedEmail(Box::new(SharedEmail::at(
                site,
                mail.clone(),
                names.join(", "),
            ))));
        }
    }

    let mut by_kind: BTreeMap<String, Vec<EntityId>> = BTreeMap::new();
    for (i, e) in entities.iter().enumerate() {
        if let Ok(n) = u32::try_from(i) {
            by_kind
                .entry(e.kind.to_lowercase())
                .or_default()
                .push(EntityId(n));
        }
    }
    let hash = hash_entities(&entities);
    for d in &mut direct {
        d.sort_unstable();
        d.dedup();
    }
    let catalog = Catalog {
        entities,
        index,
        by_kind,
        links,
        relations: rels,
        field_counts,
        direct_groups: direct,
        closure,
        emails,
        hash,
    };
    Ok(Loaded { catalog, warnings })
}

/// The entity whose ref is nearest to `r` (same kind first), if near enough.
pub(crate) fn suggest_in(entities: &[Entity], r: &EntityRef) -> Option<EntityRef> {
    let want = r.to_string();
    let limit = (want.len() / 3).max(2);
    entities
        .iter()
        .map(Entity::entity_ref)
        .filter(|c| c.name.len().abs_diff(r.name.len()) <= limit)
        .map(|c| {
            let d = levenshtein(&c.to_string(), &want);
            // a different kind or namespace with the very same name is a good guess too
            let d = if c.name == r.name { d.min(1) } else { d };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        if let Some(c0) = cur.first_mut() {
            *c0 = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(c) = cur.get_mut(j + 1) {
                *c = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

/// `sha256:` over the entities sorted by ref, each as canonical JSON (keys sorted).
fn hash_entities(entities: &[Entity]) -> String {
    let mut items: Vec<(String, &Value)> = entities
        .iter()
        .map(|e| (e.entity_ref().to_string(), &e.raw))
        .collect();
    items.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    // Serialised in parallel, in chunks (bounded memory), hashed in order.
    let mut h = Sha256::new();
    for chunk in items.chunks(4_096) {
        let texts: Vec<Vec<u8>> = chunk
            .par_iter()
            .map(|(_, v)| {
                let mut buf = Vec::new();
                canonical_json(v, &mut buf);
                buf
            })
            .collect();
        for ((r, _), text) in chunk.iter().zip(texts) {
            h.update(r.as_bytes());
            h.update([0u8]);
            h.update(&text);
            h.update([0u8]);
        }
    }
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn canonical_json(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                canonical_json(x, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(x, out);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// One ref written in an entity's spec, resolved.
struct Found<'e> {
    field: &'static RefField,
    /// The position in a list field.
    item: Option<usize>,
    text: &'e str,
    target: Target,
}

enum Target {
    Found(EntityId),
    /// Not a valid ref (why).
    Invalid(String),
    /// No entity has this ref.
    Dangling(EntityRef),
    /// A list field with no string in it (counted as a field, no ref).
    NoValues,
}

/// A group's `spec.parent` or `spec.children` item, and the group it names.
struct GroupLink {
    from: EntityId,
    to: EntityId,
    field: &'static str,
    item: Option<usize>,
}

/// One warning for each set of groups whose parents lead back to themselves (a group that is among
/// its own ancestors, with every ancestor it is in turn an ancestor of), named in reference order
/// and shown at the first link written between two of them.
fn warn_of_group_cycles(
    entities: &[Entity],
    ancestors: &[Vec<EntityId>],
    links: &[GroupLink],
    sources: &Sources,
    warnings: &mut Vec<CatalogWarning>,
) {
    let above = |g: EntityId, of: EntityId| {
        ancestors
            .get(of.0 as usize)
            .is_some_and(|a| a.binary_search(&g).is_ok())
    };
    let mut reported: BTreeSet<EntityId> = BTreeSet::new();
    for (i, up) in ancestors.iter().enumerate() {
        let Ok(n) = u32::try_from(i) else { continue };
        let me = EntityId(n);
        if reported.contains(&me) || !above(me, me) {
            continue;
        }
        let mut cycle: Vec<(String, EntityId)> = up
            .iter()
            .copied()
            .filter(|&g| above(me, g))
            .filter_map(|g| Some((entities.get(g.0 as usize)?.entity_ref().to_string(), g)))
            .collect();
        cycle.sort();
        reported.extend(cycle.iter().map(|(_, g)| *g));
        let member = |g: EntityId| cycle.iter().any(|(_, c)| *c == g);
        // The first group of the cycle, in reference order, with a link to another member.
        let Some((link, at)) = cycle.iter().find_map(|(_, g)| {
            let link = links.iter().find(|l| l.from == *g && member(l.to))?;
            Some((link, entities.get(g.0 as usize)?))
        }) else {
            continue;
        };
        let mut path = vec![Seg::Key("spec"), Seg::Key(link.field)];
        path.extend(link.item.map(Seg::Item));
        let site = sources.site(at.file, at.pos, &path, Some(at.entity_ref().to_string()));
        let names: Vec<String> = cycle.iter().map(|(r, _)| format!("`{r}`")).collect();
        warnings.push(CatalogWarning::GroupCycle(Box::new(GroupCycle::at(
            site,
            names.join(", "),
        ))));
    }
}
