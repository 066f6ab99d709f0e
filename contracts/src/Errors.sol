// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Reverter
/// @notice Exercises the different revert flavours (custom error, Error(string),
///         Panic(uint256)) plus a simple state change with an event.
contract Reverter {
    error Unauthorized(address caller, uint256 code);

    uint256 public counter;

    event Incremented(address indexed by, uint256 newValue);

    /// Always reverts with Unauthorized(msg.sender, x).
    function failCustom(uint256 x) external view {
        revert Unauthorized(msg.sender, x);
    }

    /// Always reverts with Error("nope").
    function failRequire() external pure {
        require(false, "nope");
    }

    /// Always reverts with Panic(0x01) (assert failure).
    function failPanic() external pure {
        assert(false);
    }

    /// Reverts with Panic(0x12) (division by zero) when d == 0.
    function divide(uint256 n, uint256 d) external pure returns (uint256) {
        return n / d;
    }

    function ok() external pure returns (uint256) {
        return 42;
    }

    function increment() external {
        uint256 newValue = counter + 1;
        counter = newValue;
        emit Incremented(msg.sender, newValue);
    }
}
