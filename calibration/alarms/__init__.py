"""Alarms that survive real plants: multivariate detection on residuals, calibrated thresholds, alarm logic.

The contract the live service codes against (every object is plain Python + numpy, checkpointable as JSON):

**Detectors** (:class:`PCADetector` for channels no physics model covers, :class:`ResidualDetector` for the
physics twin's residuals) follow the estimator contract:

* ``fit(X_normal)`` - rows are samples, columns channels (a DataFrame, or ``(n, m)``), or a fleet
  ``(A, n, m)`` with a leading asset axis; the threshold is calibrated there (cross-fitted) to
  ``false_alarm_rate``.  A window with more than ``max_missing`` missing/quarantined rows is refused
  (``CalibrationError``): no fit runs on such data.
* ``statistic(X_block)`` -> one value per sample, ``(n,)`` or ``(A, n)``; ``threshold_`` ``(A,)``.  With
  ``smoothing`` (EWMA) the stream state carries over between blocks (``reset()`` restarts it).
* ``contributions(X_block)`` -> per-channel share ``(n, m)`` / ``(A, n, m)``, summing to the unsmoothed
  statistic; ``raw_statistic`` and ``parts`` (T² and Q) for plots.
* ``state_dict()`` -> JSON-able dict; ``Detector.from_state(d)`` / ``load_state(d)``.

**Alarm logic** (:class:`AlarmLogic`): ``AlarmLogic.for_detector(det, assets=[...], min_on=3, ...)``;
``update(times, statistic, contributions=None) -> list[AlarmEvent]`` (``raised`` / ``escalated`` /
``cleared``; time, asset, alarm_id, severity 1-4, onset, peak, threshold, top_channels, explanation);
``last_active_`` gives the per-sample alarm state of the last block; ``acknowledge(asset, t)``,
``shelve(asset, until, t)``, ``explain(asset, text)`` with :func:`explain_diagnosis` of a
:class:`calibration.DiagnosisResult`; ``active_alarms() -> list[Alarm]``; ``state_dict()`` /
``AlarmLogic.from_state(d)``.  Samples at or before an asset's last processed time are skipped (replay-safe).

**Data quality** (:class:`QualityMonitor`): ``update(times, quarantined) -> list[AlarmEvent]`` with
``source="data_quality"``; ``fit_allowed_`` per sample and ``fit_allowed(t0, t1)`` for a window.

**Thresholds and scoring**: :func:`calibrate_threshold`; :func:`pointwise_scores` (precision, recall, F1,
FAR = FP/(FP+TN), MAR = FN/(FN+TP)); :func:`nab_score` with the ``standard``, ``reward_low_FP`` and
``reward_low_FN`` profiles.  Report the false-alarm rate next to every F1: an always-on alarm reaches
F1 = 2p/(1+p) on data with an anomalous share p.

See docs/alarms.md for defaults per signal type and how to choose the false-alarm target.
"""

from calibration.alarms.logic import SEVERITIES, Alarm, AlarmEvent, AlarmLogic, explain_diagnosis
from calibration.alarms.normal import PCADetector
from calibration.alarms.quality import QualityMonitor
from calibration.alarms.residual import ResidualDetector, residual_frame
from calibration.alarms.scoring import NAB_PROFILES, nab_score, pointwise_scores, rising_edges, state_changes
from calibration.alarms.threshold import binomial_interval, calibrate_threshold

__all__ = ["NAB_PROFILES", "SEVERITIES", "Alarm", "AlarmEvent", "AlarmLogic", "PCADetector", "QualityMonitor",
           "ResidualDetector", "binomial_interval", "calibrate_threshold", "explain_diagnosis", "nab_score",
           "pointwise_scores", "residual_frame", "rising_edges", "state_changes"]
