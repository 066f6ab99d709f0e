// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {SystemConfig} from "./SystemConfig.sol";

/// @title L2OutputOracle
/// @notice L2 state commitments on L1, in the shape of the OP stack's L2OutputOracle: the proposer posts
///         an output root every `submissionInterval` L2 blocks; anyone reads them by index or by L2 block;
///         the challenger may delete an output (and every later one) while it is inside the challenge
///         period. Roles and the period are read from the SystemConfig, so its owner can change them.
///         Output root version 0: keccak256(bytes32(0) ++ stateRoot ++ messagePasserStorageRoot ++ blockHash).
contract L2OutputOracle {
    /// @notice One proposed output: its root, when it was proposed (L1 timestamp) and its L2 block.
    struct OutputProposal {
        bytes32 outputRoot;
        uint128 timestamp;
        uint128 l2BlockNumber;
    }

    /// @notice Where the proposer, the challenger and the challenge period come from.
    SystemConfig public immutable systemConfig;
    /// @notice The L2 block interval between two outputs.
    uint256 public immutable submissionInterval;
    /// @notice The L2 block the first interval counts from (the first output is for this plus the interval).
    uint256 public immutable startingBlockNumber;

    OutputProposal[] internal l2Outputs;

    /// @notice An output root was proposed.
    event OutputProposed(
        bytes32 indexed outputRoot, uint256 indexed l2OutputIndex, uint256 indexed l2BlockNumber, uint256 l1Timestamp
    );

    /// @notice Outputs from `newNextOutputIndex` up to `prevNextOutputIndex` (exclusive) were deleted.
    event OutputsDeleted(uint256 indexed prevNextOutputIndex, uint256 indexed newNextOutputIndex);

    constructor(SystemConfig _systemConfig, uint256 _submissionInterval, uint256 _startingBlockNumber) {
        require(address(_systemConfig) != address(0), "L2OutputOracle: system config is the zero address");
        require(_submissionInterval > 0, "L2OutputOracle: submission interval must be greater than 0");
        systemConfig = _systemConfig;
        submissionInterval = _submissionInterval;
        startingBlockNumber = _startingBlockNumber;
    }

    /// @notice The only sender that may propose outputs.
    function proposer() public view returns (address) {
        return systemConfig.proposer();
    }

    /// @notice The only sender that may delete outputs.
    function challenger() public view returns (address) {
        return systemConfig.challenger();
    }

    /// @notice Seconds after its proposal during which an output may be deleted.
    function challengePeriod() public view returns (uint256) {
        return systemConfig.challengePeriod();
    }

    /// @notice Propose the output root of L2 block `_l2BlockNumber`, which must be `nextBlockNumber()`.
    ///         When `_l1BlockHash` is not zero, the proposal only lands on an L1 chain where block
    ///         `_l1BlockNumber` has that hash (a proposal made on a chain that was reorganized away reverts).
    function proposeL2Output(bytes32 _outputRoot, uint256 _l2BlockNumber, bytes32 _l1BlockHash, uint256 _l1BlockNumber)
        external
    {
        require(msg.sender == proposer(), "L2OutputOracle: only the proposer may propose outputs");
        require(_l2BlockNumber == nextBlockNumber(), "L2OutputOracle: not the next expected L2 block number");
        require(_outputRoot != bytes32(0), "L2OutputOracle: the output root is zero");
        if (_l1BlockHash != bytes32(0)) {
            require(
                blockhash(_l1BlockNumber) == _l1BlockHash, "L2OutputOracle: the L1 block hash does not match the chain"
            );
        }
        emit OutputProposed(_outputRoot, l2Outputs.length, _l2BlockNumber, block.timestamp);
        l2Outputs.push(
            OutputProposal({
                outputRoot: _outputRoot,
                timestamp: uint128(block.timestamp),
                l2BlockNumber: uint128(_l2BlockNumber)
            })
        );
    }

    /// @notice Delete output `_l2OutputIndex` and every output after it; only the challenger, and only
    ///         while that output is inside the challenge period.
    function deleteL2Outputs(uint256 _l2OutputIndex) external {
        require(msg.sender == challenger(), "L2OutputOracle: only the challenger may delete outputs");
        require(_l2OutputIndex < l2Outputs.length, "L2OutputOracle: no output at that index");
        require(
            block.timestamp - l2Outputs[_l2OutputIndex].timestamp < challengePeriod(),
            "L2OutputOracle: the output is past its challenge period"
        );
        uint256 previous = l2Outputs.length;
        while (l2Outputs.length > _l2OutputIndex) {
            l2Outputs.pop();
        }
        emit OutputsDeleted(previous, _l2OutputIndex);
    }

    /// @notice The output at `_l2OutputIndex`.
    function getL2Output(uint256 _l2OutputIndex) external view returns (OutputProposal memory) {
        require(_l2OutputIndex < l2Outputs.length, "L2OutputOracle: no output at that index");
        return l2Outputs[_l2OutputIndex];
    }

    /// @notice The index of the first output whose L2 block is at or after `_l2BlockNumber`.
    function getL2OutputIndexAfter(uint256 _l2BlockNumber) public view returns (uint256) {
        require(l2Outputs.length > 0, "L2OutputOracle: no outputs have been proposed yet");
        require(
            _l2BlockNumber <= l2Outputs[l2Outputs.length - 1].l2BlockNumber,
            "L2OutputOracle: no output at or after that L2 block yet"
        );
        uint256 lo = 0;
        uint256 hi = l2Outputs.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (l2Outputs[mid].l2BlockNumber < _l2BlockNumber) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /// @notice The first output whose L2 block is at or after `_l2BlockNumber` (the one that covers it).
    function getL2OutputAfter(uint256 _l2BlockNumber) external view returns (OutputProposal memory) {
        return l2Outputs[getL2OutputIndexAfter(_l2BlockNumber)];
    }

    /// @notice Whether output `_l2OutputIndex` is past its challenge period (can no longer be deleted).
    function isFinalized(uint256 _l2OutputIndex) external view returns (bool) {
        require(_l2OutputIndex < l2Outputs.length, "L2OutputOracle: no output at that index");
        return block.timestamp - l2Outputs[_l2OutputIndex].timestamp >= challengePeriod();
    }

    /// @notice The index of the newest output (reverts when there is none).
    function latestOutputIndex() external view returns (uint256) {
        require(l2Outputs.length > 0, "L2OutputOracle: no outputs have been proposed yet");
        return l2Outputs.length - 1;
    }

    /// @notice The index the next output gets (the number of outputs).
    function nextOutputIndex() public view returns (uint256) {
        return l2Outputs.length;
    }

    /// @notice The L2 block of the newest output (`startingBlockNumber` when there is none).
    function latestBlockNumber() public view returns (uint256) {
        return l2Outputs.length == 0 ? startingBlockNumber : l2Outputs[l2Outputs.length - 1].l2BlockNumber;
    }

    /// @notice The L2 block the next output must be for.
    function nextBlockNumber() public view returns (uint256) {
        return latestBlockNumber() + submissionInterval;
    }
}
