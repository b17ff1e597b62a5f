"""The Delta lake: table specs (schemas), the one Delta read/commit path, and the Spark jobs."""
