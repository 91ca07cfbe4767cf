//! Look an address up in mmdb files the way tokenhound does, and print the
//! raw record: `cargo run --example mmdb_probe -- IP DB...`.
fn main() {
    let mut args = std::env::args().skip(1);
    let ip: std::net::IpAddr = args.next().expect("IP").parse().expect("an IP address");
    let paths: Vec<std::path::PathBuf> = args.map(Into::into).collect();
    for p in &paths {
        let r = maxminddb::Reader::open_readfile(p).expect("mmdb");
        let v: Option<serde_json::Value> = r.lookup(ip).ok().and_then(|res| res.decode().ok().flatten());
        println!("{} ({}): {v:?}", p.display(), r.metadata().database_type);
    }
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let db = tokenhound::enrich::GeoDb::open_many(&refs, None, tokenhound::enrich::GeoSchema::Auto).expect("open");
    println!("tokenhound: {:?}", db.lookup(ip));
}
