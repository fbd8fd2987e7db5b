"""Products derived from published runs and stored beside them: sensitivity analyses
(``analysis``) and scenario comparisons with common random numbers (``compare``)."""
