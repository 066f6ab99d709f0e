// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title SimpleStorage
/// @notice Exercises storage diffs: writing, overwriting and zeroing slots.
///         Layout: slot 0 = value; slots[k] lives at keccak256(abi.encode(k, uint256(1))).
contract SimpleStorage {
    uint256 public value;
    mapping(uint256 => uint256) public slots;

    event ValueChanged(uint256 indexed oldValue, uint256 newValue);

    function set(uint256 v) external {
        uint256 old = value;
        value = v;
        emit ValueChanged(old, v);
    }

    function setSlot(uint256 k, uint256 v) external {
        slots[k] = v;
    }

    function clearSlot(uint256 k) external {
        delete slots[k];
    }
}
