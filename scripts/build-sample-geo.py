#!/usr/bin/env python3
"""Rebuild the sample GeoIP databases from sample-logs/geo/sample-geo.csv.

The CSV is tokenhound's own synthetic geography: every network lies in the
benchmarking range 198.18.0.0/15 (RFC 2544) or the documentation range
2001:db8::/32 (RFC 3849), so no real address is mislabelled. Outputs:
  sample-logs/geo/sample-city.mmdb  GeoIP2 City schema
  sample-logs/geo/sample-asn.mmdb   GeoLite2 ASN schema
  sample-logs/geo/sample-dbip-city.mmdb  the flat DB-IP Lite city schema
Needs: pip install mmdb-writer==0.2.7 netaddr
"""
import csv
import pathlib

from mmdb_writer import MMDBWriter, MmdbF32, MmdbF64, MmdbU16, MmdbU32
from netaddr import IPSet

here = pathlib.Path(__file__).resolve().parent.parent / "sample-logs" / "geo"
rows = list(csv.DictReader(open(here / "sample-geo.csv")))

city = MMDBWriter(6, "tokenhound-Sample-City", languages=["en"],
                  description="tokenhound synthetic sample geography", ipv4_compatible=True)
asn = MMDBWriter(6, "tokenhound-Sample-ASN", languages=["en"],
                 description="tokenhound synthetic sample ASNs", ipv4_compatible=True)
for r in rows:
    net = IPSet([r["network"]])
    city.insert_network(net, {
        "city": {"names": {"en": r["city"]}},
        "country": {"iso_code": r["country"]},
        "location": {
            "latitude": MmdbF64(float(r["latitude"])),
            "longitude": MmdbF64(float(r["longitude"])),
            "accuracy_radius": MmdbU16(int(r["accuracy_radius_km"])),
        },
    })
    asn.insert_network(net, {
        "autonomous_system_number": MmdbU32(int(r["asn"])),
        "autonomous_system_organization": r["as_org"],
    })
# Like the DB-IP Lite builds on npm: a bare type name and float coordinates,
# so tokenhound has to recognise the schema by the records' shape.
dbip = MMDBWriter(6, "city (tokenhound sample, DB-IP Lite schema)", languages=["en"],
                  description="tokenhound sample in the DB-IP Lite flat schema", ipv4_compatible=True)
for r in rows:
    dbip.insert_network(IPSet([r["network"]]), {
        "city": r["city"],
        "country_code": r["country"],
        "latitude": MmdbF32(float(r["latitude"])),
        "longitude": MmdbF32(float(r["longitude"])),
    })
dbip.to_db_file(str(here / "sample-dbip-city.mmdb"))
city.to_db_file(str(here / "sample-city.mmdb"))
asn.to_db_file(str(here / "sample-asn.mmdb"))
print(f"wrote {len(rows)} networks to {here}/sample-city.mmdb and sample-asn.mmdb")
