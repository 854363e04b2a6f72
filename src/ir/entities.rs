//! The catalog facts a program can reach: an entity table, the string fields the policy reads,
//! relations and membership closures, and the principal binding tables.

use std::collections::BTreeMap;

use super::SlotIdx;

/// Index of an entity in [`Entities::list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityIdx(pub u32);

/// Index of a field in [`Entities::fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldIdx(pub u32);

/// A string field of an entity that a policy reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldKey {
    /// As the catalog writes it, e.g. `Component`.
    Kind,
    Namespace,
    Name,
    /// `kind:namespace/name`, lowercase.
    Ref,
    /// A path into the entity document: `["spec", "lifecycle"]`, `["metadata", "labels", "k"]`.
    Doc(Vec<String>),
}

impl FieldKey {
    /// How the policy spells the field after the entity (`spec.lifecycle`, `metadata.labels["k"]`).
    pub fn describe(&self) -> String {
        match self {
            FieldKey::Kind => "kind".into(),
            FieldKey::Namespace => "namespace".into(),
            FieldKey::Name => "name".into(),
            FieldKey::Ref => "ref".into(),
            FieldKey::Doc(p) => {
                let mut s = String::new();
                for (i, seg) in p.iter().enumerate() {
                    let plain = !seg.is_empty()
                        && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !(i >= 2
                            && matches!(
                                p.get(1).map(String::as_str),
                                Some("labels" | "annotations")
                            ));
                    if plain {
                        if i > 0 {
                            s.push('.');
                        }
                        s.push_str(seg);
                    } else {
                        s.push_str(&format!("[{seg:?}]"));
                    }
                }
                s
            }
        }
    }
}

/// An entity relation an expression can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rel {
    Owner,
    System,
}

/// Where a relation of one entity leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Related {
    /// The entity has no such field.
    Absent,
    /// The field names an entity the catalog lacks (resolves to nothing; reading it errs).
    Dangling,
    To(EntityIdx),
}

/// One entity of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityInfo {
    /// `kind:namespace/name`, lowercase.
    pub r#ref: String,
    /// Whether the entity is a User (only Users are members of groups).
    pub is_user: bool,
    pub owner: Related,
    pub system: Related,
    /// Groups this entity is directly a member of (Users only), sorted.
    pub direct_groups: Vec<EntityIdx>,
    /// Groups this entity is in, transitively through parents (Users only), sorted.
    pub groups: Vec<EntityIdx>,
    /// Entities this one is part of, transitively, sorted.
    pub part_of: Vec<EntityIdx>,
}

/// How a token binds the principal: the one entity of `kind` whose `field` equals the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Lowercase kind (`user`, `component`).
    pub kind: String,
    /// The entity field compared, as written in the policy.
    pub field_text: String,
    /// The claim slot whose value is looked up (a string slot).
    pub claim: SlotIdx,
    /// Keys compare ASCII case-insensitively (keys are stored lowercased), as for emails.
    pub ascii_case_insensitive: bool,
    /// Key → the one entity with that value; values shared by several entities are left out
    /// (they bind no one).
    pub table: BTreeMap<String, EntityIdx>,
    /// Values shared by several entities, for the checker's warning.
    pub ambiguous: Vec<String>,
}

impl Binding {
    /// The entity a claim value binds, if exactly one.
    pub fn lookup(&self, value: &str) -> Option<EntityIdx> {
        if self.ascii_case_insensitive {
            self.table.get(&value.to_ascii_lowercase()).copied()
        } else {
            self.table.get(value).copied()
        }
    }
}

/// The reachable catalog.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entities {
    pub list: Vec<EntityInfo>,
    pub fields: Vec<FieldKey>,
    /// `values[field][entity]`: the field's string value, `None` when the entity lacks it.
    pub values: Vec<Vec<Option<String>>>,
}

impl Entities {
    pub fn get(&self, e: EntityIdx) -> Option<&EntityInfo> {
        self.list.get(e.0 as usize)
    }

    pub fn value(&self, e: EntityIdx, f: FieldIdx) -> Option<&str> {
        self.values
            .get(f.0 as usize)
            .and_then(|col| col.get(e.0 as usize))
            .and_then(|v| v.as_deref())
    }

    pub fn related(&self, e: EntityIdx, rel: Rel) -> Related {
        match self.get(e) {
            None => Related::Absent,
            Some(info) => match rel {
                Rel::Owner => info.owner,
                Rel::System => info.system,
            },
        }
    }

    /// Transitive group membership; false for non-Users.
    pub fn in_group(&self, member: EntityIdx, group: EntityIdx) -> bool {
        self.get(member)
            .is_some_and(|i| i.groups.binary_search(&group).is_ok())
    }

    /// Backstage `isEntityOwner`: the owner is `who` itself or a group `who` is directly in.
    pub fn owns(&self, who: EntityIdx, owned: EntityIdx) -> bool {
        match self.related(owned, Rel::Owner) {
            Related::To(o) => {
                o == who
                    || self
                        .get(who)
                        .is_some_and(|i| i.direct_groups.binary_search(&o).is_ok())
            }
            Related::Absent | Related::Dangling => false,
        }
    }

    /// Transitive containment.
    pub fn part_of(&self, part: EntityIdx, whole: EntityIdx) -> bool {
        self.get(part)
            .is_some_and(|i| i.part_of.binary_search(&whole).is_ok())
    }
}
