"""Compact ranges over the RFC 6962 §2.1 tree: the right frontier of a growing log.

A tree of ``n`` leaves is covered by one complete, aligned power-of-two subtree per set bit of ``n`` (largest
first). Keeping only those hashes is enough to append further leaves — each new leaf merges with equal-sized
neighbours exactly like a binary counter carries — and to compute the root of any size reached on the way:
folding the frontier from the right gives MTH(D[0:n]) (RFC 6962 §2.1, whose left subtrees are always complete).

Used by the bulk append path (subtree hashes computed in memory), by ``mailwarden audit verify`` (roots of
an export whose pruned prefix is represented by its subtree hashes) and by pruning. Pure Python, no storage.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._merkle import EMPTY_ROOT, node_hash

__all__ = ["CompactRange", "aligned_blocks"]


def aligned_blocks(start: int, end: int) -> list[tuple[int, int]]:
    """``(level, index)`` of the maximal aligned power-of-two blocks covering ``[start, end)``, left to
    right; block ``(level, index)`` spans leaves ``[index * 2**level, (index + 1) * 2**level)``."""
    out: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        size = 1
        while pos % (size * 2) == 0 and pos + size * 2 <= end:
            size *= 2
        level = size.bit_length() - 1
        out.append((level, pos >> level))
        pos += size
    return out


class CompactRange:
    """The frontier of the tree over leaves ``[0, size)``: ``(level, hash)`` of its aligned blocks."""

    def __init__(self, size: int = 0, frontier: Iterable[tuple[int, bytes]] = ()) -> None:
        self.size = size
        self.frontier: list[tuple[int, bytes]] = list(frontier)
        expected = [level for level, _ in aligned_blocks(0, size)]
        if [level for level, _ in self.frontier] != expected:
            raise ValueError(f"a frontier of a {size}-leaf tree has blocks at levels {expected}")

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add the next leaf hash; return the ``(level, index, hash)`` of every subtree (level >= 1) it
        completes."""
        completed: list[tuple[int, int, bytes]] = []
        position = self.size
        self.frontier.append((0, leaf))
        while len(self.frontier) >= 2 and self.frontier[-1][0] == self.frontier[-2][0]:
            level, right = self.frontier.pop()
            _, left = self.frontier.pop()
            merged = node_hash(left, right)
            self.frontier.append((level + 1, merged))
            completed.append((level + 1, position >> (level + 1), merged))
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self.frontier:
            return EMPTY_ROOT
        acc = self.frontier[-1][1]
        for _, block in reversed(self.frontier[:-1]):
            acc = node_hash(block, acc)
        return acc
