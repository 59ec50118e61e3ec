"""The crawl: listings of glifs and of their runs at once, through the client's one limiter,
every page committed with the crawl's state so that a killed crawl resumes where it stopped."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import anyio
import msgspec
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from .. import _listings as listings
from .. import models as m
from .._errors import GlifError, NotFoundError
from .._protocol import BOT_SORTS
from ..client import GlifClient
from ._harvest import Item, Timer, harvesting
from ._store import Harvest, Listing, Store

__all__ = ["Crawl", "CrawlStats", "CrawlStatus", "Scope"]

CrawlStatus = Literal["new", "running", "complete", "incomplete", "interrupted"]
"""Where a crawl is: ``run()`` ends in complete, incomplete (some listings failed) or interrupted."""

log = logging.getLogger("aioglif.crawl")

# Rounds over the listings that failed: the first pass, then this many retries of what failed.
_RETRY_ROUNDS = 2
# Rounds of reconciliation at most: each lists the glifs again and the runs of the short ones.
_RECONCILE_ROUNDS = 3
# After stop(), what is in flight has this long to arrive; then it is cancelled. Every page is
# committed with its listing's progress, so a cancelled request costs only its own page, which
# the next run asks for again. Short, because a server may never answer.
STOP_GRACE = 1.0


@dataclass(frozen=True)
class Scope:
    """What to harvest. With nothing chosen, all public glifs; ``bots`` alone harvests agents
    and the glifs they use, not all glifs."""

    all: bool = False
    featured: bool = False
    users: tuple[str, ...] = ()
    spheres: tuple[str, ...] = ()
    glifs: tuple[str, ...] = ()
    runs: bool = False  # every public run of every harvested glif (and of the given users)
    graphs: bool = False
    # Agents: the given users' (with ``users``), or all that the three sorts list; and the glifs
    # they use.
    bots: bool = False

    def __post_init__(self) -> None:
        for name, values in (("users", self.users), ("spheres", self.spheres), ("glifs", self.glifs)):
            if any(not isinstance(v, str) or not v.strip() for v in values):
                raise ValueError(f"scope {name} must be non-empty strings")
        if not (self.all or self.featured or self.users or self.spheres or self.glifs or self.bots):
            object.__setattr__(self, "all", True)

    def key(self) -> str:
        fields = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}
        if not self.bots:
            del fields["bots"]  # the key of a scope without bots is what it was before they came
        return json.dumps(fields, sort_keys=True)

    def roots(self) -> list[Listing]:
        out = []
        if self.all:
            out.append(Listing("glifs:all", "glifs", ""))
        if self.featured:
            out.append(Listing("glifs:featured", "glifs", "featured"))
        for name in self.users:
            out.append(Listing(f"glifs:user:{name}", "glifs", f"user:{name}"))
            if self.runs:
                out.append(Listing(f"runs:user:{name}", "runs", f"user:{name}"))
        for slug in self.spheres:
            out.append(Listing(f"sphere:{slug}", "sphere", slug))
        for glif_id in self.glifs:
            out.append(Listing(f"glif:{glif_id}", "glif", glif_id))
        if self.bots:
            # The listing is one answer per query, not pages: the union of the sorts is as much
            # of it as the API shows.
            targets = [f"creator:{name}" for name in self.users] or list(BOT_SORTS)
            out.extend(Listing(f"bots:{t}", "bots", t) for t in targets)
        return out


@dataclass
class CrawlStats:
    """Where the crawl is, and where its time went. The client's counters sit beside these."""

    new: dict[str, int] = field(default_factory=lambda: {"glifs": 0, "runs": 0, "spheres": 0, "bots": 0})
    records: int = 0  # records written, new or refreshed
    pages: int = 0
    useful_pages: int = 0  # pages that brought at least one new record
    quarantined: int = 0
    listings_done: int = 0
    listings_failed: int = 0
    expected_runs: int = 0  # the sum of the harvested glifs' run counts, for an ETA
    decode_seconds: float = 0.0
    write_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    failures: dict[str, str] = field(default_factory=dict)
    gone: int = 0  # listings whose glif was deleted while the crawl ran (not failures)
    relisted: int = 0  # runs listings read again by the reconciliation


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
                await self._reconcile()
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

    async def _reconcile(self) -> None:
        """Deletions while the crawl ran shift items between pages, so a listing may have
        stepped over some glifs, and runs listings some runs. List the glifs again (and the
        runs, whole, of any glif with fewer runs stored than its fresh count); go on while a
        round's glifs differ from the round's before (something new, or something gone: a
        deletion that may have moved others past a page boundary) or it found runs that had
        been stepped over; a few rounds at most. When nothing moved: one more listing of the
        glifs, which doubles a glifs-only crawl's requests: the price of its exactness, since
        a page that lost an item to a deletion looks like any other."""
        store = self.store
        failed = {x.key for x in await self._in_db(store.listings, self._crawl_id, ("failed",))}
        # A root that failed is reported as failed: listing it again here would fail again.
        roots = [x for x in self.scope.roots() if x.kind in ("glifs", "sphere") and x.key not in failed]
        if not roots:
            return
        # The main pass's glifs per root (incomplete after a resume: then a round more runs).
        before = {x.key: self._seen.pop(x.key, set()) for x in roots}
        for round_ in range(1, _RECONCILE_ROUNDS + 1):
            self._reconciling = round_
            records = self.stats.records
            new = self.stats.new["runs"]
            relisted = self.stats.relisted
            again = [Listing(f"reconcile:{round_}:{x.key}", x.kind, x.target) for x in roots]
            await self._in_db(store.add_listings, self._crawl_id, again)
            await self._round()
            if self._stopping:
                break
            if await self._in_db(store.retry_failed, self._crawl_id):
                await self._round()
            now = {x.key: self._seen.pop(a.key, set()) for x, a in zip(roots, again, strict=True)}
            moved = now != before
            before = now
            log.info(
                "reconciliation round %d: glifs %s, %d runs listings again, %d records",
                round_,
                "moved" if moved else "unchanged",
                self.stats.relisted - relisted,
                self.stats.records - records,
            )
            runs_found = self.stats.relisted != relisted and self.stats.new["runs"] != new
            if not moved and not runs_found:
                break  # the glifs stood still for a whole listing, and no runs were stepped over
        self._reconciling = 0

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
            follow = await self._runs_to_follow([g for g, _ in glifs])
        if bots:
            follow += await self._glifs_of_bots([b for b, _ in bots])
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

    async def _runs_to_follow(self, glifs: list[m.Glif]) -> list[Listing]:
        # 0 runs: no request at all. No count at all is not 0: its runs are listed to the end.
        wanted = [g for g in glifs if g.completed_spell_run_count != 0]
        if self._reconciling:
            # Only glifs with fewer runs stored than they have now: their listings stepped
            # over some (deletions moved them) or ran before they arrived. A glif without a
            # count was listed to its end already.
            stored = await self._in_db(_stored_runs, self.store, self._crawl_id, [g.id for g in wanted])
            short = [
                g
                for g in wanted
                # Fewer stored than there are, or the count moved since its runs were listed
                # (a deleted run moves the others across pages: the stored count hides that).
                if g.completed_spell_run_count is not None
                and (
                    g.completed_spell_run_count > stored.get(g.id, 0)
                    or self._counts_seen.get(g.id, g.completed_spell_run_count) != g.completed_spell_run_count
                )
                # A listing that failed is reported as failed, not retried here once more.
                and f"runs:glif:{g.id}" not in self.stats.failures
            ]
            self._counts_seen.update((g.id, g.completed_spell_run_count or 0) for g in short)
            self.stats.relisted += len(short)
            return [
                Listing(
                    f"runs:glif:{g.id}:again:{self._reconciling}", "runs", g.id, g.completed_spell_run_count
                )
                for g in short
            ]
        self.stats.expected_runs += sum(g.completed_spell_run_count or 0 for g in wanted)
        if self.scope.runs:
            self._counts_seen.update((g.id, g.completed_spell_run_count or 0) for g in glifs)
        if self.incremental:
            # Only glifs whose count grew beyond the runs already stored.
            stored = await self._in_db(_stored_runs, self.store, self._crawl_id, [g.id for g in wanted])
            wanted = [
                g
                for g in wanted
                if g.completed_spell_run_count is None or g.completed_spell_run_count > stored.get(g.id, 0)
            ]
        return [Listing(f"runs:glif:{g.id}", "runs", g.id, g.completed_spell_run_count) for g in wanted]

    async def _glifs_of_bots(self, bots: list[m.Bot]) -> list[Listing]:
        """The glifs the agents use that the database does not hold yet."""
        # Several agents listings run at once and share glifs: each is followed once.
        ids = [g for g in dict.fromkeys(g for b in bots for g in b.glif_ids) if g not in self._bot_glifs]
        self._bot_glifs.update(ids)
        if self.incremental:  # a known glif is asked again: its run count may have grown
            return [Listing(f"bot-glif:{g}", "glif", g) for g in ids]
        known = await self._in_db(self.store.known, self._crawl_id, "glifs", ids)
        return [Listing(f"bot-glif:{g}", "glif", g) for g in ids if g not in known]

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
        c = self.client.stats
        s = self.stats
        return {
            "status": self.status,
            "new": s.new,
            "records": s.records,
            "pages": s.pages,
            "useful_pages": s.useful_pages,
            "quarantined": s.quarantined,
            "listings_done": s.listings_done,
            "listings_failed": s.listings_failed,
            "failures": s.failures,
            "gone": s.gone,
            "relisted": s.relisted,
            "requests": c.requests,
            "retries": c.retries,
            "rate_limited": c.rate_limited,
            "errors": c.errors,
            "seconds": time.monotonic() - s.started,
            "limiter_seconds": c.limiter_seconds,
            "network_seconds": c.network_seconds,
            "decode_seconds": s.decode_seconds,
            "write_seconds": s.write_seconds,
        }


def _stored_runs(store: Store, crawl: int, glif_ids: list[str]) -> dict[str, int]:
    return {g: store.stored_runs(crawl, g) for g in glif_ids}


def _not_found(glif_id: str) -> GlifError:
    return NotFoundError(f"no glif with id {glif_id!r}", status=404)
