//! The Backstage catalog: entity model, loaders, entity refs and relation closure.
//!
//! A [`Catalog`] is loaded once (from a folder, a YAML file following relative `Location`s, YAML
//! text, or the JSON array of `GET /api/catalog/entities`) and is immutable afterwards: refs are
//! resolved, relations are stored both ways, and group membership is closed at load time, so the
//! queries the checker and the interpreter ask (`owns`, `in_group`, `part_of`) are cheap.
//!
//! ```
//! use edgeward::catalog::{Catalog, EntityRef};
//! let yaml = "
//! apiVersion: backstage.io/v1alpha1
//! kind: Group
//! metadata: {name: platform}
//! spec: {type: team, children: []}
//! ---
//! apiVersion: backstage.io/v1alpha1
//! kind: User
//! metadata: {name: jane}
//! spec: {memberOf: [platform]}
//! ---
//! apiVersion: backstage.io/v1alpha1
//! kind: Component
//! metadata: {name: api}
//! spec: {type: service, lifecycle: production, owner: platform}
//! ";
//! let loaded = Catalog::from_yaml_str("catalog.yaml", yaml).unwrap();
//! let c = &loaded.catalog;
//! let jane = c.lookup(&EntityRef::parse("user:jane", None, "default").unwrap()).unwrap();
//! let api = c.lookup(&EntityRef::parse("component:api", None, "default").unwrap()).unwrap();
//! assert!(c.owns(jane, api));
//! ```

mod build;
mod diagnostics;
mod entity;
mod entity_ref;
mod kinds;
mod load;
mod summary;
mod yaml;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

pub use diagnostics::{
    BadApiVersion, CatalogError, CatalogWarning, DanglingRef, DuplicateEntity, InvalidField,
    InvalidName, InvalidRef, Io, JsonSyntax, LocationLoop, MissingField, NotAMapping, SharedEmail,
    Site, SkippedFile, TargetNotFollowed, TargetNotFound, TargetOutsideRoot, UnknownKind,
    YamlSyntax,
};
pub use entity::{Entity, SourceLoc};
pub use entity_ref::{EntityRef, RefError};
pub use kinds::{Kind, RefField, RelationType, ref_fields};
pub use summary::{Summary, render_text, summary};

/// An entity's index in its catalog (source order).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct EntityId(pub u32);

/// One relation, `source` --`kind`--> `target`; the catalog stores both directions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Relation {
    pub source: EntityId,
    pub kind: RelationType,
    pub target: EntityId,
}

/// What an entity's own spec resolves to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Links {
    owner: Option<EntityId>,
    has_owner: bool,
    system: Option<EntityId>,
    /// `spec.system`, `spec.domain`, `spec.subcomponentOf`, `spec.subdomainOf` resolved.
    part_of: Vec<EntityId>,
}

/// A loaded catalog and what is worth knowing about it.
#[derive(Debug)]
pub struct Loaded {
    pub catalog: Catalog,
    pub warnings: Vec<CatalogWarning>,
}

/// A Backstage catalog, closed under its relations; immutable after load.
#[derive(Debug)]
pub struct Catalog {
    entities: Vec<Entity>,
    index: HashMap<EntityRef, EntityId>,
    by_kind: BTreeMap<String, Vec<EntityId>>,
    links: Vec<Links>,
    relations: Vec<Relation>,
    field_counts: BTreeMap<String, usize>,
    direct_groups: Vec<Vec<EntityId>>,
    /// Users: every group they are in, transitively; groups: their ancestors.
    closure: Vec<Vec<EntityId>>,
    emails: HashMap<String, Vec<EntityId>>,
    hash: String,
}

impl Catalog {
    /// Loads a folder (every `.yaml`/`.yml` file in it, recursively), a YAML file, or a JSON file
    /// holding the catalog API's array. Relative `Location` targets are followed from YAML files;
    /// a file reached twice loads once.
    pub fn load(path: &Path) -> Result<Loaded, CatalogError> {
        Self::load_all(&[path])
    }

    /// Loads several entry points into one catalog (e.g. `all.yaml` and `acme/org.yaml`).
    pub fn load_all(paths: &[&Path]) -> Result<Loaded, CatalogError> {
        let mut sources = load::Sources::default();
        for p in paths {
            sources.add_path(p);
        }
        build::build(sources)
    }

    /// Loads multi-document YAML text; `name` names it in diagnostics. Locations are not followed.
    pub fn from_yaml_str(name: &str, text: &str) -> Result<Loaded, CatalogError> {
        let mut sources = load::Sources::default();
        if let Some(file) = sources.add_yaml(name, text.to_string(), false) {
            let locations: Vec<(load::DocPos, usize, String, bool)> = sources
                .docs
                .iter()
                .filter(|d| d.file == file && load::is_location(&d.value))
                .flat_map(|d| {
                    load::location_targets(&d.value)
                        .into_iter()
                        .map(move |(i, t, m)| (d.pos, i, t, m))
                })
                .collect();
            for (pos, i, target, many) in locations {
                let path = if many {
                    vec![
                        yaml::Seg::Key("spec"),
                        yaml::Seg::Key("targets"),
                        yaml::Seg::Item(i),
                    ]
                } else {
                    vec![yaml::Seg::Key("spec"), yaml::Seg::Key("target")]
                };
                let site = sources.site(file, pos, &path, None);
                let w = TargetNotFollowed::at(site, target, "the catalog was given as text".into());
                sources
                    .warnings
                    .push(CatalogWarning::TargetNotFollowed(Box::new(w)));
            }
        }
        build::build(sources)
    }

    /// Loads the JSON array that `GET /api/catalog/entities` returns (`relations` present or not:
    /// they are recomputed from the specs, so the model is the one the YAML gives).
    pub fn from_api_json(name: &str, text: &str) -> Result<Loaded, CatalogError> {
        let mut sources = load::Sources::default();
        sources.add_api_json(name, text.to_string());
        build::build(sources)
    }

    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    pub fn entity(&self, id: EntityId) -> Option<&Entity> {
        self.entities.get(id.0 as usize)
    }

    /// Every entity, in source order.
    pub fn ids(&self) -> impl Iterator<Item = EntityId> + '_ {
        (0..self.entities.len()).filter_map(|i| u32::try_from(i).ok().map(EntityId))
    }

    /// The entity a ref names (refs are normalised lowercase, so this is case-insensitive).
    pub fn lookup(&self, r: &EntityRef) -> Option<EntityId> {
        let norm = EntityRef::new(&r.kind, &r.namespace, &r.name);
        self.index.get(&norm).copied()
    }

    /// The entities of a kind (case-insensitive), in source order.
    pub fn of_kind(&self, kind: &str) -> impl Iterator<Item = EntityId> + '_ {
        self.by_kind
            .get(&kind.to_lowercase())
            .into_iter()
            .flatten()
            .copied()
    }

    /// The kinds present, lowercase, with their entities.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &[EntityId])> {
        self.by_kind.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The value at `path` in the entity's document: `["spec","profile","email"]`,
    /// `["metadata","annotations","cloudflare.com/access-client-id"]`, `["metadata","labels","k"]`.
    pub fn field(&self, id: EntityId, path: &[&str]) -> Option<&Value> {
        self.entity(id)?.field(path)
    }

    /// The resolved `spec.owner` (`None` when absent or dangling).
    pub fn owner(&self, id: EntityId) -> Option<EntityId> {
        self.links.get(id.0 as usize)?.owner
    }

    /// Whether `spec.owner` is written, even if it dangles.
    pub fn has_owner_field(&self, id: EntityId) -> bool {
        self.links.get(id.0 as usize).is_some_and(|l| l.has_owner)
    }

    /// The resolved `spec.system`.
    pub fn system(&self, id: EntityId) -> Option<EntityId> {
        self.links.get(id.0 as usize)?.system
    }

    /// Whether `e` is part of `container`, transitively (component → system → domain,
    /// `subcomponentOf`, `subdomainOf`); cycle-safe. An entity is not part of itself.
    pub fn part_of(&self, e: EntityId, container: EntityId) -> bool {
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<EntityId> = self.direct_part_of(e).to_vec();
        while let Some(x) = stack.pop() {
            if x == container {
                return true;
            }
            if seen.insert(x) {
                stack.extend_from_slice(self.direct_part_of(x));
            }
        }
        false
    }

    fn direct_part_of(&self, e: EntityId) -> &[EntityId] {
        self.links
            .get(e.0 as usize)
            .map_or(&[], |l| l.part_of.as_slice())
    }

    /// The groups a user is directly in: `spec.memberOf` ∪ groups whose `spec.members` name the user.
    pub fn direct_groups(&self, user: EntityId) -> &[EntityId] {
        self.direct_groups
            .get(user.0 as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// Every group a user is in, transitively through group parents (sorted); for a group, its ancestors.
    pub fn all_groups(&self, member: EntityId) -> &[EntityId] {
        self.closure
            .get(member.0 as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// Whether `member` (a user, or a group) is in `group`, transitively through group parents
    /// (`spec.parent` and `spec.children` merged). Precomputed; other kinds are in no group.
    pub fn in_group(&self, member: EntityId, group: EntityId) -> bool {
        self.all_groups(member).binary_search(&group).is_ok()
    }

    /// Backstage's `isEntityOwner`: `e`'s owner is `principal` itself, or a group that `principal`
    /// is directly a member of. Works for any principal (a Component owning through `spec.owner`).
    pub fn owns(&self, principal: EntityId, e: EntityId) -> bool {
        match self.owner(e) {
            Some(o) => o == principal || self.direct_groups(principal).contains(&o),
            None => false,
        }
    }

    /// `"sha256:<hex>"` over the entities' content: independent of file order, YAML formatting
    /// and whether the catalog came as YAML or API JSON.
    pub fn hash(&self) -> String {
        self.hash.clone()
    }

    /// Every resolved relation, both directions, sorted.
    pub fn relations(&self) -> &[Relation] {
        &self.relations
    }

    /// The relations leaving `id`.
    pub fn relations_of(&self, id: EntityId) -> &[Relation] {
        let lo = self.relations.partition_point(|r| r.source < id);
        let hi = self.relations.partition_point(|r| r.source <= id);
        self.relations.get(lo..hi).unwrap_or_default()
    }

    /// How many refs each relation field holds (`spec.owner` → 34), resolved or not.
    pub fn ref_field_counts(&self) -> &BTreeMap<String, usize> {
        &self.field_counts
    }

    /// The Users whose `spec.profile.email` equals `email`, ASCII case-insensitively (DESIGN §7.6).
    pub fn users_by_email(&self, email: &str) -> &[EntityId] {
        self.emails
            .get(&email.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// The known ref nearest to `r` (did-you-mean), if one is near enough.
    pub fn suggest(&self, r: &EntityRef) -> Option<EntityRef> {
        build::suggest_in(&self.entities, r)
    }

    /// The catalog as the catalog API returns it: each entity with its `relations`.
    pub fn to_api_json(&self) -> Value {
        let items = self.ids().filter_map(|id| {
            let e = self.entity(id)?;
            let mut raw = e.raw.clone();
            let rels: Vec<Value> = self
                .relations_of(id)
                .iter()
                .filter_map(|r| {
                    let t = self.entity(r.target)?.entity_ref();
                    Some(serde_json::json!({
                        "type": r.kind.name(),
                        "targetRef": t.to_string(),
                        "target": {"kind": t.kind, "namespace": t.namespace, "name": t.name},
                    }))
                })
                .collect();
            if let Some(m) = raw.as_object_mut() {
                m.insert("relations".into(), Value::Array(rels));
            }
            Some(raw)
        });
        Value::Array(items.collect())
    }
}
