"""SimPy building blocks: generator functions and small state-holding classes."""

from sim.processes.station import STATION_STATES, Station, StationParams, motor_events, station_process

__all__ = ["STATION_STATES", "Station", "StationParams", "motor_events", "station_process"]
