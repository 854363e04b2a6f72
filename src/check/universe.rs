//! Pruning the catalog to the entities a program can reach, and building its fact tables and bindings.

use std::collections::{BTreeMap, BTreeSet};

use super::{BindingSpec, Cx};
use crate::catalog::{Catalog, EntityId};
use crate::ir::entities::{EntityInfo, Related};
use crate::ir::{Binding, EntityIdx, Expr, FieldKey, Target};

/// Builds `program.entities`, the bindings, and renumbers entities in ref order.
pub(crate) fn build(cx: &mut Cx<'_, '_>) {
    let Some(catalog) = cx.catalog else { return };
    // Binding candidates join the universe.
    let principal = cx
        .principal_spec
        .take()
        .map(|s| binding_table(cx, catalog, &s, true));
    let service = cx
        .service_spec
        .take()
        .map(|s| binding_table(cx, catalog, &s, false));

    // Close over owner and system, then add the groups of every member.
    let mut reach: BTreeSet<EntityId> = cx.entity_ids.iter().copied().collect();
    let mut todo: Vec<EntityId> = reach.iter().copied().collect();
    while let Some(id) = todo.pop() {
        for next in [catalog.owner(id), catalog.system(id)]
            .into_iter()
            .flatten()
        {
            if reach.insert(next) {
                todo.push(next);
            }
        }
    }
    let members: Vec<EntityId> = reach.iter().copied().collect();
    for id in members {
        for g in catalog
            .all_groups(id)
            .iter()
            .chain(catalog.direct_groups(id))
        {
            reach.insert(*g);
        }
    }
    // Number the universe in ref order, so that output does not depend on the order of first use.
    let mut ordered: Vec<(String, EntityId)> = reach
        .iter()
        .filter_map(|id| {
            catalog
                .entity(*id)
                .map(|e| (e.entity_ref().to_string(), *id))
        })
        .collect();
    ordered.sort();
    let new_of: BTreeMap<EntityId, EntityIdx> = ordered
        .iter()
        .enumerate()
        .map(|(i, (_, id))| (*id, EntityIdx(i as u32)))
        .collect();
    let renumber = |old: EntityIdx, ids: &[EntityId]| -> EntityIdx {
        ids.get(old.0 as usize)
            .and_then(|id| new_of.get(id))
            .copied()
            .unwrap_or(old)
    };
    let old_ids = cx.entity_ids.clone();
    for e in &mut cx.program.exprs {
        if let Expr::Entity(idx) = e {
            *idx = renumber(*idx, &old_ids);
        }
    }
    for r in &mut cx.program.routes {
        match &mut r.target {
            Some(Target::Fixed(idx)) => *idx = renumber(*idx, &old_ids),
            Some(Target::Template { candidates, .. }) => {
                for (_, idx) in candidates.iter_mut() {
                    *idx = renumber(*idx, &old_ids);
                }
            }
            None => {}
        }
    }
    let in_universe = |ids: &[EntityId]| -> Vec<EntityIdx> {
        let mut v: Vec<EntityIdx> = ids
            .iter()
            .filter_map(|id| new_of.get(id).copied())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut list = Vec::with_capacity(ordered.len());
    for (r, id) in &ordered {
        let is_user = catalog
            .entity(*id)
            .is_some_and(|e| e.kind.eq_ignore_ascii_case("user"));
        let related = |present: bool, to: Option<EntityId>| match (
            present,
            to.and_then(|t| new_of.get(&t).copied()),
        ) {
            (_, Some(t)) => Related::To(t),
            (true, None) => Related::Dangling,
            (false, None) => Related::Absent,
        };
        let part_of: Vec<EntityId> = ordered
            .iter()
            .map(|(_, c)| *c)
            .filter(|c| catalog.part_of(*id, *c))
            .collect();
        list.push(EntityInfo {
            r#ref: r.clone(),
            is_user,
            owner: related(catalog.has_owner_field(*id), catalog.owner(*id)),
            system: related(
                catalog.field(*id, &["spec", "system"]).is_some(),
                catalog.system(*id),
            ),
            direct_groups: if is_user {
                in_universe(catalog.direct_groups(*id))
            } else {
                Vec::new()
            },
            groups: if is_user {
                in_universe(catalog.all_groups(*id))
            } else {
                Vec::new()
            },
            part_of: in_universe(&part_of),
        });
    }
    let mut fields: Vec<(FieldKey, crate::ir::FieldIdx)> =
        cx.field_of.iter().map(|(k, v)| (k.clone(), *v)).collect();
    fields.sort_by_key(|(_, v)| *v);
    let values = fields
        .iter()
        .map(|(key, _)| {
            ordered
                .iter()
                .map(|(r, id)| field_value(catalog, *id, key, r))
                .collect()
        })
        .collect();
    cx.program.entities = crate::ir::Entities {
        list,
        fields: fields.into_iter().map(|(k, _)| k).collect(),
        values,
    };
    let remap = |b: Option<(Binding, Vec<(String, EntityId)>)>| {
        b.map(|(mut binding, entries)| {
            binding.table = entries
                .into_iter()
                .filter_map(|(k, id)| new_of.get(&id).map(|e| (k, *e)))
                .collect();
            binding
        })
    };
    cx.program.principal = remap(principal);
    cx.program.service = remap(service);
}

fn field_value(catalog: &Catalog, id: EntityId, key: &FieldKey, r: &str) -> Option<String> {
    let e = catalog.entity(id)?;
    match key {
        FieldKey::Kind => Some(e.kind.clone()),
        FieldKey::Namespace => Some(e.namespace.clone()),
        FieldKey::Name => Some(e.name.clone()),
        FieldKey::Ref => Some(r.to_string()),
        FieldKey::Doc(path) => {
            let keys: Vec<&str> = path.iter().map(String::as_str).collect();
            catalog
                .field(id, &keys)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        }
    }
}

/// The table of a binding: key → the one entity whose field has that value.
fn binding_table(
    cx: &mut Cx<'_, '_>,
    catalog: &Catalog,
    spec: &BindingSpec,
    ascii_ci: bool,
) -> (Binding, Vec<(String, EntityId)>) {
    let keys: Vec<&str> = spec.field.iter().map(String::as_str).collect();
    let mut by_value: BTreeMap<String, Vec<EntityId>> = BTreeMap::new();
    for id in catalog.of_kind(&spec.kind) {
        if let Some(v) = catalog.field(id, &keys).and_then(|v| v.as_str()) {
            let k = if ascii_ci {
                v.to_ascii_lowercase()
            } else {
                v.to_string()
            };
            by_value.entry(k).or_default().push(id);
        }
    }
    let mut binding = Binding::from_spec(spec, ascii_ci);
    let mut entries = Vec::new();
    for (k, ids) in by_value {
        match ids.as_slice() {
            [one] => {
                cx.entity(*one);
                entries.push((k, *one));
            }
            _ => binding.ambiguous.push(k),
        }
    }
    (binding, entries)
}
