// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {MerkleTrie, SecureMerkleTrie} from "./l1/lib/MerkleTrie.sol";

/// @title MerkleTrieHarness
/// @notice Exposes the portal's Merkle-Patricia proof checker for tests.
contract MerkleTrieHarness {
    function get(bytes memory _key, bytes[] memory _proof, bytes32 _root) external pure returns (bool, bytes memory) {
        return MerkleTrie.get(_key, _proof, _root);
    }

    function secureGet(bytes memory _key, bytes[] memory _proof, bytes32 _root)
        external
        pure
        returns (bool, bytes memory)
    {
        return SecureMerkleTrie.get(_key, _proof, _root);
    }
}
