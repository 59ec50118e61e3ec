// Drives Glif's official MCP client (installed at test time, never copied here) for
// tests/test_conformance.py. Two modes, both reading one JSON document on stdin and printing one:
//
//   node official_mcp.mjs validate PKG   {"checks": [{"name", "schema", "many", "body"}]}
//       -> {"name": {"ok": bool, "issues": [{"path": [...], "code", "message"}]}}
//       validates each body with the package's own zod schema (build/types.js).
//
//   node official_mcp.mjs calls PKG      {"api": URL, "simple": URL, "token", "calls": [...]}
//       -> {"results": [{"call", "ok", "value" | "error"}], "urls": [...]}
//       runs the package's own request functions (build/api.js, build/resources.js) with every
//       https://glif.app/api and https://simple-api.glif.app URL sent to the fake server instead.
//       Any other URL is refused: the tests talk to 127.0.0.1 only.
import { pathToFileURL } from "node:url";
import path from "node:path";

const [mode, pkg] = process.argv.slice(2);
const load = (file) => import(pathToFileURL(path.join(pkg, "build", file)).href);

async function stdinJson() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function validate(input) {
  const types = await load("types.js");
  const out = {};
  for (const check of input.checks) {
    const schema = types[check.schema];
    if (!schema) throw new Error(`no schema ${check.schema} in the package`);
    const result = (check.many ? schema.array() : schema).safeParse(check.body);
    out[check.name] = result.success
      ? { ok: true, issues: [] }
      : {
          ok: false,
          issues: result.error.issues.map((i) => ({ path: i.path, code: i.code, message: i.message })),
        };
  }
  return out;
}

async function calls(input) {
  const urls = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (resource, init) => {
    const url = typeof resource === "string" ? resource : resource.url;
    let local = null;
    if (url.startsWith("https://glif.app/api")) local = input.api + url.slice("https://glif.app/api".length);
    else if (url.startsWith("https://simple-api.glif.app")) local = input.simple + url.slice("https://simple-api.glif.app".length);
    if (local === null || !local.startsWith("http://127.0.0.1:")) {
      return Promise.reject(new Error(`refused to send a request to ${url}`));
    }
    urls.push(local);
    return realFetch(local, init);
  };
  process.env.GLIF_API_TOKEN = input.token;
  const api = await load("api.js");
  const resources = await load("resources.js");
  // The resource handlers (glif://, glifRun://, glifUser://) as the package registers them.
  const handlers = [];
  resources.setupResourceHandlers({ setRequestHandler: (_schema, fn) => handlers.push(fn) });
  const readResource = (uri) => handlers[1]({ params: { uri } });

  // The glifRun:// and glifUser:// branches of that handler are unreachable in this version
  // (URL lower-cases the scheme: "glifrun:" !== "glifRun:"), so their requests are made here
  // the way the handler makes them, with the package's own request builder and schemas.
  const types = await load("types.js");
  const own = {
    readResource,
    runResource: async (id) =>
      types.GlifRunSchema.parse((await api.glifApi.url("/runs").query({ id }).get().json())[0]),
    userResource: async (id) => types.UserSchema.parse(await api.glifApi.url(`/users/${id}`).get().json()),
  };

  const results = [];
  for (const call of input.calls) {
    const [name, ...args] = call;
    try {
      const value = name in own ? await own[name](...args) : await api[name](...args);
      results.push({ call, ok: true, value });
    } catch (error) {
      results.push({ call, ok: false, error: String(error && error.message ? error.message : error) });
    }
  }
  return { results, urls };
}

// The package's logger writes to stderr; keep stdout for the answer alone.
const input = await stdinJson();
const answer = mode === "validate" ? await validate(input) : await calls(input);
process.stdout.write(JSON.stringify(answer));
