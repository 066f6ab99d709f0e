// ethers v6 against the daemon, as a dApp uses it (tests/clients/test_ethers_client.py asserts on
// each check by name):
//
//   node tests/js/ethers_client.mjs http://127.0.0.1:8545
//
// "defaults" uses a JsonRpcProvider with every default; the other checks turn ethers' 250 ms
// request cache off (cacheTimeout: -1), because with it back-to-back sends from one wallet reuse
// a stale nonce (ethers-io/ethers.js#4549; tests/integration/test_ethers.py pins that symptom).

import { ethers } from "ethers";
import { DEV_KEYS, expect, loadArtifact, runSuite, sleep } from "./suite.mjs";

const url = process.argv[2];
if (!url) {
  console.error("usage: node ethers_client.mjs <rpc-url>");
  process.exit(2);
}

const provider = new ethers.JsonRpcProvider(url, undefined, { cacheTimeout: -1 });
const defaults = new ethers.JsonRpcProvider(url);
const wallet = (i, p = provider) => new ethers.Wallet(DEV_KEYS[i], p);
const ZERO_SLOT = ethers.ZeroHash;
const SEAL_WAIT_MS = 10_000;

async function deploy(name, signer) {
  const a = loadArtifact(name);
  const contract = await new ethers.ContractFactory(a.abi, a.bytecode, signer).deploy();
  const receipt = await contract.deploymentTransaction().wait();
  return { contract, receipt };
}

async function untilSealed(number) {
  const t0 = Date.now();
  while ((await provider.getBlockNumber()) < number) {
    expect(Date.now() - t0 < SEAL_WAIT_MS, `block ${number} sealed within ${SEAL_WAIT_MS} ms`);
    await sleep(20);
  }
}

const checks = [
  // getFeeData -> a legacy and an EIP-1559 transaction, every field filled by ethers: included.
  ["defaults", async () => {
    const fee = await defaults.getFeeData();
    const latest = await defaults.getBlock("latest");
    expect(fee.gasPrice >= latest.baseFeePerGas, "gasPrice >= latest base fee", { fee, base: latest.baseFeePerGas });
    expect(fee.maxFeePerGas >= latest.baseFeePerGas, "maxFeePerGas >= latest base fee", fee);
    const out = {};
    for (const [label, i, type] of [["legacy", 1, 0], ["eip1559", 2, undefined]]) {
      const to = ethers.Wallet.createRandom().address;
      const tx = await wallet(i, defaults).sendTransaction({ to, value: 1000n, ...(type === undefined ? {} : { type }) });
      const receipt = await tx.wait();
      expect(receipt.status === 1, `${label} included with status 1`, receipt.status);
      expect(await defaults.getBalance(to) === 1000n, `${label} recipient credited`);
      out[label] = { type: tx.type, gasPrice: tx.gasPrice, maxFeePerGas: tx.maxFeePerGas };
    }
    expect(out.legacy.type === 0 && out.eip1559.type === 2, "transaction types 0 and 2", out);
    return { feeData: { gasPrice: fee.gasPrice, maxFeePerGas: fee.maxFeePerGas }, sent: out };
  }],

  // A fresh receipt's block: receipt.getBlock() (by blockHash) and getBlock(receipt.blockNumber).
  ["receiptGetBlock", async () => {
    let raced = 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      const tx = await wallet(3).sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n });
      const receipt = await tx.wait();
      const byNumber = await provider.getBlock(receipt.blockNumber);
      expect(byNumber !== null && byNumber.number === receipt.blockNumber, "getBlock(receipt.blockNumber)",
        byNumber?.number);
      expect(byNumber.transactions.includes(tx.hash), "the block lists the transaction", byNumber.transactions);
      const block = await receipt.getBlock();
      expect(block !== null, "receipt.getBlock() is a block");
      if (block.number !== receipt.blockNumber) {
        // The block sealed between the receipt and getBlock(): its placeholder hash then names the
        // next open block (docs/rpc.md). Only that, and only after a seal, is allowed.
        const now = await provider.getTransactionReceipt(tx.hash);
        expect(now.blockHash !== receipt.blockHash && block.number === receipt.blockNumber + 1,
          "receipt.getBlock() named another block only across a seal", { block: block.number, receipt });
        raced++;
        continue;
      }
      expect(block.transactions.includes(tx.hash), "receipt.getBlock() lists the transaction");
      return { blockNumber: receipt.blockNumber, blockHash: receipt.blockHash, raced };
    }
    throw new Error(`receipt.getBlock() raced a seal ${raced} times`);
  }],

  // Deploy, call, set; estimateGas with an access list; logs up to "pending" at once.
  ["contract", async () => {
    const signer = wallet(4);
    const { contract, receipt: deployed } = await deploy("SimpleStorage", signer);
    const address = await contract.getAddress();
    expect((await provider.getCode(address)).length > 2, "code deployed");
    const setTx = await contract.set(42);
    const setReceipt = await setTx.wait();
    expect(setReceipt.status === 1 && (await contract.value()) === 42n, "set(42) then value() == 42");
    // getLogs up to "pending", at once: the open block's logs are there.
    const logs = await provider.getLogs({ address, fromBlock: deployed.blockNumber, toBlock: "pending" });
    expect(logs.length === 1 && logs[0].transactionHash === setTx.hash, "getLogs(toBlock: pending) has set's log",
      logs);
    const events = await contract.queryFilter(contract.filters.ValueChanged(), setReceipt.blockNumber,
      setReceipt.blockNumber);
    expect(events.length === 1 && events[0].args.newValue === 42n, "queryFilter on the receipt's block", events);
    const logBlock = await setReceipt.logs[0].getBlock();
    expect(logBlock.number === setReceipt.blockNumber || logBlock.number === setReceipt.blockNumber + 1,
      "log.getBlock() is a block", logBlock.number);
    // estimateGas with an access list (EIP-2930), sent with exactly the estimate.
    const accessList = [{ address, storageKeys: [ZERO_SLOT] }];
    const estimate = await contract.set.estimateGas(43, { type: 1, accessList });
    const plain = await contract.set.estimateGas(43);
    const tx = await contract.set(43, { type: 1, accessList, gasLimit: estimate });
    const r = await tx.wait();
    expect(r.status === 1 && tx.type === 1, "EIP-2930 set(43) with gas = estimate succeeds", { estimate, r });
    expect(r.gasUsed <= estimate, "gas used within the estimate", { used: r.gasUsed, estimate });
    return { address, estimate, plainEstimate: plain, gasUsed: r.gasUsed };
  }],

  // The transfer: one access-list entry costs 2,400 + 1,900 gas the estimate must count.
  ["accessListTransfer", async () => {
    const to = ethers.Wallet.createRandom().address;
    const accessList = [{ address: ethers.Wallet.createRandom().address, storageKeys: [ZERO_SLOT] }];
    const signer = wallet(5);
    const estimate = await provider.estimateGas({ from: signer.address, to, value: 1n, type: 1, accessList });
    expect(estimate === 21_000n + 2_400n + 1_900n, "estimate counts the access list", estimate);
    const tx = await signer.sendTransaction({ to, value: 1n, type: 1, accessList, gasLimit: estimate });
    const receipt = await tx.wait();
    expect(receipt.status === 1 && receipt.gasUsed === estimate, "included, using the estimate", receipt.gasUsed);
    return { estimate };
  }],

  // A custom error, decoded by ethers from eth_call's revert data.
  ["customError", async () => {
    const signer = wallet(6);
    const { contract } = await deploy("Reverter", signer);
    const out = {};
    for (const [label, invoke] of [
      ["staticCall", () => contract.failCustom.staticCall(7)],
      ["call", () => contract.failCustom(7)],
    ]) {
      let err = null;
      try {
        await invoke();
      } catch (e) {
        err = e;
      }
      expect(err !== null && err.code === "CALL_EXCEPTION", `${label} throws CALL_EXCEPTION`, err?.code);
      expect(err.revert?.name === "Unauthorized", `${label} decodes Unauthorized`, err.revert);
      const args = Array.from(err.revert.args).map(String);
      expect(args[0] === signer.address && args[1] === "7", `${label} decodes (caller, 7)`, args);
      out[label] = { name: err.revert.name, args };
    }
    let estimateErr = null;
    try {
      await contract.failCustom.estimateGas(7);
    } catch (e) {
      estimateErr = e;
    }
    expect(estimateErr?.code === "CALL_EXCEPTION", "estimateGas throws CALL_EXCEPTION", estimateErr?.code);
    const parsed = contract.interface.parseError(estimateErr.data);
    expect(parsed?.name === "Unauthorized", "estimateGas carries the revert data", estimateErr.data);
    return out;
  }],

  // Once the block seals, the receipt carries the block's real hash and getBlock(hash) agrees.
  ["afterSeal", async () => {
    const tx = await wallet(7).sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n });
    const fresh = await tx.wait();
    await untilSealed(fresh.blockNumber);
    const receipt = await provider.getTransactionReceipt(tx.hash);
    const block = await receipt.getBlock();
    expect(block.hash === receipt.blockHash && block.number === fresh.blockNumber, "sealed block by hash",
      { block: block.hash, receipt: receipt.blockHash });
    expect(receipt.blockHash !== "0x" + "ff".repeat(32), "real hash after the seal", receipt.blockHash);
    return { blockNumber: block.number };
  }],
];

await runSuite({ ethers: ethers.version, url }, checks, async () => {
  provider.destroy();
  defaults.destroy();
});
