"""Estimators over sim components: batch least squares with uncertainty, calibration records."""

from calibration.base import BaseCalibrator, ConvergenceWarning, check_is_fitted
from calibration.data import CalibrationData
from calibration.drift import CusumDetector, DriftAlarm, PageHinkleyDetector
from calibration.least_squares import LeastSquaresCalibrator
from calibration.plots import plot_parameter_tracks
from calibration.profile import ProfileLikelihood
from calibration.record import CalibrationRecord
from calibration.survival import SurvivalMLE
from calibration.ukf import JointUKF

__all__ = ["BaseCalibrator", "CalibrationData", "CalibrationRecord", "ConvergenceWarning", "CusumDetector",
           "DriftAlarm", "JointUKF", "LeastSquaresCalibrator", "PageHinkleyDetector", "ProfileLikelihood",
           "SurvivalMLE", "check_is_fitted", "plot_parameter_tracks"]

from calibration.diagnosis import Diagnosis, DiagnosisResult, Hypothesis  # noqa: E402
__all__ += ["Diagnosis", "DiagnosisResult", "Hypothesis"]
