// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title RLPReader
/// @notice Reads RLP (the Ethereum yellow paper's appendix B) from memory, strictly: every length
///         must fit the input, long forms must be minimal, a single byte under 0x80 must be its own
///         encoding, and a list must end where its header says. Only what a Merkle-Patricia proof
///         needs: items, lists of at most 17 items, and the bytes of a string.
library RLPReader {
    /// @notice An RLP item in memory: where its encoding starts and how long it is (header included).
    struct Item {
        uint256 length;
        uint256 ptr;
    }

    /// @notice The encoding is cut short, over-long, not minimal, or not the kind expected.
    error InvalidRLP();

    uint256 internal constant MAX_LIST_LENGTH = 17;

    /// @notice `_in` as one RLP item (its header must cover exactly `_in`).
    function toItem(bytes memory _in) internal pure returns (Item memory item) {
        if (_in.length == 0) revert InvalidRLP();
        uint256 ptr;
        assembly {
            ptr := add(_in, 32)
        }
        item = Item({length: _in.length, ptr: ptr});
        (uint256 offset, uint256 length,) = _decodeLength(item);
        if (offset + length != _in.length) revert InvalidRLP();
    }

    /// @notice Whether the item is a list.
    function isList(Item memory _item) internal pure returns (bool) {
        (,, bool list) = _decodeLength(_item);
        return list;
    }

    /// @notice The items of a list (at most 17).
    function readList(Item memory _item) internal pure returns (Item[] memory out) {
        (uint256 offset, uint256 length, bool list) = _decodeLength(_item);
        if (!list || offset + length != _item.length) revert InvalidRLP();
        out = new Item[](MAX_LIST_LENGTH);
        uint256 count = 0;
        uint256 position = offset;
        while (position < _item.length) {
            if (count == MAX_LIST_LENGTH) revert InvalidRLP();
            Item memory rest = Item({length: _item.length - position, ptr: _item.ptr + position});
            (uint256 itemOffset, uint256 itemLength,) = _decodeLength(rest);
            out[count] = Item({length: itemOffset + itemLength, ptr: rest.ptr});
            position += itemOffset + itemLength;
            count += 1;
        }
        assembly {
            mstore(out, count)
        }
    }

    /// @notice The payload of a string item.
    function readBytes(Item memory _item) internal pure returns (bytes memory) {
        (uint256 offset, uint256 length, bool list) = _decodeLength(_item);
        if (list || offset + length != _item.length) revert InvalidRLP();
        return _copy(_item.ptr + offset, length);
    }

    /// @notice The item's whole encoding (header included).
    function readRawBytes(Item memory _item) internal pure returns (bytes memory) {
        return _copy(_item.ptr, _item.length);
    }

    /// @notice The header of the item at `_item.ptr` (whose encoding must fit in `_item.length`):
    ///         the payload's offset and length, and whether it is a list.
    function _decodeLength(Item memory _item) private pure returns (uint256 offset, uint256 length, bool list) {
        if (_item.length == 0) revert InvalidRLP();
        uint256 ptr = _item.ptr;
        uint256 prefix;
        assembly {
            prefix := byte(0, mload(ptr))
        }
        if (prefix <= 0x7f) {
            return (0, 1, false);
        }
        if (prefix <= 0xb7) {
            length = prefix - 0x80;
            if (_item.length <= length) revert InvalidRLP();
            if (length == 1) {
                uint256 first;
                assembly {
                    first := byte(0, mload(add(ptr, 1)))
                }
                if (first < 0x80) revert InvalidRLP(); // a single byte under 0x80 is its own encoding
            }
            return (1, length, false);
        }
        if (prefix <= 0xbf) {
            (offset, length) = _longLength(ptr, _item.length, prefix - 0xb7);
            return (offset, length, false);
        }
        if (prefix <= 0xf7) {
            length = prefix - 0xc0;
            if (_item.length <= length) revert InvalidRLP();
            return (1, length, true);
        }
        (offset, length) = _longLength(ptr, _item.length, prefix - 0xf7);
        return (offset, length, true);
    }

    function _longLength(uint256 _ptr, uint256 _available, uint256 _lengthOfLength)
        private
        pure
        returns (uint256 offset, uint256 length)
    {
        if (_lengthOfLength > 8 || _available <= _lengthOfLength) revert InvalidRLP();
        uint256 first;
        assembly {
            first := byte(0, mload(add(_ptr, 1)))
            length := shr(sub(256, mul(8, _lengthOfLength)), mload(add(_ptr, 1)))
        }
        if (first == 0 || length <= 55) revert InvalidRLP(); // not minimal
        offset = 1 + _lengthOfLength;
        if (_available - offset < length) revert InvalidRLP();
    }

    function _copy(uint256 _src, uint256 _length) private pure returns (bytes memory out) {
        out = new bytes(_length);
        if (_length == 0) return out;
        uint256 dest;
        assembly {
            dest := add(out, 32)
        }
        for (uint256 i = 0; i < _length; i += 32) {
            assembly {
                mstore(add(dest, i), mload(add(_src, i)))
            }
        }
        // the last word may have copied bytes past the payload: zero them (writing past the
        // allocation is fine, that memory is free)
        assembly {
            mstore(add(dest, _length), 0)
        }
    }
}
