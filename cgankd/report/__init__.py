"""Paper-style tables (markdown, CSV) and plots from finished run folders."""

from .tables import ArmSummary, RunResult, arm_name, find_runs, markdown_table, summarize, write_csv

__all__ = ["ArmSummary", "RunResult", "arm_name", "find_runs", "markdown_table", "summarize", "write_csv"]
