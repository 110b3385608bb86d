"""The reference diagnosis: strainer fouling vs ambient load vs temperature-sensor drift vs bearing wear on the
filler drive.

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
bearing_wear      ``bearing_wear_rate``   1/s       the pump bearing wears out (vibration rises)
================  ======================  ========  ====================================================

``bearing_wear`` needs the vibration channel: it is among the hypotheses only when ``vibration_rms`` is among
the compared outputs (:func:`diagnose_reference` adds it when the frame measures vibration).  With vibration
compared, every hypothesis also fits the bearing wear at the window start (a nuisance state: the wear
accumulated before the window is not known), so the vibration level itself favours none of them.

The window should start where the effect began (for instance at a drift
detector's alarm, less its delay): the fault hypotheses assume the effect
starts with the window.
"""

from __future__ import annotations

import pandas as pd

from calibration import CalibrationData, LeastSquaresCalibrator
from calibration.diagnosis import Diagnosis, DiagnosisResult, Hypothesis
from sim.physics.filler_drive import FILLER_DRIVE

__all__ = ["NUISANCE_PARAMETERS", "NUISANCE_STATES", "REFERENCE_OUTPUTS", "VIBRATION_OUTPUT", "diagnose_reference",
           "reference_hypotheses"]

#: Measured channels the reference diagnosis compares (vibration says nothing about these effects).
REFERENCE_OUTPUTS = ("flow", "discharge_pressure", "motor_current", "winding_temperature")
NUISANCE_PARAMETERS = ("pipe_resistance",)
NUISANCE_STATES = ("housing_temperature",)
#: The channel the bearing-wear hypothesis needs (with the bearing wear at the window start as a nuisance state).
VIBRATION_OUTPUT = "vibration_rms"
_BEARING = ("bearing_wear", "bearing_wear_rate", "the pump bearing is wearing out (its wear grows faster than "
                                                 "normal: vibration rises, hydraulics and temperatures unchanged)")

_FAULTS = (
    ("strainer_fouling", "fouling_rate", "the suction strainer is clogging (its flow resistance grows with the "
                                         "volume pumped: flow, pressure and current fall)"),
    ("ambient_load", "ambient_load", "extra heat around the motor (the air there is warmer than the hall: motor "
                                     "temperatures rise through the thermal lag, hydraulics unchanged)"),
    ("sensor_drift", "sensor_drift_rate", "the winding-temperature sensor drifts (the reading ramps, the motor and "
                                          "the pump do not change)"),
)


def reference_hypotheses(params=None, *, outputs=REFERENCE_OUTPUTS) -> tuple[Hypothesis, ...]:
    """The hypotheses of the reference diagnosis: four, and ``bearing_wear`` when vibration is compared.

    Parameters
    ----------
    params : mapping, optional
        The twin's current (calibrated) parameters of the filler drive [SI];
        pump parameters calibrated with :data:`sim.physics.PUMP` fit here by name.
    outputs : sequence of str
        The channels the diagnosis compares; with ``vibration_rms`` among them the ``bearing_wear`` hypothesis
        (freeing ``bearing_wear_rate``) joins, and every hypothesis fits the bearing wear at the window start.
    """
    params = dict(params or {})
    vibration = VIBRATION_OUTPUT in tuple(outputs)
    states = NUISANCE_STATES + (("bearing_wear",) if vibration else ())
    faults = _FAULTS + ((_BEARING,) if vibration else ())
    base = Hypothesis("no_fault", FILLER_DRIVE, NUISANCE_PARAMETERS, states, params=params,
                      description="nothing changed: the drive behaves as the twin expects")
    return (base,) + tuple(
        Hypothesis(name, FILLER_DRIVE, NUISANCE_PARAMETERS + (extra,), states, params=params,
                   description=text) for name, extra, text in faults)


def diagnose_reference(frame: pd.DataFrame, *, params=None, start=None, end=None, criterion: str = "bic",
                       max_step: float = 1.0, vibration: bool | None = False) -> DiagnosisResult:
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
    vibration : bool or None
        Compare ``vibration_rms`` too and rank ``bearing_wear`` (True), not (False, the four thermal-hydraulic
        hypotheses), or when the frame measures vibration in the window (None).
    """
    if vibration is None:
        window = frame.loc[slice(start, end)] if (start is not None or end is not None) else frame
        vibration = VIBRATION_OUTPUT in frame.columns and bool(window[VIBRATION_OUTPUT].notna().any())
    outputs = REFERENCE_OUTPUTS + ((VIBRATION_OUTPUT,) if vibration else ())
    data = CalibrationData.from_frame(frame, FILLER_DRIVE.spec, outputs=outputs, start=start, end=end)
    diagnosis = Diagnosis(criterion=criterion, calibrator=LeastSquaresCalibrator(max_step=max_step))
    return diagnosis.fit(reference_hypotheses(params, outputs=outputs), data).result_
