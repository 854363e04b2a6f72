//! What the simulator decides with: the policy's view (claims schema, rule table, routes) and the engines.
//!
//! An [`Engine`] is shared by every worker thread and hands each one its own [`Decide`]r: the
//! reference interpreter over an [`ir::Program`](crate::ir::Program), or the compiled module run by
//! the wasmtime host (the artifact that ships).

use std::collections::HashMap;
use std::sync::Arc;

use crate::input::{ClaimDecl, ClaimType, Claims, Request};
use crate::ir::Program;
use crate::wasm::abi::Decision;
use crate::wasm::{ClaimsEncoding, Compiled, Decider, HostError, Manifest};

/// A route as reports name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteView {
    /// As written, uppercase, `|`-joined (`ANY` stays `ANY`).
    pub methods: String,
    /// Lowercase; `None` for an any-host route.
    pub host: Option<String>,
    /// The path pattern as written.
    pub path: String,
}

impl RouteView {
    /// `GET|HEAD payments.acme.dev/api/v1/payments/{id}`, `ANY */healthz` for an any-host route.
    pub fn label(&self) -> String {
        format!(
            "{} {}{}",
            self.methods,
            self.host.as_deref().unwrap_or("*"),
            self.path
        )
    }
}

/// What the simulator needs to know of a policy, from its source or from a module's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Every claim the schema declares: tokens are verified against it (`claims_mismatch`).
    pub claims: Vec<ClaimDecl>,
    /// Rule names in rule-table order: a decision's rule index names one of these.
    pub rules: Vec<String>,
    /// Routes in manifest order.
    pub routes: Vec<RouteView>,
}

impl Policy {
    /// The view of a compiled program.
    pub fn of_program(p: &Program) -> Policy {
        Policy {
            claims: p.claims.clone(),
            rules: p.rules.iter().map(|r| r.name.clone()).collect(),
            routes: p
                .routes
                .iter()
                .map(|r| RouteView {
                    methods: r.methods_text.clone(),
                    host: r.host.clone(),
                    path: r.path_text.clone(),
                })
                .collect(),
        }
    }

    /// The view of a module's manifest; an error names a claim type the manifest may not use.
    pub fn of_manifest(m: &Manifest) -> Result<Policy, EngineError> {
        let claims = m
            .claims
            .iter()
            .map(|c| {
                let ty = match c.ty.as_str() {
                    "string" => ClaimType::String,
                    "int" => ClaimType::Int,
                    "bool" => ClaimType::Bool,
                    "time" => ClaimType::Time,
                    "set" => ClaimType::Set,
                    other => {
                        return Err(EngineError(format!(
                            "the manifest declares the claim `{}` of unknown type `{other}`",
                            c.name
                        )));
                    }
                };
                Ok(ClaimDecl {
                    name: c.name.clone(),
                    ty,
                    optional: c.optional,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            claims,
            rules: m.rules.iter().map(|r| r.name.clone()).collect(),
            routes: m
                .routes
                .iter()
                .map(|r| RouteView {
                    methods: r.methods.clone(),
                    host: r.host.clone(),
                    path: r.path.clone(),
                })
                .collect(),
        })
    }

    /// The label of route `index`, `None` when there is no such route.
    pub fn route_label(&self, index: u32) -> Option<String> {
        self.routes.get(index as usize).map(RouteView::label)
    }
}

/// An engine failed: a module that cannot be instantiated or that trapped (a bug, never the input's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

/// Decides requests; one per worker thread.
pub trait Decide: Send {
    /// Decides one request.
    fn decide(&mut self, req: &Request) -> Result<Decision, EngineError>;

    /// Decides `req` with `claims` for its claims (whatever `req.claims` holds), so that a
    /// replay need not put each token's claims into the request it reuses; `encoding` is the
    /// place kept beside `claims` for their encoding, when there is one (the module's deciders
    /// share it; see [`ClaimsEncoding`]).
    fn decide_with(
        &mut self,
        req: &Request,
        claims: &Arc<Claims>,
        _encoding: Option<&ClaimsEncoding>,
    ) -> Result<Decision, EngineError> {
        let mut with = req.clone();
        with.claims = Arc::clone(claims);
        self.decide(&with)
    }

    /// The manifest index of the route matched by the request this decider last decided (`req`).
    fn last_route(&mut self, req: &Request) -> Option<u32>;
}

/// Hands out deciders; shared by every worker thread.
pub trait Engine: Sync {
    /// A fresh decider for one thread.
    fn decider(&self) -> Result<Box<dyn Decide + '_>, EngineError>;
}

/// The reference interpreter over the IR.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub program: Program,
}

/// The interpreter, with a request it reuses to take claims given beside one, and its own copy of
/// each claims value it was given (by the given value's address, kept alive so that the address
/// names it alone): claims shared by all threads are then never counted in or out per request.
struct InterpDecider<'p> {
    program: &'p Program,
    request: Request,
    copies: HashMap<usize, (Arc<Claims>, Arc<Claims>)>,
}

/// The claims copies an interpreter keeps at most; it forgets them all past this.
const MAX_COPIES: usize = 16_384;

impl Decide for InterpDecider<'_> {
    fn decide(&mut self, req: &Request) -> Result<Decision, EngineError> {
        Ok(crate::interp::decide(self.program, req))
    }

    fn decide_with(
        &mut self,
        req: &Request,
        claims: &Arc<Claims>,
        _encoding: Option<&ClaimsEncoding>,
    ) -> Result<Decision, EngineError> {
        // every field named, so that a new one cannot be left out; strings keep their buffers
        let Request {
            method,
            host,
            path,
            time,
            ip,
            country,
            claims: _,
        } = req;
        let with = &mut self.request;
        with.method.clone_from(method);
        with.host.clone_from(host);
        with.path.clone_from(path);
        (with.time, with.ip) = (*time, *ip);
        with.country.clone_from(country);
        if self.copies.len() >= MAX_COPIES {
            self.copies.clear();
        }
        let (_, copy) = self
            .copies
            .entry(Arc::as_ptr(claims) as usize)
            .or_insert_with(|| (Arc::clone(claims), Arc::new(Claims::clone(claims))));
        if !Arc::ptr_eq(&with.claims, copy) {
            with.claims = Arc::clone(copy);
        }
        Ok(crate::interp::decide(self.program, with))
    }

    fn last_route(&mut self, req: &Request) -> Option<u32> {
        crate::interp::pick_route(self.program, &req.method, &req.host, req.path.as_bytes())
            .map(|(i, _, _)| i)
    }
}

impl Engine for Interpreter {
    fn decider(&self) -> Result<Box<dyn Decide + '_>, EngineError> {
        Ok(Box::new(InterpDecider {
            program: &self.program,
            request: Request::default(),
            copies: HashMap::new(),
        }))
    }
}

/// The compiled module run by the wasmtime host: what ships, so what `simulate` and `whatif` count.
pub struct Module {
    pub compiled: Compiled,
}

impl Module {
    /// Loads module bytes (a `.wasm` file, or a policy compiled on the fly).
    pub fn from_bytes(bytes: &[u8]) -> Result<Module, HostError> {
        Compiled::from_bytes(bytes).map(|compiled| Module { compiled })
    }

    /// [`Module::from_bytes`] for bytes generated in this process (see
    /// [`Compiled::from_generated`]).
    pub fn from_generated(bytes: &[u8]) -> Result<Module, HostError> {
        Compiled::from_generated(bytes).map(|compiled| Module { compiled })
    }

    /// The policy view its manifest gives.
    pub fn policy(&self) -> Result<Policy, EngineError> {
        Policy::of_manifest(self.compiled.manifest())
    }
}

struct ModuleDecider(Decider);

impl Decide for ModuleDecider {
    fn decide(&mut self, req: &Request) -> Result<Decision, EngineError> {
        self.0.decide(req).map_err(|e| EngineError(e.to_string()))
    }

    fn decide_with(
        &mut self,
        req: &Request,
        claims: &Arc<Claims>,
        encoding: Option<&ClaimsEncoding>,
    ) -> Result<Decision, EngineError> {
        self.0
            .decide_with(req, claims, encoding)
            .map_err(|e| EngineError(e.to_string()))
    }

    fn last_route(&mut self, _req: &Request) -> Option<u32> {
        self.0.last_route()
    }
}

impl Engine for Module {
    fn decider(&self) -> Result<Box<dyn Decide + '_>, EngineError> {
        self.compiled
            .decider()
            .map(|d| Box::new(ModuleDecider(d)) as Box<dyn Decide>)
            .map_err(|e| EngineError(e.to_string()))
    }
}
