"""Run one ingest in its own process (so a test can SIGKILL it): ``python -m tests.support.crawl_child CONFIG.json``.

The JSON is a whole musiclake config (``Config.model_dump(mode="json")``); set ``ray.address`` to
join the test's Ray cluster instead of starting another one.
"""

from __future__ import annotations

import json
import sys

from common.config import Config


def main(path: str) -> None:
    from ingest.crawler import run_ingest

    with open(path) as f:
        cfg = Config.model_validate(json.load(f))
    for report in run_ingest(cfg):
        print(report.summary(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
