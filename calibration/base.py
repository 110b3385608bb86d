"""The estimator contract shared by every calibrator (scikit-learn style).

``__init__`` only stores keyword hyperparameters under the same names;
``fit``/``partial_fit`` validate, learn, and return ``self``; learned values end
in ``_``.  ``get_params``/``set_params`` work by introspection so that Hydra
overrides and ``log_params`` can address every setting.
"""

from __future__ import annotations

import inspect

from sim.exceptions import CalibrationError, ConfigurationError

__all__ = ["BaseCalibrator", "ConvergenceWarning", "check_is_fitted"]


class ConvergenceWarning(UserWarning):
    """An estimator stopped before it converged (evaluation budget spent); its estimates are not reliable."""


class BaseCalibrator:
    """Base class: parameter introspection and the fitted check."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind == p.KEYWORD_ONLY
                or (p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD)]

    def get_params(self) -> dict:
        """Hyperparameters as a name → value mapping."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "BaseCalibrator":
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ConfigurationError(
                    f"invalid parameter {key!r} for calibrator {type(self).__name__}; check the list of available "
                    f"parameters with calibrator.get_params().keys(): {sorted(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def check_is_fitted(calibrator, attribute: str = "params_") -> None:
    if not hasattr(calibrator, attribute):
        raise CalibrationError(
            f"this {type(calibrator).__name__} instance is not fitted yet; call 'fit' with appropriate arguments "
            f"before using this calibrator")
