// A tiny harness for the client suites (ethers_client.mjs, viem_client.mjs): named checks run one
// after another, each bounded in time; a failed check does not stop the others. Prints one JSON
// line on stdout: {"checks": {name: {ok: true, ...detail} | {ok: false, error, stack}}}, and
// exits 1 when a check failed. The Python tests (tests/clients) assert on each check by name.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = join(HERE, "..", "fixtures", "contracts");
export const CHECK_TIMEOUT_MS = 30_000;

// The standard development keys (tests/support/accounts.py), prefunded on the devnet.
export const DEV_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

export class CheckFailure extends Error {}

/** Throws a CheckFailure saying `what` (and `detail`) unless `cond`. */
export function expect(cond, what, detail) {
  if (!cond) throw new CheckFailure(`${what}${detail === undefined ? "" : `: ${stringify(detail)}`}`);
}

export function stringify(v) {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

export function loadArtifact(name) {
  return JSON.parse(readFileSync(join(ARTIFACTS, `${name}.json`), "utf8"));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(`${what} did not finish within ${CHECK_TIMEOUT_MS} ms`)),
      CHECK_TIMEOUT_MS);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** Runs `checks` ([name, async () => detail]) and prints the report; `cleanup` runs at the end. */
export async function runSuite(meta, checks, cleanup = async () => {}) {
  const report = { ...meta, checks: {} };
  for (const [name, fn] of checks) {
    try {
      const detail = await withTimeout(fn(), name);
      report.checks[name] = { ok: true, ...(detail ?? {}) };
    } catch (e) {
      report.checks[name] = {
        ok: false,
        error: e instanceof CheckFailure ? e.message : `${e?.code ?? e?.name}: ${e?.shortMessage ?? e?.message}`,
        stack: String(e?.stack ?? "").split("\n").slice(0, 8).join("\n"),
      };
    }
  }
  try {
    await cleanup();
  } catch {
    // nothing to report: the checks are done
  }
  console.log(stringify(report));
  process.exit(Object.values(report.checks).every((c) => c.ok) ? 0 : 1);
}
