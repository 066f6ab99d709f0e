#!/usr/bin/env node
// Compiles contracts/src/*.sol, contracts/src/l1/*.sol and contracts/src/l2/*.sol with solcjs
// (standard-JSON) and writes one artifact per contract: the test contracts (src/*.sol) to
// tests/fixtures/contracts/<ContractName>.json, the L1 settlement contracts (src/l1/*.sol and
// src/l1/lib/*.sol) to sequencer/settlement/artifacts/<ContractName>.json (package data: `sequencer
// l1 deploy` loads them), the L2 predeploys (src/l2/*.sol) to sequencer/bridge/artifacts/ (package
// data: the genesis builders put their runtime code in every genesis).
//
// Usage: node compile.js <path-to-solc-module> <evmVersion>
// Normally invoked via build.sh, which installs the pinned solc version.
'use strict';

const fs = require('fs');
const path = require('path');

const solcModule = process.argv[2];
const evmVersion = process.argv[3] || 'cancun';
if (!solcModule) {
  console.error('usage: node compile.js <path-to-solc-module> [evmVersion]');
  process.exit(2);
}
const solc = require(solcModule);

const contractsDir = __dirname;
const outDirs = {
  'src/': path.join(contractsDir, '..', 'tests', 'fixtures', 'contracts'),
  'src/l1/': path.join(contractsDir, '..', 'sequencer', 'settlement', 'artifacts'),
  'src/l1/lib/': path.join(contractsDir, '..', 'sequencer', 'settlement', 'artifacts'),
  'src/l2/': path.join(contractsDir, '..', 'sequencer', 'bridge', 'artifacts'),
};

const sources = {};
for (const prefix of Object.keys(outDirs)) {
  const dir = path.join(contractsDir, prefix);
  for (const f of fs.readdirSync(dir).filter((name) => name.endsWith('.sol')).sort()) {
    // Relative keys keep absolute paths out of the metadata (reproducible output).
    sources[`${prefix}${f}`] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
  }
}

const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion,
    outputSelection: {
      '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
    },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of output.errors || []) {
  console.error(e.formattedMessage || e.message);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);

const compiler = `solc ${solc.version()}`;
const written = [];
for (const sourceFile of Object.keys(output.contracts).sort()) {
  const outDir = outDirs[sourceFile.slice(0, sourceFile.lastIndexOf('/') + 1)];
  fs.mkdirSync(outDir, { recursive: true });
  for (const name of Object.keys(output.contracts[sourceFile]).sort()) {
    const c = output.contracts[sourceFile][name];
    const artifact = {
      contractName: name,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      compiler,
      evmVersion,
      sourceFile: `contracts/${sourceFile}`,
    };
    const outPath = path.join(outDir, `${name}.json`);
    fs.writeFileSync(outPath, JSON.stringify(artifact, null, 2) + '\n');
    written.push(path.relative(path.join(contractsDir, '..'), outPath));
  }
}
console.log(`${compiler} (evmVersion=${evmVersion}, optimizer runs=200)`);
for (const w of written) console.log(`wrote ${w}`);
