r"""The filler's pump drive: the library pump and motor-thermal kernels coupled, plus three effects.

The reference line's filler pumps product with a centrifugal pump
(:data:`sim.physics.PUMP`) driven by an induction motor whose winding heats up
by the two-node thermal model (:data:`sim.physics.MOTOR_THERMAL`): the line
current the pump draws, ``I = P_shaft / (eta_m sqrt(3) U cos phi)`` [A], heats
the winding with ``R_cu I^2`` [W].  :data:`FILLER_DRIVE` couples the two
library kernels (their equations and units are documented in
``sim/physics/pump.py`` and ``sim/physics/motor_thermal.py``) and adds three
effects for diagnosis to tell apart::

    strainer fouling  dK_s/dt     = k_f |Q|                     (pump kernel) K_s [s^2/m^5], k_f [1/m^6],
                                                                Q [m^3/s]; flow, pressure and current fall
    ambient load      dDT_a/dt    = (DT_load - DT_a) / tau_air  the air around the motor warms by DT_load [K]
                      T_air       = T_amb + DT_a                with time constant tau_air [s] above the measured
                                                                hall ambient T_amb [K]; hydraulics unchanged
    sensor drift      dT_off/dt   = d                           drift rate d [K/s] of the winding sensor:
                      T_w,reading = T_w + T_off                 the reading drifts, the physics does not

What it leaves out: the omissions of its parts.  The motor here is
:data:`sim.physics.MOTOR_THERMAL` (copper losses only): no iron or friction
losses and a constant R_cu (see :data:`sim.physics.motor_thermal.MOTOR_THERMAL_LOSSES`
for both), and the current comes from the pump's shaft power with constant motor
efficiency and power factor, so it lacks the magnetising current of a lightly
loaded motor.  Near shut-off (flow 0) the pump's shaft power and current, and so
the winding's heating, are too low (no disc-friction or recirculation losses);
see ``sim/physics/pump.py``.

The pump's static head H_st [m] and suction pressure p_s [Pa] are plant
constants here (parameters), so the only inputs are the measured shaft speed
[rad/s] and hall ambient temperature [K].  The kernels live in this small
module of their own so that editing the telemetry generator does not
invalidate numba's cache of the compiled model.  numba does not notice edits
of the *called* library kernels (``pump.py``, ``motor_thermal.py``) in a cached
caller; ``tests/scenarios/test_reference_faults.py`` checks this model against
them, so a stale cache fails there (then clear ``sim/physics/__pycache__`` and
``sim/physics/kernels/__pycache__``, or the ``NUMBA_CACHE_DIR`` folder).

The kernels address variables by name: the positions of the parts' states,
parameters and inputs are looked up in the spec at import (``PUMP_STATES``,
``AMBIENT_LOAD`` ...).  Only the returned tuples follow the spec's order: the
derivatives in the order the spec composes the states (pump, motor, air excess,
sensor offset) and the outputs in the order it lists them.
"""

from __future__ import annotations

from numba import njit

from sim.physics import MOTOR_THERMAL_SPEC, PUMP_SPEC, Model, ModelSpec, Var
from sim.physics.kernels.tuples import select
from sim.physics.motor_thermal import motor_thermal_rhs
from sim.physics.pump import pump_output, pump_rhs

__all__ = ["FILLER_DRIVE", "FILLER_DRIVE_SPEC", "filler_drive_rhs", "filler_drive_output"]

_PUMP_INPUTS = {v.name: v for v in PUMP_SPEC.inputs}

FILLER_DRIVE_SPEC = ModelSpec(
    name="filler_drive",
    version="1.0",
    doc="Filler pump and its motor's two-node thermal model, with strainer fouling, ambient load and sensor drift.",
    states=PUMP_SPEC.states + MOTOR_THERMAL_SPEC.states + (
        Var("local_air_excess", "K", "Air around the motor above the measured hall ambient", 0.0, (-100.0, 200.0),
            "DT_a"),
        Var("sensor_offset", "K", "Error of the winding-temperature sensor", 0.0, (-500.0, 500.0), "T_off"),
    ),
    inputs=(_PUMP_INPUTS["shaft_speed"], MOTOR_THERMAL_SPEC.inputs[1]),
    outputs=(
        Var("flow", "m^3/s", "Volumetric flow", symbol="Q"),
        Var("head", "m", "Pump head", symbol="H"),
        Var("discharge_pressure", "Pa", "Gauge pressure at the pump outlet", symbol="p_d"),
        Var("hydraulic_power", "W", "rho g Q H delivered to the fluid", symbol="P_h"),
        Var("shaft_power", "W", "Mechanical power taken from the shaft", symbol="P_s"),
        Var("efficiency", "1", "Pump efficiency", symbol="eta"),
        Var("motor_current", "A", "Line current of the driving motor", symbol="I"),
        Var("vibration_rms", "m/s", "Bearing-housing vibration velocity, RMS", symbol="v"),
        Var("winding_temperature", "K", "Winding temperature as the sensor reads it, T_w + T_off", symbol="T_w,r"),
        Var("true_winding_temperature", "K", "Winding temperature", symbol="T_w"),
        Var("housing_temperature", "K", "Housing temperature", symbol="T_h"),
        Var("local_air_temperature", "K", "Air temperature around the motor", symbol="T_air"),
        Var("impeller_wear", "1", "Impeller wear", symbol="w_i"),
        Var("strainer_resistance", "s^2/m^5", "Strainer head-loss coefficient", symbol="K_s"),
        Var("bearing_wear", "1", "Bearing wear", symbol="w_b"),
        Var("local_air_excess", "K", "Air around the motor above the hall ambient", symbol="DT_a"),
        Var("sensor_offset", "K", "Error of the winding-temperature sensor", symbol="T_off"),
    ),
    params=PUMP_SPEC.params + (
        Var("static_head", "m", "Static head the pump lifts against", 10.0, (-1e3, 1e4), "H_st"),
        Var("suction_pressure", "Pa", "Gauge pressure at the pump inlet", 3.0e4, (-1e5, 1e8), "p_s"),
    ) + MOTOR_THERMAL_SPEC.params + (
        Var("local_air_time_constant", "s", "Time constant of the air around the motor", 900.0, (1.0, 1e6),
            "tau_air"),
        Var("ambient_load", "K", "Steady excess of the air around the motor over the hall ambient", 0.0,
            (-30.0, 60.0), "DT_load"),
        Var("sensor_drift_rate", "K/s", "Drift rate of the winding-temperature sensor", 0.0, (-1e-2, 1e-2), "d"),
    ),
)


def _positions(kind: str, variables) -> tuple[int, ...]:
    """Positions of *variables* (looked up by name) among the filler drive's *kind*."""
    return tuple(FILLER_DRIVE_SPEC.index(kind, v.name) for v in variables)


# Where the kernels find each variable, looked up by name in the spec at import (numba freezes these globals as
# constants, so the lookups cost nothing at run time).
PUMP_STATES = _positions("states", PUMP_SPEC.states)
MOTOR_STATES = _positions("states", MOTOR_THERMAL_SPEC.states)
PUMP_PARAMS = _positions("params", PUMP_SPEC.params)
MOTOR_PARAMS = _positions("params", MOTOR_THERMAL_SPEC.params)
#: The pump's inputs in ``PUMP_SPEC.inputs`` order, as positions in the filler drive's ``inputs + params``
#: (the measured shaft speed; static head and suction pressure are plant parameters here).
PUMP_INPUTS = tuple(FILLER_DRIVE_SPEC.index("inputs", v.name) if v.name in FILLER_DRIVE_SPEC.names("inputs")
                    else FILLER_DRIVE_SPEC.nu + FILLER_DRIVE_SPEC.index("params", v.name) for v in PUMP_SPEC.inputs)
#: The pump outputs the filler drive passes on (its first outputs).
PUMP_OUTPUTS = tuple(PUMP_SPEC.index("outputs", name) for name in (
    "flow", "head", "discharge_pressure", "hydraulic_power", "shaft_power", "efficiency", "motor_current",
    "vibration_rms"))
PUMP_MOTOR_CURRENT = PUMP_SPEC.index("outputs", "motor_current")
WINDING_TEMPERATURE = FILLER_DRIVE_SPEC.index("states", "winding_temperature")
HOUSING_TEMPERATURE = FILLER_DRIVE_SPEC.index("states", "housing_temperature")
IMPELLER_WEAR = FILLER_DRIVE_SPEC.index("states", "impeller_wear")
STRAINER_RESISTANCE = FILLER_DRIVE_SPEC.index("states", "strainer_resistance")
BEARING_WEAR = FILLER_DRIVE_SPEC.index("states", "bearing_wear")
LOCAL_AIR_EXCESS = FILLER_DRIVE_SPEC.index("states", "local_air_excess")
SENSOR_OFFSET = FILLER_DRIVE_SPEC.index("states", "sensor_offset")
AMBIENT_TEMPERATURE = FILLER_DRIVE_SPEC.index("inputs", "ambient_temperature")
LOCAL_AIR_TIME_CONSTANT = FILLER_DRIVE_SPEC.index("params", "local_air_time_constant")
AMBIENT_LOAD = FILLER_DRIVE_SPEC.index("params", "ambient_load")
SENSOR_DRIFT_RATE = FILLER_DRIVE_SPEC.index("params", "sensor_drift_rate")


@njit(cache=True)
def filler_drive_rhs(x, p, u):
    """d/dt of the pump states (pump kernel), winding and housing temperature [K/s], air excess [K/s], offset [K/s].

    The states are the pump's, the motor's, then the air excess and the sensor offset (the spec's order).
    """
    pump_x = select(x, PUMP_STATES)
    pump_p = select(p, PUMP_PARAMS)
    pump_u = select(u + p, PUMP_INPUTS)
    current = pump_output(pump_x, pump_p, pump_u)[PUMP_MOTOR_CURRENT]
    local_air_temperature = u[AMBIENT_TEMPERATURE] + x[LOCAL_AIR_EXCESS]
    motor = motor_thermal_rhs(select(x, MOTOR_STATES), select(p, MOTOR_PARAMS), (current, local_air_temperature))
    local_air = (p[AMBIENT_LOAD] - x[LOCAL_AIR_EXCESS]) / p[LOCAL_AIR_TIME_CONSTANT]
    return pump_rhs(pump_x, pump_p, pump_u) + motor + (local_air, p[SENSOR_DRIFT_RATE])


@njit(cache=True)
def filler_drive_output(x, p, u):
    """Outputs in the order of ``FILLER_DRIVE_SPEC.outputs`` (SI units)."""
    pump = pump_output(select(x, PUMP_STATES), select(p, PUMP_PARAMS), select(u + p, PUMP_INPUTS))
    winding = x[WINDING_TEMPERATURE]
    return select(pump, PUMP_OUTPUTS) + (
        winding + x[SENSOR_OFFSET], winding, x[HOUSING_TEMPERATURE], u[AMBIENT_TEMPERATURE] + x[LOCAL_AIR_EXCESS],
        x[IMPELLER_WEAR], x[STRAINER_RESISTANCE], x[BEARING_WEAR], x[LOCAL_AIR_EXCESS], x[SENSOR_OFFSET])


FILLER_DRIVE = Model(FILLER_DRIVE_SPEC, filler_drive_rhs, filler_drive_output)
