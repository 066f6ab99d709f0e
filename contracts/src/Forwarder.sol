// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Forwarder
/// @notice A contract caller for tests: forwards a call (with value) and bubbles up a revert, and
///         records the calls it receives (to see what a bridge delivers).
contract Forwarder {
    /// @notice A call this contract received: who sent it, with what value and data.
    event Received(address indexed from, uint256 value, bytes data);

    /// @notice When set, every received call reverts (a target that refuses).
    bool public refuse;

    /// @notice Make received calls revert (or accept them again).
    function setRefuse(bool _refuse) external {
        refuse = _refuse;
    }

    /// @notice Call `_target` with `msg.value` and `_data`; a revert is passed on as is.
    function forward(address _target, bytes calldata _data) external payable returns (bytes memory) {
        (bool ok, bytes memory out) = _target.call{value: msg.value}(_data);
        if (!ok) {
            assembly {
                revert(add(out, 32), mload(out))
            }
        }
        return out;
    }

    fallback() external payable {
        require(!refuse, "Forwarder: refused");
        emit Received(msg.sender, msg.value, msg.data);
    }

    receive() external payable {
        require(!refuse, "Forwarder: refused");
        emit Received(msg.sender, msg.value, "");
    }
}
