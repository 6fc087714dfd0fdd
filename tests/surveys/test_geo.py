from decimal import Decimal

from surveys.geo import coarse_location, grid_cell_centre, haversine_km


def test_haversine_matches_a_known_distance() -> None:
    # One degree of latitude on the IUGG mean sphere: 2πR/360 = 111.195 km.
    assert abs(haversine_km(0, 0, 1, 0) - 111.1951) < 1e-3
    # Paris (48.8566, 2.3522) to London (51.5074, -0.1278): 343.5 km on the sphere.
    assert abs(haversine_km(48.8566, 2.3522, 51.5074, -0.1278) - 343.5) < 0.5


def test_the_nearest_site_is_chosen_and_the_distance_rounded_to_a_tenth_of_a_km() -> None:
    location = coarse_location(25.0, 110.0, [(1, 25.1, 110.0), (2, 25.0, 110.03)])
    assert location.nearest_site_id == 2
    assert location.distance_to_site_km == Decimal("3.0")


def test_points_in_the_same_grid_cell_share_its_centre_and_reveal_nothing_finer() -> None:
    assert grid_cell_centre(25.0011, 110.0049) == grid_cell_centre(25.0049, 110.0001)
    assert grid_cell_centre(25.0011, 110.0049) == (Decimal("25.0025"), Decimal("110.0025"))
    assert grid_cell_centre(-0.0001, -0.0001) == (Decimal("-0.0025"), Decimal("-0.0025"))


def test_without_sites_only_the_grid_cell_is_known() -> None:
    location = coarse_location(1.0, 2.0, [])
    assert location.nearest_site_id is None and location.distance_to_site_km is None
