"""Estimators over sim components: batch least squares with uncertainty, continuous and drift-triggered
recalibration, joint state-parameter filtering, diagnosis of competing hypotheses, calibration records."""

from calibration.base import BaseCalibrator, ConvergenceWarning, check_is_fitted
from calibration.continuous import DriftRecalibration, slice_window
from calibration.data import CalibrationData, window_bounds
from calibration.degradation import HealthIndexRUL
from calibration.diagnosis import Diagnosis, DiagnosisResult, Hypothesis
from calibration.evidence import MisspecificationWarning
from calibration.drift import CusumDetector, DriftAlarm, PageHinkleyDetector
from calibration.least_squares import LeastSquaresCalibrator
from calibration.plots import plot_parameter_tracks
from calibration.profile import ProfileLikelihood
from calibration.prognosis import RemainingLife, plot_rul, predict_rul
from calibration.record import CalibrationRecord
from calibration.survival import SurvivalMLE
from calibration.ukf import JointUKF
from calibration.window import WindowSimulation, simulate_window

__all__ = ["BaseCalibrator", "CalibrationData", "CalibrationRecord", "ConvergenceWarning", "CusumDetector",
           "Diagnosis", "DiagnosisResult", "DriftAlarm", "DriftRecalibration", "HealthIndexRUL",
           "Hypothesis", "JointUKF", "LeastSquaresCalibrator", "MisspecificationWarning",
           "PageHinkleyDetector", "ProfileLikelihood", "RemainingLife", "SurvivalMLE", "WindowSimulation",
           "check_is_fitted", "plot_parameter_tracks", "plot_rul", "predict_rul", "simulate_window",
           "slice_window", "window_bounds"]
