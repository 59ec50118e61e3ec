"""The crawl: listings of glifs and of their runs at once, through the client's one limiter,
every page committed with the crawl's state so that a killed crawl resumes where it stopped."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from contextlib import aclosing
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import anyio
import msgspec
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from .. import _listings as listings
from .. import models as m
from .._errors import GlifError, NotFoundError
from ..client import GlifClient
from ._follow import glifs_of_bots, runs_of_unreadable, runs_to_follow
from ._harvest import Item, Timer, harvesting
from ._reconcile import reconcile
from ._scope import Scope
from ._stats import CrawlStats, summarize
from ._store import Harvest, Listing, Store

__all__ = ["Crawl", "CrawlStats", "CrawlStatus", "Scope"]

CrawlStatus = Literal["new", "running", "complete", "incomplete", "interrupted"]
"""Where a crawl is: ``run()`` ends in complete, incomplete (some listings failed) or interrupted."""

log = logging.getLogger("aioglif.crawl")

# Rounds over the listings that failed: the first pass, then this many retries of what failed.
_RETRY_ROUNDS = 2
# After stop(), what is in flight has this long to arrive; then it is cancelled. Every page is
# committed with its listing's progress, so a cancelled request costs only its own page, which
# the next run asks for again. Short, because a server may never answer.
STOP_GRACE = 1.0


class Crawl:
    """A crawl into a SQLite file. ``async with Crawl(client, scope, path) as crawl: await crawl.run()``.

    Run again with the same scope and file, it resumes an unfinished crawl; ``incremental=True``
    on a finished one fetches what is new (runs listings stop at the first page of known runs)
    and refreshes the counts of known glifs.
    """

    def __init__(
        self,
        client: GlifClient,
        scope: Scope,
        path: str | os.PathLike[str],
        *,
        incremental: bool = False,
        workers: int = 16,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.client = client
        self.scope = scope
        self.path = Path(path)
        self.incremental = incremental
        self.workers = workers
        self.stats = CrawlStats()
        self.status: CrawlStatus = "new"
        self.resumed = False
        self._store: Store | None = None
        self._db = anyio.CapacityLimiter(1)  # one writer: sqlite3 wants no concurrent use
        self._decode = Timer()
        self._reconciling = 0  # the reconciliation round under way, 0 in the main pass
        # Each glif's run count when its runs were listed: a count that moved since means
        # its runs moved across pages while they were listed.
        self._counts_seen: dict[str, int] = {}
        # The glifs each listing of glifs yielded (by listing key): a reconciliation round
        # compares one listing of a root with the one before it.
        self._seen: dict[str, set[str]] = {}
        self._quarantined: set[tuple[str, bytes]] = set()
        self._stopping = False
        self._rounds: anyio.CancelScope | None = None
        self._crawl_id = 0
        self._bot_glifs: set[str] = set()  # the glifs of agents already followed in this run

    async def __aenter__(self) -> Crawl:
        self._store = await anyio.to_thread.run_sync(Store, self.path, limiter=self._db)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._store is not None:
            with anyio.CancelScope(shield=True):
                await self._in_db(self._store.close)

    async def _in_db(self, fn: Any, *args: Any) -> Any:
        def timed() -> Any:
            # Timed in the thread: the time spent queued for the one writer is not writing.
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.stats.write_seconds += time.perf_counter() - start

        return await anyio.to_thread.run_sync(timed, limiter=self._db)

    @property
    def store(self) -> Store:
        assert self._store is not None, "use 'async with Crawl(...)'"
        return self._store

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop: no new page is asked for; what arrives within ``grace`` seconds is written,
        the rest is cancelled; the next run resumes. Call it from the crawl's event loop."""
        self._stopping = True
        if self._rounds is not None:
            self._rounds.deadline = min(self._rounds.deadline, anyio.current_time() + grace)

    # --- the crawl -------------------------------------------------------------------------

    async def run(self) -> Literal["complete", "incomplete", "interrupted"]:
        """Crawl to the end (or until stopped). Returns the status: complete, incomplete
        (some listings failed even when retried), or interrupted."""
        store = self.store
        last = await self._in_db(store.last_crawl)
        scope_key = self.scope.key()
        if last is not None and last[2] == "running":
            if last[1] != scope_key:
                raise ValueError(
                    "the database holds an unfinished crawl of another scope: run it with the same"
                    " flags to finish it, or use another --out"
                )
            self._crawl_id, self.resumed = last[0], True
        elif last is not None and last[2] == "incomplete" and last[1] == scope_key and not self.incremental:
            # Some listings failed last time (a 401, a server down): they go on from the page
            # where they stopped; what was finished is not asked for again.
            self._crawl_id, self.resumed = last[0], True
            await self._in_db(store.reopen_crawl, self._crawl_id)
        else:
            if last is not None and not self.incremental and last[1] == scope_key and last[2] == "complete":
                self.status = "complete"
                return "complete"  # nothing to do: --incremental fetches what is new
            self._crawl_id = await self._in_db(store.start_crawl, scope_key, self.incremental)
            await self._in_db(store.add_listings, self._crawl_id, self.scope.roots())
        self.status = "running"
        with anyio.CancelScope() as self._rounds:
            for round_ in range(_RETRY_ROUNDS + 1):
                await self._round()
                if self._stopping:
                    break
                if round_ < _RETRY_ROUNDS and await self._in_db(store.retry_failed, self._crawl_id):
                    log.info("retrying failed listings (round %d)", round_ + 2)
                    continue
                break
            if not self._stopping:
                await reconcile(self)
        self._rounds = None
        counts = await self._in_db(store.listing_counts, self._crawl_id)
        self.stats.gone = counts.get("gone", 0)
        self.stats.listings_failed = counts.get("failed", 0)
        final: Literal["complete", "incomplete", "interrupted"]
        if self._stopping and (counts.get("pending", 0) or counts.get("running", 0)):
            final = "interrupted"
        elif self.stats.listings_failed:
            final = "incomplete"
        else:
            final = "complete"
        self.status = final
        if final != "interrupted":
            await self._in_db(store.finish_crawl, self._crawl_id, final, self.summary())
        return final

    async def _round(self) -> None:
        pending = await self._in_db(self.store.listings, self._crawl_id, ("pending", "running"))
        send: ObjectSendStream[Listing]
        receive: ObjectReceiveStream[Listing]
        send, receive = anyio.create_memory_object_stream[Listing](self.workers * 2)
        async with anyio.create_task_group() as tg, send, receive:
            for _ in range(self.workers):
                tg.start_soon(self._worker, receive.clone())
            # Runs of single glifs go to the workers; everything else is a root of its own.
            runs = [x for x in pending if x.key.startswith("runs:glif:")]
            roots = [x for x in pending if not x.key.startswith("runs:glif:")]
            async with anyio.create_task_group() as producers:
                producers.start_soon(self._feed, runs, send.clone())
                for root in roots:
                    producers.start_soon(self._root, root, send.clone())
            await send.aclose()
            await receive.aclose()

    async def _feed(self, listings: Sequence[Listing], send: ObjectSendStream[Listing]) -> None:
        async with send:
            for listing in listings:
                if self._stopping:
                    return
                await send.send(listing)

    async def _worker(self, receive: ObjectReceiveStream[Listing]) -> None:
        async with receive:
            async for listing in receive:
                if not self._stopping:
                    await self._guarded(listing, None)

    async def _root(self, listing: Listing, send: ObjectSendStream[Listing]) -> None:
        async with send:
            await self._guarded(listing, send)

    async def _guarded(self, listing: Listing, send: ObjectSendStream[Listing] | None) -> None:
        """One listing; its failure after the client's retries is recorded, not raised."""
        try:
            await self._listing(listing, send)
        except NotFoundError as exc:
            if await self._gone(listing):
                # The glif was deleted while we crawled: what was stored stays, nothing failed.
                log.info("glif %s is gone: %s", listing.target, exc)
                await self._in_db(self.store.mark_gone, listing.key, str(exc))
                return
            log.warning("listing %s failed: %s", listing.key, exc)
            self.stats.failures[listing.key] = str(exc)
            await self._in_db(self.store.fail_listing, listing.key, str(exc))
        except GlifError as exc:
            log.warning("listing %s failed: %s", listing.key, exc)
            self.stats.failures[listing.key] = str(exc)
            await self._in_db(self.store.fail_listing, listing.key, str(exc))
        except ValueError as exc:
            # Server data that reached an argument check nobody foresaw (a run count of -1 did,
            # and stopped the whole crawl): that listing fails and says why, the crawl goes on,
            # and the next run asks it again.
            message = f"unexpected data: {type(exc).__name__}: {exc}"
            log.warning("listing %s failed: %s", listing.key, message)
            self.stats.failures[listing.key] = message
            await self._in_db(self.store.fail_listing, listing.key, message)

    async def _gone(self, listing: Listing) -> bool:
        """Whether a runs listing answered 404 because its glif no longer exists (one lookup)."""
        if listing.kind != "runs" or listing.target.startswith("user:"):
            return False
        try:
            await self.client.get_glif(listing.target)
        except NotFoundError:
            return True
        except GlifError:
            return False
        return False

    async def _listing(self, listing: Listing, send: ObjectSendStream[Listing] | None) -> None:
        client, scope = self.client, self.scope
        # A listing no page of which was written starts at the first page, whatever number the
        # server gives it; one that was, resumes at the page after the last written.
        fresh = listing.status == "pending" and listing.next_page == 1
        start = None if fresh else listing.next_page
        # A resumed listing goes on page by page: concurrent pages are checked against the head
        # read at page 1, which a resumed listing did not read.
        concurrency = None if fresh else 1
        kind, target = listing.kind, listing.target
        expected = None
        if kind == "bots":
            creator = target[8:] if target.startswith("creator:") else None
            agents = listings.bots(sort=None if creator else target, creator=creator)
            bots = await client._get(agents.path, agents.params, harvesting(agents, self._decode))
            await self._page(listing, 1, bots, done=True, send=send)
            self.stats.listings_done += 1
            return
        if kind == "glifs":
            user = target[5:] if target.startswith("user:") else None
            spec: listings.Listing[Any] = listings.glifs(
                featured=target == "featured", username=user, include_graph=scope.graphs
            )
            if scope.runs:
                # The run listings keep the limiter busy; a sequential glif listing asks for no
                # page past its end and needs no head read.
                concurrency = 1
        elif kind == "glif":
            spec, start, concurrency = listings.glif(target), 1, 1
        elif kind == "sphere":
            if fresh:
                sphere = await client.get_sphere(slug=target)
                raw = m.ENCODER.encode(msgspec.structs.replace(sphere, glifs=None, spells=None))
                await self._write(listing, None, Harvest([], [], [(sphere, raw)], []), done=False, follow=[])
            spec = listings.sphere_glifs(slug=target, include_graph=scope.graphs)
        else:  # runs of a glif, or of a user
            if target.startswith("user:"):
                spec = listings.runs(username=target[5:])
            else:
                spec, concurrency = listings.runs(glif_id=target), 1
            expected = listing.expected if fresh else None
        pager = client.paginate(
            spec,
            decoder=harvesting(spec, self._decode),
            concurrency=concurrency,
            expected=expected,
            start_page=start,
        )
        if kind == "glif":
            first = await pager.first_page()
            if not first.items and listing.key.startswith("bot-glif:"):
                # A glif an agent uses may be private or gone: nothing to harvest, no failure.
                await self._write(listing, first.number, Harvest([], [], [], []), done=True, follow=[])
                self.stats.listings_done += 1
                return
            if not first.items:
                raise _not_found(target)
            await self._page(listing, first.number, first.items, done=True, send=send)
            return
        wrote_last = False
        known_pages = 0
        async with aclosing(pager.pages()) as pages:
            async for page in pages:
                if self._stopping:
                    return
                new = await self._page(
                    listing,
                    None if page.recovered else page.number,
                    page.items,
                    done=not page.has_more,
                    send=send,
                )
                wrote_last = not page.has_more
                if self.incremental and kind == "runs" and new == 0 and ":again:" not in listing.key:
                    known_pages += 1
                    if known_pages >= 2:  # a page of known runs, and one more for safety
                        break
        if not wrote_last and not self._stopping:
            await self._in_db(self.store.mark_done, listing.key)
        self.stats.listings_done += 1

    async def _page(
        self,
        listing: Listing,
        number: int | None,
        items: Sequence[Item[Any]],
        *,
        done: bool,
        send: ObjectSendStream[Listing] | None,
    ) -> int:
        glifs = [(i.model, i.raw) for i in items if isinstance(i.model, m.Glif)]
        runs = [(i.model, i.raw) for i in items if isinstance(i.model, m.Run)]
        bots = [(i.model, i.raw) for i in items if isinstance(i.model, m.Bot)]
        kind = listing.kind if listing.kind in ("runs", "bots") else "glifs"
        bad = [(kind, i.raw, i.error or "undecodable") for i in items if i.model is None]
        follow: list[Listing] = []
        if self.scope.runs and glifs:
            follow = await runs_to_follow(self, [g for g, _ in glifs])
        if self.scope.runs and kind == "glifs" and bad:
            follow += runs_of_unreadable(self, [i.raw for i in items if i.model is None])
        unreadable = [i.raw for i in items if i.model is None] if kind == "bots" else []
        if bots or unreadable:
            follow += await glifs_of_bots(self, [b for b, _ in bots], unreadable)
        if listing.kind in ("glifs", "sphere"):
            self._seen.setdefault(listing.key, set()).update(g.id for g, _ in glifs)
        harvest = Harvest(glifs, runs, [], bad, bots)
        new = await self._write(listing, number, harvest, done=done, follow=follow)
        if send is not None:
            for f in follow:
                if f.kind == "runs":
                    await send.send(f)
        # The glifs agents use are listings of their own, each of which may lead to runs: they
        # are worked on here, as roots are, not by the workers, which follow nothing.
        roots = [f for f in follow if f.kind != "runs"]
        if roots:
            async with anyio.create_task_group() as tg:
                for f in roots:
                    tg.start_soon(self._guarded, f, send)
        return int(new)

    async def _write(
        self, listing: Listing, number: int | None, harvest: Harvest, *, done: bool, follow: list[Listing]
    ) -> int:
        new = await self._in_db(
            lambda: self.store.write_page(
                self._crawl_id, listing.key, number, harvest, done=done, follow=follow
            )
        )
        s = self.stats
        s.records += len(harvest.glifs) + len(harvest.runs) + len(harvest.spheres) + len(harvest.bots)
        # A listing read again (the reconciliation) meets the same bad records: counted once,
        # as the table keeps them.
        fresh = {(k, raw) for k, raw, _ in harvest.quarantine} - self._quarantined
        self._quarantined |= fresh
        s.quarantined += len(fresh)
        s.pages += 1
        s.useful_pages += new > 0
        kinds = (("runs", harvest.runs), ("spheres", harvest.spheres), ("bots", harvest.bots))
        s.new[next((k for k, rows in kinds if rows), "glifs")] += new
        s.decode_seconds = self._decode.seconds
        return int(new)

    def summary(self) -> dict[str, Any]:
        return summarize(self.status, self.stats, self.client.stats)


def _not_found(glif_id: str) -> GlifError:
    return NotFoundError(f"no glif with id {glif_id!r}", status=404)
