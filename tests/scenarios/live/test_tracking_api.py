"""The live tracker on the filter's public API: a checkpoint written before that API resumes bit for bit, and the
tracker's answers are the filter's (no private attribute of JointUKF is read)."""

import ast
import base64
import pickle
import zlib
from pathlib import Path

import numpy as np
import pytest

from calibration import JointUKF
from scenarios.live.tracking import FleetTracker, TrackingUKF
from sim.exceptions import ConfigurationError
from sim.physics import MOTOR_THERMAL

ROOT = Path(__file__).resolve().parents[3]

#: A FleetTracker pickled by the code before the public filter API (commit a279111), after the first block below:
#: zlib + base64 of pickle.dumps(tracker) - what a checkpoint of that time holds as its tracker.
OLD_TRACKER = (
    "eNqdWHtsFMcZP5/vYRscHCBAGkKuFQ0mlAMShZIH3PlRDrj6AsZAlUI2c3tznj3v7W73gTmikFSNjUmXQsmQBrVSCamgFY2b0pDSP1qCaKOkqitU"
    "GtGkLxGIqor3Pw2qUtFvZh93ts827Vm+uZn9vt/3nG++2edD+5fMDPCPPdMQsYJ0STXisrQVx00diT2S0k3tyStljM0uNsc6fYnO/zp9ljbbdSJB"
    "ioJlg9rTeiUlB7SCiYsa1pFp6Zj2UbtOEZBhYNOg6Ro7kpdkEwDsKSKSpSxQSaoSt3ryQLdGlRRzQ3plGb1BQzoqYmAA/M+ZBOtFJAs6NiTDRIqI"
    "BaJaBhOJilkJKyYTV895BMPM0YwLIPQiuYemVrzxzicHj1/ZbdcDt4k5SSrxdLbjDzd+9Kl9p6RIpgTwlQ+vu36pV1TJcBafpSSSSpx9iH8MuyGv"
    "6t3YNJmTUolr5xqWa6+ds8NI1giChbUueiiLTZgnAy5guAdpGiwEvIW6ItoG+FgDornuWoOoKnkph8FSgLqa5x8ra0e4VQbYF9y2GL5D4D+BkoA9"
    "qcuNV6UXyRRyJ5maIdN8B5DpvtnkLt9IMoPMJLN8G8jdvvbkM77i5B5fZTLb15Tc66tnhwVDwyK1mwypGNdIyZBEI+4s1XeoOSyvZ7/9EIcUCDC1"
    "G4uqqeqCG2JqR7dCzCE1qF27JL4YvnMqAKzs6lUXKgASa3aT7QsxNwXmx2QL0i4XcyFiRSYrpuZjSIlhGYumLokxLiVO7QgPskHJ/XbtRlTOZ7KA"
    "RMCdkAnUrklTssi+vwMDQEVKM0iQEWMIqh5z9QCNcziPLNmE+Bn7HFdEsqql5AxYyb7N/ZRK7nIc1s9UKBWzKpha2yX0UitLHvJUsKd5aV25k8hS"
    "8kXQZ95Y+rg8seY82zLzKXkEFGnlipBHyWPkcSaIgCAmW1I0CzZkhUw3AKKl62wjkaV2TQuzv6mzY31MlhQc8x89Uk6BR/2fqeTpAdc0EFWzeoRF"
    "7gatalHXaGOQpMeQzrzHp1w3bpF+yLWowqelQFkw2IgcG6OqZY4wkkQckWQZQD1307fhlrsDUs9dL0OR5ZUWkKSr7X0T+J8OgyYbAah1mCvqCUam"
    "IKuGwZ28iTl5QZuqAV6MrWIjxihYKBmsn+edEJvY6qceHC3Ajqx18KzsTkrmNFcIq1YzvTLtK7zUrk0v4np8fpPzbKGpLvTyydtPZQSmQYJuP58a"
    "nP4MeG/FxZvHBy6QG3414IEIdQq9ZHgS3MUtF5GGRMkseXpw+WsW8c02exVQxDwKz7M+IcT/iOYFzStbqRZx6ply/NtGbCbSBIHLMdtWOQYx29xs"
    "HMu2wRPrLvXNOQHezTuWEDSuJWVPkp4xrajIj+SFgdFWDA3hSitG+G6GyDOEx1moVBecp5Iic96iLzsFsPw0ZlgiAeGgjZtZCPK1MpESl3/HPkPD"
    "NvKe5LAwihaoAvUwCsLVHkvjGi1hX5F0gCTTNRZpZ7MUzDJstr7iGdmcDlpkDlsRYaUAK03pILHSteSZdMiyANUtkhzVnqGAEaW4IKo6jhehnEpI"
    "11EJ+g+wGo5Dw9Qt0YR6bYc5Jail5BySl2g60EfbarJ0J+2kzemadLCPEtsO58yShhlLML+M7hpwntbaNY/TTCaz5hZ8+Fc6YNLsrrYmbvzb2aQ3"
    "Ulgm3yTfYuhkbyX2Kx51YFfSGxk1eK59Ig73c3v4A6dd/JKHv340R63DMcuhvH5r5Fhdzgiu50aOrrw5oznDDmfzDXJh4PjNiytcjsTIuWdqdfke"
    "ikMzl9t5ZqrYUjnHQ0POHFLT0ceCLigqsP0kY7rLjgiaIOW20S00HUR2veA3pVugWUPwuOQ9DiCWcQh6OY2OVgbU6XfUeWb6YOr8duoorx1JnpjT"
    "d2ndiUFnPnAhOcT3zeUEU8cOCturgtU6YLNerDu79eOjZnLzuzP+de3fevL0YPboD0qve8xrqzOna3dy9lWnr53OFq4eSgy+98C8X84+nqAPfHh1"
    "0qmp/rz/sNoabfx9ov2u8MJjh5f7z735P/Z+fOn8socdcfXC1wSv+Rkz6XZfOX7wk3fOrPBGV9HOqorWOFbWNZx7TVve8HNHTC0Ui2rUjoA6L0dc"
    "WiKNQ+tlAqeNCqoudUvQF87REOx8Iy7ANcKIm4YzSEUM1hU1dh8RLEWTxB4ZC/4yVIHmFwHxwTe//cefzcrYdTnwBHsK1w82bFcVVikK0RrW9LMV"
    "aCKhcWe1hf0x3frgP91gwjf0ujIyWMfX7nbsUcESNB1vreqoYH9lAWhP8k7mkJ50ndBbrMIVdZyw7KPpNYEdL8RPXW7cuGHDV0Ittzt62OI42NrS"
    "msC2/xc7InSjYpFddTY/fTL3ZvReO8IvjQJl1xQWIej725GJVrK2tKLvF4rdejmKvN7D9Q/rCpKNeBEpqJvf+ia3yqrY0+HMWRGfMSzuPgvcKMvx"
    "zjIeRjxtGDE/J4BytiBopW1l8kx7C3vSyu62OcbW6LJ5DI3tbpq0uCfNmvsiN0IZ5sjCAyxVpngEXU+2u6eNe3QvtYMKIATN7bQwBUit7Fh7aL8d"
    "7CifTyFyYMTplGluY1AOvUn7KT+u/GR2CmPWrstacMWWmNAwbAoRO8kLPAw4HeRKPwyajKOHVHFOjtLDE1uu6oUugGMJfhsyar16McsrqYe+sff7"
    "T609kDjzn4Ntj+ZOJMqIwXS4EnEnFPBme9bwjMnhbdiIs4pO7QZBwb3CarbGNjGPTNib8qSD7Y5Gh7cJwqr2rocbotLtRdhN03pBQ4LbgkzSSogR"
    "xiGZqH0Ha8PgWoIFr/1oLjzPJN7BEkDIw2UKyRKkP+TTZBnp3ez1AZPgFJAwKydgT8ZhqtdKQtbK53mOFzr5UrZkYg+7bbHn8JA71rvjAnfscscd"
    "XmD63FpVeBHQCjZ8te1gKcpfxkz8LmViirgoQZXvvT1CInUTXyW8hWZM/gvqh9OeOdGa5ATB20N21HU59a88/Q6TiESCIUKwnRZkLLZYsJiZHKWh"
    "EynduCLwQAObwUS6CVvBDkHYNPYyKsTft0DLyvgxRw4JIBoqFksUfpGG30IRm4hnzhbYU8g0ddatghJ5GXXznzORDI4whJylwY5jr49klGX9x4AB"
    "jcpkSVHUrfxNl+G8plldXiinWsQ9uEbvmVAfLQhg2K62WODi8joKuz3w7urNL7PxxxveeIWNe1Hou24VgGTScU4STShmVcCcUsC2YAz6z1/9+pgJ"
    "TdaJ9J9/wcbQkxE+5r46/6emczLVscDmLCRPBDYdT1l1+MrJwLz3H2r50s2TgYVvvX80detkoNB431uv/vOkc1wYoBuaSK/dHy1um7v/w8T57/3p"
    "QOrIB4m3zvzt6jH6QeKO3+ybur/2A14iqrWklRh/Qa1//e3RwcTG8IYdL+PBxM21zzfdPfR6Yljz5bwfNPiLvfHh9kRSn6XKvsQS+ux7Cox77hl6"
    "IgzjqU8+3bSuuI/DsabUBWSvCZvG7mm82se4DLuBn2Jb4RSbiM+rldV7aY+qspL2U8OOgnlY1ycCf+zvT+z+jrLPVSrqdIkC3z+Rsbl+8sJTR374"
    "qpMrJDk2He92Wg1OZ9kN/gtVrtU4+M6L1rOuVpME18EKFIXxutHKMLO4WLxVE/73xqzO6JHg6g16Qumod15f81nYysb/C1g/sDw="
)
#: What that code computed for the second block (predicted x5, spread x5, estimate x5, final states x2) [SI].
OLD_SECOND_BLOCK = [331.03521333634853, 330.91256023943424, 330.77029567956924, 330.71207961440086, 330.530113235116,
                    0.3785803801781871, 0.3668690390210078, 0.3569401242943836, 0.3488375172516796,
                    0.34228267277371455, 0.056610711914965285, 0.05535233561548671, 0.054099943973061344,
                    0.05170441232165869, 0.05172358594513691, 330.5323846592839, 302.95943872251576]


def block(k0, k, seed):
    """Samples k0 .. k0 + k - 1 of a motor at 40 A in 25 degC ambient, every 10 s, winding near 330 K [SI]."""
    rng = np.random.default_rng(seed)
    stamps = 1_780_000_000_000_000_000 + (np.arange(k0, k0 + k) * 10 * 10**9)
    U = np.empty((k, 1, 2))
    U[:, 0, 0] = 40.0
    U[:, 0, 1] = 298.15
    return stamps, 330.0 + rng.normal(0, 0.3, (k, 1, 1)), U


def new_tracker():
    ukf = JointUKF(parameters=("thermal_resistance_housing_ambient",), noise_std={"winding_temperature": 0.3},
                   state_std=0.002, max_step=10.0)
    return FleetTracker(MOTOR_THERMAL, ("winding_temperature",), filter=ukf)


def test_a_checkpoint_from_before_the_public_filter_api_resumes_bit_for_bit():
    old = pickle.loads(zlib.decompress(base64.b64decode("".join(OLD_TRACKER))))
    assert isinstance(old.ukf_, TrackingUKF)
    after = old.attach(MOTOR_THERMAL).update(*block(5, 5, 2))
    got = np.concatenate([after.predicted.ravel(), after.spread.ravel(), after.params.ravel(), old.states().ravel()])
    np.testing.assert_allclose(got, OLD_SECOND_BLOCK, rtol=1e-12)
    fresh = new_tracker()
    fresh.update(*block(0, 5, 1))
    again = fresh.update(*block(5, 5, 2))
    assert fresh.fingerprint() == old.fingerprint()  # the same twin, bit for bit
    np.testing.assert_array_equal(again.predicted, after.predicted)
    assert type(fresh.ukf_) is JointUKF


def test_the_tracker_answers_from_the_filter_state_and_moves_it_by_the_public_api():
    tr = new_tracker()
    inn = tr.update(*block(0, 8, 3))
    ukf = tr.ukf_
    z, P = ukf.mean_, ukf.covariance_
    assert tr.states().tolist() == z[:, :2].tolist()
    assert tr.estimates()["thermal_resistance_housing_ambient"][0] == z[0, 2] == inn.params[-1, 0, 0]
    assert tr.std()["thermal_resistance_housing_ambient"][0] == pytest.approx(np.sqrt(P[0, 2, 2]), rel=1e-15)
    assert inn.params_std[-1, 0, 0] == pytest.approx(np.sqrt(P[0, 2, 2]), rel=1e-15)
    z[0, 2] = -1.0  # a copy: the filter is not touched
    assert ukf.mean_[0, 2] > 0
    tr.set_twin_params({"thermal_resistance_housing_ambient": 0.07, "copper_loss_resistance": 1.1})
    assert tr.params_vector()["thermal_resistance_housing_ambient"] == 0.07
    assert tr.params_vector()["copper_loss_resistance"] == 1.1
    assert ukf.params_["thermal_resistance_housing_ambient"] == 0.07  # learned attributes follow
    with pytest.raises(ConfigurationError, match="not 'thermal_mass"):
        from sim.physics import Model, ModelSpec, Var

        other = Model(ModelSpec(name="thermal_mass_other", version="1", doc="", states=(Var("x", "K", "", 1.0),),
                                inputs=(), outputs=(Var("x", "K", ""),), params=()), None, None)
        tr.attach(other)


def test_the_tracker_reads_no_private_attribute_of_the_filter():
    """Step 2 of issue 16: tracking.py uses JointUKF's public API only."""
    tree = ast.parse((ROOT / "scenarios" / "live" / "tracking.py").read_text())
    private = sorted({node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                      and isinstance(node.value, ast.Attribute) and node.value.attr == "ukf_"
                      and node.attr.startswith("_")})
    assert private == []
