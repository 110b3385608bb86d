"""SimPy building blocks: generator functions and small state-holding classes."""

from sim.processes.inputs import input_profile
from sim.processes.station import STATION_STATES, Station, StationParams, motor_events, station_process

__all__ = ["STATION_STATES", "Station", "StationParams", "input_profile", "motor_events", "station_process"]
