"""A session's bounded output buffer: a slow client loses the oldest output, the relay never waits."""
from __future__ import annotations

from collections import deque


class OutputBuffer:
    """Bytes read from a console, not yet sent; never more than ``limit`` of them.

    Positions are absolute (bytes ever appended), so a send that was in flight
    while older bytes were dropped consumes only what it really sent.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.start = 0          # absolute position of the first byte held
        self.size = 0           # bytes held
        self.dropped = 0        # bytes dropped unsent since the last report
        self.sending = 0        # absolute end of the last peek (bytes before it are being sent)

    def __len__(self) -> int:
        return self.size

    def append(self, data: bytes) -> None:
        """Add output; drop the oldest bytes beyond the limit."""
        if not data:
            return
        self.chunks.append(bytes(data))
        self.size += len(data)
        excess = self.size - self.limit
        if excess > 0:
            # Bytes a send in flight already holds are not lost, only forgotten.
            self.dropped += max(0, self.start + excess - max(self.start, self.sending))
            self._drop_front(excess)

    def peek(self, most: int) -> tuple[int, bytes]:
        """(absolute position, up to ``most`` of the oldest bytes), without removing them."""
        parts, n = [], 0
        for chunk in self.chunks:
            if n >= most:
                break
            part = chunk[: most - n]
            parts.append(part)
            n += len(part)
        self.sending = self.start + n
        return self.start, b"".join(parts)

    def consume(self, end: int) -> None:
        """Forget everything before absolute position ``end`` (what was sent)."""
        if end > self.start:
            self._drop_front(min(end - self.start, self.size))

    def take_dropped(self) -> int:
        """Bytes dropped since the last call."""
        dropped, self.dropped = self.dropped, 0
        return dropped

    def _drop_front(self, count: int) -> None:
        self.start += count
        self.size -= count
        while count:
            head = self.chunks[0]
            if len(head) <= count:
                self.chunks.popleft()
                count -= len(head)
            else:
                self.chunks[0] = head[count:]
                count = 0


class RecentOutput:
    """The latest ``limit`` bytes a console printed (about the screen as it stands), for a watcher who joins late.

    Unlike :class:`OutputBuffer` nothing is ever consumed: bytes stay until newer ones push them out.
    Whole chunks are kept (and only the first one trimmed on the way out), so appending costs no copy.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.size = 0

    def append(self, data: bytes) -> None:
        """Keep ``data``; forget the oldest chunks once the rest alone reaches the limit."""
        if not data:
            return
        self.chunks.append(bytes(data))
        self.size += len(data)
        while len(self.chunks) > 1 and self.size - len(self.chunks[0]) >= self.limit:
            self.size -= len(self.chunks.popleft())

    def contents(self) -> bytes:
        """The last ``limit`` bytes (fewer when less was printed)."""
        return b"".join(self.chunks)[-self.limit:]
