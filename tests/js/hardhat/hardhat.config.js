// A Hardhat 3 project whose tests run against a megapy devnet daemon as an HTTP network
// (tests/clients/test_hardhat.py starts the daemon and sets MEGAPY_RPC_URL). No Solidity is
// compiled: the contracts are the repository's compiled fixtures (tests/fixtures/contracts).
import hardhatEthers from "@nomicfoundation/hardhat-ethers";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatNodeTestRunner from "@nomicfoundation/hardhat-node-test-runner";

export default {
  plugins: [hardhatEthers, hardhatNetworkHelpers, hardhatNodeTestRunner],
  networks: {
    megapy: {
      type: "http",
      chainType: "l1",
      url: process.env.MEGAPY_RPC_URL ?? "http://127.0.0.1:8545",
    },
  },
  paths: { tests: { nodejs: "test" } },
};
