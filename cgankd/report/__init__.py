"""Paper-style tables (markdown, CSV) and plots from finished run folders."""

from .tables import ArmSummary, RunResult, find_runs, markdown_table, summarize, write_csv

__all__ = ["ArmSummary", "RunResult", "find_runs", "markdown_table", "summarize", "write_csv"]
