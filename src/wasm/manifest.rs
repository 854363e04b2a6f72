//! The module manifest (DESIGN §3): what a host needs to drive a module, as JSON in the custom
//! section `edgeward.manifest` and in `manifest.json`.

use serde::{Deserialize, Serialize};

use super::codegen::{INPUT_CAPACITY, MANIFEST_SECTION};
use crate::ir::Program;

/// The manifest of one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub abi: i32,
    pub policy: PolicyInfo,
    pub catalog_hash: String,
    pub input_capacity: u32,
    /// Every claim the policy's schema declares, in declaration order.
    pub claims: Vec<TypedName>,
    /// The input slots in encoding order.
    pub slots: Vec<TypedName>,
    pub routes: Vec<RouteInfo>,
    pub rules: Vec<RuleInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    pub name: String,
    pub version: Option<i64>,
    pub source_hash: String,
}

/// A claim or a slot: `{name, type, optional}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypedName {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    pub index: u32,
    pub methods: String,
    pub host: Option<String>,
    pub path: String,
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub index: u32,
    pub name: String,
    pub effect: String,
    pub route: Option<u32>,
    pub source: String,
}

/// A module's manifest could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the module is not valid WebAssembly: {0}")]
    Module(String),
    #[error("the module has no `edgeward.manifest` section")]
    Missing,
    #[error("the module's manifest is not valid: {0}")]
    Json(String),
}

impl Manifest {
    pub fn from_program(p: &Program) -> Manifest {
        Manifest {
            abi: crate::wasm::abi::ABI_VERSION,
            policy: PolicyInfo {
                name: p.name.clone(),
                version: p.version,
                source_hash: p.source_hash.clone(),
            },
            catalog_hash: p.catalog_hash.clone(),
            input_capacity: INPUT_CAPACITY,
            claims: p
                .claims
                .iter()
                .map(|c| TypedName {
                    name: c.name.clone(),
                    ty: c.ty.manifest_name().into(),
                    optional: c.optional,
                })
                .collect(),
            slots: p
                .slots
                .iter()
                .map(|s| TypedName {
                    name: s.name.clone(),
                    ty: s.ty.manifest_name().into(),
                    optional: s.optional,
                })
                .collect(),
            routes: p
                .routes
                .iter()
                .enumerate()
                .map(|(i, r)| RouteInfo {
                    index: i as u32,
                    methods: r.methods_text.clone(),
                    host: r.host.clone(),
                    path: r.path_text.clone(),
                    target: r.target_text.clone(),
                })
                .collect(),
            rules: p
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| RuleInfo {
                    index: i as u32,
                    name: r.name.clone(),
                    effect: r.effect.as_str().into(),
                    route: r.route,
                    source: r.source.clone(),
                })
                .collect(),
        }
    }

    /// Pretty JSON, as written to `manifest.json`.
    pub fn to_json(&self) -> String {
        // serialising plain structs of strings, numbers and options cannot fail
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Compact JSON, as stored in the module.
    pub fn to_json_compact(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Manifest, ManifestError> {
        serde_json::from_str(s).map_err(|e| ManifestError::Json(e.to_string()))
    }

    /// Reads the manifest back from module bytes.
    pub fn from_module(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let payload = payload.map_err(|e| ManifestError::Module(e.to_string()))?;
            if let wasmparser::Payload::CustomSection(c) = payload
                && c.name() == MANIFEST_SECTION
            {
                return serde_json::from_slice(c.data())
                    .map_err(|e| ManifestError::Json(e.to_string()));
            }
        }
        Err(ManifestError::Missing)
    }

    /// The declared claims schema, as every host checks `claims_mismatch` against it (§3, §4).
    /// A claim of a type the manifest does not name is left out.
    pub fn claim_decls(&self) -> Vec<crate::input::ClaimDecl> {
        use crate::input::{ClaimDecl, ClaimType};
        self.claims
            .iter()
            .filter_map(|c| {
                let ty = match c.ty.as_str() {
                    "string" => ClaimType::String,
                    "int" => ClaimType::Int,
                    "bool" => ClaimType::Bool,
                    "time" => ClaimType::Time,
                    "set" => ClaimType::Set,
                    _ => return None,
                };
                Some(ClaimDecl {
                    name: c.name.clone(),
                    ty,
                    optional: c.optional,
                })
            })
            .collect()
    }

    /// The rule names in table order.
    pub fn rule_names(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }

    /// The rule name of a rule index, if any.
    pub fn rule_name(&self, rule: u32) -> Option<&str> {
        self.rules.get(rule as usize).map(|r| r.name.as_str())
    }
}

/// The module's size without its manifest section (how DESIGN §3 counts large policies).
pub fn size_without_manifest(bytes: &[u8]) -> Result<usize, ManifestError> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| ManifestError::Module(e.to_string()))?;
        if let wasmparser::Payload::CustomSection(c) = payload
            && c.name() == MANIFEST_SECTION
        {
            let body = c.range().len();
            // section id byte + LEB128 of the body size
            let leb = (usize::BITS - body.leading_zeros()).div_ceil(7).max(1) as usize;
            return Ok(bytes.len().saturating_sub(1 + leb + body));
        }
    }
    Ok(bytes.len())
}
