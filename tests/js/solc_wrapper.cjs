// The tests' npm `solc` (solcjs, offline) behind solc's command line, enough for forge:
//   node solc_wrapper.cjs --version           -> "solc, the solidity compiler ...\nVersion: X"
//   node solc_wrapper.cjs --standard-json ... < input.json > output.json
// Other options forge passes (--allow-paths, --base-path, --include-path) name where imports
// may be read from; imports are resolved against the base path (or the working directory).

const fs = require("node:fs");
const path = require("node:path");
const solc = require("solc");

const args = process.argv.slice(2);
if (args.includes("--version") || args.includes("-v")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("solc_wrapper: only --version and --standard-json are supported\n");
  process.exit(2);
}

function optionValues(name) {
  const out = [];
  args.forEach((a, i) => {
    if (a === name && i + 1 < args.length) out.push(...args[i + 1].split(","));
    else if (a.startsWith(`${name}=`)) out.push(...a.slice(name.length + 1).split(","));
  });
  return out;
}
const roots = [...optionValues("--base-path"), ...optionValues("--include-path"), process.cwd()];

function findImports(importPath) {
  for (const root of roots) {
    const candidate = path.isAbsolute(importPath) ? importPath : path.join(root, importPath);
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, "utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
