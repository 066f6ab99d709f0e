// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {L2OutputOracle} from "./L2OutputOracle.sol";
import {SecureMerkleTrie} from "./lib/MerkleTrie.sol";

/// @title OptimismPortal
/// @notice The bridge's L1 end, in the shape of the OP stack's OptimismPortal. Deposits: anyone calls
///         `depositTransaction` (or sends ETH to the portal) and the sequencer must include the
///         deposit on L2 (the portal's `TransactionDeposited` log is the L2 transaction's source).
///         The portal keeps the deposited ETH. Withdrawals: a message sent to the L2ToL1MessagePasser
///         on L2 is proven here against an output root the oracle holds (`proveWithdrawalTransaction`:
///         the output root's preimage, then a Merkle-Patricia proof that the message passer's
///         `sentMessages[withdrawalHash]` is true), and once the challenge period has passed since
///         the proof, executed (`finalizeWithdrawalTransaction`: the target is called with the
///         withdrawal's gas limit, value and data, once).
contract OptimismPortal {
    /// @notice A withdrawal as the L2ToL1MessagePasser recorded it.
    struct WithdrawalTransaction {
        uint256 nonce;
        address sender;
        address target;
        uint256 value;
        uint256 gasLimit;
        bytes data;
    }

    /// @notice The preimage of a version-0 output root.
    struct OutputRootProof {
        bytes32 version;
        bytes32 stateRoot;
        bytes32 messagePasserStorageRoot;
        bytes32 latestBlockhash;
    }

    /// @notice A proven withdrawal: the output root it was proven against, when, and its index.
    struct ProvenWithdrawal {
        bytes32 outputRoot;
        uint128 timestamp;
        uint128 l2OutputIndex;
    }

    /// @notice The version of the `TransactionDeposited` encoding.
    uint256 internal constant DEPOSIT_VERSION = 0;
    /// @notice The L2 gas a plain ETH transfer to the portal (`receive`) deposits with.
    uint64 internal constant RECEIVE_DEFAULT_GAS_LIMIT = 100_000;
    /// @notice The largest calldata a deposit may carry.
    uint256 public constant MAX_CALLDATA_SIZE = 120_000;
    /// @notice `from` of a contract caller's deposit is its address plus this (OP's L1-to-L2 alias).
    uint160 internal constant ALIAS_OFFSET = uint160(0x1111000000000000000000000000000000001111);

    /// @notice `l2Sender()` outside a withdrawal's call.
    address internal constant DEFAULT_L2_SENDER = 0x000000000000000000000000000000000000dEaD;
    /// @notice Gas kept back, beyond the target's gas limit, for the rest of `finalizeWithdrawalTransaction`.
    uint256 internal constant FINALIZE_GAS_BUFFER = 40_000;

    /// @notice Where the L2 output roots are (withdrawals are proven against them).
    L2OutputOracle public immutable l2Oracle;
    /// @notice The most L2 gas one deposit may ask for.
    uint64 public immutable maxGasLimit;

    /// @notice The L2 sender of the withdrawal being executed (the target may ask who sent it).
    address public l2Sender = DEFAULT_L2_SENDER;
    /// @notice The L1 block whose deposits `depositGasInBlock` counts.
    uint256 public depositBlock;
    /// @notice L2 gas bought by the deposits of L1 block `depositBlock` so far (at most `maxGasLimit`
    ///         per L1 block, as OP's resource metering caps it: the L2 work that L1 can force on the
    ///         sequencer is bounded per L1 block).
    uint256 public depositGasInBlock;
    /// @notice Proven withdrawals, by withdrawal hash.
    mapping(bytes32 => ProvenWithdrawal) public provenWithdrawals;
    /// @notice Finalized (executed) withdrawals, by withdrawal hash: each is executed once.
    mapping(bytes32 => bool) public finalizedWithdrawals;

    /// @notice A deposit: the L2 transaction is `from` calling `to` (creation when the flag in
    ///         `opaqueData` says so) with `abi.encodePacked(mint, value, gasLimit, isCreation, data)`.
    event TransactionDeposited(address indexed from, address indexed to, uint256 indexed version, bytes opaqueData);

    /// @notice A withdrawal was proven against output `l2OutputIndex`.
    event WithdrawalProven(bytes32 indexed withdrawalHash, address indexed from, address indexed to);
    /// @notice A withdrawal was executed; `success` says whether its call succeeded.
    event WithdrawalFinalized(bytes32 indexed withdrawalHash, bool success);

    /// @notice The deposit's gas limit is under `minimumGasLimit(data.length)`.
    error SmallGasLimit();
    /// @notice The deposit's gas limit is over `maxGasLimit`.
    error LargeGasLimit();
    /// @notice This L1 block's deposits already bought `maxGasLimit` L2 gas: deposit in a later block.
    error OutOfResources();
    /// @notice The deposit's calldata is over `MAX_CALLDATA_SIZE` bytes.
    error LargeCalldata();
    /// @notice A creation deposit names a target (it must be the zero address), or a withdrawal
    ///         targets the portal itself.
    error BadTarget();
    /// @notice The oracle holds no output at that index (not proposed yet, or deleted).
    error OutputNotProposed(uint256 l2OutputIndex);
    /// @notice The output root proof's version is not 0.
    error UnknownOutputVersion();
    /// @notice The output root proof does not hash to the output root the oracle holds.
    error InvalidOutputRootProof();
    /// @notice The Merkle-Patricia proof does not show `sentMessages[withdrawalHash]` set in the
    ///         message passer's storage root.
    error InvalidWithdrawalProof();
    /// @notice The withdrawal is already proven against the output that still stands at its index.
    error AlreadyProven();
    /// @notice The withdrawal has not been proven.
    error NotProven();
    /// @notice The withdrawal was already executed.
    error AlreadyFinalized();
    /// @notice The output the withdrawal was proven against was deleted since (or deleted and posted
    ///         again): prove it again.
    error OutputRootChanged();
    /// @notice The finalization period is not over: the withdrawal can be finalized at `finalizableAt`.
    error TooEarly(uint256 finalizableAt);
    /// @notice Not enough gas left to give the target its gas limit.
    error InsufficientGas();
    /// @notice A withdrawal's call tried to finalize another withdrawal.
    error NonReentrant();

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
        if (depositBlock != block.number) {
            depositBlock = block.number;
            depositGasInBlock = 0;
        }
        depositGasInBlock += _gasLimit;
        if (depositGasInBlock > maxGasLimit) revert OutOfResources();

        address from = msg.sender;
        if (msg.sender != tx.origin) {
            unchecked {
                from = address(uint160(msg.sender) + ALIAS_OFFSET);
            }
        }
        bytes memory opaqueData = abi.encodePacked(msg.value, _value, _gasLimit, _isCreation, _data);
        emit TransactionDeposited(from, _to, DEPOSIT_VERSION, opaqueData);
    }

    /// @notice The hash a withdrawal is recorded under on L2: `keccak256(abi.encode(nonce, sender,
    ///         target, value, gasLimit, data))`.
    function hashWithdrawal(WithdrawalTransaction memory _tx) public pure returns (bytes32) {
        return keccak256(abi.encode(_tx.nonce, _tx.sender, _tx.target, _tx.value, _tx.gasLimit, _tx.data));
    }

    /// @notice The version-0 output root of its preimage.
    function hashOutputRootProof(OutputRootProof memory _proof) public pure returns (bytes32) {
        return keccak256(
            abi.encode(_proof.version, _proof.stateRoot, _proof.messagePasserStorageRoot, _proof.latestBlockhash)
        );
    }

    /// @notice Prove that a withdrawal was sent on L2, as of output `_l2OutputIndex`: `_outputRootProof`
    ///         is that output root's preimage, `_withdrawalProof` the Merkle-Patricia proof (as
    ///         `eth_getProof` gives it) of the message passer's slot `keccak256(abi.encode(hash, 0))`.
    function proveWithdrawalTransaction(
        WithdrawalTransaction memory _tx,
        uint256 _l2OutputIndex,
        OutputRootProof calldata _outputRootProof,
        bytes[] calldata _withdrawalProof
    ) external {
        if (_tx.target == address(this)) revert BadTarget();
        bytes32 outputRoot = _outputRoot(_l2OutputIndex);
        if (outputRoot == bytes32(0)) revert OutputNotProposed(_l2OutputIndex);
        if (_outputRootProof.version != bytes32(0)) revert UnknownOutputVersion();
        if (hashOutputRootProof(_outputRootProof) != outputRoot) revert InvalidOutputRootProof();

        bytes32 withdrawalHash = hashWithdrawal(_tx);
        if (finalizedWithdrawals[withdrawalHash]) revert AlreadyFinalized();
        // a proof against an output that was deleted since (even if posted again) may be redone
        if (_standing(provenWithdrawals[withdrawalHash])) revert AlreadyProven();

        bytes32 storageKey = keccak256(abi.encode(withdrawalHash, uint256(0)));
        (bool found, bytes memory value) = SecureMerkleTrie.get(
            abi.encode(storageKey), _withdrawalProof, _outputRootProof.messagePasserStorageRoot
        );
        if (!found || value.length != 1 || value[0] != 0x01) revert InvalidWithdrawalProof();

        provenWithdrawals[withdrawalHash] = ProvenWithdrawal({
            outputRoot: outputRoot,
            timestamp: uint128(block.timestamp),
            l2OutputIndex: uint128(_l2OutputIndex)
        });
        emit WithdrawalProven(withdrawalHash, _tx.sender, _tx.target);
    }

    /// @notice Execute a proven withdrawal once the challenge period has passed since its proof:
    ///         call its target with its gas limit, value and data. A call that fails still counts
    ///         as the withdrawal's execution (as in the OP stack): it cannot be replayed.
    function finalizeWithdrawalTransaction(WithdrawalTransaction memory _tx) external {
        if (l2Sender != DEFAULT_L2_SENDER) revert NonReentrant();
        bytes32 withdrawalHash = hashWithdrawal(_tx);
        if (finalizedWithdrawals[withdrawalHash]) revert AlreadyFinalized();
        ProvenWithdrawal memory proven = provenWithdrawals[withdrawalHash];
        if (proven.timestamp == 0) revert NotProven();
        if (!_standing(proven)) revert OutputRootChanged();
        uint256 readyAt = uint256(proven.timestamp) + l2Oracle.challengePeriod();
        if (block.timestamp < readyAt) revert TooEarly(readyAt);
        if (gasleft() < (_tx.gasLimit * 64) / 63 + FINALIZE_GAS_BUFFER) revert InsufficientGas();

        finalizedWithdrawals[withdrawalHash] = true;
        l2Sender = _tx.sender;
        (bool success,) = _tx.target.call{gas: _tx.gasLimit, value: _tx.value}(_tx.data);
        l2Sender = DEFAULT_L2_SENDER;
        emit WithdrawalFinalized(withdrawalHash, success);
    }

    /// @notice When a proven withdrawal can be finalized (0 when it is not proven).
    function finalizableAt(bytes32 _withdrawalHash) external view returns (uint256) {
        ProvenWithdrawal memory proven = provenWithdrawals[_withdrawalHash];
        if (proven.timestamp == 0) return 0;
        return uint256(proven.timestamp) + l2Oracle.challengePeriod();
    }

    /// @notice The output root at `_index`, or zero when the oracle holds none there.
    function _outputRoot(uint256 _index) internal view returns (bytes32) {
        if (_index >= l2Oracle.nextOutputIndex()) return bytes32(0);
        return l2Oracle.getL2Output(_index).outputRoot;
    }

    /// @notice Whether a proof was made against the output the oracle still holds at its index: the
    ///         same root, proposed no later than the proof (an output deleted and posted again,
    ///         even with the same root, is another proposal with its own challenge period).
    function _standing(ProvenWithdrawal memory _proven) internal view returns (bool) {
        if (_proven.timestamp == 0 || _proven.l2OutputIndex >= l2Oracle.nextOutputIndex()) return false;
        L2OutputOracle.OutputProposal memory output = l2Oracle.getL2Output(_proven.l2OutputIndex);
        return output.outputRoot == _proven.outputRoot && output.timestamp <= _proven.timestamp;
    }
}
