"""Scoring: pointwise rates and NAB windows, against hand-computed values; always-on detectors do not win."""

import math

import numpy as np
import pytest

from calibration.alarms import NAB_PROFILES, nab_score, pointwise_scores, rising_edges, state_changes
from sim.exceptions import ConfigurationError


@pytest.mark.parametrize("p", [0.1, 0.35, 0.5])
def test_always_on_scores_f1_2p_over_1_plus_p_but_a_false_alarm_rate_of_one(p):
    labels = np.zeros(1000, dtype=bool)
    labels[: int(p * 1000)] = True
    on = pointwise_scores(labels, np.ones(1000, dtype=bool))
    assert on["f1"] == pytest.approx(2 * p / (1 + p))
    assert on["far"] == 1.0 and on["mar"] == 0.0 and on["recall"] == 1.0
    off = pointwise_scores(labels, np.zeros(1000, dtype=bool))
    assert off["far"] == 0.0 and off["mar"] == 1.0 and off["f1"] == 0.0 and math.isnan(off["precision"])


def test_pointwise_counts_sum_over_files():
    y1, p1 = np.array([1, 1, 0, 0, 0], bool), np.array([1, 0, 1, 0, 0], bool)
    y2, p2 = np.array([0, 1], bool), np.array([0, 1], bool)
    s = pointwise_scores([y1, y2], [p1, p2])
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (2, 1, 3, 1)
    assert s["precision"] == pytest.approx(2 / 3) and s["far"] == pytest.approx(1 / 4)
    assert s["mar"] == pytest.approx(1 / 3) and s["f1"] == pytest.approx(2 / 3)
    with pytest.raises(ConfigurationError, match="differ in shape"):
        pointwise_scores(y1, p2)


def test_nab_against_a_hand_computed_example_for_each_profile():
    # one file of 100 samples, change points at 20 and 60, window 20 (tail 5 samples, sigmoid scale 5)
    cps = np.zeros(100, dtype=bool)
    cps[[20, 60]] = True
    det = np.zeros(100, dtype=bool)
    det[[10, 25, 30, 90]] = True  # FP before, a hit 15 samples before the window's end, a second hit (ignored), FP
    for name, (a_tp, a_fp, a_fn) in NAB_PROFILES.items():
        hit = (a_tp - a_fp) / (1 + math.exp(5 * (25 - 40) / 5)) + a_fp
        raw = a_fp + hit + a_fn + a_fp  # window at 60 missed
        got = nab_score(cps, det, window=20, profiles=[name])[name]
        assert got["raw"] == pytest.approx(raw, abs=1e-12)
        assert got["null"] == 2 * a_fn and got["perfect"] == 2 * a_tp
        assert got["score"] == pytest.approx(100 * (raw - 2 * a_fn) / (2 * a_tp - 2 * a_fn), abs=1e-12)
    # standard profile by hand: hit = 1.11 / (1 + e^-15) - 0.11 = 0.99999966...; raw = -0.11 + hit - 1 - 0.11
    assert nab_score(cps, det, window=20)["standard"]["raw"] == pytest.approx(-0.2200003, abs=1e-6)


def test_nab_rewards_early_detection_and_a_late_one_in_the_tail_earns_less():
    cps = np.zeros(200, dtype=bool)
    cps[50] = True

    def score(at):
        det = np.zeros(200, dtype=bool)
        det[at] = True
        return nab_score(cps, det, window=40, profiles=["standard"])["standard"]["raw"]

    assert score(50) > score(70) > score(90) > score(95) > score(99)
    assert score(90) == pytest.approx((1 + 0.11) / 2 - 0.11)  # at the window's end: the midpoint
    assert score(100) == pytest.approx(-1 - 0.11)  # beyond the tail: a miss and a false positive


def test_perfect_and_null_detectors_score_100_and_0_and_always_on_is_not_rewarded():
    cps = np.zeros(300, dtype=bool)
    cps[[100, 200]] = True
    assert nab_score(cps, cps, window=30)["standard"]["score"] == pytest.approx(100, abs=1e-6)
    assert nab_score(cps, np.zeros(300, bool), window=30)["reward_low_FN"]["score"] == 0.0
    chatter = np.ones(300, dtype=bool)  # an alarm flag on every sample, read as detections
    assert nab_score(cps, chatter, window=30)["standard"]["score"] < 0
    assert list(np.flatnonzero(rising_edges([0, 1, 1, 0, 1]))) == [1, 4]
    assert list(np.flatnonzero(state_changes([1, 1, 0, 0, 1, 0]))) == [0, 2, 4, 5]  # SKAB's |diff|, first = label
