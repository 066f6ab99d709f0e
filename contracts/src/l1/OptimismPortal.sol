// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {L2OutputOracle} from "./L2OutputOracle.sol";

/// @title OptimismPortal
/// @notice The bridge's L1 end, in the shape of the OP stack's OptimismPortal. Deposits: anyone calls
///         `depositTransaction` (or sends ETH to the portal) and the sequencer must include the
///         deposit on L2 (the portal's `TransactionDeposited` log is the L2 transaction's source).
///         The portal keeps the deposited ETH.
contract OptimismPortal {
    /// @notice The version of the `TransactionDeposited` encoding.
    uint256 internal constant DEPOSIT_VERSION = 0;
    /// @notice The L2 gas a plain ETH transfer to the portal (`receive`) deposits with.
    uint64 internal constant RECEIVE_DEFAULT_GAS_LIMIT = 100_000;
    /// @notice The largest calldata a deposit may carry.
    uint256 public constant MAX_CALLDATA_SIZE = 120_000;
    /// @notice `from` of a contract caller's deposit is its address plus this (OP's L1-to-L2 alias).
    uint160 internal constant ALIAS_OFFSET = uint160(0x1111000000000000000000000000000000001111);

    /// @notice Where the L2 output roots are (withdrawals are proven against them).
    L2OutputOracle public immutable l2Oracle;
    /// @notice The most L2 gas one deposit may ask for.
    uint64 public immutable maxGasLimit;

    /// @notice A deposit: the L2 transaction is `from` calling `to` (creation when the flag in
    ///         `opaqueData` says so) with `abi.encodePacked(mint, value, gasLimit, isCreation, data)`.
    event TransactionDeposited(address indexed from, address indexed to, uint256 indexed version, bytes opaqueData);

    /// @notice The deposit's gas limit is under `minimumGasLimit(data.length)`.
    error SmallGasLimit();
    /// @notice The deposit's gas limit is over `maxGasLimit`.
    error LargeGasLimit();
    /// @notice The deposit's calldata is over `MAX_CALLDATA_SIZE` bytes.
    error LargeCalldata();
    /// @notice A creation deposit names a target (it must be the zero address).
    error BadTarget();

    constructor(L2OutputOracle _l2Oracle, uint64 _maxGasLimit) {
        require(address(_l2Oracle) != address(0), "OptimismPortal: oracle is the zero address");
        require(_maxGasLimit >= 21_000, "OptimismPortal: max gas limit under 21000");
        l2Oracle = _l2Oracle;
        maxGasLimit = _maxGasLimit;
    }

    /// @notice A plain ETH transfer deposits it to the sender's own address on L2.
    receive() external payable {
        depositTransaction(msg.sender, msg.value, RECEIVE_DEFAULT_GAS_LIMIT, false, bytes(""));
    }

    /// @notice The least L2 gas a deposit with `_byteCount` bytes of calldata must buy (so no deposit is free).
    function minimumGasLimit(uint64 _byteCount) public pure returns (uint64) {
        return _byteCount * 40 + 21_000;
    }

    /// @notice Deposit a transaction to L2: `msg.value` is minted to `from` on L2, then `from` sends
    ///         `_value` to `_to` (or creates a contract) with `_gasLimit` gas and `_data`.
    function depositTransaction(address _to, uint256 _value, uint64 _gasLimit, bool _isCreation, bytes memory _data)
        public
        payable
    {
        if (_isCreation && _to != address(0)) revert BadTarget();
        if (_data.length > MAX_CALLDATA_SIZE) revert LargeCalldata();
        if (_gasLimit < minimumGasLimit(uint64(_data.length))) revert SmallGasLimit();
        if (_gasLimit > maxGasLimit) revert LargeGasLimit();

        address from = msg.sender;
        if (msg.sender != tx.origin) {
            unchecked {
                from = address(uint160(msg.sender) + ALIAS_OFFSET);
            }
        }
        bytes memory opaqueData = abi.encodePacked(msg.value, _value, _gasLimit, _isCreation, _data);
        emit TransactionDeposited(from, _to, DEPOSIT_VERSION, opaqueData);
    }
}
