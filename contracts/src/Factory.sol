// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Child
/// @notice Tiny contract whose constructor writes one storage slot (slot 0).
contract Child {
    address public deployer;

    constructor() {
        deployer = msg.sender;
    }
}

/// @title Factory
/// @notice Deploys Child via CREATE2 (deploy) and CREATE (deployPlain).
contract Factory {
    event Deployed(address addr);

    function deploy(bytes32 salt) external returns (address) {
        address addr = address(new Child{salt: salt}());
        emit Deployed(addr);
        return addr;
    }

    function deployPlain() external returns (address) {
        address addr = address(new Child());
        emit Deployed(addr);
        return addr;
    }

    /// Predicts the CREATE2 address deploy(salt) produces.
    function computeAddress(bytes32 salt) external view returns (address) {
        bytes32 h = keccak256(
            abi.encodePacked(bytes1(0xff), address(this), salt, keccak256(type(Child).creationCode))
        );
        return address(uint160(uint256(h)));
    }
}
