// edgeward's Cloudflare Worker: verifies the Access JWT, asks the policy module, forwards or denies (DESIGN §6).
//
// The same file serves every policy: everything policy-specific (slots, claims
// schema, rules, routes) comes from the module's `edgeward.manifest` section.
// Every path that cannot reach a decision answers 503 and forwards nothing.

import wasm from "./policy.wasm";

const ABI_VERSION = 1;
const OUTCOMES = [null, "allow", "deny", "require", "default", "no_route", "unknown_target", "bad_input"];
const OUTCOME_ALLOW = 1;
const OUTCOME_BAD_INPUT = 7;
const NO_RULE = 0xffffffff;
const MAX_TOKEN_BYTES = 16384;
const LEEWAY_SECONDS = 60;
const REFETCH_INTERVAL_MS = 60_000;
const JWKS_TIMEOUT_MS = 10_000;
// Caps on logged strings, so that a log line stays far below Workers' 16 KB limit.
const LOG_PATH_MAX = 4096;
const LOG_FIELD_MAX = 256;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

const SLOT_TAG = { absent: 0, string: 1, set: 2, int: 3, bool: 4, ip: 5 };
const REQUEST_SLOTS = new Set([
  "request.method", "request.host", "request.path", "request.time", "request.ip", "request.country",
]);
const SLOT_TYPES = new Set(["string", "set", "int", "bool", "ip"]);
const CLAIM_TYPES = new Set(["string", "int", "bool", "time", "set"]);

const utf8 = new TextEncoder();
// A byte order mark is kept (and then fails JSON.parse), as the simulator's JSON parser fails it.
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** The deepest nesting of arrays and objects that the simulator's JSON parser (serde_json) reads. */
const JSON_MAX_DEPTH = 127;

/** Thrown where no decision can be made; answered 503 `error`. */
class Unavailable extends Error {}

/** A token that fails the §4 profile; answered 401 `invalid_token:REASON`. */
class TokenFailure {
  constructor(reason) {
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------
// The policy module: one instance for the isolate's life.

let policyPromise = null;

function policy() {
  if (policyPromise === null) {
    policyPromise = loadPolicy();
    // A failed load is retried by the next request rather than cached for ever.
    policyPromise.catch(() => {
      policyPromise = null;
    });
  }
  return policyPromise;
}

async function loadPolicy() {
  const sections = WebAssembly.Module.customSections(wasm, "edgeward.manifest");
  if (sections.length !== 1) {
    throw new Unavailable(`expected one edgeward.manifest section, found ${sections.length}`);
  }
  const manifest = checkManifest(JSON.parse(utf8Strict.decode(sections[0])));
  const instance = await WebAssembly.instantiate(wasm, {});
  const ex = instance.exports;
  for (const name of ["edgeward_abi_version", "edgeward_input", "edgeward_decide"]) {
    if (typeof ex[name] !== "function") throw new Unavailable(`module lacks export ${name}`);
  }
  if (!(ex.memory instanceof WebAssembly.Memory)) throw new Unavailable("module lacks export memory");
  if (ex.edgeward_abi_version() !== ABI_VERSION) throw new Unavailable("module has another ABI version");
  return {
    exports: ex,
    manifest,
    route: typeof ex.edgeward_route === "function" ? ex.edgeward_route : null,
  };
}

function checkManifest(m) {
  const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
  const ok =
    isObject(m) &&
    m.abi === ABI_VERSION &&
    isObject(m.policy) &&
    Array.isArray(m.slots) &&
    Array.isArray(m.claims) &&
    Array.isArray(m.rules) &&
    Array.isArray(m.routes) &&
    m.slots.every(
      (s) =>
        isObject(s) &&
        typeof s.name === "string" &&
        SLOT_TYPES.has(s.type) &&
        (REQUEST_SLOTS.has(s.name) || s.name.startsWith("claims.")),
    ) &&
    m.claims.every(
      (c) => isObject(c) && typeof c.name === "string" && CLAIM_TYPES.has(c.type) && typeof c.optional === "boolean",
    ) &&
    m.rules.every((r) => isObject(r) && typeof r.name === "string");
  if (!ok) throw new Unavailable("the edgeward.manifest section is not an ABI v1 manifest");
  return m;
}

// ---------------------------------------------------------------------------
// JWKS: cached in module scope, refetched on an unknown kid at most once a minute.

let jwks = null; // Map kid -> JWK, once a JWKS has loaded
let jwksFetchedAt = 0; // ms, time of the last fetch attempt once keys are cached
let jwksInFlight = null;
const importedKeys = new Map(); // `${alg} ${kid}` -> CryptoKey | null (does not fit)

function fetchJwks(url) {
  if (jwksInFlight === null) {
    jwksInFlight = (async () => {
      try {
        const res = await fetch(url, {
          headers: { accept: "application/json" },
          signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
        });
        if (!res.ok) throw new Unavailable(`JWKS answered ${res.status}`);
        const doc = await res.json();
        if (typeof doc !== "object" || doc === null || !Array.isArray(doc.keys)) {
          throw new Unavailable("JWKS is not a JWKS");
        }
        const keys = new Map();
        for (const k of doc.keys) {
          if (typeof k === "object" && k !== null && typeof k.kid === "string" && !keys.has(k.kid)) {
            keys.set(k.kid, k);
          }
        }
        jwks = keys;
        importedKeys.clear();
      } catch (e) {
        throw e instanceof Unavailable ? e : new Unavailable(`JWKS unreachable: ${e}`);
      } finally {
        jwksInFlight = null;
      }
    })();
  }
  return jwksInFlight;
}

/** The JWK for `kid`, fetching or refetching the JWKS as §6 allows; null when unknown. */
async function findKey(kid, url) {
  if (jwks === null) {
    await fetchJwks(url);
    jwksFetchedAt = Date.now();
  } else if (!jwks.has(kid) && Date.now() - jwksFetchedAt >= REFETCH_INTERVAL_MS) {
    jwksFetchedAt = Date.now();
    await fetchJwks(url);
  }
  return jwks.get(kid) ?? null;
}

/** Whether an RSA JWK's `n` and `e` are minimal big-endian integers (no leading zero byte), as the simulator requires. */
function rsaComponentsFit(jwk) {
  if (typeof jwk.n !== "string" || typeof jwk.e !== "string") return false;
  const n = base64urlDecode(jwk.n);
  const e = base64urlDecode(jwk.e);
  return n !== null && e !== null && n.length > 0 && e.length > 0 && n[0] !== 0 && e[0] !== 0;
}

async function cryptoKey(alg, kid, jwk) {
  const cacheKey = `${alg} ${kid}`;
  if (importedKeys.has(cacheKey)) return importedKeys.get(cacheKey);
  let key = null;
  try {
    if (alg === "RS256" && jwk.kty === "RSA" && rsaComponentsFit(jwk)) {
      key = await crypto.subtle.importKey(
        "jwk",
        { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256", ext: true },
        { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        false,
        ["verify"],
      );
      // The moduli the simulator's verifier (aws-lc) takes: 2048 to 8192 bits.
      const bits = key.algorithm.modulusLength;
      if (!(bits >= 2048 && bits <= 8192)) key = null;
    } else if (alg === "ES256" && jwk.kty === "EC" && jwk.crv === "P-256") {
      key = await crypto.subtle.importKey(
        "jwk",
        { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
        { name: "ECDSA", namedCurve: "P-256" },
        false,
        ["verify"],
      );
    }
    // A key that declares another algorithm does not fit this token's.
    if (jwk.alg !== undefined && jwk.alg !== alg) key = null;
  } catch {
    key = null;
  }
  importedKeys.set(cacheKey, key);
  return key;
}

// ---------------------------------------------------------------------------
// The token (§4 profile, §6 step 1).

/** HTTP optional whitespace (space and tab, nothing else) trimmed from both ends, as the simulator trims it. */
function trimOws(s) {
  return s.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** The token of the first source present, "" for a present but empty one, null for none. */
function findToken(headers) {
  const assertion = headers.get("cf-access-jwt-assertion");
  if (assertion !== null) return trimOws(assertion);
  const authorization = headers.get("authorization");
  if (authorization !== null) {
    // The scheme ends at the first space or tab; `/i` without `/u` folds ASCII letters only.
    const m = /^([^ \t]*)(?:[ \t](.*))?$/s.exec(trimOws(authorization));
    if (m && /^bearer$/i.test(m[1])) return trimOws(m[2] ?? "");
  }
  const cookie = headers.get("cookie");
  if (cookie !== null) {
    // Pairs are separated by `;` only, as the simulator reads a recorded `cookie` (a comma is part of a value).
    for (const part of cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq >= 0 && trimOws(part.slice(0, eq)) === "CF_Authorization") return trimOws(part.slice(eq + 1));
    }
  }
  return null;
}

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Strict base64url without padding, as the simulator decodes: the unused low bits of a last partial character must be 0. */
function base64urlDecode(s) {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return null;
  const unused = [0, 0, 0x0f, 0x03][s.length % 4];
  if (unused !== 0 && (BASE64URL.indexOf(s[s.length - 1]) & unused) !== 0) return null;
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function jsonObject(bytes) {
  if (bytes === null) return null;
  try {
    const v = strictJson(utf8Strict.decode(bytes));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** Whether a string has no lone surrogate (it is Unicode text). */
function wellFormed(s) {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/**
 * JSON.parse, refusing (undefined) what the simulator's parser refuses: nesting deeper than
 * JSON_MAX_DEPTH, a number beyond a double (1e400), a lone surrogate in a string or key. Objects
 * come back without a prototype, so that a claim named `constructor` or `toString` is read only
 * when the token carries it.
 */
function strictJson(text) {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > JSON_MAX_DEPTH) return undefined;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  let ok = true;
  const v = JSON.parse(text, (key, value) => {
    if (!wellFormed(key)) ok = false;
    if (typeof value === "number") {
      if (!Number.isFinite(value)) ok = false;
    } else if (typeof value === "string") {
      if (!wellFormed(value)) ok = false;
    } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return Object.assign(Object.create(null), value);
    }
    return value;
  });
  return ok ? v : undefined;
}

/** A JWT NumericDate as whole Unix seconds, or null when it is not a number that fits int64. */
function numericDate(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return null;
  const s = BigInt(Math.floor(v));
  return s >= I64_MIN && s <= I64_MAX ? s : null;
}

function claimFits(type, v) {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "bool":
      return typeof v === "boolean";
    case "int":
      return Number.isSafeInteger(v);
    case "time":
      return numericDate(v) !== null;
    case "set":
      return typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string"));
    default:
      return false;
  }
}

/** Verifies a token under the §4 profile at `now` (Unix seconds, BigInt); returns its payload. */
async function verifyToken(token, now, env, manifest) {
  if (token === null) throw new TokenFailure("missing_token");
  if (utf8.encode(token).length > MAX_TOKEN_BYTES) throw new TokenFailure("malformed");
  const parts = token.split(".");
  if (parts.length !== 3) throw new TokenFailure("malformed");
  const header = jsonObject(base64urlDecode(parts[0]));
  const payload = jsonObject(base64urlDecode(parts[1]));
  const signature = base64urlDecode(parts[2]);
  if (header === null || payload === null || signature === null) throw new TokenFailure("malformed");

  const alg = header.alg;
  if (alg !== "RS256" && alg !== "ES256") throw new TokenFailure("alg_not_allowed");

  if (typeof header.kid !== "string") throw new TokenFailure("unknown_kid");
  const jwk = await findKey(header.kid, env.JWKS_URL || `${env.TEAM_DOMAIN}/cdn-cgi/access/certs`);
  if (jwk === null) throw new TokenFailure("unknown_kid");

  const key = await cryptoKey(alg, header.kid, jwk);
  if (key === null) throw new TokenFailure("bad_signature");
  const params = alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5" } : { name: "ECDSA", hash: "SHA-256" };
  const signed = utf8.encode(`${parts[0]}.${parts[1]}`);
  if (!(await crypto.subtle.verify(params, key, signature, signed))) throw new TokenFailure("bad_signature");

  // §4: `time > exp + 60`, `time < nbf - 60`, for any numeric exp/nbf, in double arithmetic as
  // the simulator computes them (a fractional bound is not rounded first).
  const seconds = Number(now);
  if (typeof payload.exp === "number" && seconds > payload.exp + LEEWAY_SECONDS) {
    throw new TokenFailure("expired");
  }
  if (typeof payload.nbf === "number" && seconds < payload.nbf - LEEWAY_SECONDS) {
    throw new TokenFailure("not_yet_valid");
  }

  const aud = payload.aud;
  const audOk = aud === env.POLICY_AUD || (Array.isArray(aud) && aud.includes(env.POLICY_AUD));
  if (!audOk) throw new TokenFailure("bad_audience");
  if (payload.iss !== env.TEAM_DOMAIN) throw new TokenFailure("bad_issuer");

  const present = (v) => v !== undefined && v !== null;
  // exp is required whatever the schema says; a non-numeric exp or nbf is a mismatch.
  if (typeof payload.exp !== "number") throw new TokenFailure("claims_mismatch");
  if (present(payload.nbf) && typeof payload.nbf !== "number") throw new TokenFailure("claims_mismatch");
  for (const c of manifest.claims) {
    const v = payload[c.name];
    if (present(v) ? !claimFits(c.type, v) : !c.optional) throw new TokenFailure("claims_mismatch");
  }
  return payload;
}

/** The identity reports call `principal`: email, else common_name, else sub. */
function principalOf(payload) {
  for (const name of ["email", "common_name"]) {
    if (typeof payload[name] === "string" && payload[name] !== "") return payload[name];
  }
  return typeof payload.sub === "string" ? payload.sub : null;
}

// ---------------------------------------------------------------------------
// Input encoding (§3): the slots in manifest order, little-endian.

class Encoder {
  constructor() {
    this.parts = [];
    this.length = 0;
  }
  push(bytes) {
    this.parts.push(bytes);
    this.length += bytes.length;
  }
  tag(t) {
    this.push(Uint8Array.of(t));
  }
  u32(n) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    this.push(b);
  }
  str(s) {
    const bytes = utf8.encode(s);
    this.u32(bytes.length);
    this.push(bytes);
  }
  string(s) {
    this.tag(SLOT_TAG.string);
    this.str(s);
  }
  set(items) {
    this.tag(SLOT_TAG.set);
    this.u32(items.length);
    for (const s of items) this.str(s);
  }
  int(n) {
    this.tag(SLOT_TAG.int);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, n, true);
    this.push(b);
  }
  bool(v) {
    this.tag(SLOT_TAG.bool);
    this.push(Uint8Array.of(v ? 1 : 0));
  }
  ip(bytes16) {
    this.tag(SLOT_TAG.ip);
    this.push(bytes16);
  }
  absent() {
    this.tag(SLOT_TAG.absent);
  }
  bytes() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** An IPv4 or IPv6 address as 16 bytes (IPv4 mapped), or null. */
function parseIp(text) {
  const s = trimOws(text);
  const v4 = (t) => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
    if (!m) return null;
    const b = m.slice(1).map(Number);
    return b.every((x, i) => x <= 255 && String(x) === m[i + 1]) ? b : null;
  };
  const four = v4(s);
  if (four) return Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...four);
  if (!s.includes(":") || /[^0-9A-Fa-f:.]/.test(s)) return null;
  // Let the URL parser validate and canonicalise the IPv6 literal.
  let host;
  try {
    host = new URL(`http://[${s}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  let groups = [];
  const [head, tail] = host.includes("::") ? host.split("::") : [host, null];
  const parse = (t) => (t === "" ? [] : t.split(":").map((g) => parseInt(g, 16)));
  if (tail === null) {
    groups = parse(head);
  } else {
    const h = parse(head);
    const t = parse(tail);
    groups = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  }
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function encodeClaim(enc, type, v) {
  if (v === undefined || v === null) return enc.absent();
  switch (type) {
    case "string":
      return typeof v === "string" ? enc.string(v) : enc.absent();
    case "set":
      if (typeof v === "string") return enc.set([v]);
      return Array.isArray(v) && v.every((x) => typeof x === "string") ? enc.set(v) : enc.absent();
    case "int": {
      // An int slot carries an int claim or a NumericDate (times are Unix seconds).
      const n = numericDate(v);
      return n !== null ? enc.int(n) : enc.absent();
    }
    case "bool":
      return typeof v === "boolean" ? enc.bool(v) : enc.absent();
    default:
      return enc.absent();
  }
}

function encodeInput(manifest, req) {
  const enc = new Encoder();
  for (const slot of manifest.slots) {
    switch (slot.name) {
      case "request.method":
        enc.string(req.method);
        break;
      case "request.host":
        enc.string(req.host);
        break;
      case "request.path":
        enc.string(req.path);
        break;
      case "request.time":
        enc.int(req.time);
        break;
      case "request.ip":
        req.ip ? enc.ip(req.ip) : enc.absent();
        break;
      case "request.country":
        typeof req.country === "string" ? enc.string(req.country) : enc.absent();
        break;
      default:
        encodeClaim(enc, slot.type, req.claims[slot.name.slice("claims.".length)]);
    }
  }
  return enc.bytes();
}

/** Runs the module on one request: { outcome, rule, route }. */
function decide(p, req) {
  const bytes = encodeInput(p.manifest, req);
  const ex = p.exports;
  const at = bytes.length <= 0x7fffffff ? ex.edgeward_input(bytes.length) : 0;
  if (at === 0) return { outcome: OUTCOMES[OUTCOME_BAD_INPUT], rule: null, route: null };
  new Uint8Array(ex.memory.buffer, at, bytes.length).set(bytes);
  const result = BigInt.asUintN(64, ex.edgeward_decide(bytes.length));
  const code = Number(result & 0xffffffffn);
  const ruleIndex = Number(result >> 32n);
  const outcome = OUTCOMES[code];
  if (outcome === undefined || outcome === null) throw new Error(`module answered outcome ${code}`);
  let rule = null;
  if (ruleIndex !== NO_RULE) {
    rule = p.manifest.rules[ruleIndex];
    if (rule === undefined) throw new Error(`module answered rule ${ruleIndex}`);
  }
  if (code === OUTCOME_ALLOW && rule === null) throw new Error("module allowed by no rule");
  let route = null;
  if (p.route !== null) {
    const r = p.route();
    route = r >= 0 && r < p.manifest.routes.length ? r : null;
  } else if (rule !== null && Number.isInteger(rule.route)) {
    route = rule.route;
  }
  return { outcome, rule: rule === null ? null : rule.name, route };
}

// ---------------------------------------------------------------------------
// Answers and the log line.

function clip(s, max) {
  return typeof s === "string" && s.length > max ? `${s.slice(0, max)}…` : s;
}

function rfc3339Seconds(ms) {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function logLine(entry) {
  console.log(
    JSON.stringify({
      time: rfc3339Seconds(entry.ms),
      decision: entry.decision,
      outcome: entry.outcome,
      rule: clip(entry.rule, LOG_FIELD_MAX),
      route: entry.route,
      method: clip(entry.method, LOG_FIELD_MAX),
      host: clip(entry.host, LOG_FIELD_MAX),
      path: clip(entry.path, LOG_PATH_MAX),
      principal: clip(entry.principal, LOG_FIELD_MAX),
      policy: clip(entry.policy, LOG_FIELD_MAX),
    }),
  );
}

function denial(status, outcome, rule) {
  return new Response(JSON.stringify({ decision: "deny", outcome, rule }), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

function forwardTo(request, url, env, rule, principal) {
  const origin = typeof env.ORIGIN === "string" && env.ORIGIN !== "" ? new URL(env.ORIGIN).origin : url.origin;
  // Concatenated, not resolved: a pathname such as `//host/x` must stay a path on the origin.
  const target = origin + url.pathname + url.search;
  const headers = new Headers(request.headers);
  // workerd sends header values as UTF-8, so a non-ASCII email travels intact.
  headers.set("x-edgeward-rule", rule);
  headers.set("x-edgeward-principal", headerValue(principal ?? ""));
  // A GET or HEAD request may arrive with body framing (`Content-Length: 0`), but a Request with
  // those methods cannot carry a body: forward none rather than fail the allowed request.
  const bodyless = request.method === "GET" || request.method === "HEAD";
  return new Request(target, {
    method: request.method,
    headers,
    body: bodyless ? null : request.body,
    redirect: "manual",
  });
}

/**
 * `s` as a header value that reaches the origin exactly: `%` and what a header value cannot hold
 * as is (NUL, CR, LF, and space or tab at either end, which Fetch would strip) percent-encoded, so
 * that two principals never arrive as one value. Any other principal arrives as written.
 */
function headerValue(s) {
  return s.replace(/%|[\0\r\n]|^[ \t]+|[ \t]+$/g, (m) =>
    Array.from(utf8.encode(m), (b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""),
  );
}

async function handle(request, env, entry) {
  const ms = Date.now();
  entry.ms = ms;
  const url = new URL(request.url);
  entry.method = request.method;
  entry.host = url.hostname;
  entry.path = url.pathname;

  // Loaded before the variables are checked only so that every log line names the policy.
  let p = null;
  let loadError = null;
  try {
    p = await policy();
    entry.policy = typeof p.manifest.policy.source_hash === "string" ? p.manifest.policy.source_hash : null;
  } catch (e) {
    loadError = e;
  }
  if (typeof env.TEAM_DOMAIN !== "string" || env.TEAM_DOMAIN === "") throw new Unavailable("TEAM_DOMAIN unset");
  if (typeof env.POLICY_AUD !== "string" || env.POLICY_AUD === "") throw new Unavailable("POLICY_AUD unset");
  if (p === null) throw loadError;

  const now = BigInt(Math.floor(ms / 1000));
  let payload;
  try {
    payload = await verifyToken(findToken(request.headers), now, env, p.manifest);
  } catch (e) {
    if (!(e instanceof TokenFailure)) throw e;
    const outcome = `invalid_token:${e.reason}`;
    Object.assign(entry, { decision: "deny", outcome, rule: null, route: null, principal: null });
    return denial(401, outcome, null);
  }

  const principal = principalOf(payload);
  const ipHeader = request.headers.get("cf-connecting-ip");
  const country = request.cf?.country ?? request.headers.get("cf-ipcountry");
  const d = decide(p, {
    method: request.method,
    host: url.hostname,
    path: url.pathname,
    time: now,
    ip: ipHeader === null ? null : parseIp(ipHeader),
    country: typeof country === "string" ? country : null,
    claims: payload,
  });
  const allowed = d.outcome === "allow";
  Object.assign(entry, {
    decision: allowed ? "allow" : "deny",
    outcome: d.outcome,
    rule: d.rule,
    route: d.route,
    principal,
  });
  if (!allowed) return denial(403, d.outcome, d.rule);
  // Built before the log line is written, so that a request that cannot be forwarded is a 503.
  return forwardTo(request, url, env, d.rule, principal);
}

export default {
  async fetch(request, env) {
    const entry = {
      ms: Date.now(),
      decision: "deny",
      outcome: "error",
      rule: null,
      route: null,
      method: request.method,
      host: null,
      path: null,
      principal: null,
      policy: null,
    };
    let answer;
    try {
      answer = await handle(request, env, entry);
    } catch {
      // No decision: fail closed, forward nothing. (No second log line: one line per request.)
      Object.assign(entry, { decision: "deny", outcome: "error", rule: null, route: null, principal: null });
      answer = denial(503, "error", null);
    }
    logLine(entry);
    if (!(answer instanceof Request)) return answer;
    try {
      return await fetch(answer);
    } catch {
      // Allowed, but the origin could not be reached: a gateway error, not a policy answer.
      return new Response("edgeward: origin unreachable\n", { status: 502 });
    }
  },
};
