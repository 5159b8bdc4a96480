"""Pydantic models of the CRDs (spec and status), durations, timestamps, conditions, events.
Pure; may import only contract."""
