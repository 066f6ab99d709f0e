// ethers.js v6 smoke test against the sequencer's JSON-RPC, using ethers exactly as a
// wallet or dapp would (no custom provider options, no polling tweaks).
//
//   node tests/js/ethers_smoke.mjs http://127.0.0.1:8545 [--cache-timeout=MS] [--transfers=N]
//
// --cache-timeout=MS  passed as JsonRpcProvider's `cacheTimeout` option (ethers' default is
//                     250 ms; -1 disables its request-sharing cache). Omit it to run ethers with
//                     every default.
// --transfers=N       number of back-to-back transfers in step (b) (default 10).
//
// Prints one JSON line on stdout: {"ok": true, "ethers": "...", "waits": [...], ...}; every
// tx.wait() / waitForDeployment() is listed in `waits` with its `waitMs`.
// On any failure prints {"ok": false, "step": ..., "error": ..., "errorCode": ...} and a
// human-readable message on stderr, and exits non-zero.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { ethers } from "ethers";

const HERE = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = join(HERE, "..", "fixtures", "contracts");
// Hardhat dev account #1 (prefunded on the devnet genesis).
const DEV_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const CHAIN_ID = 1337n;
const STEP_TIMEOUT_MS = 20_000;

const url = process.argv[2];
const options = { cacheTimeout: null, transfers: 10 };
for (const arg of process.argv.slice(3)) {
  const m = /^--(cache-timeout|transfers)=(-?\d+)$/.exec(arg);
  if (!m) {
    console.error(`unknown argument ${arg}`);
    process.exit(2);
  }
  options[m[1] === "cache-timeout" ? "cacheTimeout" : "transfers"] = Number(m[2]);
}
if (!url || !/^https?:\/\//.test(url)) {
  console.error("usage: node ethers_smoke.mjs <rpc-url> [--cache-timeout=MS] [--transfers=N]");
  process.exit(2);
}

const result = {
  ok: false,
  ethers: ethers.version,
  url,
  providerOptions: options.cacheTimeout === null ? {} : { cacheTimeout: options.cacheTimeout },
  waits: [],
  checks: {},
};
let step = "init";

class SmokeFailure extends Error {}

function check(cond, what, detail) {
  if (!cond) {
    throw new SmokeFailure(`${what}${detail === undefined ? "" : `: ${stringify(detail)}`}`);
  }
  result.checks[what] = true;
}

function stringify(v) {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

function loadArtifact(name) {
  const a = JSON.parse(readFileSync(join(ARTIFACTS, `${name}.json`), "utf8"));
  if (!a.abi || !a.bytecode) throw new SmokeFailure(`artifact ${name} lacks abi/bytecode`);
  return a;
}

function withTimeout(promise, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new SmokeFailure(`${what} did not resolve within ${STEP_TIMEOUT_MS} ms`)),
      STEP_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// Count the JSON-RPC methods ethers issues (for the report: what wait() polls).
const rpcCalls = [];
function trackRpc(provider) {
  provider.on("debug", (ev) => {
    if (ev.action === "sendRpcPayload") {
      const payloads = Array.isArray(ev.payload) ? ev.payload : [ev.payload];
      for (const p of payloads) rpcCalls.push({ t: performance.now(), method: p.method });
    }
  });
}
function methodsSince(t0) {
  const counts = {};
  for (const c of rpcCalls) if (c.t >= t0) counts[c.method] = (counts[c.method] ?? 0) + 1;
  return counts;
}

// Time tx.wait() (confirms = 1, ethers' default) and record some context about it.
async function timedWait(name, tx, waitFn = () => tx.wait()) {
  const t0 = performance.now();
  await withTimeout(waitFn(), `${name}: tx.wait()`);
  const waitMs = performance.now() - t0;
  const rpc = methodsSince(t0); // what ethers itself issued while waiting
  // Context for the report (not part of the timed section): the receipt's block vs eth_blockNumber.
  const receipt = await tx.provider.getTransactionReceipt(tx.hash);
  const blockNumberAfter = await tx.provider.getBlockNumber();
  result.waits.push({
    name,
    waitMs: Math.round(waitMs * 10) / 10,
    receiptBlock: receipt?.blockNumber ?? null,
    receiptBlockHashIsZero: receipt ? /^0x0{64}$/.test(receipt.blockHash) : null,
    ethBlockNumberAfter: blockNumberAfter,
    rpc,
  });
  return receipt;
}

async function main() {
  step = "connect";
  const provider = new ethers.JsonRpcProvider(url, undefined, result.providerOptions);
  trackRpc(provider);
  const wallet = new ethers.Wallet(DEV_KEY, provider);
  try {
    // (a) network
    step = "a:getNetwork";
    const net = await provider.getNetwork();
    check(net.chainId === CHAIN_ID, "chainId is 1337", net.chainId);
    result.chainId = net.chainId.toString();
    const startBalance = await provider.getBalance(wallet.address);
    check(startBalance > ethers.parseEther("1"), "dev account #1 is funded", startBalance);
    const feeData = await provider.getFeeData();
    result.feeData = {
      gasPrice: feeData.gasPrice?.toString() ?? null,
      maxFeePerGas: feeData.maxFeePerGas?.toString() ?? null,
      maxPriorityFeePerGas: feeData.maxPriorityFeePerGas?.toString() ?? null,
    };

    // (b) EIP-1559 transfers, back to back; ethers fills nonce / gasLimit / fees / chainId
    result.transfers = [];
    for (let i = 0; i < options.transfers; i++) {
      step = `b:transfer#${i}`;
      const recipient = ethers.Wallet.createRandom().address;
      const value = ethers.parseUnits(String(1_000_000 + i), "gwei");
      const tx = await withTimeout(wallet.sendTransaction({ to: recipient, value }), "sendTransaction");
      check(tx.type === 2, "transfer is EIP-1559 (type 2)", tx.type);
      const receipt = await timedWait(`transfer#${i}`, tx);
      check(receipt !== null && receipt.status === 1, "transfer receipt status 1", receipt?.status);
      check(receipt.hash === tx.hash, "receipt hash matches", { r: receipt.hash, t: tx.hash });
      check(receipt.from === wallet.address, "receipt.from is the sender", receipt.from);
      check(receipt.to === recipient, "receipt.to is the recipient", receipt.to);
      check(receipt.gasUsed === 21000n, "transfer used 21000 gas", receipt.gasUsed);
      const bal = await provider.getBalance(recipient);
      check(bal === value, "recipient balance equals value", { bal, value });
      const fetched = await provider.getTransaction(tx.hash);
      check(fetched !== null && fetched.blockNumber === receipt.blockNumber, "getTransaction is mined",
        fetched?.blockNumber);
      result.transfers.push({ hash: tx.hash, nonce: tx.nonce, blockNumber: receipt.blockNumber });
    }

    // (c) deploy SimpleStorage, set(42), read it back, parse ValueChanged
    step = "c:deploy";
    const ss = loadArtifact("SimpleStorage");
    const factory = new ethers.ContractFactory(ss.abi, ss.bytecode, wallet);
    const contract = await withTimeout(factory.deploy(), "ContractFactory.deploy");
    const deployTx = contract.deploymentTransaction();
    check(deployTx !== null, "deploymentTransaction present");
    const deployReceipt = await timedWait("deploy", deployTx, () => contract.waitForDeployment());
    const address = await contract.getAddress();
    const code = await provider.getCode(address);
    check(code.length > 2, "contract code is deployed", code.length);
    check(deployReceipt.contractAddress === address, "receipt.contractAddress matches",
      { r: deployReceipt.contractAddress, address });

    step = "c:set";
    const setTx = await withTimeout(contract.set(42), "contract.set(42)");
    const setReceipt = await timedWait("set", setTx);
    check(setReceipt.status === 1, "set(42) receipt status 1", setReceipt.status);
    step = "c:value";
    const v = await contract.value();
    check(v === 42n, "value() == 42n", v);
    step = "c:logs";
    const parsed = setReceipt.logs
      .map((log) => { try { return contract.interface.parseLog(log); } catch { return null; } })
      .filter((p) => p !== null);
    const ev = parsed.find((p) => p.name === "ValueChanged");
    check(ev !== undefined, "ValueChanged event in receipt logs", setReceipt.logs.length);
    check(ev.args.oldValue === 0n && ev.args.newValue === 42n, "ValueChanged(0, 42)",
      { oldValue: ev.args.oldValue, newValue: ev.args.newValue });
    // The same event through eth_getLogs (contract.queryFilter) for the receipt's block. The open
    // EVM block's logs are served too, so it is found at once; the loop only records how long it
    // took (tests/clients/test_ethers_client.py requires it at once).
    const tq = performance.now();
    let events = [];
    let immediate = null;
    while (performance.now() - tq < 5000) {
      events = await contract.queryFilter(contract.filters.ValueChanged(), setReceipt.blockNumber,
        setReceipt.blockNumber);
      if (immediate === null) immediate = events.length;
      if (events.length > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    result.getLogsAfterWait = {
      foundImmediately: immediate > 0,
      visibleAfterMs: events.length > 0 ? Math.round(performance.now() - tq) : null,
    };
    check(events.length === 1 && events[0].transactionHash === setTx.hash,
      "queryFilter finds ValueChanged", events.length);
    result.contract = { address, deployBlock: deployReceipt.blockNumber, setBlock: setReceipt.blockNumber };

    // (d) custom-error revert decoded by ethers
    step = "d:deploy-reverter";
    const rv = loadArtifact("Reverter");
    const rfactory = new ethers.ContractFactory(rv.abi, rv.bytecode, wallet);
    const reverter = await withTimeout(rfactory.deploy(), "Reverter deploy");
    await timedWait("deployReverter", reverter.deploymentTransaction(), () => reverter.waitForDeployment());
    const selector = reverter.interface.getError("Unauthorized").selector;
    const decoded = {};
    for (const [label, invoke] of [
      ["staticCall", () => reverter.failCustom.staticCall(7)],
      ["call", () => reverter.failCustom(7)], // view function: a plain call
      ["estimateGas", () => reverter.failCustom.estimateGas(7)],
    ]) {
      step = `d:${label}`;
      let err = null;
      try {
        await withTimeout(invoke(), `failCustom ${label}`);
      } catch (e) {
        if (e instanceof SmokeFailure) throw e;
        err = e;
      }
      check(err !== null, `failCustom ${label} throws`);
      const info = {
        code: err.code,
        revertName: err.revert?.name ?? null,
        revertArgs: err.revert?.args ? Array.from(err.revert.args).map(String) : null,
        data: typeof err.data === "string" ? err.data : null,
        shortMessage: err.shortMessage ?? String(err.message).slice(0, 200),
      };
      decoded[label] = info;
      check(err.code === "CALL_EXCEPTION", `failCustom ${label} is CALL_EXCEPTION`, info);
      // Contract.estimateGas does not run the ABI's error decoder (ethers behaviour), so decode
      // the revert data it carries with the contract interface, as an app would.
      if (info.revertName === null && info.data !== null) {
        info.parsedFromData = reverter.interface.parseError(info.data)?.name ?? null;
      }
      const named = info.revertName === "Unauthorized" || info.parsedFromData === "Unauthorized";
      const hasSelector = typeof info.data === "string" && info.data.startsWith(selector);
      check(named || hasSelector, `failCustom ${label} decodes Unauthorized`, info);
      if (info.revertName === "Unauthorized") {
        check(info.revertArgs[0] === wallet.address && info.revertArgs[1] === "7",
          `failCustom ${label} args (caller, 7)`, info.revertArgs);
      }
    }
    result.revert = { selector, ...decoded };

    step = "done";
    result.rpcTotals = methodsSince(0);
    result.ok = true;
  } finally {
    provider.destroy();
  }
}

try {
  await main();
  console.log(stringify(result));
  process.exit(0);
} catch (e) {
  result.ok = false;
  result.step = step;
  result.rpcTotals = methodsSince(0);
  result.errorCode = e instanceof SmokeFailure ? "SMOKE_CHECK" : (e?.code ?? e?.name ?? null);
  result.error = e instanceof SmokeFailure ? e.message : `${e?.code ?? e?.name}: ${e?.shortMessage ?? e?.message}`;
  console.log(stringify(result));
  console.error(`ethers smoke test FAILED at step ${step}: ${result.error}`);
  if (!(e instanceof SmokeFailure)) console.error(e);
  process.exit(1);
}
