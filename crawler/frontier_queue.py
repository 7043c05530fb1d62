"""scrapy-redis's priority queue, made reliable: a popped request is claimed, not gone.

scrapy-redis pops a request by removing it from the sorted set; if the process then dies, the
request is lost. Here the pop is a Lua script that moves the request, in the same atomic step,
into the worker's ``active`` hash (the "reliable queue" pattern: Redis's RPOPLPUSH, for a sorted
set). A request is always in exactly one place:

    queue --pop--> active:<worker> --settle--> (gone)
                          |
                          +--reap--> queue     (the worker's heartbeat expired)

A claim is *settled* once the engine is finished with the request: downloaded, the requests its
callback made are queued, its items are through the pipelines (the record is written). What a
dead worker finished is in its ``.open`` files, which recovery commits when that archive is next
crawled (pipelines/recovery.py); what it had in flight goes back to the queue for the others.

Lua, not MULTI/EXEC, because the move needs the popped value inside the transaction. The scripts
name keys they compute from a prefix, which is fine on one Redis server (not on Redis Cluster).
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

from scrapy_redis.queue import PriorityQueue

if TYPE_CHECKING:
    from redis import Redis
    from scrapy import Request, Spider

    from crawler.frontier import FrontierKeys

logger = logging.getLogger(__name__)

# A claimed request is stored as "<score>\n<encoded request>" so that requeueing restores its
# priority without decoding it (Lua cannot unpickle).

# KEYS: queue, active ; ARGV: token -> the encoded request, or nil when the queue is empty
POP = """
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #r == 0 then return false end
redis.call('ZREM', KEYS[1], r[1])
redis.call('HSET', KEYS[2], ARGV[1], r[2] .. '\\n' .. r[1])
return r[1]
"""

# KEYS: queue, workers, active, alive ; ARGV: worker, force
# -> requests requeued, or -1 when the worker is alive after all (and force is not "1")
REAP = """
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
local n = 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do
  local i = string.find(v, '\\n', 1, true)
  redis.call('ZADD', KEYS[1], tonumber(string.sub(v, 1, i - 1)), string.sub(v, i + 1))
  n = n + 1
end
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[2], ARGV[1])
return n
"""

# KEYS: queue, workers ; ARGV: prefix, worker asking
# -> {state, worker}: 'queued' | 'orphaned' (a dead worker still holds requests) |
#    'busy' (another live worker has requests in flight) | 'drained'
STATE = """
if redis.call('ZCARD', KEYS[1]) > 0 then return {'queued', ''} end
for _, w in ipairs(redis.call('HKEYS', KEYS[2])) do
  local active = redis.call('HLEN', ARGV[1] .. ':active:' .. w)
  if active > 0 and w ~= ARGV[2] then
    if redis.call('EXISTS', ARGV[1] .. ':alive:' .. w) == 1 then return {'busy', w} end
    return {'orphaned', w}
  end
end
return {'drained', ''}
"""


class ReliableQueue(PriorityQueue):
    """scrapy-redis's ``PriorityQueue`` whose ``pop`` claims for one worker (see the module doc).

    Built by scrapy-redis's scheduler like any queue class; the frontier scheduler then calls
    :meth:`bind` with the keys and its worker id before the first pop.
    """

    def __init__(self, server: Redis, spider: Spider, key: str, serializer=None):
        super().__init__(server, spider, key, serializer)
        self.keys: FrontierKeys | None = None
        self.worker: str | None = None
        #: token -> the request object the engine holds, until it is settled
        self.claims: dict[str, Request] = {}
        #: the same, the other way round (a Request hashes by identity)
        self.tokens: dict[Request, str] = {}
        self.undecodable = 0
        self._tokens = itertools.count(1)
        self._pop = server.register_script(POP)
        self._reap = server.register_script(REAP)
        self._state = server.register_script(STATE)

    def bind(self, keys: FrontierKeys, worker: str) -> None:
        self.keys = keys
        self.worker = worker

    def _bound(self) -> tuple[FrontierKeys, str]:
        if self.keys is None or self.worker is None:
            raise RuntimeError("ReliableQueue used before bind(keys, worker)")
        return self.keys, self.worker

    def pop(self, timeout: int = 0) -> Request | None:
        """The next request, claimed for this worker; None when the queue is empty."""
        keys, worker = self._bound()
        while True:
            token = str(next(self._tokens))
            data = self._pop(keys=[self.key, keys.active(worker)], args=[token])
            if data is None:
                return None
            try:
                request = self._decode_request(data)
            except Exception as e:  # a request this code cannot rebuild: never retry it forever
                self.undecodable += 1
                self.server.hdel(keys.active(worker), token)
                logger.error("Dropped a frontier request that cannot be decoded (%s: %s)", type(e).__name__, e)
                continue
            self.claims[token] = request
            self.tokens[request] = token
            return request

    def settle(self, tokens: list[str]) -> int:
        """Forget finished requests; returns how many were still claimed by us (the others were
        requeued by a worker that took us for dead)."""
        keys, worker = self._bound()
        for t in tokens:
            request = self.claims.pop(t, None)
            if request is not None:
                self.tokens.pop(request, None)
        return int(self.server.hdel(keys.active(worker), *tokens)) if tokens else 0

    def reap(self, worker: str, *, force: bool = False) -> int:
        """Requeue what ``worker`` holds and drop it from the registry, if its heartbeat has
        expired (or ``force``: our own leftovers from a crawl id used before). -1: it is alive."""
        keys, _ = self._bound()
        return int(self._reap(keys=[self.key, keys.workers, keys.active(worker), keys.alive(worker)],
                              args=[worker, "1" if force else "0"]))

    def state(self) -> tuple[str, str]:
        """``(state, worker)`` of the whole frontier, in one atomic read (see ``STATE``)."""
        keys, worker = self._bound()
        state, who = self._state(keys=[self.key, keys.workers], args=[keys.prefix, worker])
        return _text(state), _text(who)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def frontier_holds_work(client: Redis, keys: FrontierKeys) -> bool:
    """Anything queued or claimed, by any worker (dead ones included)."""
    if client.zcard(keys.queue):
        return True
    return any(client.hlen(keys.active(_text(w))) for w in client.hkeys(keys.workers))
