"""Estimators over sim components: batch least squares with uncertainty, calibration records."""

from calibration.base import BaseCalibrator, check_is_fitted
from calibration.data import CalibrationData
from calibration.least_squares import LeastSquaresCalibrator
from calibration.record import CalibrationRecord

__all__ = ["BaseCalibrator", "CalibrationData", "CalibrationRecord", "LeastSquaresCalibrator", "check_is_fitted"]
