// Hardhat's own network helpers against the megapy devnet: loadFixture (evm_snapshot /
// evm_revert under the hood), time.increase, mine, setBalance, impersonateAccount, takeSnapshot,
// with hardhat-ethers' signers being the node's dev accounts (eth_accounts, eth_sendTransaction).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { network } from "hardhat";

const { ethers, networkHelpers } = await network.getOrCreate("megapy");
const { loadFixture, time, mine, setBalance, impersonateAccount, stopImpersonatingAccount, takeSnapshot } =
  networkHelpers;

const artifact = JSON.parse(
  readFileSync(new URL("../../../fixtures/contracts/TestToken.json", import.meta.url), "utf8"),
);
const SUPPLY = 10n ** 24n;

async function deployToken() {
  const [owner, alice] = await ethers.getSigners();
  const factory = new ethers.ContractFactory(artifact.abi, artifact.bytecode, owner);
  const token = await factory.deploy(SUPPLY);
  await token.waitForDeployment();
  await (await token.transfer(alice.address, 1000n)).wait();
  return { token, owner, alice };
}

describe("megapy devnet with hardhat's network helpers", () => {
  it("lists the ten dev accounts as hardhat's signers", async () => {
    const signers = await ethers.getSigners();
    assert.equal(signers.length, 10);
    assert.equal(signers[0].address, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
  });

  it("loadFixture deploys once and restores the fixture's state for every test", async () => {
    const { token, alice } = await loadFixture(deployToken);
    assert.equal(await token.balanceOf(alice.address), 1000n);
    await (await token.connect(alice).transfer(ethers.ZeroAddress.replace(/0$/, "1"), 400n)).wait();
    assert.equal(await token.balanceOf(alice.address), 600n);
  });

  it("loadFixture again: the transfer of the previous test is gone, the contract is the same", async () => {
    const first = await loadFixture(deployToken);
    assert.equal(await first.token.balanceOf(first.alice.address), 1000n);
    const again = await loadFixture(deployToken);
    assert.equal(await again.token.getAddress(), await first.token.getAddress());
  });

  it("time.increase moves the next block's timestamp forward", async () => {
    const before = await time.latest();
    await time.increase(3600);
    const after = await time.latest();
    assert.ok(after >= before + 3600, `latest ${after} is not at least ${before} + 3600`);
  });

  it("mine seals the number of blocks asked for", async () => {
    const before = await time.latestBlock();
    await mine(5);
    assert.ok((await time.latestBlock()) >= before + 5);
  });

  it("setBalance sets an account's balance", async () => {
    const someone = ethers.Wallet.createRandom().address;
    await setBalance(someone, 123456789n);
    assert.equal(await ethers.provider.getBalance(someone), 123456789n);
  });

  it("impersonateAccount sends from an account whose key nobody has", async () => {
    const whale = "0x000000000000000000000000000000000000dEaD";
    await setBalance(whale, 10n ** 18n);
    await impersonateAccount(whale);
    const signer = await ethers.getSigner(whale);
    const to = ethers.Wallet.createRandom().address;
    const receipt = await (await signer.sendTransaction({ to, value: 12345n })).wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.from, whale);
    assert.equal(await ethers.provider.getBalance(to), 12345n);
    await stopImpersonatingAccount(whale);
  });

  it("takeSnapshot and restore roll the chain back", async () => {
    const [owner] = await ethers.getSigners();
    const snapshot = await takeSnapshot();
    const head = await time.latestBlock();
    const to = ethers.Wallet.createRandom().address;
    await (await owner.sendTransaction({ to, value: 777n })).wait();
    assert.equal(await ethers.provider.getBalance(to), 777n);
    await snapshot.restore();
    assert.equal(await ethers.provider.getBalance(to), 0n);
    assert.equal(await time.latestBlock(), head);
  });
});
