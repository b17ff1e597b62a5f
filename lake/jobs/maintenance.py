"""Table maintenance through the one Delta path: compaction (optimize) and old-file removal (vacuum).

Neither changes what any version of a table reads: optimize rewrites many small files (each Spark
job commits a few per run) into few large ones in a commit that changes no data, and earlier
versions keep reading their own files; vacuum deletes only files that no version younger than the
retention window (7 days by default), and no version named in ``keep``, still needs. A window
shorter than the default is refused unless forced (:class:`lake.delta.RetentionError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lake.delta import DEFAULT_RETENTION_HOURS, Lake
from lake.jobs.common import Clock, JobReport
from lake.schemas import TABLES, spec
from common.runinfo import new_run_id


@dataclass
class MaintenanceReport(JobReport):
    details: dict[str, dict] = field(default_factory=dict)  # table -> what happened to it


def _specs(tables: list[str] | None):
    return [spec(n) for n in tables] if tables else list(TABLES.values())


def run_optimize(cfg, tables: list[str] | None = None, target_size: int | None = None,
                 min_files: int = 2) -> MaintenanceReport:
    """Compact every table (or those named) holding at least ``min_files`` files."""
    clock = Clock()
    lake = Lake.from_config(cfg)
    run_id = new_run_id("optimize")
    report = MaintenanceReport("optimize", run_id)
    compacted = removed = 0
    for s in _specs(tables):
        info = lake.info(s)
        report.inputs[s.name] = info.version
        if info.files < min_files:
            continue
        m = lake.optimize(s, target_size=target_size, metadata={"job_run_id": run_id})
        if m["version_after"] != m["version_before"]:
            report.outputs[s.name] = (m["version_after"], 0)
            report.details[s.name] = dict(files_removed=m["numFilesRemoved"], files_added=m["numFilesAdded"])
            compacted += 1
            removed += m["numFilesRemoved"]
    report.counts = dict(tables_compacted=compacted, files_removed=removed)
    report.elapsed_s = clock.elapsed()
    return report


def run_vacuum(cfg, tables: list[str] | None = None, retain_hours: int = DEFAULT_RETENTION_HOURS,
               dry_run: bool = False, force: bool = False, keep: dict[str, list[int]] | None = None) -> MaintenanceReport:
    """Vacuum every table (or those named); ``keep`` maps table names to versions that must stay readable."""
    clock = Clock()
    lake = Lake.from_config(cfg)
    run_id = new_run_id("vacuum")
    report = MaintenanceReport("vacuum", run_id, note="dry run: nothing deleted" if dry_run else "")
    unknown = [t for t in (keep or {}) if t not in TABLES]
    if unknown:
        raise KeyError(f"--keep names unknown tables {unknown}")
    specs = _specs(tables)
    total = 0
    for s in specs:
        report.inputs[s.name] = lake.version(s)
        files = lake.vacuum(s, retain_hours=retain_hours, dry_run=dry_run, force=force,
                            keep_versions=(keep or {}).get(s.name))
        if files:
            report.details[s.name] = dict(files=len(files))
            total += len(files)
            if not dry_run:
                report.outputs[s.name] = (lake.version(s), 0)
    report.counts = dict(files_deleted=0 if dry_run else total, files_eligible=total, retain_hours=retain_hours)
    report.elapsed_s = clock.elapsed()
    return report
