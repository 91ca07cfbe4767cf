use super::*;

#[test]
fn a_databases_place_off_the_globe_is_no_place() {
    let ok = Geo { lat: Some(51.5), lon: Some(-0.1), radius_km: 20.0, country: Some("GB".into()), ..Geo::default() };
    let mut g = ok.clone();
    unplace_off_globe(&mut g);
    assert_eq!(g, ok, "a place on the globe stays");
    for bad in [
        Geo { lat: Some(95.0), ..ok.clone() },
        Geo { lon: Some(-181.0), ..ok.clone() },
        Geo { radius_km: 65_535.0, ..ok.clone() },
    ] {
        let mut g = bad;
        unplace_off_globe(&mut g);
        assert_eq!((g.lat, g.lon, g.radius_km), (None, None, 0.0));
        assert_eq!(g.country.as_deref(), Some("GB"), "the names stay");
    }
}
