"""Helpers shared by the test suite: payloads, the spec, JWTs, servers, paths."""
