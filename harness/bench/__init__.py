"""`harness bench`: serving performance apart from scoring (offline throughput at saturation, online latency under
a sweep of concurrency levels or Poisson request rates), on the harness's own engines and on any OpenAI-compatible
server. workload.py makes the prompts, engines.py and client.py send them, metrics.py turns the timings into
figures, run.py drives the scenarios and report.py prints and writes them (schema: harness/results/bench_schema.py)."""
