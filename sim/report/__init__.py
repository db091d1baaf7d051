"""The report of a run: charts, ``report.html`` (English or French) and ``report.md``.

Built only from the files of a finished run folder (``carbonsim report RUN_DIR``), or as the
last step of ``carbonsim run``.
"""

from .build import REPORT_FILES, build_report, report_files, report_names
from .rundata import RunFolderError, load_run

__all__ = ["build_report", "report_files", "report_names", "REPORT_FILES", "RunFolderError", "load_run"]
