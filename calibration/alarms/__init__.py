"""Alarms that survive real plants: multivariate detection on residuals, calibrated thresholds, alarm logic.

The contract the live service codes against (plain Python + numpy; every state is a JSON-able dict):

**Detectors** - :class:`PCADetector` (T² + Q normal-behaviour model for channels no physics model covers) and
:class:`ResidualDetector` (Mahalanobis distance of the twin's residuals over their expected spread);
:func:`residual_frame` builds one asset's input from twin residuals plus uncovered channels.  Estimator contract:

* ``fit(X_normal, quarantined=None)`` - rows are samples, columns channels (a DataFrame, or ``(n, m)``), or a
  fleet ``(A, n, m)`` with a leading asset axis; the threshold ``threshold_`` ``(A,)`` is calibrated there
  (cross-fitted, out of sample) to ``false_alarm_rate``.  A window with more than ``max_missing`` missing or
  quarantined rows is refused (``CalibrationError``): no fit runs on such data.
* ``statistic(X_block)`` -> one value per sample, ``(n,)`` or ``(A, n)``; advances the stream state
  (``input_smoothing``: MEWMA of the channels, default 0.2 for PCA; ``smoothing``: EWMA of the statistic), so
  scoring a stream in one block or many gives the same values; ``reset()`` restarts it.
* ``contributions(X_block)`` -> per-channel share ``(n, m)`` / ``(A, n, m)`` of the block last scored, summing to
  the statistic before ``smoothing``; ``score(X_block)`` returns ``(statistic, contributions)`` in one call;
  ``parts`` (T² and Q) and ``raw_statistic`` for plots.
* ``state_dict()`` -> JSON-able dict; ``Detector.from_state(d)`` / ``load_state(d)`` continue exactly.

**Alarm logic** - :class:`AlarmLogic`: ``AlarmLogic.for_detector(det, assets=[...], min_on=3, ...)``;
``update(times, statistic, contributions=None) -> list[AlarmEvent]`` (``raised`` / ``escalated`` / ``cleared``;
time, asset, alarm_id, severity 1-4, onset, peak, threshold, top_channels, explanation); ``last_statistic_`` and
``last_active_`` per sample of the last block, ``history(asset)`` with ``keep`` samples; ``acknowledge(asset, t)``,
``shelve(asset, until, t)``, ``explain(asset, text)`` with :func:`explain_diagnosis` of a
:class:`calibration.DiagnosisResult`; ``active_alarms() -> list[Alarm]``; ``state_dict()`` /
``AlarmLogic.from_state(d)``.  Samples at or before an asset's last processed time are skipped (replay-safe).

**Data quality** - :class:`QualityMonitor`: ``update(times, quarantined) -> list[AlarmEvent]`` with
``source="data_quality"``; ``fit_allowed_`` per sample and ``fit_allowed(t0, t1)`` for a window.

**Thresholds and scoring** - :func:`calibrate_threshold`; :func:`pointwise_scores` (precision, recall, F1,
FAR = FP/(FP+TN), MAR = FN/(FN+TP)); :func:`nab_score` with the ``standard``, ``reward_low_FP`` and
``reward_low_FN`` profiles over :func:`state_changes` (or :func:`rising_edges`) of the alarm state.  Report the
false-alarm rate next to every F1: an always-on alarm reaches F1 = 2p/(1+p) on data with an anomalous share p.

See docs/alarms.md for how detection works, defaults per signal type and how to choose the false-alarm target.
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
