"""Running an evaluation: the runner, request dispatch, the judge pass, the response cache, context and decoding policy, Ray."""
