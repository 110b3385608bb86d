"""Estimators over sim components: batch least squares with uncertainty, calibration records."""

from calibration.base import BaseCalibrator, check_is_fitted
from calibration.data import CalibrationData
from calibration.drift import CusumDetector, DriftAlarm, PageHinkleyDetector
from calibration.least_squares import LeastSquaresCalibrator
from calibration.record import CalibrationRecord
from calibration.survival import SurvivalMLE
from calibration.ukf import JointUKF

__all__ = ["BaseCalibrator", "CalibrationData", "CalibrationRecord", "CusumDetector", "DriftAlarm",
           "JointUKF", "LeastSquaresCalibrator", "PageHinkleyDetector", "SurvivalMLE", "check_is_fitted"]
