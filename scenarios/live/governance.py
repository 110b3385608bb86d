"""Governance of continuous calibration: a challenger is promoted only if it predicts better *and* the policies
allow; every decision is audited.

The chain the living twin runs::

    drift alarm -> diagnosis -> refit on the data since the change point      (calibration.continuous/diagnosis)
      -> Governor.propose(record, reason=..., diagnosis=...)                    challenger in shadow
      -> Governor.evaluate_shadow(next_window)                                  champion vs challenger on the
                                                                                *next* window, per-channel RMS
      -> policies: allow | deny(reason) | needs_approval(who)
      -> promoted | rejected | pending_approval -> approve/reject (CLI, API, MQTT command)
    Governor.rollback(reason)            the previous champion comes back
    Governor.calibration_failed(error)   the champion stays; the log says why
    Governor.handle_command(message)     operator messages; malformed or unauthorised ones are refused, audited

**Policies** are small frozen objects built from plain dicts (:func:`make_policy`, the ``type`` key picks the
class; Hydra configs give exactly such dicts).  Each judges a :class:`Change` and returns a :class:`Verdict`:

* :class:`ImprovementPolicy` (``improvement``) - the challenger's shadow score on the next window must beat the
  champion's by ``margin`` (relative); the score is the noise-weighted RMSE of
  :class:`scenarios.tracking.shadow.PromotionRule`, the registry's own rule.  Always applied: a governor
  without one uses ``margin = 0``;
* :class:`CorroborationPolicy` (``corroboration``) - a parameter change needs the residuals of at least
  ``min_channels`` independent sensors to improve in shadow (``sensors`` maps channels that share a sensor);
* :class:`MaxChangePolicy` (``max_change``) - at most ``max_percent_per_day`` % change of a parameter against
  its champion value one day (of data time) before the decision;
* :class:`ApprovalPolicy` (``approval``) - a change of the listed parameters needs a named approver.

**Authorisation.**  Approvers are configured by name with a secret (an environment variable or a file, never a
literal in a config: :func:`sim.telemetry.sources.live.secret_from`); a token is compared with
:func:`hmac.compare_digest`.  Tokens never reach the audit log, the decisions or MLflow: a command is audited
without its token, and every audited text that contains a configured secret is redacted.

**Time.**  Policies judge in *data* time (the end of the shadow window), so that a governor restored from
:meth:`Governor.state_dict` makes the same decisions on the same data; the audit entries carry the wall-clock
time of writing as well.

Usage (what the live service does)::

    from scenarios.live.audit import AuditLog
    from scenarios.live.governance import Governor

    cfg = {"policies": [{"type": "improvement", "margin": 0.02},
                        {"type": "corroboration", "min_channels": 2},
                        {"type": "max_change", "max_percent_per_day": 10},
                        {"type": "approval", "parameters": ["heat_capacity_housing"], "approvers": ["alice"]}],
           "approvers": {"alice": {"token_env": "TWINBENCH_APPROVER_ALICE"}}}
    gov = Governor.from_config(cfg, audit=AuditLog("outputs/live/audit.jsonl"), tracker=tracker)  # or None
    gov.propose(first_record, reason="initial calibration")       # the first record becomes champion
    gov.propose(refit.record_, reason="CUSUM alarm on winding_temperature", diagnosis=diagnosis_result)
    decision = gov.evaluate_shadow(next_window)                    # a CalibrationData after the refit window
    gov.handle_command({"verb": "approve", "id": decision["id"], "approver": "alice", "token": "..."})
    gov.champion, gov.decisions                                    # current record; recent decisions (JSON)
    state = gov.state_dict(); gov2 = Governor.from_state(state, cfg, audit=...)   # checkpoint / restart

Every method that decides returns the decision as a JSON-able dict (``id``, ``action``, ``outcome``, ``what``,
``why``, ``actor``, ``window``, ``record_ids``, ``details``) and appends it to :attr:`Governor.decisions`, to
the audit log and (with a tracker) to MLflow.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hmac
import json
import logging
import math
import os
import threading
from collections import deque
from functools import wraps
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.data import CalibrationData
from calibration.record import CalibrationRecord
from scenarios.live.audit import AuditLog, jsonable, mlflow_mirror
from scenarios.tracking.lineage import ROLE
from scenarios.tracking.shadow import PromotionRule, shadow_rmse
from sim.exceptions import ConfigurationError, ModelError, TwinbenchError
from sim.physics import MODELS
from sim.telemetry.sources.live import Secret, secret_from

__all__ = ["ALLOW", "DENY", "NEEDS_APPROVAL", "POLICIES", "ApprovalPolicy", "Change", "CorroborationPolicy",
           "GovernanceError", "Governor", "ImprovementPolicy", "MaxChangePolicy", "Policy", "ShadowScores",
           "Verdict", "make_policy"]

log = logging.getLogger(__name__)

ALLOW, DENY, NEEDS_APPROVAL = "allow", "deny", "needs_approval"
STATE_FORMAT = "twinbench.governor/1"
REDACTED = "<redacted>"
VERBS = {"approve": ({"verb", "id", "approver", "token"}, {"reason"}),
         "reject": ({"verb", "id", "approver", "token"}, {"reason"}),
         "rollback": ({"verb", "approver", "token", "reason"}, set())}


class GovernanceError(TwinbenchError):
    """A governance call that cannot be carried out in the governor's state (no challenger to evaluate, no
    previous champion to roll back to ...); the message names the state and the fix."""


# ----------------------------------------------------------------- verdicts
@dataclass(frozen=True)
class Verdict:
    """What one policy says about a change: ``outcome`` is :data:`ALLOW`, :data:`DENY` or
    :data:`NEEDS_APPROVAL` (then ``approvers``: the names any one of whom may approve; empty = any approver)."""

    outcome: str
    policy: str
    reason: str
    approvers: tuple = ()

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "policy": self.policy, "reason": self.reason,
                "approvers": list(self.approvers)}


@dataclass(frozen=True)
class ShadowScores:
    """Champion and challenger on the next window.

    Attributes
    ----------
    window : dict
        ``start``, ``end`` (UTC ISO), ``content_hash`` of the shadow window.
    channels : tuple of str
        The measured output channels compared.
    rmse : dict
        ``{"champion": {channel: rmse}, "challenger": {...}}`` [SI of the channel]; inf where a twin could
        not simulate.
    sigma : dict
        channel → noise level the RMSEs are divided by [SI].
    scores : dict
        ``{"champion": score, "challenger": score}``: ``sqrt(mean_c (rmse_c / sigma_c)^2)`` [-].
    error : str or None
        Why the comparison could not be made (then the scores are NaN).
    """

    window: dict
    channels: tuple
    rmse: dict
    sigma: dict
    scores: dict
    error: str | None = None

    def improved(self, margin: float = 0.0) -> list[str]:
        """The channels whose challenger RMSE is below ``(1 - margin)`` times the champion's."""
        if self.error:
            return []
        champ, chall = self.rmse["champion"], self.rmse["challenger"]
        return [c for c in self.channels if math.isfinite(chall[c]) and chall[c] < (1.0 - margin) * champ[c]]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Change:
    """A proposed change of champion, as the policies see it.

    Attributes
    ----------
    champion, challenger : CalibrationRecord
    changes : dict
        parameter → ``{"old", "new", "relative"}`` for every parameter whose value differs [SI, -].
    time : pandas.Timestamp
        Data time of the decision (UTC): the end of the shadow window.
    history : tuple
        ``(since, params)`` of every champion so far, oldest first (``since``: UTC data time it became champion).
    shadow : ShadowScores or None
        The comparison on the next window (None: not evaluated).
    evidence : tuple of str
        Channels (sensors) outside the comparison whose residuals the caller found improved.
    """

    champion: CalibrationRecord
    challenger: CalibrationRecord
    changes: dict
    time: pd.Timestamp
    history: tuple = ()
    shadow: ShadowScores | None = None
    evidence: tuple = ()


# ----------------------------------------------------------------- policies
class Policy:
    """Base of the policies: ``check(change) -> Verdict``; ``to_dict()`` gives the dict :func:`make_policy`
    rebuilds it from."""

    kind = ""

    def check(self, change: Change) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"type": self.kind, **jsonable(dataclasses.asdict(self))}

    def _allow(self, reason: str) -> Verdict:
        return Verdict(ALLOW, self.kind, reason)

    def _deny(self, reason: str) -> Verdict:
        return Verdict(DENY, self.kind, reason)


def _concerned(changes: dict, parameters) -> list[str]:
    return [p for p in changes if parameters is None or p in parameters]


@dataclass(frozen=True)
class ImprovementPolicy(Policy):
    """The challenger must predict the next window better than the champion.

    Parameters
    ----------
    margin : float
        Relative improvement of the score required, in [0, 1) (0.02: 2 % lower).
    burn_in_s : float
        Start of the shadow window left out of the RMSE [s] (the decay of a wrong initial state).
    noise_std : dict
        channel → noise level [SI]; default the records' estimates (see :class:`PromotionRule`).
    """

    margin: float = 0.02
    burn_in_s: float = 0.0
    noise_std: dict = field(default_factory=dict)
    kind = "improvement"

    def __post_init__(self):
        _ = self.rule  # validates margin and burn-in

    @property
    def rule(self) -> PromotionRule:
        return PromotionRule(margin=float(self.margin), burn_in_s=float(self.burn_in_s),
                             noise_std=dict(self.noise_std))

    def check(self, change: Change) -> Verdict:
        shadow = change.shadow
        if shadow is None:
            return self._deny("the challenger has not been evaluated in shadow on the window after its fit window")
        if shadow.error:
            return self._deny(f"the shadow evaluation failed: {shadow.error}")
        chall, champ = shadow.scores["challenger"], shadow.scores["champion"]
        text = (f"shadow score {chall:.4g} (challenger) vs {champ:.4g} (champion) on {shadow.window['start']} .. "
                f"{shadow.window['end']}, margin {self.margin:g}")
        if self.rule.promotes(chall, champ):
            return self._allow(f"the challenger predicts better: {text}")
        return self._deny(f"the challenger does not predict better: {text}")


@dataclass(frozen=True)
class CorroborationPolicy(Policy):
    """A parameter change needs evidence from at least ``min_channels`` independent sensors: the residuals of
    that many channels must improve in shadow.

    Parameters
    ----------
    min_channels : int
        Independent sensors whose residuals must improve (default 2).
    channel_margin : float
        Relative RMSE improvement that counts a channel as improved, in [0, 1).
    sensors : dict
        channel → sensor name, for channels derived from one sensor (they count once); a channel not named
        is its own sensor.
    parameters : list of str, optional
        The parameters this policy guards (default: all).
    """

    min_channels: int = 2
    channel_margin: float = 0.0
    sensors: dict = field(default_factory=dict)
    parameters: list | None = None
    kind = "corroboration"

    def __post_init__(self):
        if isinstance(self.min_channels, bool) or not isinstance(self.min_channels, int) or self.min_channels < 1:
            raise ConfigurationError(f"corroboration policy min_channels = {self.min_channels!r} must be an integer "
                                     f">= 1 (2: dual-sensor corroboration)")
        if not 0 <= self.channel_margin < 1:
            raise ConfigurationError(f"corroboration policy channel_margin = {self.channel_margin!r} must lie in "
                                     f"[0, 1) (a relative RMSE improvement)")

    def check(self, change: Change) -> Verdict:
        concerned = _concerned(change.changes, self.parameters)
        if not concerned:
            return self._allow("no guarded parameter changes")
        improved = (change.shadow.improved(self.channel_margin) if change.shadow is not None else []) + \
            list(change.evidence)
        independent = sorted({self.sensors.get(c, c) for c in improved})
        if len(independent) >= self.min_channels:
            return self._allow(f"the change of {concerned} is corroborated by {len(independent)} independent "
                               f"sensors ({', '.join(independent)})")
        channels = list(change.shadow.channels) if change.shadow is not None else []
        return self._deny(f"the change of {concerned} needs {self.min_channels} independent sensors whose residuals "
                          f"improve in shadow, got {len(independent)} ({', '.join(independent) or 'none'}) of the "
                          f"measured channels {channels}")


@dataclass(frozen=True)
class MaxChangePolicy(Policy):
    """At most ``max_percent_per_day`` % change of a parameter within a day.

    The new value is compared with the parameter's value in the champion that was in effect one day (of data
    time) before the decision, or the oldest known champion when the history is younger than a day.

    Parameters
    ----------
    max_percent_per_day : float
        Largest relative change [%] within 24 h.
    parameters : list of str, optional
        The parameters this policy guards (default: all).
    """

    max_percent_per_day: float = 10.0
    parameters: list | None = None
    kind = "max_change"

    def __post_init__(self):
        if not (isinstance(self.max_percent_per_day, (int, float)) and self.max_percent_per_day >= 0):
            raise ConfigurationError(f"max_change policy max_percent_per_day = {self.max_percent_per_day!r} must be "
                                     f"a number >= 0 [%]")

    def check(self, change: Change) -> Verdict:
        concerned = _concerned(change.changes, self.parameters)
        if not concerned:
            return self._allow("no guarded parameter changes")
        reference = _params_at(change.history, change.time - pd.Timedelta(days=1)) or change.champion.params()
        too_big = []
        for name in concerned:
            old, new = reference.get(name, change.changes[name]["old"]), change.changes[name]["new"]
            percent = 100.0 * abs(new - old) / abs(old) if old != 0 else (0.0 if new == 0 else math.inf)
            if not percent <= self.max_percent_per_day:
                too_big.append(f"{name} {old:.6g} -> {new:.6g} ({percent:.3g} %)")
        if too_big:
            return self._deny(f"change above {self.max_percent_per_day:g} % per day: {'; '.join(too_big)} against "
                              f"the champion of {change.time - pd.Timedelta(days=1)} (or the oldest known)")
        return self._allow(f"every change of {concerned} is within {self.max_percent_per_day:g} % per day")


@dataclass(frozen=True)
class ApprovalPolicy(Policy):
    """A change of the listed parameters needs a person's approval.

    Parameters
    ----------
    parameters : list of str
        The parameters whose change needs approval.
    approvers : list of str
        Names (configured approvers) any one of whom may approve; empty: any configured approver.
    """

    parameters: list = field(default_factory=list)
    approvers: list = field(default_factory=list)
    kind = "approval"

    def __post_init__(self):
        if not self.parameters or isinstance(self.parameters, str):
            raise ConfigurationError(f"approval policy parameters = {self.parameters!r} must be a non-empty list of "
                                     f"parameter names")

    def check(self, change: Change) -> Verdict:
        concerned = _concerned(change.changes, list(self.parameters))
        if not concerned:
            return self._allow("no parameter that needs approval changes")
        who = ", ".join(self.approvers) if self.approvers else "any configured approver"
        return Verdict(NEEDS_APPROVAL, self.kind, f"the change of {concerned} needs the approval of {who}",
                       tuple(self.approvers))


POLICIES = {cls.kind: cls for cls in (ImprovementPolicy, CorroborationPolicy, MaxChangePolicy, ApprovalPolicy)}


def make_policy(spec) -> Policy:
    """A policy from a plain dict ``{"type": <kind>, **settings}`` (a :class:`Policy` is returned as is).

    Kinds: ``improvement``, ``corroboration``, ``max_change``, ``approval`` (see :data:`POLICIES`).
    """
    if isinstance(spec, Policy):
        return spec
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"a policy must be a dict with a 'type' key, got {type(spec).__name__} {spec!r}")
    settings = _plain_config(spec)
    kind = settings.pop("type", None)
    if kind not in POLICIES:
        raise ConfigurationError(f"policy type {kind!r} is unknown; use one of {sorted(POLICIES)}")
    cls = POLICIES[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise ConfigurationError(f"policy {kind!r} has no setting {unknown}; its settings are {sorted(names)}")
    return cls(**settings)


def _plain_config(value):
    """Mappings and sequences (also OmegaConf containers) as dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain_config(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain_config(v) for v in value]
    return value


def _params_at(history, when: pd.Timestamp) -> dict | None:
    """Parameters of the champion in effect at *when* (the latest with ``since <= when``), else of the oldest."""
    if not history:
        return None
    chosen = history[0][1]
    for since, params in history:
        if since <= when:
            chosen = params
    return chosen


def _timestamp(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _record_window(record: CalibrationRecord) -> dict:
    return {"start": record.window.get("start"), "end": record.window.get("end"),
            "content_hash": record.window.get("content_hash", "")}


def _record_text(record: CalibrationRecord) -> str:
    """The record as its JSON text (:meth:`CalibrationRecord.to_json`; NaN of an unidentifiable covariance kept)."""
    return record.to_json(indent=None)


def _record_from(data) -> CalibrationRecord:
    """A record from its JSON text or :meth:`CalibrationRecord.to_dict` (its ``record_id`` checked)."""
    if isinstance(data, CalibrationRecord):
        return data
    if isinstance(data, str):
        data = json.loads(data)
    record = CalibrationRecord.from_json(json.dumps(data))
    if "record_id" in data and data["record_id"] != record.record_id:
        raise ConfigurationError(f"the stored record {data['record_id']} reads back as {record.record_id}: the "
                                 f"checkpoint was altered; restore from an intact checkpoint")
    return record


# ----------------------------------------------------------------- governor
def _locked(method):
    """Run *method* under the governor's lock (the service calls from its MQTT and HTTP threads)."""

    @wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return run


class Governor:
    """Holds the champion, the challenger in shadow, the history of champions and pending approvals, and
    decides under policies (see the module docstring).

    Parameters
    ----------
    champion : CalibrationRecord, optional
        The champion to start from (else the first proposed record becomes champion).
    policies : sequence of Policy or dict
        The rules (dicts go through :func:`make_policy`); an :class:`ImprovementPolicy` with ``margin = 0`` is
        added when none is given: promotion always needs a better prediction.
    approvers : dict, optional
        name → secret: a :class:`sim.telemetry.Secret`, or the token text itself (Python API only).
    audit : AuditLog, optional
        Where every decision is written (None: decisions are kept in memory only).
    tracker : MlflowTracker or NullTracker, optional
        Decisions also go to MLflow: a run ``governance`` (tag ``twinbench.role = governance``) receives every
        audit entry (:func:`scenarios.live.audit.mlflow_mirror`), unless the audit log has a mirror already.
    registry : TwinRegistry, optional
        Champions and challengers are also registered as versions; promotions and rollbacks move its aliases.
    max_decisions : int
        How many recent decisions :attr:`decisions` keeps.
    change_tolerance : float
        Relative difference below which a parameter counts as unchanged.
    run_id : str, optional
        The MLflow run to continue (a restored governor).
    """

    def __init__(self, *, champion: CalibrationRecord | None = None, policies=(), approvers: Mapping | None = None,
                 audit: AuditLog | None = None, tracker=None, registry=None, max_decisions: int = 200,
                 change_tolerance: float = 1e-9, run_id: str | None = None):
        self.policies = tuple(make_policy(p) for p in policies)
        if not any(isinstance(p, ImprovementPolicy) for p in self.policies):
            self.policies = (ImprovementPolicy(margin=0.0),) + self.policies
        self.improvement = next(p for p in self.policies if isinstance(p, ImprovementPolicy))
        self._approvers = dict(approvers or {})
        for name, secret in self._approvers.items():
            if not isinstance(secret, (Secret, str)) or secret == "":
                raise ConfigurationError(f"approver {name!r}: the secret must be a sim.telemetry.Secret or a non-empty "
                                         f"string, got {type(secret).__name__}")
            self._secret(name)  # a missing env var or file fails now, not at the first command
        for policy in self.policies:
            if isinstance(policy, ApprovalPolicy) and not self._approvers:
                raise ConfigurationError(f"an approval policy for {list(policy.parameters)} needs approvers, but none "
                                         f"is configured (nobody could approve); add approvers: {{<name>: "
                                         f"{{token_env: <VAR>}}}}")
            unknown = [a for a in getattr(policy, "approvers", []) if a not in self._approvers]
            if unknown:
                raise ConfigurationError(f"approval policy names approvers {unknown} that are not configured "
                                         f"(configured: {sorted(self._approvers)}); add them under approvers")
        if not (isinstance(max_decisions, int) and max_decisions >= 1):
            raise ConfigurationError(f"max_decisions = {max_decisions!r} must be an integer >= 1")
        self.audit = audit
        self.tracker = tracker
        self.registry = registry
        self.change_tolerance = float(change_tolerance)
        self.run_id = run_id
        self._mirror = None
        self._history: list[dict] = []
        self._challenger: dict | None = None
        self._pending: dict[str, dict] = {}
        self._decisions: deque = deque(maxlen=max_decisions)
        self._counter = 0
        self._versions: dict[str, int] = {}
        self._lock = threading.RLock()
        if champion is not None:
            self._history.append({"record": champion, "since": _timestamp(champion.window["end"]).isoformat(),
                                  "decision": None})

    # ------------------------------------------------------------ building
    @classmethod
    def from_config(cls, cfg: Mapping | None, *, audit: AuditLog | str | os.PathLike | None = None, tracker=None,
                    registry=None, champion: CalibrationRecord | None = None) -> "Governor":
        """A governor from a plain config dict (a Hydra node).

        Keys (all optional): ``policies`` (a list of policy dicts, or a dict name → policy dict whose ``type``
        defaults to the name), ``approvers`` (name → ``{"token_env": VAR}`` or ``{"token_file": path}``; a literal
        token is refused), ``audit`` (path of the audit log, used when *audit* is not given), ``champion``
        (path of a record JSON, used when *champion* is not given), ``max_decisions``, ``change_tolerance``.
        """
        cfg = _plain_config(cfg or {})
        known = {"policies", "approvers", "audit", "champion", "max_decisions", "change_tolerance"}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigurationError(f"governance config has unknown keys {unknown}; the keys are {sorted(known)}")
        policies = cfg.get("policies") or []
        if isinstance(policies, Mapping):
            policies = [{"type": name, **(spec or {})} for name, spec in policies.items()]
        approvers = {}
        for name, spec in (cfg.get("approvers") or {}).items():
            if not isinstance(spec, Mapping):
                raise ConfigurationError(f"governance.approvers.{name} must be a dict with token_env or token_file, "
                                         f"got {type(spec).__name__}")
            secret = secret_from(spec, "token", where=f"approvers.{name}")
            if secret is None:
                raise ConfigurationError(f"governance.approvers.{name} names no secret; set token_env: "
                                         f"TWINBENCH_APPROVER_{name.upper()} or token_file: /run/secrets/{name}")
            approvers[name] = secret
        if audit is None and cfg.get("audit"):
            audit = cfg["audit"]
        if audit is not None and not isinstance(audit, AuditLog):
            audit = AuditLog(audit)
        if champion is None and cfg.get("champion"):
            champion = CalibrationRecord.from_json(str(cfg["champion"]))
        return cls(champion=champion, policies=policies, approvers=approvers, audit=audit, tracker=tracker,
                   registry=registry, max_decisions=int(cfg.get("max_decisions", 200)),
                   change_tolerance=float(cfg.get("change_tolerance", 1e-9)))

    # ------------------------------------------------------------ state
    @property
    def champion(self) -> CalibrationRecord | None:
        """The current champion record (None before the first)."""
        return self._history[-1]["record"] if self._history else None

    @property
    def challenger(self) -> CalibrationRecord | None:
        """The record in shadow (None when there is none)."""
        return self._challenger["record"] if self._challenger else None

    @property
    def history(self) -> list[dict]:
        """Champions so far, oldest first: ``{"record_id", "since", "decision"}``."""
        return [{"record_id": h["record"].record_id, "since": h["since"], "decision": h["decision"]}
                for h in self._history]

    @property
    def pending(self) -> dict:
        """Decisions waiting for approval: id → ``{"record_id", "needs", "approved_by", ...}`` (JSON)."""
        return {k: {**{n: v for n, v in p.items() if n != "record"}, "record_id": p["record"].record_id}
                for k, p in self._pending.items()}

    @property
    def decisions(self) -> list[dict]:
        """The recent decisions, oldest first (JSON-able)."""
        return list(self._decisions)

    # ------------------------------------------------------------ proposals
    @_locked
    def propose(self, record: CalibrationRecord, *, reason: str, diagnosis=None, actor: str = "twin") -> dict:
        """Put *record* (a drift-triggered refit) in shadow as the challenger, or make it the champion when
        there is none yet.  A challenger or pending approval that was not decided is superseded.

        *diagnosis*: a :class:`calibration.DiagnosisResult` or a dict explaining the refit (audited).
        """
        if not isinstance(record, CalibrationRecord):
            raise ConfigurationError(f"propose() takes a calibration.CalibrationRecord, got {type(record).__name__}")
        if record.model not in MODELS:
            raise ConfigurationError(f"record.model = {record.model!r} is not in sim.physics.MODELS "
                                     f"{sorted(MODELS)}; the governor simulates library models only")
        if not isinstance(reason, str) or not reason:
            raise ConfigurationError("propose() needs a reason (why the refit was made), e.g. the drift alarm")
        try:
            _timestamp(record.window["end"])
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError(f"record {record.record_id} has no usable window end ({record.window.get('end')!r}"
                                     f"); the governor needs the fit window to judge on the window after it") from None
        why_extra = ""
        details = {}
        if diagnosis is not None:
            details["diagnosis"] = _diagnosis_summary(diagnosis)
            best = details["diagnosis"].get("best")
            if best:
                why_extra = f"; diagnosis: {best} ({details['diagnosis'].get('strength', '')} evidence)"
        champion = self.champion
        window = _record_window(record)
        if champion is None:
            self._history.append({"record": record, "since": _timestamp(record.window["end"]).isoformat(),
                                  "decision": None})
            decision = self._decide("champion_initial", "promoted", actor=actor, window=window,
                                    record_ids=[record.record_id],
                                    what=f"record {record.record_id} of {record.model} became the first champion",
                                    why=f"no champion yet; {reason}{why_extra}",
                                    details={**details, "parameters": record.params()})
            self._history[-1]["decision"] = decision["id"]
            self._register(record, decision, promote=True)
            return decision
        if record.model != champion.model:
            raise ConfigurationError(f"record {record.record_id} is of model {record.model!r}, the champion of "
                                     f"{champion.model!r}; govern each model with its own Governor")
        if record.record_id == champion.record_id:
            return self._decide("proposal_ignored", "ignored", actor=actor, window=window,
                                record_ids=[record.record_id], what=f"record {record.record_id} is the champion",
                                why=f"the proposed record is the current champion; {reason}", details=details)
        self._supersede(f"record {record.record_id} was proposed after it")
        changes = self._changes(champion, record)
        decision = self._decide("proposed", "shadow", actor=actor, window=window,
                                record_ids=[record.record_id, champion.record_id],
                                what=f"record {record.record_id} is the challenger of champion {champion.record_id} "
                                     f"in shadow", why=f"{reason}{why_extra}",
                                details={**details, "changes": changes})
        self._challenger = {"record": record, "decision": decision["id"], "reason": reason,
                            "diagnosis": details.get("diagnosis")}
        self._register(record, decision)
        return decision

    @_locked
    def evaluate_shadow(self, data, *, x0: dict | None = None, evidence=()) -> dict:
        """Judge the challenger against the champion on *data*, a :class:`calibration.CalibrationData` window
        after the challenger's fit window, and decide: ``promoted``, ``rejected`` or ``pending_approval``.

        Both twins simulate *data* (:func:`calibration.simulate_window`, through the registry's
        :class:`~scenarios.tracking.registry.CalibratedTwin`) from the same state: *x0*, else the measured
        states at the window start, else the challenger's final state; per-channel RMSE after the improvement
        policy's burn-in.  *evidence*: channels outside *data* (e.g. a sensor the model does not predict) whose
        residuals the caller found improved on the same window; they count for :class:`CorroborationPolicy`.
        """
        if not isinstance(data, CalibrationData):
            raise ConfigurationError(f"evaluate_shadow() takes a calibration.CalibrationData window, got "
                                     f"{type(data).__name__}; cut it with CalibrationData.from_frame(frame, spec, "
                                     f"outputs=..., start=..., end=...)")
        if self._challenger is None:
            raise GovernanceError("there is no challenger in shadow to evaluate; propose(record) a refit first")
        record, champion = self._challenger["record"], self.champion
        fit_end = _timestamp(record.window["end"])
        if not _timestamp(data.start) > fit_end:
            raise ConfigurationError(f"the shadow window starts at {data.start}, inside the challenger's fit window "
                                     f"ending {fit_end}; judge the challenger on the next window (data after "
                                     f"{fit_end}), not on the data it was fitted to")
        shadow = self._shadow(champion, record, data, x0)
        time = _timestamp(data.end)
        change = Change(champion=champion, challenger=record, changes=self._changes(champion, record), time=time,
                        history=tuple((_timestamp(h["since"]), h["record"].params()) for h in self._history),
                        shadow=shadow, evidence=tuple(str(c) for c in evidence))
        verdicts = [p.check(change) for p in self.policies]
        window = shadow.window
        ids = [record.record_id, champion.record_id]
        metrics = {"shadow.champion.score": shadow.scores["champion"],
                   "shadow.challenger.score": shadow.scores["challenger"]}
        metrics.update({f"shadow.{role}.{c}.rmse": v for role, per in shadow.rmse.items() for c, v in per.items()})
        details = {"shadow": shadow.to_dict(), "verdicts": [v.to_dict() for v in verdicts],
                   "evidence": list(change.evidence),
                   "changes": change.changes, "proposal": self._challenger["decision"], "metrics": metrics}
        self._challenger = None
        denied = [v for v in verdicts if v.outcome == DENY]
        asks = [v for v in verdicts if v.outcome == NEEDS_APPROVAL]
        if denied:
            return self._decide("rejected", "rejected", window=window, record_ids=ids, details=details,
                                what=f"challenger {record.record_id} rejected; champion {champion.record_id} stays",
                                why="; ".join(f"{v.policy}: {v.reason}" for v in denied))
        if asks:
            decision = self._decide("approval_requested", "pending_approval", window=window, record_ids=ids,
                                    details=details,
                                    what=f"challenger {record.record_id} predicts better and waits for approval",
                                    why="; ".join(f"{v.policy}: {v.reason}" for v in asks))
            self._pending[decision["id"]] = {"record": record, "champion_id": champion.record_id,
                                             "needs": [list(v.approvers) for v in asks], "approved_by": [],
                                             "time": time.isoformat(), "window": window}
            return decision
        return self._promote(record, time, window=window, actor="twin", details=details,
                             why="; ".join(f"{v.policy}: {v.reason}" for v in verdicts))

    # ------------------------------------------------------------ people
    @_locked
    def approve(self, decision_id: str, approver: str, token: str, *, reason: str = "") -> dict:
        """Approve the pending decision *decision_id* as *approver* (authenticated by *token*).  Returns the
        decision: ``promoted`` once every approval the policies asked for is given, ``approval_recorded``
        while others are missing, or ``refused`` (audited, with the reason) for a wrong token, an approver
        the policy does not name, an unknown or stale decision."""
        refused = self._check_person("approve", decision_id, approver, token)
        if refused is not None:
            return refused
        pending = self._pending[decision_id]
        groups = [g for g in pending["needs"] if not g or approver in g]
        if not groups:
            allowed = sorted({a for g in pending["needs"] for a in g})
            return self._refuse("approve", f"approver {approver!r} may not approve decision {decision_id} (allowed: "
                                           f"{allowed})", approver=approver, command_id=decision_id,
                                authenticated=True)
        if approver not in pending["approved_by"]:
            pending["approved_by"].append(approver)
        missing = [g for g in pending["needs"] if g and not set(g) & set(pending["approved_by"])]
        record = pending["record"]
        ids = [record.record_id, pending["champion_id"]]
        note = f" ({reason})" if reason else ""
        if missing:
            return self._decide("approval_recorded", "pending_approval", actor=approver, window=pending["window"],
                                record_ids=ids, what=f"{approver} approved decision {decision_id}",
                                why=f"approved{note}; still missing an approval from each of {missing}",
                                details={"refers_to": decision_id})
        del self._pending[decision_id]
        return self._promote(record, _timestamp(pending["time"]), window=pending["window"], actor=approver,
                             why=f"approved by {', '.join(pending['approved_by'])}{note} after the shadow "
                                 f"evaluation of decision {decision_id}",
                             details={"refers_to": decision_id, "approved_by": list(pending["approved_by"])})

    @_locked
    def reject(self, decision_id: str, approver: str, token: str, *, reason: str = "") -> dict:
        """Reject the pending decision *decision_id* as *approver*; the champion stays."""
        refused = self._check_person("reject", decision_id, approver, token)
        if refused is not None:
            return refused
        pending = self._pending.pop(decision_id)
        record = pending["record"]
        return self._decide("rejected", "rejected", actor=approver, window=pending["window"],
                            record_ids=[record.record_id, pending["champion_id"]],
                            what=f"challenger {record.record_id} rejected by {approver}; champion "
                                 f"{self.champion.record_id} stays",
                            why=reason or f"{approver} rejected decision {decision_id}",
                            details={"refers_to": decision_id})

    @_locked
    def rollback(self, reason: str, *, actor: str = "twin") -> dict:
        """Make the previous champion the champion again (audited); raises :class:`GovernanceError` when
        there is none."""
        if not isinstance(reason, str) or not reason:
            raise ConfigurationError("rollback() needs a reason")
        if len(self._history) < 2:
            current = self.champion.record_id if self.champion else None
            raise GovernanceError(f"there is no previous champion to roll back to (champion: {current}, history of "
                                  f"{len(self._history)}); nothing was changed")
        gone = self._history.pop()
        back = self.champion
        for pending in self._pending.values():
            pending.setdefault("stale", True)
        decision = self._decide("rolled_back", "rolled_back", actor=actor, window=_record_window(back),
                                record_ids=[back.record_id, gone["record"].record_id],
                                what=f"champion {gone['record'].record_id} rolled back to {back.record_id}",
                                why=reason, details={"removed_since": gone["since"],
                                                     "restored_since": self._history[-1]["since"]})
        if self.registry is not None:
            self._registry_call(decision, "rollback", self.registry.rollback)
        return decision

    @_locked
    def calibration_failed(self, error, window: Mapping | None = None, *, record_ids=(), actor: str = "twin") -> dict:
        """Record that a calibration failed: the champion stays; the audit says why (*error*: the exception or
        its text; *window*: ``{"start", "end"}`` of the data it tried)."""
        text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        champion = self.champion
        ids = list(record_ids) + ([champion.record_id] if champion else [])
        return self._decide("calibration_failed", "champion_kept", actor=actor, window=dict(window or {}),
                            record_ids=ids, why=text,
                            what=f"calibration failed; champion {champion.record_id if champion else None} stays",
                            details={"error": text})

    @_locked
    def handle_command(self, message) -> dict:
        """Carry out an operator message (a dict, or its JSON text/bytes, from MQTT or HTTP).

        Verbs: ``{"verb": "approve", "id", "approver", "token", ["reason"]}``, ``{"verb": "reject", "id",
        "approver", "token", ["reason"]}``, ``{"verb": "rollback", "approver", "token", "reason"}``.  A
        malformed message (not JSON, not an object, an unknown verb, a missing, extra or non-text field) or an
        unauthorised one is refused: the returned decision has ``outcome == "refused"`` and the reason, and
        the refusal is audited (without the token).
        """
        if isinstance(message, (bytes, bytearray)):
            try:
                message = message.decode("utf-8")
            except UnicodeDecodeError:
                return self._refuse("?", "malformed command: not UTF-8 text")
        if isinstance(message, str):
            try:
                message = json.loads(message)
            except ValueError as err:
                return self._refuse("?", f"malformed command: not JSON ({err.msg} at position {err.pos})")
        if not isinstance(message, Mapping):
            return self._refuse("?", f"malformed command: a JSON object is needed, got {type(message).__name__}")
        verb = message.get("verb")
        if verb not in VERBS:
            return self._refuse(str(verb)[:40] if isinstance(verb, str) else "?",
                                f"malformed command: verb {verb!r} is not one of {sorted(VERBS)}",
                                keys=sorted(map(str, message)))
        required, optional = VERBS[verb]
        missing = sorted(required - set(message))
        extra = sorted(set(map(str, message)) - required - optional)
        wrong = sorted(k for k in required | optional if k in message
                       and not (isinstance(message[k], str) and message[k]))
        approver = message.get("approver") if isinstance(message.get("approver"), str) else None
        if missing or extra or wrong:
            parts = ([f"missing {missing}"] if missing else []) + ([f"unknown fields {extra}"] if extra else []) + \
                    ([f"not non-empty text: {wrong}"] if wrong else [])
            return self._refuse(verb, f"malformed {verb} command: {'; '.join(parts)}; send "
                                      f"{sorted(required)} (optional {sorted(optional)})",
                                approver=approver, command_id=message.get("id"), keys=sorted(map(str, message)))
        if verb == "approve":
            return self.approve(message["id"], message["approver"], message["token"],
                                reason=message.get("reason", ""))
        if verb == "reject":
            return self.reject(message["id"], message["approver"], message["token"],
                               reason=message.get("reason", ""))
        if not self._authorised(message["approver"], message["token"]):
            return self._refuse(verb, "not authorised: the approver is unknown or the token does not match",
                                approver=message["approver"])
        try:
            return self.rollback(message["reason"], actor=message["approver"])
        except GovernanceError as err:
            return self._refuse(verb, str(err), approver=message["approver"], authenticated=True)

    # ------------------------------------------------------------ checkpoint
    @_locked
    def state_dict(self) -> dict:
        """The governor's state as JSON-able data (records via :meth:`CalibrationRecord.to_dict`); no secret."""
        return jsonable({
            "format": STATE_FORMAT, "counter": self._counter, "run_id": self.run_id,
            "history": [{"record": _record_text(h["record"]), "since": h["since"], "decision": h["decision"]}
                        for h in self._history],
            "challenger": None if self._challenger is None else
            {**self._challenger, "record": _record_text(self._challenger["record"])},
            "pending": {k: {**p, "record": _record_text(p["record"])} for k, p in self._pending.items()},
            "decisions": list(self._decisions), "versions": dict(self._versions),
            "policies": [p.to_dict() for p in self.policies]})

    @_locked
    def load_state(self, state: Mapping) -> "Governor":
        """Replace this governor's champion history, challenger, pending approvals and decisions by *state*
        (from :meth:`state_dict`); returns self."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise ConfigurationError(f"not a governor state (format {found!r}, expected {STATE_FORMAT!r}); pass "
                                     f"what Governor.state_dict() returned")
        self._counter = int(state["counter"])
        self.run_id = self.run_id or state.get("run_id")
        self._history = [{"record": _record_from(h["record"]), "since": h["since"], "decision": h["decision"]}
                         for h in state["history"]]
        ch = state.get("challenger")
        self._challenger = None if ch is None else {**ch, "record": _record_from(ch["record"])}
        self._pending = {k: {**p, "record": _record_from(p["record"])} for k, p in state["pending"].items()}
        self._decisions.clear()
        self._decisions.extend(state.get("decisions", []))
        self._versions = {k: int(v) for k, v in state.get("versions", {}).items()}
        return self

    @classmethod
    def from_state(cls, state: Mapping, cfg: Mapping | None = None, *, audit=None, tracker=None,
                   registry=None) -> "Governor":
        """A governor built from *cfg* (:meth:`from_config`: policies, approvers) with the state of
        :meth:`state_dict`; it makes the same decisions as the one that was saved."""
        return cls.from_config(cfg, audit=audit, tracker=tracker, registry=registry).load_state(state)

    def save(self, path) -> Path:
        """Write :meth:`state_dict` to *path* atomically (temporary file, fsync, rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(self.state_dict(), sort_keys=True, indent=1) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    @staticmethod
    def read_state(path) -> dict:
        """The state a :meth:`save` wrote."""
        return json.loads(Path(path).read_text(encoding="utf-8"))

    # ------------------------------------------------------------ internals
    def _changes(self, old: CalibrationRecord, new: CalibrationRecord) -> dict:
        a, b = old.params(), new.params()
        out = {}
        for name in sorted(set(a) | set(b)):
            x, y = a.get(name, math.nan), b.get(name, math.nan)
            scale = max(abs(x), abs(y), 1e-300)
            if not abs(y - x) <= self.change_tolerance * scale:
                out[name] = {"old": x, "new": y, "relative": (y - x) / abs(x) if x else math.inf}
        return out

    def _shadow(self, champion: CalibrationRecord, challenger: CalibrationRecord, data, x0) -> ShadowScores:
        from scenarios.tracking.registry import CalibratedTwin

        rule = self.improvement.rule
        window = {"start": _timestamp(data.start).isoformat(), "end": _timestamp(data.end).isoformat(),
                  "content_hash": data.content_hash}
        try:
            twins = {role: CalibratedTwin(rec, max_step=float(challenger.max_step or 1.0))
                     for role, rec in (("champion", champion), ("challenger", challenger))}
            spec = twins["challenger"].model.spec
            channels = tuple(c for c in data.output_names if c in spec.names("outputs"))
            if not channels:
                raise ConfigurationError(f"the window measures none of the outputs {spec.names('outputs')} of "
                                         f"{spec.name}; include at least one (got {list(data.output_names)})")
            start = {n: float(data.outputs[0, j]) for j, n in enumerate(data.output_names)
                     if n in spec.names("states") and np.isfinite(data.outputs[0, j])}
            common = twins["challenger"].initial_state({**start, **(x0 or {})})
            rmse = {role: shadow_rmse(twin, common, data, channels, rule.burn_in_s) for role, twin in twins.items()}
            sigma = {c: rule.sigma(c, challenger, champion) for c in channels}
            scores = {role: rule.score(rmse[role], sigma) for role in rmse}
            return ShadowScores({**window, "x0": common}, channels, rmse, sigma, scores)
        except (ConfigurationError, ModelError) as err:
            return ShadowScores(window, tuple(data.output_names), {"champion": {}, "challenger": {}}, {},
                                {"champion": math.nan, "challenger": math.nan}, f"{type(err).__name__}: {err}")

    def _promote(self, record: CalibrationRecord, time: pd.Timestamp, *, window, actor, details, why) -> dict:
        old = self.champion
        self._history.append({"record": record, "since": time.isoformat(), "decision": None})
        decision = self._decide("promoted", "promoted", actor=actor, window=window,
                                record_ids=[record.record_id, old.record_id],
                                what=f"challenger {record.record_id} became champion (was {old.record_id})",
                                why=why, details=details)
        self._history[-1]["decision"] = decision["id"]
        if self.registry is not None and record.record_id in self._versions:
            version = self._versions[record.record_id]
            self._registry_call(decision, "promote", lambda: self.registry.promote(version))
        return decision

    def _supersede(self, why: str) -> None:
        olds = ([self._challenger] if self._challenger else []) + \
               [{"record": p["record"], "decision": k} for k, p in self._pending.items()]
        for old in olds:
            rec = old["record"]
            self._decide("superseded", "superseded", window=_record_window(rec), record_ids=[rec.record_id],
                         what=f"challenger {rec.record_id} (decision {old['decision']}) dropped undecided",
                         why=why, details={"refers_to": old["decision"]})
        self._challenger = None
        self._pending.clear()

    def _secret(self, name: str) -> str:
        secret = self._approvers[name]
        return secret if isinstance(secret, str) else secret.reveal(f"approver {name}")

    def _authorised(self, approver, token) -> bool:
        if not isinstance(approver, str) or not isinstance(token, str):
            return False
        try:
            expected = self._secret(approver) if approver in self._approvers else None
        except ConfigurationError as err:
            log.warning("approver %s cannot be authenticated: %s", approver, err)
            expected = None
        # compare in constant time even for an unknown approver (no timing hint of who exists)
        ok = hmac.compare_digest(token.encode("utf-8"), (expected or "\0" * max(len(token), 1)).encode("utf-8"))
        return ok and expected is not None

    def _check_person(self, verb: str, decision_id, approver, token) -> dict | None:
        """A refusal (audited) if *approver*/*token* are not authorised or *decision_id* is not pending."""
        if not self._authorised(approver, token):
            return self._refuse(verb, "not authorised: the approver is unknown or the token does not match",
                                approver=approver, command_id=decision_id)
        if decision_id not in self._pending:
            return self._refuse(verb, f"decision {decision_id!r} is not waiting for approval (pending: "
                                      f"{sorted(self._pending)})", approver=approver, command_id=decision_id,
                                authenticated=True)
        pending = self._pending[decision_id]
        if pending.get("stale") or self.champion is None or self.champion.record_id != pending["champion_id"]:
            del self._pending[decision_id]
            return self._refuse(verb, f"decision {decision_id} is stale: it was judged against champion "
                                      f"{pending['champion_id']}, the champion is now "
                                      f"{self.champion.record_id if self.champion else None}; it was dropped "
                                      f"- propose the record again", approver=approver, command_id=decision_id,
                                authenticated=True)
        return None

    def _refuse(self, verb: str, reason: str, *, approver=None, command_id=None, keys=None,
                authenticated: bool = False) -> dict:
        """Refuse an operator command (audited).  The claimed *approver* is the actor only if *authenticated*."""
        details = {"verb": verb, "reason": reason}
        if isinstance(approver, str) and approver and not authenticated:
            details["claimed_approver"] = approver[:80]
            approver = "unauthenticated"
        if command_id is not None:
            details["id"] = str(command_id)[:80]
        if keys is not None:
            details["fields"] = keys
        actor = approver if isinstance(approver, str) and approver else "operator"
        return self._decide("command_refused", "refused", actor=actor[:80], window={}, record_ids=[],
                            what=f"operator command {verb!r} refused", why=reason, details=details)

    def _redact(self, value):
        secrets = []
        for name in self._approvers:
            try:
                secrets.append(self._secret(name))
            except ConfigurationError:
                pass
        secrets = [s for s in secrets if s]
        if not secrets:
            return value

        def walk(v):
            if isinstance(v, dict):
                return {walk(k): walk(x) for k, x in v.items()}
            if isinstance(v, list):
                return [walk(x) for x in v]
            if isinstance(v, str) and any(s in v for s in secrets):
                return REDACTED
            return v

        return walk(value)

    def _decide(self, action: str, outcome: str, *, what: str, why: str, window, record_ids, details,
                actor: str = "twin") -> dict:
        self._counter += 1
        decision_id = f"d{self._counter:06d}"
        champion = self.champion
        decision = self._redact(jsonable({
            "id": decision_id, "action": action, "outcome": outcome, "actor": actor, "what": what, "why": why,
            "window": {"start": None, "end": None, **dict(window or {})}, "record_ids": list(record_ids),
            "champion": champion.record_id if champion else None, "details": details}))
        self._ensure_mirror()
        if self.audit is not None:
            entry = self.audit.append(action=action, what=decision["what"], why=decision["why"],
                                      actor=decision["actor"], window=decision["window"],
                                      record_ids=decision["record_ids"],
                                      details={**decision["details"], "decision": decision_id, "outcome": outcome,
                                               "champion": decision["champion"]})
            decision["audit_seq"], decision["time"] = entry["seq"], entry["time"]
        else:
            decision["time"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
            if self._mirror is not None:  # no audit log to mirror: the decision itself goes to MLflow
                self._safe_mirror({**decision, "seq": self._counter, "hash": ""})
        self._decisions.append(decision)
        return decision

    def _ensure_mirror(self) -> None:
        """(With a tracker.)  Start the governance run and attach its mirror to the audit log if that has none."""
        if self.tracker is None or self._mirror is not None:
            return
        try:
            if self.run_id is None:
                self.run_id = self.tracker.start_run("governance", tags={ROLE: "governance"})
            self._mirror = mlflow_mirror(self.tracker, self.run_id, prefix="governance")
        except Exception as err:  # noqa: BLE001 - a tracking outage must not stop governance
            log.warning("governance decisions are not logged to MLflow: %s: %s", type(err).__name__, err)
            return
        if self.audit is not None and self.audit.mirror is None:
            self.audit.mirror = self._mirror

    def _safe_mirror(self, entry: dict) -> None:
        try:
            self._mirror(entry)
        except Exception as err:  # noqa: BLE001 - a tracking outage must not stop governance
            log.warning("governance decision %s not logged to MLflow: %s: %s", entry.get("seq"),
                        type(err).__name__, err)

    def _register(self, record: CalibrationRecord, decision: dict, *, promote: bool = False) -> None:
        """Register *record* as a version (under the governance run); *promote*: make it the registry's
        champion unless it is already (the first version of a new registered model is)."""
        if self.registry is None:
            return
        from scenarios.tracking.registry import CHAMPION, RegistryError

        def register():
            if self.run_id is None:
                self.run_id = self.registry.tracker.start_run("governance", tags={ROLE: "governance"})
            mv = self.registry.register(self.run_id, record, max_step=float(record.max_step or 1.0))
            self._versions[record.record_id] = int(mv.version)
            decision["details"]["registry_version"] = int(mv.version)
            if promote:
                try:
                    current = int(self.registry.version(CHAMPION).version)
                except RegistryError:
                    current = None
                if current != int(mv.version):
                    self.registry.promote(int(mv.version))

        self._registry_call(decision, "register", register)

    def _registry_call(self, decision: dict, what: str, call) -> None:
        """Run a registry update; the decision stands (it is audited) even if the registry fails: the failure
        is logged and kept in the in-memory decision's ``details.registry_error``."""
        try:
            call()
        except Exception as err:  # noqa: BLE001 - the registry mirrors decisions, it does not make them
            log.warning("registry %s for decision %s failed: %s: %s", what, decision["id"], type(err).__name__, err)
            decision.setdefault("details", {})["registry_error"] = f"{what}: {type(err).__name__}: {err}"


def _diagnosis_summary(diagnosis) -> dict:
    if hasattr(diagnosis, "best") and hasattr(diagnosis, "explanation"):
        return {"best": diagnosis.best, "runner_up": diagnosis.runner_up, "criterion": diagnosis.criterion,
                "margin": diagnosis.margin, "strength": diagnosis.strength, "explanation": diagnosis.explanation,
                "observations_hash": diagnosis.observations_hash}
    if isinstance(diagnosis, Mapping):
        return dict(diagnosis)
    return {"explanation": str(diagnosis)}
