"""The rules engine: pure planning over a snapshot of the store, templates, slot finding.

Nothing in this package does I/O; `syncd` reads the snapshot and executes what is planned.
"""
