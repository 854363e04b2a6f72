// End-to-end harness: runs worker.js + policy.wasm in workerd with a local origin and JWKS, sends signed requests, checks answers.
//
// Usage: node tests/worker/harness.mjs SPEC.json    (see tests/worker/README.md for the spec format)
// Prints a JSON report on stdout; exit 0 when every expectation holds, 1 when one fails, 2 when the run itself fails.

import { spawn } from "node:child_process";
import { createHash, createHmac, createPrivateKey, createPublicKey, sign as cryptoSign } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const LOG_KEYS = ["time", "decision", "outcome", "rule", "route", "method", "host", "path", "principal", "policy"];
const RUN_TIMEOUT_MS = 120_000;
const REQUEST_TIMEOUT_MS = 15_000;
const LOG_WAIT_MS = 3_000;

// Everything started here, stopped on every way out.
const cleanups = [];
function cleanup() {
  while (cleanups.length > 0) {
    try {
      cleanups.pop()();
    } catch {
      // keep stopping the rest
    }
  }
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    cleanup();
    process.exit(2);
  });
}

function fail(message) {
  process.stderr.write(`harness: ${message}\n`);
  cleanup();
  process.exit(2);
}

// ---------------------------------------------------------------------------
// Keys and tokens.

const b64url = (buf) => Buffer.from(buf).toString("base64url");

function loadKeys(spec, baseDir) {
  const keys = new Map();
  for (const [name, path] of Object.entries(spec.keys ?? {})) {
    const privateKey = createPrivateKey(readFileSync(resolve(baseDir, path)));
    const publicKey = createPublicKey(privateKey);
    const spki = publicKey.export({ type: "spki", format: "der" });
    const kid = createHash("sha256").update(spki).digest("hex");
    const jwk = publicKey.export({ format: "jwk" });
    const alg = jwk.kty === "RSA" ? "RS256" : "ES256";
    const publicPem = publicKey.export({ type: "spki", format: "pem" });
    keys.set(name, { privateKey, publicPem, kid, alg, jwk: { kid, alg, use: "sig", ...jwk } });
  }
  return keys;
}

/** Replaces "$now", "$now+N" and "$now-N" strings (deeply) by numbers relative to `now` (Unix seconds). */
function resolveTimes(value, now) {
  if (typeof value === "string") {
    const m = /^\$now(?:([+-])(\d+(?:\.\d+)?))?$/.exec(value);
    if (m) return m[1] === undefined ? now : m[1] === "+" ? now + Number(m[2]) : now - Number(m[2]);
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => resolveTimes(v, now));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveTimes(v, now)]));
  }
  return value;
}

/** Moves the numeric `exp`, `nbf` and `iat` of `claims` by `now - from` seconds (recorded tokens re-signed now). */
function shiftTimes(claims, from, now) {
  if (from === undefined) return claims;
  const out = { ...claims };
  for (const k of ["exp", "nbf", "iat"]) if (typeof out[k] === "number") out[k] += now - from;
  return out;
}

/** The signature of `input` under `alg`: HS256 MACs with the key's public PEM (alg confusion); none is empty. */
function signatureOf(alg, key, input) {
  switch (alg) {
    case "ES256":
      return cryptoSign("sha256", input, { key: key.privateKey, dsaEncoding: "ieee-p1363" });
    case "RS256":
      return cryptoSign("sha256", input, key.privateKey);
    case "RS512":
      return cryptoSign("sha512", input, key.privateKey);
    case "HS256":
      return createHmac("sha256", key.publicPem).update(input).digest();
    default:
      return Buffer.alloc(0); // alg none and friends: nothing to sign with
  }
}

function signToken(t, keys, now) {
  const key = keys.get(t.key);
  if (key === undefined) throw new Error(`unknown key \`${t.key}\``);
  const alg = t.alg ?? key.alg;
  let header;
  if (t.header_exact !== undefined) {
    header = t.header_exact; // verbatim: a recorded token's header
  } else {
    header = { alg, typ: "JWT", ...(t.header ?? {}) };
    if (t.kid_of !== undefined) header.kid = keys.get(t.kid_of)?.kid;
    else if (!("kid" in t)) header.kid = key.kid;
    else if (t.kid !== null) header.kid = t.kid;
  }
  const claims = shiftTimes(resolveTimes(t.claims ?? {}, now), t.shift_from, now);
  const build = (payload) => {
    // `tamper`: sign other claims, then send these (a payload re-encoded after signing).
    const signed = t.tamper === true ? { ...payload, edgeward_tampered: false } : payload;
    // `payload_text`: the payload's JSON verbatim (duplicate keys...), "$now±N" strings replaced by numbers.
    const text =
      t.payload_text !== undefined
        ? t.payload_text.replace(/"\$now(?:([+-])(\d+))?"/g, (_, sign, n) => String(sign === "-" ? now - Number(n) : now + Number(n ?? 0)))
        : JSON.stringify(signed);
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(text)}`;
    const sig = signatureOf(t.sign_alg ?? alg, key, Buffer.from(signingInput));
    if (t.mutate === "flip_signature" && sig.length > 0) sig[sig.length - 1] ^= 1;
    // Bit i counts from the most significant bit of the signature's first byte.
    if (t.flip_bit !== undefined) sig[t.flip_bit >> 3] ^= 0x80 >> (t.flip_bit & 7);
    const head = signingInput.split(".")[0];
    if (t.mutate === "swap_payload") {
      // Re-encode the payload after signing, with one claim changed.
      const forged = b64url(JSON.stringify({ ...payload, forged: true }));
      return `${head}.${forged}.${b64url(sig)}`;
    }
    if (t.tamper === true) return `${head}.${b64url(JSON.stringify(payload))}.${b64url(sig)}`;
    let sigText = b64url(sig);
    // `noncanonical_signature`: set an unused low bit of the last base64url character (same bytes, other text).
    if (t.mutate === "noncanonical_signature" && sigText.length % 4 !== 0) {
      const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      sigText = sigText.slice(0, -1) + abc[abc.indexOf(sigText.at(-1)) | 1];
    }
    // `padded_signature`: base64url with `=` padding.
    if (t.mutate === "padded_signature") sigText = sig.toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
    return `${signingInput}.${sigText}`;
  };
  if (t.pad_to === undefined) return build(claims);
  // Grow a filler claim until the token is exactly `pad_to` bytes long.
  let fill = 0;
  for (;;) {
    const token = build({ ...claims, pad: "x".repeat(fill) });
    if (token.length === t.pad_to) return token;
    if (token.length > t.pad_to) throw new Error(`cannot pad a token to exactly ${t.pad_to} bytes`);
    fill += Math.max(1, Math.floor(((t.pad_to - token.length) * 3) / 4) - 2);
  }
}

function tokenHeaders(jwt, via) {
  switch (via ?? "assertion") {
    case "assertion":
      return { "cf-access-jwt-assertion": jwt };
    case "bearer":
      return { authorization: `Bearer ${jwt}` };
    case "cookie":
      return { cookie: `theme=dark; CF_Authorization=${jwt}; other=1` };
    default:
      throw new Error(`unknown token source \`${via}\``);
  }
}

// ---------------------------------------------------------------------------
// Local servers: the origin and the JWKS.

function listen(server) {
  return new Promise((ok, err) => {
    server.once("error", err);
    server.listen(0, "127.0.0.1", () => ok(server.address().port));
  });
}

async function closedPort() {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((ok) => s.close(ok));
  return port;
}

function startOrigin() {
  const seen = [];
  // Tokens reach 16 KB: allow more than Node's default header size.
  const server = http.createServer({ maxHeaderSize: 65536 }, (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      // Header values arrive as bytes (Node reads them as Latin-1); workerd sends UTF-8.
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) {
        headers[k] = Buffer.from(String(v), "latin1").toString("utf8");
      }
      seen.push({ method: req.method, url: req.url, headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200, { "content-type": "text/plain", "x-origin": "yes" });
      res.end(`origin saw ${req.method} ${req.url}`);
    });
  });
  return { server, seen };
}

function startJwks(initial) {
  const state = { mode: "ok", body: initial, fetches: 0 };
  const server = http.createServer((req, res) => {
    state.fetches += 1;
    switch (state.mode) {
      case "ok":
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(state.body));
        return;
      case "garbage":
        res.writeHead(200, { "content-type": "application/json" });
        res.end("<html>this is not a JWKS</html>");
        return;
      case "not_jwks":
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ hello: "world" }));
        return;
      case "error500":
        res.writeHead(500);
        res.end("boom");
        return;
      case "down":
        req.socket.destroy();
        return;
      default:
        res.writeHead(500);
        res.end();
    }
  });
  return { server, state };
}

// ---------------------------------------------------------------------------
// workerd.

function capnpString(s) {
  return JSON.stringify(s);
}

function workerdConfig(spec, vars, modules) {
  const bindings = Object.entries(vars)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `(name = ${capnpString(k)}, text = ${capnpString(String(v))})`)
    .join(",\n    ");
  return `# Generated by tests/worker/harness.mjs
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .policyWorker),
    # Loopback only: the origin and the JWKS servers of this run.
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:0", http = (cfBlobHeader = "cf-blob"), service = "main"),
  ],
);

const policyWorker :Workerd.Worker = (
  modules = [
    ${modules.map((m) => `(name = ${capnpString(m.name)}, ${m.type} = embed ${capnpString(m.name)})`).join(",\n    ")}
  ],
  compatibilityDate = ${capnpString(spec.compatibility_date)},
  bindings = [
    ${bindings}
  ],
  globalOutbound = "loopback",
);
`;
}

function startWorkerd(bin, dir) {
  const child = spawn(bin, ["serve", join(dir, "config.capnp"), "--control-fd=3"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
  cleanups.push(() => child.kill("SIGKILL"));
  const out = { lines: [], stderr: "", exited: null };
  let buf = "";
  child.stdout.on("data", (d) => {
    buf += d.toString("utf8");
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      out.lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  child.stderr.on("data", (d) => {
    out.stderr = (out.stderr + d.toString("utf8")).slice(-20_000);
  });
  const port = new Promise((ok, err) => {
    let ctl = "";
    child.stdio[3].on("data", (d) => {
      ctl += d.toString("utf8");
      for (const line of ctl.split("\n")) {
        try {
          const ev = JSON.parse(line);
          if (ev.event === "listen" && ev.socket === "http") ok(ev.port);
        } catch {
          // partial line
        }
      }
    });
    child.on("exit", (code, signal) => {
      out.exited = { code, signal };
      err(new Error(`workerd exited (${code ?? signal}) before listening`));
    });
  });
  return { child, out, port };
}

// ---------------------------------------------------------------------------
// Requests.

function send(port, r, extraHeaders) {
  const m = /^(https?):\/\/([^/?#]*)([^#]*)/.exec(r.url);
  if (!m) throw new Error(`bad url \`${r.url}\``);
  const path = m[3] === "" ? "/" : m[3];
  const headers = { host: m[2], ...extraHeaders, ...(r.headers ?? {}) };
  if (r.cf !== undefined) headers["cf-blob"] = JSON.stringify(r.cf);
  return new Promise((ok, err) => {
    const req = http.request(
      { host: "127.0.0.1", port, method: r.method ?? "GET", path, headers, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          ok({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", err);
    if (r.body !== undefined) req.write(r.body);
    req.end();
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function waitForLines(out, count) {
  const until = Date.now() + LOG_WAIT_MS;
  while (out.lines.length < count && Date.now() < until) await sleep(10);
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function checkRequest(r, res, log, originNew, jwksFetches, failures) {
  const e = r.expect ?? {};
  const want = (what, got, expected) => {
    if (!sameJson(got, expected)) failures.push(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
  };
  if (e.status !== undefined) want("status", res.status, e.status);
  let body = null;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = null;
  }
  if (e.body !== undefined) want("body", body ?? res.body, e.body);
  if (e.body_text !== undefined) want("body text", res.body, e.body_text);
  const forwarded = originNew.length > 0;
  if (e.forwarded !== undefined) want("forwarded to origin", forwarded, e.forwarded);
  if (originNew.length > 1) failures.push(`origin saw ${originNew.length} requests`);
  const o = originNew[0];
  if (o !== undefined) {
    if (e.origin_url !== undefined) want("origin url", o.url, e.origin_url);
    if (e.origin_method !== undefined) want("origin method", o.method, e.origin_method);
    if (e.origin_body !== undefined) want("origin body", o.body, e.origin_body);
    for (const [k, v] of Object.entries(e.origin_headers ?? {})) want(`origin header ${k}`, o.headers[k] ?? null, v);
  }
  if (e.jwks_fetches !== undefined) want("JWKS fetches so far", jwksFetches, e.jwks_fetches);

  // The log line: exactly one, exactly the §6 keys, and consistent with the answer.
  if (log === null) {
    failures.push("no log line");
    return;
  }
  want("log keys", Object.keys(log).sort(), [...LOG_KEYS].sort());
  if (typeof log.time !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(log.time)) {
    failures.push(`log time not RFC 3339 UTC to the second: ${JSON.stringify(log.time)}`);
  }
  if (res.status === 401 || res.status === 403 || res.status === 503) {
    if (body !== null) {
      want("log decision/outcome/rule vs body", [log.decision, log.outcome, log.rule], [body.decision, body.outcome, body.rule]);
    }
  }
  if (res.status === 401 || res.status === 503) {
    want("log principal", log.principal, null);
    want("log route", log.route, null);
  }
  for (const [k, v] of Object.entries(e.log ?? {})) want(`log ${k}`, log[k], v);
}

// ---------------------------------------------------------------------------

async function main() {
  const specPath = process.argv[2];
  if (specPath === undefined) fail("usage: node tests/worker/harness.mjs SPEC.json");
  const spec = JSON.parse(readFileSync(specPath, "utf8"));
  const baseDir = dirname(resolve(specPath));

  let workerdBin = spec.workerd;
  if (workerdBin === undefined) {
    try {
      const mod = await import(join(REPO, "node_modules/workerd/lib/main.js"));
      workerdBin = mod.default?.default ?? mod.default;
    } catch (e) {
      fail(`workerd is not installed (${e.message}): run \`npm ci\` at the repository root`);
    }
  }

  const keys = loadKeys(spec, baseDir);
  const publishedJwks = spec.jwks ?? { keys: (spec.jwks_keys ?? [...keys.keys()]).map((k) => keys.get(k).jwk) };

  const origin = startOrigin();
  const originPort = await listen(origin.server);
  cleanups.push(() => origin.server.close());
  const jwks = startJwks(publishedJwks);
  if (spec.jwks_mode !== undefined) jwks.state.mode = spec.jwks_mode;
  const jwksPort = await listen(jwks.server);
  cleanups.push(() => jwks.server.close());
  const closed = await closedPort();

  const places = {
    $ORIGIN: `http://127.0.0.1:${originPort}`,
    $ORIGIN_HOST: `127.0.0.1:${originPort}`,
    $JWKS: `http://127.0.0.1:${jwksPort}/cdn-cgi/access/certs`,
    $JWKS_HOST: `http://127.0.0.1:${jwksPort}`,
    $CLOSED: `http://127.0.0.1:${closed}/certs`,
  };
  const place = (s) => (typeof s === "string" ? s.replace(/\$[A-Z_]+/g, (p) => places[p] ?? p) : s);
  const vars = Object.fromEntries(Object.entries(spec.vars ?? {}).map(([k, v]) => [k, place(v)]));

  const dir = mkdtempSync(join(tmpdir(), "edgeward-workerd-"));
  cleanups.unshift(() => rmSync(dir, { recursive: true, force: true }));
  // `modules`: [{name, path, type: "esModule" | "wasm"}], the first the main module; else worker.js + policy.wasm.
  const modules = spec.modules ?? [
    { name: "worker.js", path: spec.worker_js, type: "esModule" },
    { name: "policy.wasm", path: spec.policy_wasm, type: "wasm" },
  ];
  for (const m of modules) {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(m.name) || m.name.split("/").includes("..")) {
      fail(`bad module name \`${m.name}\``);
    }
    if (m.type !== "esModule" && m.type !== "wasm") fail(`bad module type \`${m.type}\``);
    mkdirSync(dirname(join(dir, m.name)), { recursive: true });
    copyFileSync(resolve(baseDir, m.path), join(dir, m.name));
  }
  writeFileSync(join(dir, "config.capnp"), workerdConfig(spec, vars, modules));

  const startedAt = performance.now();
  const wd = startWorkerd(workerdBin, dir);
  let port;
  let startupMs = null;
  try {
    port = await wd.port;
    startupMs = performance.now() - startedAt;
  } catch (e) {
    const report = { ok: spec.expect_startup_failure === true, startup_failed: true, stderr: wd.out.stderr, requests: [] };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (!report.ok) process.stderr.write(`harness: ${e.message}\n${wd.out.stderr}\n`);
    cleanup();
    process.exit(report.ok ? 0 : 1);
  }
  if (spec.expect_startup_failure === true) {
    process.stdout.write(`${JSON.stringify({ ok: false, startup_failed: false, requests: [] })}\n`);
    process.stderr.write("harness: workerd started although the spec expects it not to\n");
    cleanup();
    process.exit(1);
  }

  const results = [];
  for (const [i, r0] of (spec.requests ?? []).entries()) {
    const r = { ...r0, url: place(r0.url) };
    const name = r.name ?? `request ${i + 1}`;
    const failures = [];
    if (r.jwks_mode !== undefined) jwks.state.mode = r.jwks_mode;
    if (r.jwks !== undefined) jwks.state.body = r.jwks;
    // Sign and send early in a second, so that the Worker's clock reads the second the token was signed in.
    const inSecond = Date.now() % 1000;
    if (inSecond > 850) await sleep(1005 - inSecond);
    const now = Math.floor(Date.now() / 1000);
    let tokenHdrs = {};
    const tokens = [];
    try {
      if (r.token !== undefined) {
        tokens.push(signToken(r.token, keys, now));
        tokenHdrs = tokenHeaders(tokens[0], r.token.via);
      } else if (r.jwt !== undefined) tokenHdrs = tokenHeaders(r.jwt, r.via);
      // `sources`: [{header, value? ("{token}" is replaced), token? | jwt?}], each token signed now.
      for (const src of r.sources ?? []) {
        let tok = null;
        if (src.token !== undefined) tok = signToken(src.token, keys, now);
        else if (src.jwt !== undefined) tok = src.jwt;
        if (tok !== null) tokens.push(tok);
        tokenHdrs[src.header] = (src.value ?? "{token}").split("{token}").join(tok ?? "");
      }
    } catch (e) {
      fail(`${name}: ${e.message}`);
    }
    const linesBefore = wd.out.lines.length;
    const originBefore = origin.seen.length;
    let res;
    const sentAt = performance.now();
    try {
      res = await send(port, r, tokenHdrs);
    } catch (e) {
      failures.push(`request failed: ${e.message}`);
      results.push({ name, ok: false, failures });
      continue;
    }
    const latencyMs = performance.now() - sentAt;
    await waitForLines(wd.out, linesBefore + 1);
    const newLines = wd.out.lines.slice(linesBefore);
    let log = null;
    if (newLines.length !== 1) failures.push(`expected one log line, got ${newLines.length}: ${JSON.stringify(newLines)}`);
    if (newLines.length >= 1) {
      try {
        log = JSON.parse(newLines[0]);
      } catch {
        failures.push(`log line is not JSON: ${newLines[0]}`);
      }
      if (Buffer.byteLength(newLines[0]) > 8192) failures.push(`log line of ${Buffer.byteLength(newLines[0])} bytes`);
    }
    const originNew = origin.seen.slice(originBefore);
    checkRequest(r, res, log, originNew, jwks.state.fetches, failures);
    results.push({
      name,
      ok: failures.length === 0,
      failures,
      status: res.status,
      body: res.body.slice(0, 2000),
      log,
      origin: originNew[0] ?? null,
      sent_at: now,
      sent_headers: { ...tokenHdrs, ...(r.headers ?? {}) },
      tokens,
      latency_ms: latencyMs,
    });
  }

  // Late lines would mean more than one line for some request.
  await sleep(100);
  const total = wd.out.lines.length;
  const extra = total - results.length;
  const ok = results.every((r) => r.ok) && extra === 0 && wd.out.exited === null;
  const report = { ok, requests: results, log_lines: total, workerd_exited: wd.out.exited, startup_ms: startupMs };
  if (extra !== 0) report.extra_log_lines = wd.out.lines;
  if (!ok) report.stderr = wd.out.stderr;
  for (const r of results.filter((x) => !x.ok)) process.stderr.write(`FAIL ${r.name}:\n  ${r.failures.join("\n  ")}\n`);
  cleanup();
  // A large report outlasts one pipe buffer: exit once it is written.
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(ok ? 0 : 1));
}

setTimeout(() => fail(`run exceeded ${RUN_TIMEOUT_MS / 1000} s`), RUN_TIMEOUT_MS).unref();
main().catch((e) => fail(e.stack ?? String(e)));
