"""Faults and probes for the lake jobs' tests: a crash between two commits, a table's row count."""

from __future__ import annotations

from contextlib import contextmanager


class Crash(RuntimeError):
    """Raised in place of a commit, as if the job had been killed between two commits."""


@contextmanager
def crash_after_commits(n: int):
    """Within the block, per-file jobs commit ``n`` outputs and then raise :class:`Crash`; yields the tables committed."""
    import lake.jobs.per_file as per_file

    real = per_file.commit_staged
    done: list[str] = []

    def commit(lake, spec, *args, **kwargs):
        if len(done) == n:
            raise Crash("killed between two commits")
        done.append(spec.name)
        return real(lake, spec, *args, **kwargs)

    per_file.commit_staged = commit
    try:
        yield done
    finally:
        per_file.commit_staged = real


def rows_in(lake, spec) -> int:
    """Rows in the table now (0 before it exists)."""
    if not lake.exists(spec):
        return 0
    return lake.read(spec, columns=["sha256"]).num_rows
