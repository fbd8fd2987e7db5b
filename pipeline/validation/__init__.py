"""Validation: forecast scores, the NATO burden back-test, the ATOP hindcast and calibration."""
