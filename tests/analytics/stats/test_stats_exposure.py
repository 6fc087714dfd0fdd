"""Distance to the nearest site and IDW concentrations against the R reference formulas."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.stats.errors import EmptyInputError, StatsInputError
from analytics.stats.exposure import haversine_km, idw, nearest_site


def test_nearest_site_index_and_distance_match_the_r_haversine(golden):
    e = golden("biomonitoring_exposure")["exposure"]
    res = nearest_site(e["res_lat"], e["res_lon"], e["site_lat"], e["site_lon"])
    assert res.site_index.tolist() == e["nearest_index"]
    np.testing.assert_allclose(res.distance_km, e["nearest_km"], rtol=1e-9)


def test_one_degree_of_latitude_is_about_111_km():
    d = haversine_km([0.0], [0.0], [1.0], [0.0])[0, 0]
    assert d == pytest.approx(111.195, abs=0.001)


def test_idw_with_default_power_and_radius_matches_the_r_reference(golden):
    e = golden("biomonitoring_exposure")["exposure"]
    res = idw(e["res_lat"], e["res_lon"], e["st_lat"], e["st_lon"], e["st_val"])
    assert (res.power, res.radius_km) == (2.0, 10.0)
    expected = np.array([np.nan if v is None else v for v in e["idw_p2_r10"]])
    np.testing.assert_allclose(res.value, expected, rtol=1e-9)
    assert res.n_stations.tolist() == e["n_r10"]


def test_idw_power_and_radius_are_configurable(golden):
    e = golden("biomonitoring_exposure")["exposure"]
    res = idw(
        e["res_lat"], e["res_lon"], e["st_lat"], e["st_lon"], e["st_val"], power=1, radius_km=25
    )
    expected = np.array([np.nan if v is None else v for v in e["idw_p1_r25"]])
    np.testing.assert_allclose(res.value, expected, rtol=1e-9)
    assert res.n_stations.tolist() == e["n_r25"]


def test_idw_at_a_station_location_returns_that_station_value():
    res = idw([40.65], [109.83], [40.65, 40.7], [109.83, 109.9], [31.2, 10.0])
    assert res.value[0] == 31.2


def test_exposure_inputs_are_validated():
    with pytest.raises(EmptyInputError):
        nearest_site([40.0], [109.0], [], [])
    with pytest.raises(StatsInputError, match="out of range"):
        haversine_km([95.0], [0.0], [0.0], [0.0])
    with pytest.raises(StatsInputError, match="positive"):
        idw([40.0], [109.0], [40.0], [109.0], [1.0], power=0)
