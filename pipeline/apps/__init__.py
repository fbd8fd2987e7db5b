"""What users run: the ``alliance-risk`` command line (``cli``), the static report
(``report``) and the dashboard (``dashboard``)."""
