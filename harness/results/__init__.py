"""Results: the files a run writes, the summary table, and throughput accounting."""
