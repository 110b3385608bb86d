"""The reference diagnosis: strainer fouling vs ambient load vs temperature-sensor drift on the filler drive.

Every hypothesis is the :data:`~sim.physics.filler_drive.FILLER_DRIVE` model
with the twin's current parameters, fitted over the same window.  All of them
fit the same nuisance unknowns - the total pipe resistance (the strainer's
resistance at the window start is not known exactly) and the housing
temperature at the window start (not measured) - and each fault hypothesis
frees one more parameter, the effect's own:

================  ======================  ========  ====================================================
hypothesis        extra parameter         unit      what it means
================  ======================  ========  ====================================================
no_fault          -                       -         the drive behaves as the twin expects
strainer_fouling  ``fouling_rate``        1/m^6     strainer resistance grows with the volume pumped
ambient_load      ``ambient_load``        K         the air around the motor is warmer than the hall
sensor_drift      ``sensor_drift_rate``   K/s       the winding-temperature reading drifts
================  ======================  ========  ====================================================

The window should start where the effect began (for instance at a drift
detector's alarm, less its delay): the fault hypotheses assume the effect
starts with the window.
"""

from __future__ import annotations

import pandas as pd

from calibration import CalibrationData, LeastSquaresCalibrator
from calibration.diagnosis import Diagnosis, DiagnosisResult, Hypothesis
from sim.physics.filler_drive import FILLER_DRIVE

__all__ = ["NUISANCE_PARAMETERS", "NUISANCE_STATES", "REFERENCE_OUTPUTS", "diagnose_reference",
           "reference_hypotheses"]

#: Measured channels the reference diagnosis compares (vibration says nothing about these effects).
REFERENCE_OUTPUTS = ("flow", "discharge_pressure", "motor_current", "winding_temperature")
NUISANCE_PARAMETERS = ("pipe_resistance",)
NUISANCE_STATES = ("housing_temperature",)

_FAULTS = (
    ("strainer_fouling", "fouling_rate", "the suction strainer is clogging (its flow resistance grows with the "
                                         "volume pumped: flow, pressure and current fall)"),
    ("ambient_load", "ambient_load", "extra heat around the motor (the air there is warmer than the hall: motor "
                                     "temperatures rise through the thermal lag, hydraulics unchanged)"),
    ("sensor_drift", "sensor_drift_rate", "the winding-temperature sensor drifts (the reading ramps, the motor and "
                                          "the pump do not change)"),
)


def reference_hypotheses(params=None) -> tuple[Hypothesis, ...]:
    """The four hypotheses of the reference diagnosis.

    Parameters
    ----------
    params : mapping, optional
        The twin's current (calibrated) parameters of the filler drive [SI];
        pump parameters calibrated with :data:`sim.physics.PUMP` fit here by name.
    """
    params = dict(params or {})
    base = Hypothesis("no_fault", FILLER_DRIVE, NUISANCE_PARAMETERS, NUISANCE_STATES, params=params,
                      description="nothing changed: the drive behaves as the twin expects")
    return (base,) + tuple(
        Hypothesis(name, FILLER_DRIVE, NUISANCE_PARAMETERS + (extra,), NUISANCE_STATES, params=params,
                   description=text) for name, extra, text in _FAULTS)


def diagnose_reference(frame: pd.DataFrame, *, params=None, start=None, end=None, criterion: str = "bic",
                       max_step: float = 1.0) -> DiagnosisResult:
    """Rank the reference hypotheses on a window of replayed telemetry.

    Parameters
    ----------
    frame : pandas.DataFrame
        Wide SI frame from the telemetry gates (``TelemetryStream.frame``).
    params : mapping, optional
        The twin's current parameters [SI].
    start, end : timestamp-like, optional
        The window (start where the effect is suspected to begin).
    criterion : {"bic", "aic", "aicc"}
        Ranking criterion.
    max_step : float
        Integrator step of the fits [s].
    """
    data = CalibrationData.from_frame(frame, FILLER_DRIVE.spec, outputs=REFERENCE_OUTPUTS, start=start, end=end)
    diagnosis = Diagnosis(criterion=criterion, calibrator=LeastSquaresCalibrator(max_step=max_step))
    return diagnosis.fit(reference_hypotheses(params), data).result_
