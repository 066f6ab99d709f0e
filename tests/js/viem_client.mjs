// viem against the daemon, over HTTP and WebSocket (tests/clients/test_viem_client.py asserts on
// each check by name):
//
//   node tests/js/viem_client.mjs http://127.0.0.1:8545

import {
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeFunctionData,
  http,
  parseAbiItem,
  webSocket,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { DEV_KEYS, expect, loadArtifact, runSuite } from "./suite.mjs";

const url = process.argv[2];
if (!url) {
  console.error("usage: node viem_client.mjs <rpc-url>");
  process.exit(2);
}
const wsUrl = url.replace(/^http/, "ws");
const chain = defineChain({
  id: 1337,
  name: "megapy devnet",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [url], webSocket: [wsUrl] } },
});
const POLL_MS = 100;
const publicClient = createPublicClient({ chain, transport: http(url), pollingInterval: POLL_MS });
const wsClient = createPublicClient({ chain, transport: webSocket(wsUrl) });
const walletFor = (i) =>
  createWalletClient({ account: privateKeyToAccount(DEV_KEYS[i]), chain, transport: http(url), pollingInterval: POLL_MS });
const randomAddress = () => privateKeyToAccount(generatePrivateKey()).address;
const ZERO_SLOT = "0x" + "00".repeat(32);
const storage = loadArtifact("SimpleStorage");
const reverter = loadArtifact("Reverter");
const valueChanged = parseAbiItem("event ValueChanged(uint256 indexed oldValue, uint256 newValue)");

async function deploy(wallet, artifact) {
  const hash = await wallet.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status === "success" && receipt.contractAddress, "deployed", receipt);
  return receipt.contractAddress;
}

let storageAddress;

const checks = [
  ["sendAndReceipt", async () => {
    const wallet = walletFor(1);
    const to = randomAddress();
    const hash = await wallet.sendTransaction({ to, value: 777n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status === "success" && receipt.to === to.toLowerCase(), "included", receipt);
    const block = await publicClient.getBlock({ blockNumber: receipt.blockNumber });
    expect(block.number === receipt.blockNumber, "getBlock({blockNumber: receipt.blockNumber})", block.number);
    expect(block.transactions.includes(hash), "the block lists the transaction", block.transactions);
    expect((await publicClient.getBalance({ address: to })) === 777n, "recipient credited");
    const pending = await publicClient.getBlock({ blockTag: "pending" });
    expect(pending.hash === null && pending.number >= receipt.blockNumber, "pending block has no hash", pending);
    return { blockNumber: receipt.blockNumber, blockHash: block.hash };
  }],

  ["estimateAndCall", async () => {
    const wallet = walletFor(2);
    storageAddress = await deploy(wallet, storage);
    const data = encodeFunctionData({ abi: storage.abi, functionName: "set", args: [5n] });
    const accessList = [{ address: storageAddress, storageKeys: [ZERO_SLOT] }];
    const estimate = await publicClient.estimateGas({ account: wallet.account, to: storageAddress, data, accessList });
    const hash = await wallet.sendTransaction({ to: storageAddress, data, accessList, gas: estimate });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status === "success" && receipt.gasUsed <= estimate, "sent with the estimate", { estimate, receipt });
    const value = await publicClient.readContract({ address: storageAddress, abi: storage.abi, functionName: "value" });
    expect(value === 5n, "readContract value() == 5", value);
    const { data: raw } = await publicClient.call({
      to: storageAddress,
      data: encodeFunctionData({ abi: storage.abi, functionName: "value" }),
      stateOverride: [{ address: storageAddress, stateDiff: [{ slot: ZERO_SLOT, value: "0x" + "00".repeat(31) + "09" }] }],
    });
    expect(BigInt(raw) === 9n, "call with a state override", raw);
    const transfer = await publicClient.estimateGas({
      account: wallet.account, to: randomAddress(), value: 1n,
      accessList: [{ address: randomAddress(), storageKeys: [ZERO_SLOT] }],
    });
    expect(transfer === 25_300n, "a transfer's estimate counts its access list", transfer);
    return { estimate, gasUsed: receipt.gasUsed };
  }],

  ["logs", async () => {
    const wallet = walletFor(2);
    const hash = await wallet.writeContract({ address: storageAddress, abi: storage.abi, functionName: "set", args: [6n] });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    const logs = await publicClient.getLogs({
      address: storageAddress, event: valueChanged, fromBlock: receipt.blockNumber, toBlock: "pending",
    });
    const last = logs.at(-1);
    expect(last?.args.newValue === 6n && last.transactionHash === hash && last.blockNumber === receipt.blockNumber,
      "getLogs to pending has the new event at once", logs);
    const all = await publicClient.getLogs({ address: storageAddress, event: valueChanged, fromBlock: 0n, toBlock: "pending" });
    expect(all.map((l) => l.args.newValue).join() === "5,6", "every event so far", all.map((l) => l.args));
    return { count: all.length };
  }],

  ["customError", async () => {
    const wallet = walletFor(3);
    const address = await deploy(wallet, reverter);
    let err = null;
    try {
      await publicClient.readContract({ address, abi: reverter.abi, functionName: "failCustom", args: [7n], account: wallet.account });
    } catch (e) {
      err = e;
    }
    const data = err?.walk?.((e) => e?.data?.errorName)?.data;
    expect(data?.errorName === "Unauthorized", "ContractFunctionRevertedError names Unauthorized", err?.shortMessage);
    expect(data.args[0] === wallet.account.address && data.args[1] === 7n, "with (caller, 7)", data.args);
    return { errorName: data.errorName };
  }],

  ["watchBlocksOverWebSocket", async () => {
    const seen = [];
    await new Promise((resolve, reject) => {
      const unwatch = wsClient.watchBlocks({
        onBlock: (block) => {
          seen.push({ number: block.number, hash: block.hash });
          if (seen.length === 2) {
            unwatch();
            resolve();
          }
        },
        onError: (e) => {
          unwatch();
          reject(e);
        },
      });
    });
    expect(seen[1].number === seen[0].number + 1n, "consecutive heads", seen);
    expect(seen.every((b) => /^0x[0-9a-f]{64}$/.test(b.hash) && b.hash !== "0x" + "ff".repeat(32)), "sealed hashes", seen);
    return { seen };
  }],

  ["watchEventOverWebSocket", async () => {
    const wallet = walletFor(4);
    const sent = new Set();
    let timer;
    const got = await new Promise((resolve, reject) => {
      const unwatch = wsClient.watchEvent({
        address: storageAddress,
        event: valueChanged,
        onLogs: (logs) => {
          const mine = logs.find((l) => l.args.newValue === 123n);
          if (mine) {
            unwatch();
            resolve(mine);
          }
        },
        onError: (e) => {
          unwatch();
          reject(e);
        },
      });
      // The subscription's set-up is not observable: send set(123) until its event arrives
      // through the subscription (a send made before the subscription existed is not seen).
      const send = async () => {
        try {
          sent.add(await wallet.writeContract({ address: storageAddress, abi: storage.abi, functionName: "set", args: [123n] }));
        } catch (e) {
          reject(e);
        }
      };
      timer = setInterval(send, 1500);
      setTimeout(send, 100);
    }).finally(() => clearInterval(timer));
    expect(sent.has(got.transactionHash), "the subscription delivered one of the sends' events", { got, sent: [...sent] });
    return { blockNumber: got.blockNumber, sends: sent.size };
  }],
];

await runSuite({ url }, checks); // exits, closing the WebSocket
