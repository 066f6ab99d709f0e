// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title L2ToL1MessagePasser
/// @notice The L2 predeploy at 0x4200000000000000000000000000000000000016 (in every genesis), in the
///         shape of the OP stack's: a withdrawal is a message to L1 recorded in `sentMessages`, whose
///         storage root goes into every output root, so the L1 portal can check a Merkle-Patricia
///         proof that the message was sent. The ETH sent with a withdrawal stays here (on L1 the
///         portal pays it out of what was deposited).
contract L2ToL1MessagePasser {
    /// @notice The L2 gas a plain ETH transfer to this contract (`receive`) withdraws with.
    uint256 internal constant RECEIVE_DEFAULT_GAS_LIMIT = 100_000;
    /// @notice The version in the top two bytes of `messageNonce()`.
    uint16 public constant MESSAGE_VERSION = 1;

    /// @notice The hashes of the withdrawals sent (slot 0: `keccak256(abi.encode(hash, 0))` holds `true`).
    mapping(bytes32 => bool) public sentMessages;

    /// @notice The number of withdrawals sent so far (slot 1).
    uint240 internal msgNonce;

    /// @notice A withdrawal was initiated: `withdrawalHash` is
    ///         `keccak256(abi.encode(nonce, sender, target, value, gasLimit, data))`.
    event MessagePassed(
        uint256 indexed nonce,
        address indexed sender,
        address indexed target,
        uint256 value,
        uint256 gasLimit,
        bytes data,
        bytes32 withdrawalHash
    );

    /// @notice A plain ETH transfer withdraws it to the sender's own address on L1.
    receive() external payable {
        initiateWithdrawal(msg.sender, RECEIVE_DEFAULT_GAS_LIMIT, bytes(""));
    }

    /// @notice Send a message to L1: once an output root covering this block is posted, anyone can
    ///         prove it on the portal and, after the finalization period, have the portal call
    ///         `_target` with `msg.value`, `_gasLimit` gas and `_data`.
    function initiateWithdrawal(address _target, uint256 _gasLimit, bytes memory _data) public payable {
        uint256 nonce = messageNonce();
        bytes32 withdrawalHash = keccak256(abi.encode(nonce, msg.sender, _target, msg.value, _gasLimit, _data));
        sentMessages[withdrawalHash] = true;
        emit MessagePassed(nonce, msg.sender, _target, msg.value, _gasLimit, _data, withdrawalHash);
        unchecked {
            ++msgNonce;
        }
    }

    /// @notice The next withdrawal's nonce, versioned: `MESSAGE_VERSION << 240 | count`.
    function messageNonce() public view returns (uint256) {
        return (uint256(MESSAGE_VERSION) << 240) | uint256(msgNonce);
    }
}
