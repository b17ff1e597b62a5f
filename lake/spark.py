"""The Spark session for lake jobs, built from ``config.spark`` (local[*] by default)."""

from __future__ import annotations

import os

import pyarrow as pa

from lake import WORKER_ENV

_ARROW_TO_SPARK = {
    pa.string(): "string", pa.int32(): "int", pa.int64(): "bigint", pa.float64(): "double",
    pa.float32(): "float", pa.bool_(): "boolean", pa.binary(): "binary",
}


def spark_session(cfg, app_name: str = "musiclake"):
    """Start (or reuse) a SparkSession. Timestamps are written as UTC microseconds, which Delta expects."""
    os.environ.setdefault("PYSPARK_PYTHON", _python())
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", _python())
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(cfg.spark.master).appName(app_name)
               .config("spark.driver.memory", cfg.spark.driver_memory)
               .config("spark.sql.shuffle.partitions", str(cfg.spark.shuffle_partitions))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.showConsoleProgress", "true")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config(f"spark.executorEnv.{WORKER_ENV}", "1"))  # lake/__init__.py: no torch in workers
    for k, v in cfg.spark.conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_type(t: pa.DataType) -> str:
    """Spark SQL type name for an arrow type of the lake schemas."""
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_list(t):
        return f"array<{spark_type(t.value_type)}>"
    return _ARROW_TO_SPARK[t]


def spark_ddl(schema: pa.Schema) -> str:
    """A Spark DDL string (``a string, b array<int>``) for an arrow schema."""
    return ", ".join(f"`{f.name}` {spark_type(f.type)}" for f in schema)


def _python() -> str:
    import sys
    return sys.executable
