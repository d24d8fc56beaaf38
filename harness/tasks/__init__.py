"""Task definitions: the YAML spec, sandboxed prompt templates, dataset readers and suites (data in, prompts out)."""
