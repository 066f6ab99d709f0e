// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title SystemConfig
/// @notice The L2 chain's settings on L1, in the shape of the OP stack's SystemConfig: who posts batches
///         (the batcher), who proposes output roots (the proposer), who may delete them while they can
///         still be challenged (the challenger), how long that is (the challenge period), where batches
///         go (the batch inbox, an address that holds no code) and which L2 chain this is.
///         Derivation reads the batcher from here at each L1 block: a change is a ConfigUpdate event.
contract SystemConfig {
    /// @notice What a ConfigUpdate event changed.
    enum UpdateType {
        BATCHER,
        PROPOSER,
        CHALLENGER,
        CHALLENGE_PERIOD,
        OWNER
    }

    /// @notice The version of the ConfigUpdate data encoding.
    uint256 public constant VERSION = 0;

    /// @notice The L1 block this config was created in: derivation reads L1 from here.
    uint256 public immutable startBlock;
    /// @notice The chain id of the L2 chain.
    uint256 public immutable l2ChainId;
    /// @notice Where the batcher sends its batches (calldata of plain transactions).
    address public immutable batchInbox;

    /// @notice May change every setting below.
    address public owner;
    /// @notice The only sender whose transactions to the inbox derivation reads.
    address public batcher;
    /// @notice The only sender that may propose output roots to the L2OutputOracle.
    address public proposer;
    /// @notice The only sender that may delete output roots still inside the challenge period.
    address public challenger;
    /// @notice Seconds after its proposal during which an output root may be deleted.
    uint256 public challengePeriod;

    /// @notice A setting changed; ``data`` is its new value, ABI-encoded.
    event ConfigUpdate(uint256 indexed version, UpdateType indexed updateType, bytes data);

    modifier onlyOwner() {
        require(msg.sender == owner, "SystemConfig: caller is not the owner");
        _;
    }

    constructor(
        address _owner,
        address _batcher,
        address _proposer,
        address _challenger,
        uint256 _challengePeriod,
        uint256 _l2ChainId,
        address _batchInbox
    ) {
        require(_owner != address(0), "SystemConfig: owner is the zero address");
        require(_batcher != address(0), "SystemConfig: batcher is the zero address");
        require(_proposer != address(0), "SystemConfig: proposer is the zero address");
        require(_l2ChainId != 0, "SystemConfig: L2 chain id is zero");
        require(_batchInbox != address(0), "SystemConfig: batch inbox is the zero address");
        startBlock = block.number;
        l2ChainId = _l2ChainId;
        batchInbox = _batchInbox;
        owner = _owner;
        batcher = _batcher;
        proposer = _proposer;
        challenger = _challenger;
        challengePeriod = _challengePeriod;
    }

    /// @notice Hand the batcher role to another address (derivation follows from the next L1 block on).
    function setBatcher(address _batcher) external onlyOwner {
        require(_batcher != address(0), "SystemConfig: batcher is the zero address");
        batcher = _batcher;
        emit ConfigUpdate(VERSION, UpdateType.BATCHER, abi.encode(_batcher));
    }

    /// @notice Hand the proposer role to another address.
    function setProposer(address _proposer) external onlyOwner {
        require(_proposer != address(0), "SystemConfig: proposer is the zero address");
        proposer = _proposer;
        emit ConfigUpdate(VERSION, UpdateType.PROPOSER, abi.encode(_proposer));
    }

    /// @notice Hand the challenger role to another address (the zero address: nobody can delete outputs).
    function setChallenger(address _challenger) external onlyOwner {
        challenger = _challenger;
        emit ConfigUpdate(VERSION, UpdateType.CHALLENGER, abi.encode(_challenger));
    }

    /// @notice Change how long output roots can be challenged (applies to every output from now on).
    function setChallengePeriod(uint256 _challengePeriod) external onlyOwner {
        challengePeriod = _challengePeriod;
        emit ConfigUpdate(VERSION, UpdateType.CHALLENGE_PERIOD, abi.encode(_challengePeriod));
    }

    /// @notice Hand the ownership to another address.
    function transferOwnership(address _owner) external onlyOwner {
        require(_owner != address(0), "SystemConfig: owner is the zero address");
        owner = _owner;
        emit ConfigUpdate(VERSION, UpdateType.OWNER, abi.encode(_owner));
    }
}
