"""The crawl frontier persisted in Delta (``ingest_frontier``), so a run killed at any moment resumes.

A crawl of a source is a ``crawl_id`` (the run id that started it). Rows are only ever appended:
``started`` once, ``queued`` for every URL put in the frontier, ``done`` for every URL whose outcome
the lander has committed, ``finished`` once at the end. The crawler commits a page's ``done`` row in
the same append as the ``queued`` rows of the links it found there, and only after the lander
committed the page's outcome, so whatever state a SIGKILL leaves, the next run of the source:

* finds the crawl unfinished and resumes it: every queued URL counts as seen, those not done are
  fetched again (contents already landed are merged away by the lander, so nothing lands twice);
* or, when the last crawl finished, starts a new one from the seeds (a re-crawl).

Because it lives in the lake (not on a local disk) it works the same on an object store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from ingest.fetch import Task
from lake.delta import Lake
from lake.schemas.frontier import INGEST_FRONTIER


@dataclass
class Resume:
    crawl_id: str
    resumed: bool
    queued: list[Task] = field(default_factory=list)  # every URL the crawl has queued so far
    done: set[str] = field(default_factory=set)

    @property
    def pending(self) -> int:
        return sum(t.url not in self.done for t in self.queued)


class FrontierStore:
    def __init__(self, lake: Lake, source_name: str, run_id: str):
        self.lake, self.source, self.run_id = lake, source_name, run_id
        self.crawl_id: str | None = None
        self._rows: list[dict] = []
        self.commits = 0

    def open(self) -> Resume:
        """Resume the source's unfinished crawl, else start a new one (committing its ``started`` row)."""
        mine = [("source", "=", self.source)]
        marks = self.lake.read(INGEST_FRONTIER, columns=["crawl_id", "state", "at"],
                               filters=mine + [("state", "in", ["started", "finished"])])
        finished = set(marks.filter(pc.equal(marks.column("state"), "finished")).column("crawl_id").to_pylist())
        started = marks.filter(pc.equal(marks.column("state"), "started")).sort_by([("at", "descending")])
        open_crawls = [c for c in started.column("crawl_id").to_pylist() if c not in finished]
        if open_crawls:
            self.crawl_id = open_crawls[0]
            rows = self.lake.read(INGEST_FRONTIER, columns=["url", "state", "kind", "depth", "referrer", "title",
                                                            "attrs_json"],
                                  filters=mine + [("crawl_id", "=", self.crawl_id), ("state", "in", ["queued", "done"])])
            resume = Resume(self.crawl_id, resumed=True)
            for r in rows.to_pylist():
                if r["state"] == "done":
                    resume.done.add(r["url"])
                else:
                    resume.queued.append(Task(r["kind"], r["url"], r["depth"] or 0, r["referrer"], r["title"],
                                              json.loads(r["attrs_json"] or "{}")))
            return resume
        self.crawl_id = self.run_id
        self._rows.append(self._row("started", ""))
        self.commit()
        return Resume(self.crawl_id, resumed=False)

    def _row(self, state: str, url: str, task: Task | None = None) -> dict:
        return {"source": self.source, "crawl_id": self.crawl_id, "state": state, "url": url,
                "kind": task.kind if task else None, "depth": task.depth if task else None,
                "referrer": task.referrer if task else None, "title": task.title if task else None,
                "attrs_json": json.dumps(task.attrs, sort_keys=True, ensure_ascii=False) if task else None,
                "run_id": self.run_id, "at": datetime.now(timezone.utc)}

    def queued(self, task: Task) -> None:
        self._rows.append(self._row("queued", task.url, task))

    def done(self, urls) -> None:
        self._rows.extend(self._row("done", url) for url in urls)

    def commit(self) -> None:
        """Append the buffered rows in one commit (idempotent per run and commit number)."""
        if not self._rows:
            return
        app_id = f"frontier:{self.run_id}"
        if not self.lake.already_committed(INGEST_FRONTIER, app_id, self.commits):
            self.lake.append(INGEST_FRONTIER, pa.Table.from_pylist(self._rows, schema=INGEST_FRONTIER.schema),
                             app_id=app_id, app_version=self.commits,
                             metadata={"ingest_run_id": self.run_id, "source": self.source})
        self.commits += 1
        self._rows = []

    def finish(self) -> None:
        self._rows.append(self._row("finished", ""))
        self.commit()
