"""Which gateway shards this process runs, and which shard a server is on.

``SHARD_COUNT`` is the total across every process and ``SHARD_IDS`` this
process's part (default: all). Discord puts a server on shard
``(guild_id >> 22) % shard_count``; that shard's process receives the
server's commands and holds its voice connection, so voice work for a server
(``/say play:true`` streaming, playing a result) belongs there.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's rule for the shard that carries a server."""
    return (guild_id >> 22) % max(1, shard_count)


@dataclass(frozen=True)
class Shards:
    count: int = 1
    ids: tuple[int, ...] | None = None  # None: every shard

    @classmethod
    def of(cls, settings: Settings) -> Shards:
        return cls(settings.shard_count or 1, settings.shard_ids)

    @property
    def every(self) -> bool:
        return self.ids is None or set(range(self.count)) <= set(self.ids)

    def runs(self, guild_id: int | None) -> bool:
        """Whether this process carries ``guild_id``'s shard (no server: any process)."""
        if guild_id is None or self.every:
            return True
        assert self.ids is not None
        return shard_of(guild_id, self.count) in self.ids


ALL_SHARDS = Shards()  # one process running everything (no SHARD_COUNT)
