"""EVE records to a Redis stream (redis-py), one entry per record.

Each entry has two fields: ``event_type`` and ``eve`` (the EVE JSON line),
so a consumer group can read the stream and filter without parsing:

    XREADGROUP GROUP soc worker1 STREAMS exfilwatch:eve >

The stream is capped with ``XADD ... MAXLEN ~ maxlen`` (Redis trims whole
macro nodes, so it may hold a little more): a consumer that falls further
behind than that loses the oldest entries, the sensor never blocks on it.
A batch is one MULTI/EXEC transaction: Redis applies all of its entries or
none, so a connection lost mid-batch sends the whole batch to the spool
(an EXEC whose reply is lost is delivered twice: at-least-once).
"""
from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .delivery import OutputUnavailable


class RedisStreamTransport:
    """XADD to ``config.stream`` on the server at ``config.url``."""

    name = "redis"

    def __init__(self, config):
        self.config = config
        # no retries inside redis-py: the spool and its backoff retry, and a
        # retry here would block the capture path for its whole schedule
        self._client = redis.Redis.from_url(
            config.url, socket_connect_timeout=config.timeout_s, socket_timeout=config.timeout_s,
            retry=Retry(NoBackoff(), 0))

    def describe(self) -> str:
        return f"redis output {self.config.url} stream {self.config.stream}"

    def counters(self) -> dict:
        return {}

    def prepare(self, event_type: str, line: bytes) -> bytes:
        # as the spool keeps it: "flow {...}"
        return event_type.encode("ascii") + b" " + line

    def send(self, records) -> None:
        pipe = self._client.pipeline(transaction=True)
        for record in records:
            event_type, line = record.split(b" ", 1)
            pipe.xadd(self.config.stream, {"event_type": event_type, "eve": line},
                      maxlen=self.config.maxlen, approximate=True)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            self._client.connection_pool.disconnect()
            raise OutputUnavailable(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        self._client.close()

