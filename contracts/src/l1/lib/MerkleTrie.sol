// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {RLPReader} from "./RLPReader.sol";

/// @title MerkleTrie
/// @notice Checks Merkle-Patricia proofs (the yellow paper's appendix D; the proofs `eth_getProof`
///         returns) against a root: the nodes from the root down the key's path, each referenced by
///         its parent by hash (or embedded in it when its encoding is under 32 bytes). `get` proves
///         a key's value, or its absence (a path that ends in an empty branch slot or in a leaf or
///         extension that leads elsewhere). A proof that is not one of these reverts.
library MerkleTrie {
    /// @notice A node does not hash to the reference its parent (or the root) holds.
    error BadNodeHash();
    /// @notice The proof ends before the key's path does.
    error ProofTooShort();
    /// @notice The proof goes on after the key's path ended.
    error ProofTooLong();
    /// @notice A node is neither a branch (17 items) nor a leaf or extension (2 items), or a
    ///         reference is neither a 32-byte hash nor an embedded node under 32 bytes.
    error InvalidNode();

    bytes32 internal constant EMPTY_ROOT = 0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421;

    /// @notice Where a walk down the key's path stands.
    struct Walk {
        bytes path; // the key's nibbles
        uint256 depth; // nibbles of the path consumed
        uint256 next; // the next proof element
        bytes32 hashRef; // the hash the next proof element must have
        bytes node; // the embedded node to read next, when `embedded`
        bool embedded;
        bool done;
        bool found;
        bytes value;
    }

    /// @notice Whether `_key` is in the trie with root `_root`, and its value, by `_proof`.
    function get(bytes memory _key, bytes[] memory _proof, bytes32 _root)
        internal
        pure
        returns (bool found, bytes memory value)
    {
        if (_root == EMPTY_ROOT) {
            // the empty trie holds nothing; its proof is empty (or the empty node itself)
            if (_proof.length > 1 || (_proof.length == 1 && keccak256(_proof[0]) != EMPTY_ROOT)) {
                revert ProofTooLong();
            }
            return (false, "");
        }
        Walk memory w;
        w.path = _nibbles(_key);
        w.hashRef = _root;
        while (!w.done) {
            bytes memory node;
            if (w.embedded) {
                node = w.node;
                w.embedded = false;
            } else {
                if (w.next >= _proof.length) revert ProofTooShort();
                node = _proof[w.next];
                w.next += 1;
                if (keccak256(node) != w.hashRef) revert BadNodeHash();
            }
            _step(w, RLPReader.readList(RLPReader.toItem(node)));
        }
        if (w.next != _proof.length) revert ProofTooLong();
        return (w.found, w.value);
    }

    /// @notice Read one node's items: end the walk, or say where its child is.
    function _step(Walk memory w, RLPReader.Item[] memory items) private pure {
        RLPReader.Item memory child;
        if (items.length == 17) {
            if (w.depth == w.path.length) {
                w.value = RLPReader.readBytes(items[16]);
                w.found = w.value.length > 0;
                w.done = true;
                return;
            }
            child = items[uint8(w.path[w.depth])];
            w.depth += 1;
        } else if (items.length == 2) {
            bytes memory encoded = RLPReader.readBytes(items[0]);
            if (encoded.length == 0) revert InvalidNode();
            uint8 flag = uint8(encoded[0]) >> 4;
            if (flag > 3) revert InvalidNode();
            bytes memory nodePath = _compactPath(encoded, flag % 2 == 1);
            uint256 shared = _shared(nodePath, w.path, w.depth);
            bool whole = shared == nodePath.length;
            if (flag >= 2) {
                // a leaf: the key is here if the whole rest of the path matches
                w.done = true;
                if (whole && w.depth + shared == w.path.length) {
                    w.found = true;
                    w.value = RLPReader.readBytes(items[1]);
                }
                return;
            }
            if (!whole) {
                w.done = true; // an extension that leads elsewhere: the key is absent
                return;
            }
            w.depth += shared;
            child = items[1];
        } else {
            revert InvalidNode();
        }
        if (RLPReader.isList(child)) {
            w.node = RLPReader.readRawBytes(child);
            if (w.node.length >= 32) revert InvalidNode();
            w.embedded = true;
            return;
        }
        bytes memory ref = RLPReader.readBytes(child);
        if (ref.length == 0) {
            w.done = true; // an empty branch slot: the key is absent
            return;
        }
        if (ref.length != 32) revert InvalidNode();
        w.hashRef = bytes32(ref);
    }

    function _nibbles(bytes memory _key) private pure returns (bytes memory out) {
        out = new bytes(_key.length * 2);
        for (uint256 i = 0; i < _key.length; i++) {
            out[2 * i] = bytes1(uint8(_key[i]) >> 4);
            out[2 * i + 1] = bytes1(uint8(_key[i]) & 0x0f);
        }
    }

    /// @notice The nibbles of a hex-prefix encoded path (the flag nibble dropped).
    function _compactPath(bytes memory _encoded, bool _odd) private pure returns (bytes memory out) {
        uint256 start = _odd ? 1 : 2;
        if (!_odd && uint8(_encoded[0]) & 0x0f != 0) revert InvalidNode();
        bytes memory all = _nibbles(_encoded);
        out = new bytes(all.length - start);
        for (uint256 i = 0; i < out.length; i++) {
            out[i] = all[start + i];
        }
    }

    function _shared(bytes memory _nodePath, bytes memory _path, uint256 _depth) private pure returns (uint256 n) {
        while (n < _nodePath.length && _depth + n < _path.length && _nodePath[n] == _path[_depth + n]) {
            n += 1;
        }
    }
}

/// @title SecureMerkleTrie
/// @notice `MerkleTrie` over keys hashed with keccak256 (the state and storage tries).
library SecureMerkleTrie {
    /// @notice Whether `_key` (before hashing) is in the secure trie with root `_root`, and its value.
    function get(bytes memory _key, bytes[] memory _proof, bytes32 _root)
        internal
        pure
        returns (bool found, bytes memory value)
    {
        return MerkleTrie.get(abi.encodePacked(keccak256(_key)), _proof, _root);
    }
}
