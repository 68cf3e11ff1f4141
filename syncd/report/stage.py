"""The report's parameters and months; the SQL that stages the store for the report is in
`syncd.store.report_stage`."""

from __future__ import annotations

from syncd.store.report_stage import ReportParams, month_ends

__all__ = ["ReportParams", "month_ends"]
