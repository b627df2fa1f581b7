"""The asyncio flavour: ``vigil.aio.Client`` has the calls of ``vigil.Client``, each returning
an ``asyncio.Future`` of the running loop. The call runs on the client's tokio runtime and
its reply is set on the loop's thread, so a call never blocks the event loop, and cancelling
the future drops the call (a write that reached the journal stays there).

    import asyncio, vigil.aio

    async def main():
        async with vigil.aio.Client("redis://127.0.0.1:6379/", journal_dir="vigil-journal") as c:
            reply = await c.add("alerts:prod", {"severity": "high", "source": "db-1"})
            alerts = await c.range("alerts:prod", rev=True, count=10)

    asyncio.run(main())

The constructor opens the journal synchronously (it reads what an earlier process left, if
anything); ``mode``, ``pending``, ``metrics()``, ``prometheus()`` and ``close()`` are plain,
as they do no I/O. ``await c.aclose()`` (what ``async with`` does on the way out) also waits,
without blocking the loop, until the journal directory is free for the next client.
"""

from ._vigil import AsyncClient as Client
from ._vigil import AsyncFeed as Feed

__all__ = ["Client", "Feed"]
