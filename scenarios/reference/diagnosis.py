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
detector's alarm, less its delay): by default the fault hypotheses assume the
effect starts with the window.  An alarm's estimated onset lags a slow effect
by hours (a sensor drifting at 0.25 K/h needs hours to leave the noise band),
so a window that starts there finds the effect already under way.  With
``onset_known=False`` each fault hypothesis also fits its effect's *state* at
the window start (:data:`EFFECT_STATES`): the sensor offset accumulated so far;
the air around the motor, and the motor it warmed, already warm.  The physical
discriminator is then the twin's own state: give *x0*, the states the twin held
at the window start before the fault, predicted from the measured inputs alone
(:func:`twin_states`: the motor's temperatures from its current and the hall
ambient through its heat balance, not from the suspect reading).  Every other
state starts there, so

* under ``sensor_drift`` the motor is where the twin says it is - the physics
  did not change, only the reading departs (and keeps ramping) while the
  current, the hydraulics and the motor's heat balance follow the twin;
* under ``ambient_load`` the motor itself is warmer (winding and housing at the
  window start are fitted, with the air excess), and the reading follows the
  heat balance through the thermal lags to a settled level;

whereas with the motor's temperatures free for every hypothesis (no *x0*: the
nuisance :data:`NUISANCE_STATES` plus :data:`LATE_NUISANCE_STATES`), a sensor
offset on a motor "cooler than the twin thought" mimics an ambient load, and
the two can only be told apart by the shape of the onset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from calibration import CalibrationData, LeastSquaresCalibrator
from calibration.diagnosis import Diagnosis, DiagnosisResult, Hypothesis
from sim.exceptions import CalibrationError
from sim.physics import RK4
from sim.physics.filler_drive import FILLER_DRIVE

__all__ = ["EFFECT_STATES", "LATE_NUISANCE_STATES", "NUISANCE_PARAMETERS", "NUISANCE_STATES", "REFERENCE_OUTPUTS",
           "VIBRATION_OUTPUT", "diagnose_reference", "reference_hypotheses", "twin_states"]

#: Measured channels the reference diagnosis compares (vibration says nothing about these effects).
REFERENCE_OUTPUTS = ("flow", "discharge_pressure", "motor_current", "winding_temperature")
NUISANCE_PARAMETERS = ("pipe_resistance",)
NUISANCE_STATES = ("housing_temperature",)
#: With ``onset_known=False`` and no *x0*: the nuisance state every hypothesis adds (the winding temperature at the
#: window start, instead of the first - noisy, perhaps drifted - reading).
LATE_NUISANCE_STATES = ("winding_temperature",)
#: With ``onset_known=False``: the states each fault hypothesis fits at the window start (the effect so far).  The
#: strainer's resistance so far is in the shared nuisance ``pipe_resistance`` (the total), the bearing's wear so
#: far is a shared nuisance state whenever vibration is compared.
EFFECT_STATES = {"ambient_load": ("local_air_excess", "housing_temperature", "winding_temperature"),
                 "sensor_drift": ("sensor_offset",)}
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


def reference_hypotheses(params=None, *, outputs=REFERENCE_OUTPUTS, onset_known: bool = True, x0=None
                         ) -> tuple[Hypothesis, ...]:
    """The hypotheses of the reference diagnosis: four, and ``bearing_wear`` when vibration is compared.

    Parameters
    ----------
    params : mapping, optional
        The twin's current (calibrated) parameters of the filler drive [SI];
        pump parameters calibrated with :data:`sim.physics.PUMP` fit here by name.
    outputs : sequence of str
        The channels the diagnosis compares; with ``vibration_rms`` among them the ``bearing_wear`` hypothesis
        (freeing ``bearing_wear_rate``) joins, and every hypothesis fits the bearing wear at the window start.
    onset_known : bool
        True: the window starts where the effect began (each effect starts from nothing).  False: the effect may
        have begun before the window (a window starting at an alarm's estimated onset): each fault hypothesis also
        fits its effect's states at the window start (:data:`EFFECT_STATES`); without *x0* every hypothesis also
        fits the winding temperature there (:data:`LATE_NUISANCE_STATES`, when it is compared).
    x0 : mapping, optional
        The twin's states at the window start [SI], from before the fault.  Given, the motor's temperatures start
        there (no nuisance :data:`NUISANCE_STATES`) except where a hypothesis fits them as its effect.
    """
    params = dict(params or {})
    outputs = tuple(outputs)
    vibration = VIBRATION_OUTPUT in outputs
    shared = () if x0 is not None else NUISANCE_STATES
    shared += ("bearing_wear",) if vibration else ()
    if not onset_known and x0 is None:
        shared += tuple(s for s in LATE_NUISANCE_STATES if s in outputs)
    x0 = None if x0 is None else {k: float(v) for k, v in dict(x0).items()}

    def states(name):
        extra = () if onset_known else EFFECT_STATES.get(name, ())
        return shared + tuple(s for s in extra if s not in shared)

    faults = _FAULTS + ((_BEARING,) if vibration else ())
    base = Hypothesis("no_fault", FILLER_DRIVE, NUISANCE_PARAMETERS, states("no_fault"), params=params, x0=x0,
                      description="nothing changed: the drive behaves as the twin expects")
    return (base,) + tuple(
        Hypothesis(name, FILLER_DRIVE, NUISANCE_PARAMETERS + (extra,), states(name), params=params, x0=x0,
                   description=text) for name, extra, text in faults)


def diagnose_reference(frame: pd.DataFrame, *, params=None, start=None, end=None, criterion: str = "bic",
                       max_step: float = 1.0, vibration: bool | None = False, onset_known: bool = True,
                       x0=None, nuisance=None) -> DiagnosisResult:
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
    onset_known : bool
        Whether *start* is where the effect began (see :func:`reference_hypotheses`); False for a window that
        starts at an alarm's estimated onset.
    x0 : mapping, optional
        The twin's states at *start* [SI], from before the fault (see :func:`reference_hypotheses`).
    nuisance : pandas.DataFrame or mapping, optional
        Uncertainty of the twin's calibrated parameters in *params* (a covariance [SI^2] or name -> standard
        deviation [SI]), propagated into the fault parameters' intervals with the residuals' autocorrelation
        (:func:`calibration.diagnosis.robust_intervals`; ``DiagnosisResult.intervals``).
    """
    if vibration is None:
        window = frame.loc[slice(start, end)] if (start is not None or end is not None) else frame
        vibration = VIBRATION_OUTPUT in frame.columns and bool(window[VIBRATION_OUTPUT].notna().any())
    outputs = REFERENCE_OUTPUTS + ((VIBRATION_OUTPUT,) if vibration else ())
    data = CalibrationData.from_frame(frame, FILLER_DRIVE.spec, outputs=outputs, start=start, end=end)
    diagnosis = Diagnosis(criterion=criterion, calibrator=LeastSquaresCalibrator(max_step=max_step))
    return diagnosis.fit(reference_hypotheses(params, outputs=outputs, onset_known=onset_known, x0=x0),
                         data, nuisance=nuisance).result_


def twin_states(frame: pd.DataFrame, *, params, x0, start=None, end=None, max_step: float = 1.0) -> dict:
    """The drive's states at the last row of ``frame[start:end]`` as the twin predicts them from *x0* at its first
    row, through the measured inputs alone (shaft speed, hall ambient; a missing input holds its last value).

    Over a few of the motor's thermal time constants this forgets *x0*'s temperatures: what is left is the heat
    balance of the current and the hall ambient - where the motor's temperatures are if nothing physical changed,
    whatever a drifting sensor reads.

    Parameters
    ----------
    frame : pandas.DataFrame
        Wide SI frame (UTC index) with the model's inputs.
    params : mapping
        The twin's parameters [SI] (spec defaults for the rest).
    x0 : mapping
        States at the first row [SI] (spec defaults for the rest).
    start, end : timestamp-like, optional
        The stretch to run over.
    max_step : float
        Integrator step [s].

    Returns
    -------
    dict
        State name -> value at the last row [SI].
    """
    spec = FILLER_DRIVE.spec
    window = frame.loc[slice(start, end)] if (start is not None or end is not None) else frame
    names = spec.names("inputs")
    missing = [n for n in names if n not in window.columns]
    if missing:
        raise CalibrationError(f"twin_states: the frame lacks the input(s) {missing}; give a frame with "
                               f"{list(names)}")
    u = window[list(names)].ffill()
    u = u[u.notna().all(axis=1)]
    if len(u) < 2:
        raise CalibrationError(f"twin_states: {len(u)} row(s) with every input between {start} and {end}; give at "
                               f"least two (a longer lead-in)")
    t = (u.index - u.index[0]).total_seconds().to_numpy(dtype=float)
    x = spec.vector("states", {k: float(v) for k, v in dict(x0).items() if k in spec.names("states")})
    p = spec.vector("params", {k: float(v) for k, v in dict(params).items() if k in spec.names("params")})
    y = FILLER_DRIVE.simulate(x, p, t, np.ascontiguousarray(u.to_numpy(dtype=float)),
                              integrator=RK4(max_step=max_step))[0][-1]
    outputs = spec.names("outputs")
    return {n: float(y[outputs.index("true_winding_temperature" if n == "winding_temperature" else n)])
            for n in spec.names("states")}
