#!/usr/bin/env python3
"""Build tests/data/broken-city.mmdb: a GeoIP2-City-typed database over part
of the sample range whose records in 198.18.0.0/20 do not decode (a latitude
given as a string), and decode in 198.18.16.0/20. Put ahead of
sample-city.mmdb, an address in the broken /20 is answered by the sample
database's /24 records: the GeoIP answer cache must key every database's
record, not just the first one with data (tests/geo.rs).
Needs: pip install mmdb-writer==0.2.7 netaddr
"""
import pathlib

from mmdb_writer import MMDBWriter, MmdbF64, MmdbU16
from netaddr import IPSet

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "broken-city.mmdb"
w = MMDBWriter(6, "tokenhound-Broken-City", languages=["en"],
               description="tokenhound test: records that do not decode", ipv4_compatible=True)
w.insert_network(IPSet(["198.18.0.0/20"]), {
    "city": {"names": {"en": "Nowhere"}},
    "location": {"latitude": "not a number", "longitude": MmdbF64(0.0)},
})
w.insert_network(IPSet(["198.18.16.0/20"]), {
    "city": {"names": {"en": "Elsewhere"}},
    "country": {"iso_code": "ZZ"},
    "location": {"latitude": MmdbF64(10.0), "longitude": MmdbF64(20.0), "accuracy_radius": MmdbU16(100)},
})
w.to_db_file(str(out))
print(f"wrote {out}")
