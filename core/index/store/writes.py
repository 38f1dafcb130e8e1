"""The server store's write pipeline: wait=false write requests sent from worker threads, a bounded number in
flight, each failure raised once, to the writer and never to a reader."""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for

# A server store keeps at most this many write requests (wait=false) on the wire at once: enough to hide a round
# trip behind embedding the next batch, few enough that a failing server stops a run within a few batches and
# that an indexing run never queues more than a few batches ahead of what the server has acknowledged.
WRITES_IN_FLIGHT = 4


class WriteFailed(Exception):
    """A wait=false write request that failed, raised from a later call: what it was, and why."""

    def __init__(self, what: str, cause: Exception, others: int = 0):
        super().__init__(f"{what} failed: {cause}")
        self.what, self.cause = what, cause
        self.more = f" ({others} later write request(s) failed too)" if others else ""


class Writes:
    """Write requests sent from worker threads with wait=false, at most `bound` unanswered at once.

    send() blocks while `bound` requests are unanswered, waiting for the oldest, so an indexing run is never
    more than a few batches ahead of what the server has acknowledged. It first waits for any unanswered
    request on one of the same points, so this client never has two operations on one point on the wire
    together: the later is sent only once the earlier is in the shard's write-ahead log. That orders them on
    the replica that answered; with replicas, Qdrant's default (weak) write ordering does not promise that
    every replica applies them in that order. An indexing run writes each point once (an upsert, a payload
    rewrite or a prune's delete), so it does not depend on that order.

    A request that failed is kept, never raised to a reader: wait() (every read, from any thread) only waits
    until the requests sent so far are answered. The writer's next send() or drain() (so flush()) raises it as
    WriteFailed, once every other request is answered: an error is never swallowed, lands with the writer and
    not with another session's read of the shared store, and no request is left behind. Each failure is raised
    once; forget() drops failures only with the collection they were sent to. bound 0 sends each request at
    once, in the caller's thread, and raises its failure there.
    """

    def __init__(self, bound: int):
        self.bound = bound
        self.lock = threading.RLock()  # one writer at a time: send, drain and the final wait (flush)
        self.unapplied = False  # requests acknowledged since the server last confirmed it applied everything
        self._guard = threading.Lock()  # the pending requests and failures; a reader holds it only to copy them
        self._pending: deque[tuple[Future, frozenset, str]] = deque()
        self._failed: list[tuple[str, Exception]] = []  # (what, why), in the order the requests were sent
        self._pool = ThreadPoolExecutor(bound, thread_name_prefix="qdrant-write") if bound else None

    def send(self, what: str, ids, request) -> None:
        with self.lock:
            self._raise_failed()
            self.unapplied = True
            if self._pool is None:
                request()
                return
            ids = frozenset(ids)
            with self._guard:
                clash = max((i + 1 for i, (_, other, _) in enumerate(self._pending) if other & ids), default=0)
                settle = max(clash, len(self._pending) + 1 - self.bound)
            self._settle(settle)
            self._raise_failed()  # one that failed meanwhile stops the writer before it sends more
            future = self._pool.submit(request)
            with self._guard:
                self._pending.append((future, ids, what))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def wait(self) -> None:
        """Return once every request sent so far is answered; raise nothing (a read, from any thread)."""
        with self._guard:
            futures = [future for future, _, _ in self._pending]
        wait_for(futures)

    def drain(self) -> None:
        """The writer's wait: return once every request sent is answered; raise the first that failed."""
        with self.lock:
            self._settle(len(self._pending))
            self._raise_failed()

    def forget(self) -> None:
        """After the collection was dropped: its writes, and their failures, went with it."""
        with self.lock:
            self._settle(len(self._pending))
            with self._guard:
                self._failed.clear()
            self.unapplied = False

    def _settle(self, n: int) -> None:
        """Wait for the n oldest requests and take them off the wire, keeping each failure (under the lock)."""
        for _ in range(n):
            with self._guard:
                future, _, what = self._pending[0]
            error = future.exception()
            with self._guard:
                self._pending.popleft()
                if error is not None:
                    self._failed.append((what, error))

    def _raise_failed(self) -> None:
        with self._guard:  # a failure a reader's wait() saw answered is still on the list of pending requests
            if not self._failed and not any(f.done() and f.exception() for f, _, _ in self._pending):
                return
        self._settle(len(self._pending))  # every other request answered first, and its failure counted
        with self._guard:
            (what, error), others = self._failed[0], len(self._failed) - 1
            self._failed.clear()
        raise WriteFailed(what, error, others) from error

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
